"""Reading a photo once: content hash, header facts, a reduced RGB image and its thumbnail.

JPEGs are decoded with DCT scaling (PIL ``draft``) at the smallest size that still covers
the model's input, so a 12 MP photo costs a fraction of a full decode. EXIF orientation is
applied and every PIL mode ends as RGB (transparency is composited onto white).

The app shows photos through the same code (``display_image``), never through Qt's own image
readers: what ClipDesk can index (HEIC with pi-heif, RAW with rawpy) it can also show.

RAW photos (known by their suffix, ``RAW_SUFFIXES``) go through rawpy (LibRaw). The camera's
embedded JPEG preview is used when it is large enough for what is asked (a 12-24 MP camera
embeds a 1-24 MP preview): no demosaicing, and the preview then takes the JPEG path with its
DCT scaling. Otherwise the sensor data is demosaiced at half size (LibRaw's ``half_size``: each
2x2 Bayer block becomes one pixel, about 10x faster than a full demosaic) and reduced at once.
Orientation is the preview's EXIF orientation, else LibRaw's ``flip``; the capture date is the
preview's EXIF date, else LibRaw's timestamp.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import struct
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_PIXELS = 150_000_000  # larger is treated as a decompression bomb
THUMB_SIZE = 320  # long side of cached thumbnails, pixels
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

try:  # HEIC/HEIF (iPhone photos) through pi-heif, a base dependency: libheif with libde265,
    # decoding only (LGPL; pillow-heif, which the tests use to write HEIC, also bundles the
    # GPL x265 encoder, so the installers carry pi-heif instead)
    import pi_heif as _heif
except ImportError:  # pragma: no cover - pi-heif ships wheels for every platform ClipDesk runs on
    try:
        import pillow_heif as _heif
    except ImportError:
        _heif = None
if _heif is not None:
    _heif.register_heif_opener()
    if hasattr(_heif, "register_avif_opener"):
        _heif.register_avif_opener()
HEIF_AVAILABLE = _heif is not None

try:  # RAW photos through rawpy (LibRaw), a base dependency; without it RAW files are not listed
    import rawpy

    RAW_AVAILABLE = True
except ImportError:  # pragma: no cover - rawpy ships wheels for every platform ClipDesk runs on
    rawpy = None
    RAW_AVAILABLE = False

# The suffixes of the RAW formats LibRaw reads (Canon, Nikon, Sony, Adobe DNG, Fujifilm,
# Olympus, Panasonic/Leica, Pentax, Samsung, Hasselblad, Epson, Kodak, Minolta, Leaf,
# Phase One, Sigma, Mamiya, Casio, ARRI)
RAW_SUFFIXES = frozenset({
    ".3fr", ".ari", ".arw", ".bay", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff",
    ".iiq", ".k25", ".kdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".pef", ".raf",
    ".raw", ".rw2", ".rwl", ".sr2", ".srf", ".srw", ".x3f",
})


class DecodeError(Exception):
    """A photo that cannot be used; the message is the one-line reason shown to the user."""


@dataclass
class Photo:
    hash: str
    width: int  # as displayed, after EXIF orientation
    height: int
    taken_at: float | None
    image: Image.Image | None = None  # RGB, reduced; None when pixels were not asked for


def is_raw_name(name: str | os.PathLike) -> bool:
    """Whether a file is decoded as RAW: a RAW suffix, and rawpy is installed. RAW formats are
    told by their name: most are TIFF inside, which Pillow would open as their small
    thumbnail, and LibRaw takes some plain TIFFs (16-bit grey) for sensor data."""
    return RAW_AVAILABLE and os.path.splitext(os.fspath(name))[1].lower() in RAW_SUFFIXES


_RAW_MAGIC = (b"FUJIFILMCCD-RAW", b"IIRO", b"IIRS", b"MMOR", b"IIU\x00", b"\x00MRM", b"FOVb")


def looks_raw(data: bytes) -> bool:
    """Whether bytes of unknown name are a camera RAW, for files that come without one (an
    image dropped from elsewhere): Fujifilm, Olympus, Panasonic, Minolta and Sigma signatures,
    Canon CR3 (ISO box "crx ") and CR2 ("CR" after the TIFF header), and TIFF-based RAWs: a
    DNGVersion tag, or a first IFD marked as a reduced image (the thumbnail cameras put
    first: Nikon, Sony, Pentax...). A plain TIFF has neither."""
    if data.startswith(_RAW_MAGIC) or data[4:12] == b"ftypcrx ":
        return True
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return False
    if data[8:10] == b"CR":
        return True
    order = "<" if data[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, ifd)
        for i in range(min(count, 512)):
            tag, kind = struct.unpack_from(order + "HH", data, ifd + 2 + 12 * i)
            if tag == 0xC612:  # DNGVersion
                return True
            if tag == 0x00FE:  # NewSubfileType: 1 = a reduced-resolution image
                fmt = order + ("H" if kind == 3 else "I")
                if struct.unpack_from(fmt, data, ifd + 2 + 12 * i + 8)[0] == 1:
                    return True
    except struct.error:  # a damaged header: not recognisably RAW
        return False
    return False


def _is_raw(name: str | os.PathLike | None, data: bytes) -> bool:
    """A RAW suffix decodes as RAW (and fails as "not a RAW file" when it is not one); other
    names, or none, by the bytes."""
    return RAW_AVAILABLE and ((name is not None and is_raw_name(name)) or looks_raw(data))


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's bytes. Never blocks on a pipe or device named like a photo."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb") as fh:
            mode = os.fstat(fd).st_mode
            if stat.S_ISDIR(mode):
                raise DecodeError("is a folder, not a photo")
            if not stat.S_ISREG(mode):
                raise DecodeError("is not a regular file (a pipe or a device)")
            return fh.read()
    except FileNotFoundError:
        raise
    except IsADirectoryError as exc:
        raise DecodeError("is a folder, not a photo") from exc
    except OSError as exc:
        raise DecodeError(f"cannot read: {exc.strerror or exc}") from exc


def _taken_at(exif: Image.Exif) -> float | None:
    raw = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)  # DateTimeOriginal, DateTime
    if not isinstance(raw, str):
        return None
    try:
        return datetime.strptime(raw.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S").timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode to RGB: 16-bit and float scaled, transparency composited onto white."""
    if im.mode == "RGB":
        return im
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        arr = np.asarray(im, dtype=np.float32)
        if im.mode.startswith("I;16"):
            arr = arr / 257.0
        else:
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


