"""Reading a photo once: content hash, header facts, a reduced RGB image and its thumbnail.

JPEGs are decoded with DCT scaling (PIL ``draft``) at the smallest size that still covers
the model's input, so a 12 MP photo costs a fraction of a full decode. EXIF orientation is
applied and every PIL mode ends as RGB (transparency is composited onto white).

The app shows photos through the same code (``display_image``), never through Qt's own image
readers: what ClipDesk can index (HEIC and AVIF with pillow-heif) it can also show.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 150_000_000  # larger is treated as a decompression bomb
THUMB_SIZE = 320  # long side of cached thumbnails, pixels
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

try:  # HEIC/HEIF/AVIF through the optional pillow-heif extra
    import pillow_heif

    pillow_heif.register_heif_opener()
    if hasattr(pillow_heif, "register_avif_opener"):
        pillow_heif.register_avif_opener()
    HEIF_AVAILABLE = True
except ImportError:
    HEIF_AVAILABLE = False


class DecodeError(Exception):
    """A photo that cannot be used; the message is the one-line reason shown to the user."""


@dataclass
class Photo:
    hash: str
    width: int  # as displayed, after EXIF orientation
    height: int
    taken_at: float | None
    image: Image.Image | None = None  # RGB, reduced; None when pixels were not asked for


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


def _pixels(opened: _Opened, box: tuple[int, int] | None, cover: bool,
            convert: Callable[[Image.Image], Image.Image]) -> Image.Image:
    """Decode, turn by EXIF, shrink by a whole factor, convert. With ``cover`` the result still
    covers ``box`` (what the model needs); without, it keeps about twice the size that fits in
    ``box``, for a smooth final resize. ``box`` is as displayed; None keeps every pixel."""
    im = opened.image
    if im.format == "JPEG" and box is not None:  # DCT scaling: a fraction of a full decode
        im.draft("RGB", (box[1], box[0]) if opened.turned else box)
    # huge images (that JPEG's scaled decode cannot shrink) decode one at a time, so
    # memory stays bounded however many threads meet them at once
    big = im.format != "JPEG" and im.size[0] * im.size[1] > BIG_PIXELS
    with _big_decode if big else contextlib.nullcontext():
        im.load()
        if opened.exif is not None and opened.orientation != 1:
            try:
                im = ImageOps.exif_transpose(im)
            except Exception:
                pass
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


def decode(data: bytes, min_side: int | None, digest: str | None = None) -> Photo:
    """Header facts, plus an RGB image whose short side is at least ``min_side`` (when given).
    ``digest`` is ``content_hash(data)`` when the caller has it already."""
    digest = digest or content_hash(data)
    if not data:
        raise DecodeError("empty file (0 bytes)")
    with _reading():
        opened = _open(data)
        photo = Photo(digest, *opened.shown_size, opened.taken_at)
        if min_side is not None:
            photo.image = _pixels(opened, (min_side, min_side), cover=True, convert=to_rgb)
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
    as indexing, so every format ClipDesk indexes (HEIC with pillow-heif) can also be shown,
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
