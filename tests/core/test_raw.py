"""RAW photos through rawpy (LibRaw), on DNG files written here with pidng: the embedded preview
when it is large enough, else the sensor data demosaiced; the RAW's orientation and capture
date; damaged files as one-line reasons; the indexer, search, the media filter and browsing on
a library with RAW files, with the trained tiny CLIP."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import dngfiles
import numpy as np
import pytest
from modulepaths import module_paths
from PIL import Image, ImageDraw

import tinyclip
from clipdesk.core import browse, decode, models, scan
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.query import Filters, parse
from clipdesk.core.search import Searcher

RAW_DATE = datetime(2021, 5, 6, 7, 8, 9).timestamp()  # dngfiles' default capture date


def shape(color: str = "red", kind: str = "circle", size=(320, 240), seed: int = 0) -> Image.Image:
    return tinyclip.draw_shape(color, kind, np.random.default_rng(seed), size=size)


def marked(size=(320, 240)) -> Image.Image:
    """A light picture with a black block in its top-left corner, to see where turning puts it."""
    im = Image.new("RGB", size, (200, 200, 200))
    ImageDraw.Draw(im).rectangle((0, 0, size[0] // 4, size[1] // 4), fill=(0, 0, 0))
    return im


def dark_corner(im: Image.Image) -> str:
    a = np.asarray(im.convert("L"), np.float32)
    h, w = a.shape
    corners = {"top-left": a[: h // 8, : w // 8], "top-right": a[: h // 8, -w // 8:],
               "bottom-left": a[-h // 8:, : w // 8], "bottom-right": a[-h // 8:, -w // 8:]}
    return min(corners, key=lambda k: corners[k].mean())


def shown(tmp_path: Path, data: bytes, fit: tuple[int, int] | None) -> Image.Image:
    """``display_image`` (the preview, Copy image, "like this") of a RAW file holding ``data``."""
    path = tmp_path / "shown.dng"
    path.write_bytes(data)
    return decode.display_image(path, fit)


def nearer(im: Image.Image, a: Image.Image, b: Image.Image) -> str:
    """Which of two pictures ``im`` shows ("a" or "b"), by mean absolute difference."""
    def diff(ref: Image.Image) -> float:
        ref = ref.convert("RGB").resize(im.size)
        return float(np.abs(np.asarray(im, np.float32) - np.asarray(ref, np.float32)).mean())
    return "a" if diff(a) < diff(b) else "b"


# ------------------------------------------------------------------------------ decoding


def test_sensor_data_decodes_to_the_picture_with_its_colours():
    picture = shape("green", "triangle")
    photo = decode.decode(dngfiles.dng_bytes(picture), 240, name="x.dng")
    assert (photo.width, photo.height) == (320, 240)
    assert photo.image.mode == "RGB" and photo.image.size == (320, 240)
    error = np.abs(np.asarray(photo.image, np.float32) - np.asarray(picture, np.float32))
    assert error.mean() < 15  # demosaicing and LibRaw's tone curve, not another picture
    assert photo.taken_at == RAW_DATE


def test_the_preview_is_used_when_large_enough_else_the_sensor_data(tmp_path):
    sensor, other = shape("red", "circle", (640, 480)), shape("green", "square", (640, 480), 1)
    large = dngfiles.dng_bytes(sensor, preview=dngfiles.jpeg(other))
    photo = decode.decode(large, 240, name="x.DNG")
    assert nearer(photo.image, other, sensor) == "a"  # the preview: no demosaicing
    assert photo.image.size == (320, 240)  # reduced to what the model and thumbnail need
    assert (photo.width, photo.height) == (640, 480)  # the photo's own size, not the preview's
    small = dngfiles.dng_bytes(sensor, preview=dngfiles.jpeg(other.resize((160, 120))))
    photo = decode.decode(small, 240, name="x.dng")
    assert nearer(photo.image, sensor, other) == "a"  # too small a preview: the sensor data
    assert photo.image.size == (320, 240)  # a half-size demosaic is enough here
    # the preview is enough for a small view, not for a large one
    view = shown(tmp_path, small, (150, 150))
    assert nearer(view, other, sensor) == "a" and view.size == (150, 113)
    view = shown(tmp_path, small, (600, 600))
    assert nearer(view, sensor, other) == "a" and view.size == (600, 450)


def test_a_damaged_preview_falls_back_to_the_sensor_data():
    picture = shape("blue", "circle")
    data = dngfiles.dng_bytes(picture, preview=b"\xff\xd8\xff\xe1" + bytes(300))
    photo = decode.decode(data, 100, name="x.dng")
    assert nearer(photo.image, picture, shape("yellow", "square")) == "a"


@pytest.mark.parametrize("how", ["sensor", "preview without EXIF", "preview with EXIF"])
def test_the_raw_orientation_turns_the_picture(how, tmp_path):
    """Orientation 6 (turn 90 degrees clockwise): the stored top-left corner shows top-right."""
    preview = {"sensor": None, "preview without EXIF": dngfiles.jpeg(marked(), exif=False),
               "preview with EXIF": dngfiles.jpeg(marked(), taken="2020:01:02 03:04:05")}[how]
    data = dngfiles.dng_bytes(marked(), preview=preview, orientation=6)
    photo = decode.decode(data, 120, name="x.dng")
    assert (photo.width, photo.height) == (240, 320)
    assert photo.image.height > photo.image.width
    assert dark_corner(photo.image) == "top-right"
    view = shown(tmp_path, data, (60, 80))
    assert view.size == (60, 80) and dark_corner(view) == "top-right"


def test_the_preview_exif_orientation_wins_and_an_upright_preview_is_not_turned_twice():
    turned_by_exif = dngfiles.dng_bytes(marked(), preview=dngfiles.jpeg(marked(), orientation=8))
    image = decode.decode(turned_by_exif, 120, name="x.dng").image
    assert image.height > image.width and dark_corner(image) == "bottom-left"
    upright = marked().transpose(Image.Transpose.ROTATE_270)  # stored as shown, no EXIF tag
    data = dngfiles.dng_bytes(marked(), preview=dngfiles.jpeg(upright), orientation=6)
    image = decode.decode(data, 120, name="x.dng").image
    assert image.height > image.width and dark_corner(image) == "top-right"


def test_the_capture_date_comes_from_the_preview_exif_else_the_raw():
    picture = shape()
    with_exif = dngfiles.jpeg(picture, taken="2020:01:02 03:04:05")
    assert decode.decode(dngfiles.dng_bytes(picture, preview=with_exif), None,
                         name="x.dng").taken_at == datetime(2020, 1, 2, 3, 4, 5).timestamp()
    without = dngfiles.jpeg(picture, exif=False)
    assert decode.decode(dngfiles.dng_bytes(picture, preview=without), None,
                         name="x.dng").taken_at == RAW_DATE
    header_only = decode.decode(dngfiles.dng_bytes(picture), None, name="x.dng")
    assert header_only.image is None and header_only.taken_at == RAW_DATE
    assert decode.decode(dngfiles.dng_bytes(picture, taken=None), 64,
                         name="x.dng").taken_at is None


def test_display_image_reads_a_raw_file(tmp_path):
    path = dngfiles.write_dng(tmp_path / "IMG_0001.NEF.dng", shape(), orientation=3)
    image = decode.display_image(path, (100, 100))
    assert image.mode == "RGB" and image.size == (100, 75)
    assert decode.display_image(path).size == (320, 240)  # every pixel: the whole sensor
    with pytest.raises(decode.DecodeError, match="file not found"):
        decode.display_image(tmp_path / "gone.dng")


@pytest.mark.parametrize("name,make,reason", [
    ("empty.dng", lambda good: b"", "empty file"),
    ("cut.dng", lambda good: good[: len(good) // 2], "damaged RAW file: truncated"),
    ("header.cr2", lambda good: good[:100], "damaged RAW file: truncated"),
    ("fake.nef", lambda good: b"holiday notes, not a photo\n" * 20, "not a RAW file"),
    ("jpeg.arw", lambda good: dngfiles.jpeg(shape()), "not a RAW file"),
    ("broken.dng", lambda good: dngfiles.dng_bytes(shape(), broken_sensor=True),
     "sensor data could not be decoded"),
])
def test_damaged_raw_files_give_one_line_reasons(name, make, reason):
    data = make(dngfiles.dng_bytes(shape()))
    with pytest.raises(decode.DecodeError, match=reason) as info:
        decode.decode(data, 224, name=name)
    assert "\n" not in str(info.value)


def test_bytes_without_a_name_are_told_raw_by_their_signature():
    """A dropped or pasted file may come without its name: the bytes tell a RAW, and a plain
    TIFF (which LibRaw would take for sensor data when it is 16-bit grey) stays Pillow's."""
    picture = shape("yellow", "circle")
    for data in (dngfiles.dng_bytes(picture), dngfiles.dng_bytes(picture, preview=dngfiles.jpeg(
            picture)), b"FUJIFILMCCD-RAW 0201" + bytes(100), bytes(4) + b"ftypcrx " + bytes(100),
            b"IIRO\x08\x00\x00\x00" + bytes(100), b"II*\x00\x10\x00\x00\x00CR\x02\x00"):
        assert decode.looks_raw(data), data[:16]
    grey = np.tile(np.arange(0, 60000, 600, dtype=np.uint16), (60, 1))
    plain = []
    for im, kw in ((picture, {}), (picture, {"compression": "tiff_lzw"}),
                   (Image.fromarray(grey), {})):
        out = io.BytesIO()
        im.save(out, "TIFF", **kw)
        plain.append(out.getvalue())
    for data in (*plain, dngfiles.jpeg(picture), b"", b"II*\x00\xff\xff\xff\xff", b"MM\x00*"):
        assert not decode.looks_raw(data), data[:16]
    for name in (None, "renamed.tif"):  # no name, or another format's: told by its bytes
        photo = decode.decode(dngfiles.dng_bytes(picture), 120, name=name)
        assert nearer(photo.image, picture, shape("blue", "square")) == "a"
    grey_image = decode.decode(plain[2], 60).image  # Pillow's, not LibRaw's sensor reading
    assert grey_image.size == (100, 60)
    left, right = grey_image.getpixel((0, 30)), grey_image.getpixel((99, 30))
    assert left[0] == left[1] == left[2] < 10 and right[0] == right[1] == right[2] > 220