BIG_PIXELS = 40_000_000
_big_decode = threading.Lock()


@contextlib.contextmanager
def _reading() -> Iterator[None]:
    """Pillow's many ways of failing, as one DecodeError with a one-line reason; decompression
    bomb warnings count as errors."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except DecodeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError("image too large (decompression bomb guard)") from exc
    except UnidentifiedImageError as exc:
        raise DecodeError("not an image, or a format ClipDesk cannot read") from exc
    except Exception as exc:  # Pillow raises many kinds on damaged data; all mean "damaged"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DecodeError(f"damaged image: {first}") from exc


@dataclass
class _Opened:
    """A photo whose header is read and checked, its pixels not decoded yet."""

    image: Image.Image
    exif: Image.Exif | None
    orientation: int  # EXIF orientation, 1 when none or unreadable
    taken_at: float | None

    @property
    def turned(self) -> bool:
        """Whether EXIF orientation turns the picture by 90 degrees (width and height swap)."""
        return self.orientation in (5, 6, 7, 8)

    @property
    def shown_size(self) -> tuple[int, int]:
        width, height = self.image.size
        return (height, width) if self.turned else (width, height)


def _open(data: bytes) -> _Opened:
    """Read the header: refuse an image over MAX_PIXELS before a single pixel is decoded."""
    im = Image.open(io.BytesIO(data))
    width, height = im.size
    if width * height > MAX_PIXELS:
        raise DecodeError(
            f"image too large ({width}x{height}, over {MAX_PIXELS // 1_000_000} megapixels)"
        )
    try:
        exif = im.getexif()
        orientation = exif.get(0x0112, 1)
        taken_at = _taken_at(exif)
    except Exception:  # broken EXIF must not cost the photo
        exif, orientation, taken_at = None, 1, None
    return _Opened(im, exif, orientation, taken_at)


# A camera JPEG carrying its own previews (CIPA DC-007 "Multi-Picture Format": Sony, Nikon,
# Fujifilm, Panasonic, Olympus...) opens in Pillow as "MPO"; its first picture is the photo.
JPEG_FORMATS = ("JPEG", "MPO")
# The MPF pictures that are the photo itself, made smaller by the camera (at most 640x480 and
# 1920x1080). Other kinds (a stereo pair's other eye, a panorama's frames, an HDR gain map, a
# depth map: "Undefined") are never taken for the photo.
LARGE_THUMBNAILS = ("Large Thumbnail (VGA Equivalent)", "Large Thumbnail (Full HD Equivalent)")


def _camera_preview(data: bytes, opened: _Opened, box: tuple[int, int]) -> _Opened | None:
    """The smallest of a camera JPEG's MPF large thumbnails that still covers ``box`` as the
    full photo would: decoding a 1616x1080 preview costs a tenth of a 24 MP photo's scaled
    decode. Only one of the photo's own proportions (a letterboxed or turned preview is not
    the photo's picture); None when there is none, or anything about it is odd."""
    im = opened.image
    if im.format != "MPO":
        return None
    try:
        entries = im.mpinfo[0xB002]
        width, height = im.size
        best = None
        for frame, entry in enumerate(entries):
            if frame == 0 or entry["Attribute"]["MPType"] not in LARGE_THUMBNAILS:
                continue
            preview = Image.open(io.BytesIO(data))
            preview.seek(frame)
            pw, ph = preview.size
            if preview.format != "MPO" or abs(pw * height - ph * width) > 0.01 * width * height:
                continue
            candidate = _Opened(preview, opened.exif, opened.orientation, opened.taken_at)
            if _enough(candidate.shown_size, opened.shown_size, box, cover=True) and (
                    best is None or pw * ph < best.image.size[0] * best.image.size[1]):
                best = candidate
        return best
    except Exception:  # a damaged or unusual MPF header: the photo itself is read instead
        return None


