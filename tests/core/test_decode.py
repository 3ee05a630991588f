"""Decoding: every mode to RGB, orientation, dates, reduced JPEG decode, hostile bytes."""

from __future__ import annotations

import io
from datetime import datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import mpffiles
from clipdesk.core import decode


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def test_jpeg_is_draft_decoded_but_covers_the_model_input():
    im = Image.new("RGB", (4000, 3000), (200, 30, 30))
    photo = decode.decode(encode(im, "JPEG"), min_side=224)
    assert (photo.width, photo.height) == (4000, 3000)
    w, h = photo.image.size
    assert min(w, h) >= 224 and w <= 1000  # scaled by 1/4 or 1/8, not decoded in full
    assert photo.image.getpixel((w // 2, h // 2))[0] > 150


def test_exif_orientation_is_applied_and_dimensions_follow():
    im = Image.new("RGB", (400, 200), "white")
    im.paste((255, 0, 0), (0, 0, 200, 200))  # red on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    exif[0x8769] = {0x9003: "2021:07:04 15:30:00"}
    photo = decode.decode(encode(im, "JPEG", exif=exif), min_side=100)
    assert (photo.width, photo.height) == (200, 400)
    assert photo.image.size[0] < photo.image.size[1]
    top = photo.image.getpixel((photo.image.size[0] // 2, 5))
    assert top[0] > 200 and top[1] < 80  # the red half is now on top
    assert photo.taken_at == datetime(2021, 7, 4, 15, 30).timestamp()


def test_corrupt_exif_orientation_does_not_cost_the_photo():
    exif = Image.Exif()
    exif[0x0112] = 77
    exif[0x0132] = "not a date"
    photo = decode.decode(encode(Image.new("RGB", (64, 48)), "JPEG", exif=exif), min_side=32)
    assert photo.image.size == (64, 48) and photo.taken_at is None


@pytest.mark.parametrize("make,expected", [
    (lambda: Image.new("RGBA", (8, 8), (255, 0, 0, 0)), (255, 255, 255)),  # clear -> white
    (lambda: Image.new("RGBA", (8, 8), (0, 0, 255, 255)), (0, 0, 255)),
    (lambda: Image.new("LA", (8, 8), (0, 0)), (255, 255, 255)),
    (lambda: Image.new("L", (8, 8), 128), (128, 128, 128)),
    (lambda: Image.new("1", (8, 8), 1), (255, 255, 255)),
    (lambda: Image.new("CMYK", (8, 8), (0, 255, 255, 0)), (255, 0, 0)),
    (lambda: Image.new("I;16", (8, 8), 65535), (255, 255, 255)),
    (lambda: Image.new("I;16", (8, 8), 32896), (128, 128, 128)),
    (lambda: Image.new("I", (8, 8), 70000), (0, 0, 0)),
    (lambda: Image.new("F", (8, 8), 0.5), (0, 0, 0)),
])
def test_every_mode_becomes_rgb(make, expected):
    out = decode.to_rgb(make())
    assert out.mode == "RGB"
    assert all(abs(a - b) <= 2 for a, b in zip(out.getpixel((4, 4)), expected, strict=True))


def test_palette_with_transparency_composites_onto_white():
    im = Image.new("P", (8, 8), 0)
    im.putpalette([255, 0, 0] + [0, 255, 0] * 255)
    im.info["transparency"] = 0
    photo = decode.decode(encode(im, "PNG", transparency=0), min_side=4)
    assert photo.image.getpixel((1, 1)) == (255, 255, 255)


def test_sixteen_bit_png_and_cmyk_jpeg_decode():
    arr = np.full((20, 30), 50000, dtype=np.uint16)
    png16 = encode(Image.fromarray(arr), "PNG")
    assert decode.decode(png16, 10).image.getpixel((0, 0))[0] == pytest.approx(194, abs=2)
    cmyk = encode(Image.new("CMYK", (40, 30), (0, 0, 255, 0)), "JPEG")
    r, g, b = decode.decode(cmyk, 10).image.getpixel((5, 5))
    assert r > 200 and g > 200 and b < 60


def test_animated_gif_uses_the_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "blue", "green")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    image = decode.decode(buf.getvalue(), 8).image
    r, g, b = image.getpixel((image.width // 2, image.height // 2))
    assert r > 200 and b < 50


@pytest.mark.parametrize("data,words", [
    (b"", "empty file"),
    (b"hello, I am a text file", "not an image"),
    (b"<html><body>a web page</body></html>", "not an image"),
])
def test_non_images_have_a_reason(data, words):
    with pytest.raises(decode.DecodeError, match=words):
        decode.decode(data, 224)


def test_truncated_jpeg_is_damaged():
    data = encode(Image.effect_noise((300, 200), 60).convert("RGB"), "JPEG")
    with pytest.raises(decode.DecodeError, match="damaged"):
        decode.decode(data[: len(data) // 2], 100)


def test_decompression_bomb_is_refused_without_decoding():
    data = encode(Image.new("1", (30_000, 30_000)), "PNG")  # ~100 KB on disk, 900 MP in memory
    with pytest.raises(decode.DecodeError, match="too large"):
        decode.decode(data, 224)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_never_escape_as_anything_but_decode_error(data):
    try:
        decode.decode(data, 64)
    except decode.DecodeError:
        pass


SEED_JPEG = encode(Image.effect_noise((64, 48), 40).convert("RGB"), "JPEG")
SEED_PNG = encode(Image.effect_noise((64, 48), 40).convert("RGB"), "PNG")


@settings(max_examples=150, deadline=None)
@given(st.sampled_from([SEED_JPEG, SEED_PNG]), st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=12))
def test_mutated_images_decode_or_fail_cleanly(seed, flips):
    data = bytearray(seed)
    for pos, value in flips:
        data[pos % len(data)] = value
    try:
        photo = decode.decode(bytes(data), 32)
        assert photo.image.mode == "RGB"
    except decode.DecodeError:
        pass


# ---------------------------------------------------------------- what the app shows


def test_display_image_is_turned_by_exif_and_fits_the_box(tmp_path):
    im = Image.new("RGB", (400, 200), "white")
    im.paste((255, 0, 0), (0, 0, 200, 200))  # red on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 clockwise to display
    path = tmp_path / "turned.jpg"
    path.write_bytes(encode(im, "JPEG", exif=exif))
    shown = decode.display_image(path, (100, 100))
    assert shown.size == (50, 100) and shown.mode == "RGB"
    top = shown.getpixel((25, 3))
    assert top[0] > 200 and top[1] < 80  # the red half is on top
    assert decode.display_image(path).size == (200, 400)  # no box: every pixel


def test_display_image_of_a_large_jpeg_is_a_reduced_decode_of_the_right_size(tmp_path):
    path = tmp_path / "large.jpg"
    path.write_bytes(encode(Image.new("RGB", (4000, 3000), (30, 30, 200)), "JPEG"))
    shown = decode.display_image(path, (400, 400))
    assert shown.size == (400, 300)
    assert shown.getpixel((200, 150))[2] > 150
    assert decode.display_image(path, (8000, 8000)).size == (4000, 3000)  # never enlarged


def test_display_image_keeps_transparency(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (40, 30), (255, 0, 0, 0)).save(path)
    shown = decode.display_image(path, (20, 20))
    assert shown.mode == "RGBA" and shown.size == (20, 15) and shown.getpixel((5, 5))[3] == 0


@pytest.mark.parametrize("content,words", [
    (None, "not found"),
    (b"", "empty"),
    (b"hello, I am a text file", "not an image"),
    (encode(Image.new("1", (30_000, 30_000)), "PNG"), "too large"),
])
def test_display_image_refuses_with_the_same_reasons(tmp_path, content, words):
    path = tmp_path / "photo.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(decode.DecodeError, match=words):
        decode.display_image(path, (200, 200))


def test_display_image_reads_heic(tmp_path):
    import pillow_heif  # the test extra's encoder; ClipDesk reads with pi-heif

    assert decode.HEIF_AVAILABLE and decode._heif.__name__ == "pi_heif"
    path = tmp_path / "phone.heic"
    pillow_heif.from_pillow(Image.new("RGB", (640, 480), (20, 180, 40))).save(path, quality=90)
    shown = decode.display_image(path, (320, 320))
    assert shown.size == (320, 240)
    r, g, b = shown.getpixel((160, 120))
    assert g > 150 and r < 60 and b < 80


# ---------------------------------------------------------------------- camera JPEGs with previews


def _scene(size=(2400, 1800)) -> Image.Image:
    """A photo-like picture: smooth gradients and a few shapes, different in each quarter."""
    w, h = size
    x, y = np.meshgrid(np.linspace(0, 1, w), np.linspace(0, 1, h))
    rgb = np.stack([x * 255, y * 255, (1 - x) * (1 - y) * 255], axis=-1).astype(np.uint8)
    im = Image.fromarray(rgb)
    im.paste((255, 255, 255), (w // 8, h // 8, w // 3, h // 3))  # white block top left
    return im


def _differs(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference of two pictures at the same small size (0-255)."""
    a, b = (im.convert("RGB").resize((96, 72), Image.Resampling.BOX) for im in (a, b))
    return float(np.abs(np.asarray(a, np.float32) - np.asarray(b, np.float32)).mean())


def test_a_camera_jpeg_is_read_from_its_smallest_preview_that_covers_the_model_input():
    scene = _scene()
    vga, full_hd = scene.resize((640, 480)), scene.resize((1440, 1080))
    data = mpffiles.camera_jpeg(scene, [(vga, mpffiles.VGA), (full_hd, mpffiles.FULL_HD)])
    photo = decode.decode(data, min_side=240)
    assert (photo.width, photo.height) == (2400, 1800)  # the photo's, not the preview's
    assert photo.hash == decode.content_hash(data)
    # the VGA preview's own pixels (what decoding that preview alone gives) ...
    alone = decode.decode(encode(vga, "JPEG", quality=90), min_side=240).image
    assert photo.image.size == alone.size and _differs(photo.image, alone) < 1.0
    # ... which show the photo
    assert _differs(photo.image, scene) < 3.0
    # asked for more than VGA covers: the Full HD one; more than that: the photo itself
    assert decode.decode(data, min_side=600).image.size == (1440, 1080)
    big = decode.decode(data, min_side=1200).image
    assert big.size == decode.decode(mpffiles.primary_only(data), min_side=1200).image.size


def test_a_camera_jpeg_is_scaled_when_decoded_like_any_jpeg():
    """A camera JPEG opens in Pillow as "MPO": without previews that fit, its photo is still
    decoded with DCT scaling, exactly as the same JPEG without its previews."""
    scene = _scene((4000, 3000))
    data = mpffiles.camera_jpeg(scene, [(scene.resize((200, 150)), mpffiles.VGA)])
    got = decode.decode(data, min_side=240).image  # the preview is too small to serve
    plain = decode.decode(mpffiles.primary_only(data), min_side=240).image
    assert got.size == plain.size == (500, 375)  # 1/8 of the photo, not a full decode
    assert np.array_equal(np.asarray(got), np.asarray(plain))


@pytest.mark.parametrize("case", ["undefined kind", "other proportions", "turned", "damaged"])
def test_a_preview_that_may_not_be_the_photo_is_not_used(case):
    scene = _scene()
    extra, kind = scene.resize((640, 480)), mpffiles.VGA
    if case == "undefined kind":  # an HDR gain map or a depth map is typed "Undefined"
        extra, kind = Image.new("RGB", (640, 480), (128, 128, 128)), mpffiles.UNDEFINED
    elif case == "other proportions":  # a letterboxed 16:9 preview of a 4:3 photo
        extra = Image.new("RGB", (1920, 1080))
        extra.paste(scene.resize((1440, 1080)), (240, 0))
    elif case == "turned":
        extra = scene.resize((640, 480)).transpose(Image.Transpose.ROTATE_90)
    data = mpffiles.camera_jpeg(scene, [(extra, kind)])
    if case == "damaged":  # the preview's bytes cut short: the photo itself is whole
        data = data[:-len(encode(extra, "JPEG", quality=90)) // 2]
    photo = decode.decode(data, min_side=240)
    plain = decode.decode(mpffiles.primary_only(data), min_side=240)
    assert np.array_equal(np.asarray(photo.image), np.asarray(plain.image))
    assert (photo.width, photo.height) == (2400, 1800)


def test_a_camera_jpeg_preview_is_turned_as_the_photo_says():
    scene = _scene()
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise
    data = mpffiles.camera_jpeg(scene, [(scene.resize((640, 480)), mpffiles.VGA)], exif=exif)
    photo = decode.decode(data, min_side=240)
    assert (photo.width, photo.height) == (1800, 2400) and photo.image.size == (240, 320)
    turned = scene.transpose(Image.Transpose.ROTATE_270)
    assert _differs(photo.image, turned) < 3.0