def test_raw_names_and_media_kind(tmp_path):
    assert decode.is_raw_name("a/B.CR3") and decode.is_raw_name(Path("x.nef"))
    assert not decode.is_raw_name("x.jpg") and not decode.is_raw_name("x.tif")
    assert scan.media_kind("/p/x.ARW") == "raw" and scan.media_kind("/p/x.jpg") == "photo"
    for name in ("a.dng", "b.NEF", "c.cr2", "d.jpg"):
        (tmp_path / name).write_bytes(b"x")
    assert sorted(Path(f.path).name for f in scan.walk(tmp_path)) == ["a.dng", "b.NEF", "c.cr2",
                                                                     "d.jpg"]


# ------------------------------------------------------------------------ in a library


@pytest.fixture(scope="module")
def raw_library(tmp_path_factory, onnx_cache, trained_model):
    """A library of RAW files (DNG with and without a preview) and JPEGs of the shape classes,
    plus damaged RAW files; indexed with the trained tiny CLIP: (library, encoder, folder,
    report)."""
    base = tmp_path_factory.mktemp("raw").resolve()
    with module_paths(base, onnx_cache):  # module scope: before isolated_paths
        encoder = models.load(models.ModelSpec.parse(trained_model), device="cpu")
        photos = base / "photos"
        photos.mkdir()
        rng = np.random.default_rng(3)
        for i, (color, kind) in enumerate(tinyclip.CLASSES):
            picture = tinyclip.draw_shape(color, kind, rng, size=(400, 300))
            preview = dngfiles.jpeg(picture, exif=False) if i % 2 else None
            dngfiles.write_dng(photos / f"{color}-{kind}-0.dng", picture, preview=preview)
            tinyclip.draw_shape(color, kind, rng, size=(320, 240)).save(
                photos / f"{color}-{kind}-1.jpg", quality=90)
        good = dngfiles.dng_bytes(tinyclip.draw_shape("red", "circle", rng, size=(400, 300)))
        (photos / "cut.dng").write_bytes(good[: len(good) // 2])
        (photos / "fake.nef").write_bytes(b"not a RAW file\n" * 50)
        (photos / "broken.dng").write_bytes(dngfiles.dng_bytes(shape(), broken_sensor=True))
        library = Library(base / "lib")
        report = Indexer(library, encoder, on_progress=lambda *_: None).run([photos])
    yield library, encoder, photos, report
    library.close()


def kind(path: str) -> str:
    return Path(path).stem.rsplit("-", 1)[0]


def test_raw_files_index_beside_jpegs_and_damaged_ones_fail_with_reasons(raw_library):
    library, encoder, _, report = raw_library
    assert library.catalog.indexed_count(library.model_row(encoder.spec)) == 24
    reasons = {Path(p).name: r for p, r in report.failed}
    assert set(reasons) == {"cut.dng", "fake.nef", "broken.dng"}
    assert "truncated" in reasons["cut.dng"]
    assert "not a RAW file" in reasons["fake.nef"]
    assert "sensor data" in reasons["broken.dng"]


@pytest.mark.parametrize("color,shape_", tinyclip.CLASSES)
def test_search_finds_the_raw_photo_and_the_media_filter_keeps_only_raw(raw_library, color,
                                                                        shape_):
    library, encoder, _, _ = raw_library
    searcher = Searcher(library, library.model_row(encoder.spec), lambda: encoder)
    text = tinyclip.caption(color, shape_)
    hits = searcher.answer(parse(text), n=2)
    assert sorted(Path(h.path).suffix for h in hits) == [".dng", ".jpg"]
    assert {kind(h.path) for h in hits} == {f"{color}-{shape_}"}
    raws = searcher.answer(parse(text, filters=Filters(media="raw")), n=24)
    assert len(raws) == 12 and all(h.path.endswith(".dng") for h in raws)
    assert kind(raws[0].path) == f"{color}-{shape_}" and raws[0].taken_at == RAW_DATE
    photos = searcher.answer(parse(text, filters=Filters(media="photo")), n=24)
    assert len(photos) == 12 and all(h.path.endswith(".jpg") for h in photos)


def test_browsing_raw_only_lists_them_by_their_capture_date(raw_library):
    library, _, _, _ = raw_library
    listing = browse.listing(library.catalog, Filters(media="raw"))
    assert len(listing) == 12 and all(p.endswith(".dng") for p in listing.paths)
    assert set(listing.dates.tolist()) == {RAW_DATE}


def test_like_this_with_a_raw_file_and_its_thumbnail(raw_library):
    library, encoder, photos, _ = raw_library
    searcher = Searcher(library, library.model_row(encoder.spec), lambda: encoder)
    raw = photos / "blue-square-0.dng"
    hits = searcher.answer(parse("", images=[str(raw)]), n=2)
    assert hits[0].path == str(raw) and hits[0].score == pytest.approx(1.0, abs=2e-3)
    assert kind(hits[1].path) == "blue-square"
    assert library.thumbnails.exists(hits[0].hash)
    # a RAW from outside the library (dropped on the window): decoded, then searched with
    outside = dngfiles.write_dng(photos.parent / "elsewhere" / "DSC_0042.dng",
                                 shape("green", "circle", (400, 300), seed=42))
    calls = encoder.image_calls
    hits = searcher.search(searcher.image_vector(outside), 2)
    assert encoder.image_calls == calls + 1
    assert [kind(h.path) for h in hits] == ["green-circle"] * 2