def has_camera_preview(data: bytes, min_side: int) -> bool:
    """Whether ``decode(data, min_side)`` reads a camera preview instead of the photo: then
    the CPU decodes it faster than a GPU decodes the whole photo (``indexer``). A JPEG without
    an MPF segment near its start is told at once."""
    if data[:3] != b"\xff\xd8\xff" or b"MPF\0" not in data[:131072]:
        return False
    try:
        with _reading():
            opened = _open(data)
    except DecodeError:
        return False
    return _camera_preview(data, opened, (min_side, min_side)) is not None


_TRANSPOSE = {  # EXIF orientation -> the transpose that shows the picture upright
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90,
}


def _shrink(im: Image.Image, box: tuple[int, int] | None, cover: bool,
            convert: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Reduce by a whole factor (see ``_pixels`` for ``cover``), then convert."""
    factor = 0
    if box is not None:
        width, height = im.size
        factor = (min(width // box[0], height // box[1]) if cover
                  else max(width // box[0], height // box[1]) // 2)
    if factor >= 2:  # keep no more pixels than needed, and shrink before
        try:         # converting: RGBA compositing is costly
            im = im.reduce(factor)
        except ValueError:  # a mode reduce() does not take: convert first
            im = convert(im).reduce(factor)
    return convert(im)


def _pixels(opened: _Opened, box: tuple[int, int] | None, cover: bool,
            convert: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Decode, turn by EXIF, shrink by a whole factor, convert. With ``cover`` the result still
    covers ``box`` (what the model needs); without, it keeps about twice the size that fits in
    ``box``, for a smooth final resize. ``box`` is as displayed; None keeps every pixel."""
    im = opened.image
    jpeg = im.format in JPEG_FORMATS
    if jpeg and box is not None:  # DCT scaling: a fraction of a full decode
        im.draft("RGB", (box[1], box[0]) if opened.turned else box)
    # huge images (that JPEG's scaled decode cannot shrink) decode one at a time, so
    # memory stays bounded however many threads meet them at once
    big = not jpeg and im.size[0] * im.size[1] > BIG_PIXELS
    with _big_decode if big else contextlib.nullcontext():
        im.load()
        if opened.orientation in _TRANSPOSE:  # EXIF's, or a RAW's flip (_raw_preview)
            im = im.transpose(_TRANSPOSE[opened.orientation])
        return _shrink(im, box, cover, convert)


# LibRaw's ``flip`` as the EXIF orientation it was read from (LibRaw maps EXIF 1..8 through
# "50132467"[orientation & 7]); flips 4-7 turn by 90 degrees
_FLIP_TO_ORIENTATION = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}


