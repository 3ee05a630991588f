"""DNG files for the RAW tests, written with pidng: a picture as Bayer sensor data (RGGB,
16-bit, linear sRGB primaries so LibRaw gives the picture back), with or without an embedded
JPEG preview, an orientation and a capture date, as a camera writes them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from pidng.core import DNGTags, Tag
from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation
from pidng.dng import DNG, dngIFD, dngTag
from PIL import Image

# XYZ (D65) to linear sRGB: the DNG's ColorMatrix1, so that the "camera" sees sRGB primaries
_XYZ_TO_SRGB = [[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]]


def bayer(picture: Image.Image) -> np.ndarray:
    """The picture as an RGGB mosaic of linear 16-bit values."""
    rgb = np.asarray(picture.convert("RGB"), np.float32) / 255.0
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4) * 65535
    mosaic = np.empty(rgb.shape[:2], np.uint16)
    mosaic[0::2, 0::2] = linear[0::2, 0::2, 0]
    mosaic[0::2, 1::2] = linear[0::2, 1::2, 1]
    mosaic[1::2, 0::2] = linear[1::2, 0::2, 1]
    mosaic[1::2, 1::2] = linear[1::2, 1::2, 2]
    return mosaic


def jpeg(picture: Image.Image, orientation: int | None = None, taken: str | None = None,
         exif: bool = True) -> bytes:
    """A JPEG of the picture as a camera embeds it: its EXIF segment first (no JFIF), with the
    orientation and DateTimeOriginal when given. Without ``exif`` it has no EXIF at all, and
    LibRaw hands it out behind an EXIF header of its own, made from the RAW's tags."""
    info = Image.Exif()
    if orientation is not None:
        info[0x0112] = orientation
    if taken is not None:
        info.get_ifd(0x8769)[0x9003] = taken
    out = io.BytesIO()
    picture.convert("RGB").save(out, "JPEG", quality=90, **({"exif": info} if exif else {}))
    data = out.getvalue()
    if data[2:4] == b"\xff\xe0":  # drop Pillow's JFIF segment: LibRaw looks for "Exif" there
        data = data[:2] + data[4 + int.from_bytes(data[4:6], "big"):]
    return data


def dng_bytes(picture: Image.Image, *, preview: bytes | None = None, orientation: int = 1,
              taken: str | None = "2021:05:06 07:08:09", broken_sensor: bool = False) -> bytes:
    """A DNG holding ``picture`` as sensor data; ``preview`` (JPEG bytes) as a second IFD
    (NewSubfileType 1, as cameras store their preview); ``orientation`` (EXIF 1-8) and the
    capture date ``taken`` ("YYYY:MM:DD HH:MM:SS") in the main IFD. ``broken_sensor``: the
    sensor block zeroed, as a damaged card returns it. (Noise in a lossless-JPEG sensor block
    is no good test: LibRaw decodes it without an error, into whatever its buffers held.)"""
    width, height = picture.size
    sensor = bayer(picture).tobytes()
    if broken_sensor:
        sensor = bytes(len(sensor))
    tags = DNGTags()
    for tag, value in [
        (Tag.NewSubfileType, 0), (Tag.Compression, 1), (Tag.ImageWidth, width),
        (Tag.ImageLength, height), (Tag.TileWidth, width), (Tag.TileLength, height),
        (Tag.Orientation, orientation), (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 16),
        (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
        (Tag.CFARepeatPatternDim, [2, 2]), (Tag.CFAPattern, CFAPattern.RGGB),
        (Tag.BlackLevel, 0), (Tag.WhiteLevel, 65535),
        (Tag.ColorMatrix1, [[round(v * 10000), 10000] for row in _XYZ_TO_SRGB for v in row]),
        (Tag.CalibrationIlluminant1, CalibrationIlluminant.D65),
        (Tag.AsShotNeutral, [[1, 1], [1, 1], [1, 1]]),
        (Tag.DNGVersion, DNGVersion.V1_4), (Tag.DNGBackwardVersion, DNGVersion.V1_0),
        (Tag.Make, "ClipDesk"), (Tag.Model, "Test Camera"),
        (Tag.UniqueCameraModel, "ClipDesk Test Camera"),
    ]:
        tags.set(tag, value)
    if taken is not None:
        tags.set(Tag.DateTimeOriginal, taken)
        tags.set(Tag.DateTime, taken)
    dng = DNG()
    main = dngIFD()
    main.tags = tags.list()
    sensor_at = dngTag(Tag.TileOffsets, [0])
    main.tags += [sensor_at, dngTag(Tag.TileByteCounts, [len(sensor)])]
    dng.ImageDataStrips.append(sensor)
    dng.IFDs.append(main)
    preview_at = None
    if preview is not None:
        try:
            shown = Image.open(io.BytesIO(preview))
        except OSError:  # a damaged preview, on purpose: its IFD says 160x120
            shown = Image.new("RGB", (160, 120))
        second = dngIFD()  # pidng's SubIFD tag is broken: the preview is the next IFD instead
        preview_at = dngTag(Tag.StripOffsets, [0])
        second.tags = [
            preview_at, dngTag(Tag.NewSubfileType, [1]), dngTag(Tag.Compression, [7]),
            dngTag(Tag.ImageWidth, [shown.width]), dngTag(Tag.ImageLength, [shown.height]),
            dngTag(Tag.BitsPerSample, [8, 8, 8]), dngTag(Tag.SamplesPerPixel, [3]),
            dngTag(Tag.PhotometricInterpretation, [6]), dngTag(Tag.RowsPerStrip, [shown.height]),
            dngTag(Tag.StripByteCounts, [len(preview)]),
        ]
        dng.ImageDataStrips.append(preview)
        dng.IFDs.append(second)
    total = dng.dataLen()  # places the strips: their offsets are known from here on
    sensor_at.setValue([dng.StripOffsets[0]])
    if preview_at is not None:
        preview_at.setValue([dng.StripOffsets[1]])
    buf = bytearray(total)
    dng.setBuffer(buf)
    if preview is not None:
        main.NextIFDOffset = dng.IFDs[1].offset
    dng.write()
    return bytes(buf)


def write_dng(path: Path, picture: Image.Image, **kw) -> Path:
    """``dng_bytes`` written to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dng_bytes(picture, **kw))
    return path
