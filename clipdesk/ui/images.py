"""Photos as QImages, decoded by ClipDesk's own decoder (``core.decode.display_image``).

Everything the app shows from a photo file goes through here: the preview, Copy image, "like
this" chips, and the grid when a photo has no thumbnail. Qt's image readers lack formats that
ClipDesk indexes (HEIC, with pi-heif) and would use a second set of rules for
orientation and oversized images. Only the JPEG thumbnails ClipDesk writes itself are read by
Qt (``thumbnails.read_thumbnail``): that is the grid's fast path. A video's frames are the
core's too (``core.video.frame_at``).

Call these in a worker thread; they return a ``QImage`` and the GUI thread makes the pixmap.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QSize
from PySide6.QtGui import QImage

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)


def to_qimage(image: Image.Image) -> QImage:
    """A PIL image (RGB or RGBA; others are converted) as a QImage that owns its pixels, in the
    formats Qt paints fastest, so that making the pixmap on the GUI thread is a plain copy."""
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    alpha = image.mode == "RGBA"
    data = image.tobytes()
    wrapped = QImage(data, image.width, image.height, image.width * (4 if alpha else 3),
                     QImage.Format.Format_RGBA8888 if alpha else QImage.Format.Format_RGB888)
    # a conversion to another format always allocates: the result no longer points at ``data``
    return wrapped.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied if alpha
                                   else QImage.Format.Format_RGB32)


def load_photo(path: str, fit: QSize | None = None) -> QImage:
    """The photo at ``path``, turned by EXIF and scaled down to fit in ``fit``. Raises
    ``DecodeError`` with a reason the user can read (not found, too large, damaged...)."""
    from clipdesk.core import decode  # Pillow loads on first use, not at the app's start
    from clipdesk.core.video import is_video_name

    if is_video_name(path):  # never read whole into memory: a still from its frames
        return video_still(path, fit)
    return to_qimage(decode.display_image(path, _box(fit)))


STILL_TIMES = (0.0, 1.0, 3.0, 10.0)  # where a video's still is looked for, seconds
BLANK_STD = 6.0  # grey levels spread less than this: a black fade or a white flash


def video_still(path: str, fit: QSize | None = None) -> QImage:
    """A picture standing for a video without its thumbnail (not indexed yet, or the
    thumbnail trimmed): its first frame at ``STILL_TIMES`` that is not blank, else the first."""
    from clipdesk.core.decode import DecodeError

    first = None
    for t in STILL_TIMES:
        try:
            image = load_frame(path, t, fit)
        except DecodeError:
            if first is None:
                raise
            break
        first = first or image
        grey = image.convertToFormat(QImage.Format.Format_Grayscale8)
        levels = [grey.pixelColor(x, y).red()
                  for x in range(0, grey.width(), max(1, grey.width() // 16))
                  for y in range(0, grey.height(), max(1, grey.height() // 16))]
        if float(np.std(levels)) >= BLANK_STD:
            return image
    return first


def read_photo(path: str, fit: QSize | None = None) -> QImage:
    """``load_photo``, or a null QImage when the photo cannot be shown (the reason is logged):
    for the grid and the chips, which show a placeholder instead."""
    from clipdesk.core.decode import DecodeError

    try:
        return load_photo(path, fit)
    except DecodeError as exc:
        log.info("cannot show %s: %s", path, exc)
        return QImage()


def load_frame(path: str, t: float, fit: QSize | None = None) -> QImage:
    """A video's frame at ``t`` seconds (``video.frame_at``), upright and scaled down to fit
    in ``fit``: the preview's moment and Copy image of a video. Raises ``DecodeError``
    (``video.VideoError``) with a reason."""
    from clipdesk.core import video

    return to_qimage(video.frame_at(path, t, _box(fit)))


def _box(fit: QSize | None) -> tuple[int, int] | None:
    """``fit`` as the core's (width, height) box; None for no size to fit."""
    return (max(1, fit.width()), max(1, fit.height())) if fit is not None and fit.isValid() else None