def _enough(have: tuple[int, int], full: tuple[int, int], box: tuple[int, int] | None,
            cover: bool) -> bool:
    """Whether an image of size ``have`` serves as well as the full-size ``full`` would: at
    least as large as ``full`` shrunk to cover (or fit in) ``box``, never enlarged."""
    if box is None:
        scale = 1.0
    else:
        scales = (box[0] / full[0], box[1] / full[1])
        scale = min(1.0, max(scales) if cover else min(scales))
    return all(h + 1 >= f * scale for h, f in zip(have, full, strict=True))


@contextlib.contextmanager
def _raw_errors() -> Iterator[None]:
    """LibRaw's errors as one DecodeError with a one-line reason."""
    try:
        yield
    except rawpy.LibRawFileUnsupportedError as exc:
        raise DecodeError("not a RAW file, or a RAW format LibRaw cannot read") from exc
    except rawpy.LibRawIOError as exc:
        raise DecodeError("damaged RAW file: truncated or unreadable") from exc
    except (rawpy.LibRawTooBigError, rawpy.LibRawUnsufficientMemoryError,
            rawpy.LibRawMemPoolOverflowError) as exc:
        raise DecodeError("RAW file too large to decode") from exc
    except rawpy.LibRawError as exc:
        reason = str(exc).strip("b'\"") or type(exc).__name__
        raise DecodeError(f"damaged RAW file: {reason}") from exc


def _raw_preview(raw: rawpy.RawPy, orientation: int, full: tuple[int, int]) -> _Opened | None:
    """The camera's embedded preview, header read, turned as the RAW says; None when there is
    none or it is unreadable (the sensor data may still be fine)."""
    try:
        thumb = raw.extract_thumb()
    except rawpy.LibRawError:  # no preview, an unsupported one, or a damaged one
        return None
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG:
            opened = _open(thumb.data)
        else:  # a bitmap (some old cameras)
            opened = _Opened(Image.fromarray(thumb.data).convert("RGB"), None, 1, None)
    except Exception:
        return None
    if opened.orientation == 1 and orientation != 1:
        opened.orientation = orientation
        # a preview stored already upright (its sides the RAW's turned ones) is not turned twice
        width, height = opened.image.size
        if opened.turned and full[0] != full[1] and (width > height) == (full[0] > full[1]):
            opened.orientation = 1
    return opened


def _raw_timestamp(raw: rawpy.RawPy) -> float | None:
    """LibRaw's capture time (from the RAW's own EXIF or maker notes); None when unknown (0).
    rawpy unpacks the sensor data to give it (70 ms for 12 MP): asked only when the preview
    has no date, which cameras' previews have (LibRaw adds the RAW's to one without EXIF)."""
    try:
        stamp = raw.other.timestamp.timestamp()
    except (AttributeError, ValueError, OverflowError, OSError, rawpy.LibRawError):
        return None
    return stamp if stamp > 0 else None


def _blank_sensor(raw: rawpy.RawPy) -> bool:
    """Whether the sensor data is one flat value: what LibRaw leaves, without an error, when
    it cannot decode a damaged sensor block. (No real exposure is flat: sensors have noise.)"""
    try:
        sample = raw.raw_image_visible[::3, ::3]
    except Exception:  # a format LibRaw holds otherwise (Foveon, linear DNG): not checked
        return False
    return sample.size > 0 and int(sample.min()) == int(sample.max())


def _read_raw(data: bytes, box: tuple[int, int] | None, cover: bool,
              convert: Callable[[Image.Image], Image.Image] | None,
              ) -> tuple[tuple[int, int], float | None, Image.Image | None]:
    """A RAW's shown size, capture time and, when ``convert`` is given, its pixels for ``box``
    (as ``_pixels``): the embedded preview when it is large enough, else a demosaic at half
    size (full size only when half would be smaller than asked), reduced as soon as made."""
    with _raw_errors(), rawpy.imread(io.BytesIO(data)) as raw:
        sizes = raw.sizes
        if sizes.width <= 0 or sizes.height <= 0:
            raise DecodeError("damaged RAW file: no image size")
        orientation = _FLIP_TO_ORIENTATION.get(sizes.flip, 1)
        turned = orientation in (5, 6, 7, 8)
        full = (sizes.height, sizes.width) if turned else (sizes.width, sizes.height)
        preview = _raw_preview(raw, orientation, full)
        image = None
        if convert is not None:
            if preview is not None and _enough(preview.shown_size, full, box, cover):
                image = _pixels(preview, box, cover, convert)
            else:
                image = _demosaic(raw, full, box, cover, convert)
        taken_at = (preview.taken_at if preview is not None else None) or _raw_timestamp(raw)
        return full, taken_at, image


