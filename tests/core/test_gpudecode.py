"""JPEGs decoded in batches on the model's device (``gpudecode``), run here on the CPU device
(torchvision's libjpeg decoder): the same photos, facts, thumbnails and (nearly) the same
embeddings as the PIL path, EXIF orientation kept, and every photo the device cannot decode
handled by the CPU path exactly as before."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import mpffiles
import tinyclip
from clipdesk.core import decode, gpudecode, models
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library


@pytest.fixture(scope="module")
def torch_encoder(trained_model):
    return models.load(models.ModelSpec.parse(trained_model), device="cpu", runtime="torch")


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x0132] = "2024:05:06 07:08:09"
    return exif.tobytes()


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Shapes at camera-like aspect ratios, large enough for the whole-factor reduction, with
    EXIF orientations, a progressive, a greyscale and a CMYK JPEG, a PNG, and a truncated
    JPEG (which both paths must refuse with the same reason)."""
    folder = tmp_path_factory.mktemp("gpu-photos")
    rng = np.random.default_rng(5)
    for i, (color, shape) in enumerate(tinyclip.CLASSES):
        size = (800, 600) if i % 2 else (600, 800)
        im = tinyclip.draw_shape(color, shape, rng, size=size)
        orientation = (1, 6, 3, 8, 2, 5, 7, 4)[i % 8]
        if i == 9:
            im.save(folder / f"{color}-{shape}.png")
        elif i == 10:
            im.convert("L").convert("RGB").convert("L").save(folder / f"{color}-{shape}.jpg")
        elif i == 11:
            im.convert("CMYK").save(folder / f"{color}-{shape}.jpg", quality=92)
        else:
            im.save(folder / f"{color}-{shape}.jpg", quality=92, progressive=i == 3,
                    exif=_exif(orientation))
    good = (folder / "red-circle.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 2])
    return folder


def _index(tmp: Path, name: str, encoder, folder: Path, **kwargs):
    library = Library(tmp / name)
    report = Indexer(library, encoder, on_progress=lambda *_: None, **kwargs).run([folder])
    return library, report


def _rows(library: Library, encoder) -> dict[str, tuple]:
    model = library.model_row(encoder.spec, encoder.dim)
    rows = library.catalog.files_under(library.catalog.roots()[0][0], "/")
    out = {}
    for path, row in rows.items():
        vector = library.catalog.embedding(model, row.hash) if row.hash else None
        out[Path(path).name] = (row.hash, row.width, row.height, row.taken_at, row.status,
                                row.reason, vector)
    return out


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_turns_tensors_as_pil_turns_images(orientation):
    import torch

    pixels = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    image = Image.fromarray(pixels)
    if orientation in decode._TRANSPOSE:
        image = image.transpose(decode._TRANSPOSE[orientation])
    tensor = gpudecode.orient(torch.from_numpy(pixels).permute(2, 0, 1), orientation)
    assert np.array_equal(tensor.permute(1, 2, 0).numpy(), np.asarray(image))


def test_device_decoding_indexes_what_the_cpu_path_indexes(tmp_path, torch_encoder, photos):
    cpu_lib, cpu_report = _index(tmp_path, "cpu", torch_encoder, photos, device_decode=False)
    dev_lib, dev_report = _index(tmp_path, "dev", torch_encoder, photos, device_decode=True)
    assert sorted(dev_report.failed) == sorted(cpu_report.failed)
    assert [Path(p).name for p, _ in dev_report.failed] == ["truncated.jpg"]
    assert dev_report.embedded == cpu_report.embedded == len(tinyclip.CLASSES)
    cpu_rows, dev_rows = _rows(cpu_lib, torch_encoder), _rows(dev_lib, torch_encoder)
    assert cpu_rows.keys() == dev_rows.keys()
    for name, cpu in cpu_rows.items():
        dev = dev_rows[name]
        assert dev[:6] == cpu[:6], name  # hash, size as shown (EXIF-turned), date, status
        if cpu[6] is None:
            continue
        a, b = (np.asarray(v, np.float32) for v in (cpu[6], dev[6]))
        assert float(a @ b / np.linalg.norm(a) / np.linalg.norm(b)) > 0.995, name
        with Image.open(cpu_lib.thumbnails.path(cpu[0])) as t1, \
                Image.open(dev_lib.thumbnails.path(dev[0])) as t2:
            assert max(t1.size) == max(t2.size) == decode.THUMB_SIZE
            assert abs(t1.size[0] - t2.size[0]) <= 1 and abs(t1.size[1] - t2.size[1]) <= 1
            same = t2.resize(t1.size)
            diff = np.abs(np.asarray(t1, np.int16) - np.asarray(same, np.int16)).mean()
            assert diff < 6, (name, diff)  # turned the same way, the same picture
    # and search answers the same on both paths
    from clipdesk.core.search import Searcher

    searchers = [Searcher(lib, lib.model_row(torch_encoder.spec), lambda: torch_encoder)
                 for lib in (cpu_lib, dev_lib)]
    for color, shape in tinyclip.CLASSES:
        text = tinyclip.caption(color, shape)
        cpu_top, dev_top = ([Path(h.path).name for h in s.search(s.query_vector([text]), 5)]
                            for s in searchers)
        assert cpu_top[0] == dev_top[0] and len(set(cpu_top) & set(dev_top)) >= 4, text


class _Rejecting(gpudecode.DeviceJpegDecoder):
    """The device's decoder refusing some JPEGs (as nvJPEG refuses formats it lacks)."""

    refuse: set[bytes] = set()

    def _decode_some(self, items):
        kept = super()._decode_some([it for it in items if it.data not in self.refuse])
        it = iter(kept)
        return [None if p.data in self.refuse else next(it) for p in items]


def test_a_jpeg_the_device_rejects_is_decoded_on_the_cpu(tmp_path, torch_encoder, photos,
                                                         monkeypatch):
    names = ("red-square.jpg", "green-circle.jpg")
    _Rejecting.refuse = {(photos / n).read_bytes() for n in names}
    monkeypatch.setattr(gpudecode, "DeviceJpegDecoder", _Rejecting)
    cpu_lib, _ = _index(tmp_path, "cpu", torch_encoder, photos, device_decode=False)
    dev_lib, report = _index(tmp_path, "dev", torch_encoder, photos, device_decode=True)
    assert report.embedded == len(tinyclip.CLASSES)
    cpu_rows, dev_rows = _rows(cpu_lib, torch_encoder), _rows(dev_lib, torch_encoder)
    for name in names:  # the CPU path's own pixels: the same embedding, to float precision
        assert np.allclose(np.asarray(cpu_rows[name][6], np.float32),
                           np.asarray(dev_rows[name][6], np.float32), atol=2e-3)
        assert dev_lib.thumbnails.exists(dev_rows[name][0])


def test_routing_keeps_the_cpu_share_and_leaves_other_formats_and_raw_alone(torch_encoder):
    jpeg = io.BytesIO()
    Image.new("RGB", (8, 8)).save(jpeg, "JPEG")
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    dec = gpudecode.DeviceJpegDecoder("cpu", torch_encoder.preprocess_cfg, 240, cpu_share=0.25)
    taken = [dec.takes(jpeg.getvalue(), "a.jpg") for _ in range(100)]
    assert sum(taken) == 75
    assert not dec.takes(png.getvalue(), "a.png")
    assert not dec.takes(jpeg.getvalue(), "a.nef")  # a RAW's name: LibRaw's, whatever inside
    # only CUDA gets it by default; the ONNX runtime never
    assert gpudecode.for_indexer(torch_encoder, 240, 2, None) is None
    assert gpudecode.for_indexer(torch_encoder, 240, 2, True) is not None


def test_header_refuses_as_decode_does():
    with pytest.raises(decode.DecodeError, match="empty"):
        gpudecode.header(b"", "0" * 32)
    with pytest.raises(decode.DecodeError, match="not an image"):
        gpudecode.header(b"\xff\xd8\xff but not a jpeg", "0" * 32)


def test_every_device_decoded_thumbnail_is_written_before_the_run_ends(tmp_path, torch_encoder,
                                                                       photos, monkeypatch):
    """The pool writes a device-decoded photo's thumbnail; saves still queued when the run
    ends are done then, not dropped with the pool (they were, now and then)."""
    import threading
    import time

    original = Indexer._save_thumbnail

    def slow_in_the_pool(self, hash_, image):
        if threading.current_thread().name.startswith("clipdesk-decode"):
            time.sleep(0.2)  # a slow disk: the last batch's saves are still queued at the end
        original(self, hash_, image)

    monkeypatch.setattr(Indexer, "_save_thumbnail", slow_in_the_pool)
    library, report = _index(tmp_path, "dev", torch_encoder, photos, device_decode=True,
                             workers=1)
    assert report.embedded == len(tinyclip.CLASSES)
    missing = [name for name, row in _rows(library, torch_encoder).items()
               if row[4] == "ok" and not library.thumbnails.path(row[0]).is_file()]
    assert missing == []


def test_a_camera_jpeg_with_a_preview_is_read_on_the_cpu_and_the_rest_on_the_device(
        tmp_path, torch_encoder, monkeypatch):
    """A camera preview decodes on a CPU core faster than the device decodes the whole photo
    (1440x1080 against 12 MP): such JPEGs stay with the CPU workers."""
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for i, (color, shape) in enumerate(tinyclip.CLASSES[:6]):
        im = tinyclip.draw_shape(color, shape, rng, size=(1600, 1200))
        if i % 2:
            extras = [(im.resize((640, 480)), mpffiles.VGA)]
            (folder / f"{color}-{shape}.jpg").write_bytes(mpffiles.camera_jpeg(im, extras))
        else:
            im.save(folder / f"{color}-{shape}.jpg", quality=90)
    on_device: list[int] = []
    real = gpudecode.DeviceJpegDecoder.decode
    monkeypatch.setattr(gpudecode.DeviceJpegDecoder, "decode",
                        lambda self, items: on_device.extend(len(it.data) for it in items)
                        or real(self, items))
    cpu_lib, _ = _index(tmp_path, "cpu", torch_encoder, folder, device_decode=False)
    dev_lib, report = _index(tmp_path, "dev", torch_encoder, folder, device_decode=True)
    assert report.embedded == 6 and not report.failed
    previewed = {p.name for p in folder.iterdir() if decode.has_camera_preview(p.read_bytes(), 240)}
    assert len(previewed) == 3
    assert sorted(on_device) == sorted(p.stat().st_size for p in folder.iterdir()
                                       if p.name not in previewed)
    cpu, dev = _rows(cpu_lib, torch_encoder), _rows(dev_lib, torch_encoder)
    for name in cpu:
        assert cpu[name][:6] == dev[name][:6]  # hash, size, date, status as the CPU path's
        a, b = cpu[name][6].astype(np.float32), dev[name][6].astype(np.float32)
        if name in previewed:  # read on the CPU: exactly the CPU path's vector
            assert np.array_equal(a, b)
        else:  # libjpeg through torchvision: nearly
            assert float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b)) > 0.98