def _demosaic(raw: rawpy.RawPy, full: tuple[int, int], box: tuple[int, int] | None,
              cover: bool, convert: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """The sensor data as a picture for ``box``: half size unless that is smaller than asked,
    reduced as soon as made; a flat sensor block (damaged) is an error."""
    sizes = raw.sizes
    half = _enough((full[0] // 2, full[1] // 2), full, box, cover)
    sensor = sizes.raw_width * sizes.raw_height
    if sensor // (4 if half else 1) > MAX_PIXELS:
        raise DecodeError(f"RAW image too large ({sizes.width}x{sizes.height})")
    # a big sensor decodes one at a time (LibRaw holds about 10 bytes a pixel meanwhile)
    with _big_decode if sensor > BIG_PIXELS else contextlib.nullcontext():
        rgb = raw.postprocess(half_size=half, use_camera_wb=True, output_bps=8)
        if _blank_sensor(raw):
            raise DecodeError("damaged RAW file: its sensor data could not be decoded")
        image = Image.fromarray(rgb)  # already turned by LibRaw
        del rgb
        return _shrink(image, box, cover, convert)


def decode(data: bytes, min_side: int | None, digest: str | None = None,
           name: str | os.PathLike | None = None) -> Photo:
    """Header facts, plus an RGB image whose short side is at least ``min_side`` (when given).
    ``digest`` is ``content_hash(data)`` when the caller has it already. A RAW is told by
    ``name``, the file's path or name (``is_raw_name``), else by its bytes (``looks_raw``)."""
    digest = digest or content_hash(data)
    if not data:
        raise DecodeError("empty file (0 bytes)")
    with _reading():
        if _is_raw(name, data):
            box = None if min_side is None else (min_side, min_side)
            size, taken_at, image = _read_raw(data, box, True,
                                              None if min_side is None else to_rgb)
            return Photo(digest, *size, taken_at, image)
        opened = _open(data)
        photo = Photo(digest, *opened.shown_size, opened.taken_at)
        if min_side is not None:
            box = (min_side, min_side)
            preview = _camera_preview(data, opened, box)
            if preview is not None:
                try:
                    photo.image = _pixels(preview, box, cover=True, convert=to_rgb)
                except Exception:  # a damaged preview: the photo itself may be whole
                    photo.image = None
            if photo.image is None:
                photo.image = _pixels(opened, box, cover=True, convert=to_rgb)
        return photo


def _display_mode(im: Image.Image) -> Image.Image:
    """RGB, or RGBA when the picture has transparency (the app shows it on its own background)."""
    if im.mode in ("RGB", "RGBA"):
        return im
    if im.mode in ("LA", "PA", "La", "RGBa") or (
            "transparency" in im.info and im.mode in ("P", "L", "RGB")):
        return im.convert("RGBA")
    return to_rgb(im)


def display_image(path: str | os.PathLike, fit: tuple[int, int] | None = None) -> Image.Image:
    """A photo as the app shows it (preview, copy, grid fallback, "like this" chips): turned by
    EXIF, reduced to fit in ``fit`` (width, height) when larger, RGB or RGBA. The same decoder
    as indexing, so every format ClipDesk indexes (HEIC with pi-heif, RAW) can also be shown,
    with the same guards: the pixel limit and decompression-bomb refusal, scaled JPEG decoding,
    huge images decoded one at a time. Raises DecodeError with the reason, also for a missing
    file."""
    try:
        data = read_bytes(path)
    except FileNotFoundError as exc:
        raise DecodeError("file not found") from exc
    if not data:
        raise DecodeError("empty file (0 bytes)")
    with _reading():
        if _is_raw(path, data):
            im = _read_raw(data, fit, False, _display_mode)[2]
        else:
            im = _pixels(_open(data), fit, cover=False, convert=_display_mode)
        if fit is not None and (im.width > fit[0] or im.height > fit[1]):
            im.thumbnail(fit, Image.Resampling.BICUBIC, reducing_gap=None)
        return im


def save_thumbnail(image: Image.Image, path: Path) -> None:
    """Write a JPEG thumbnail atomically (temp file then rename)."""
    thumb = image.copy()
    thumb.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BICUBIC, reducing_gap=2.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        thumb.save(tmp, "JPEG", quality=85)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
