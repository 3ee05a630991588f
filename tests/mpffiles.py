"""Camera JPEGs that carry their own previews (CIPA DC-007 Multi-Picture Format), as Sony,
Nikon, Fujifilm, Panasonic and Olympus write them: the photo, then smaller copies of it typed
"Large Thumbnail" in the MPF header of its APP2 segment. Pillow writes the format but types
every extra picture "Undefined"; the type is set here in the header Pillow wrote."""

from __future__ import annotations

import io
import struct

from PIL import Image

VGA, FULL_HD, UNDEFINED = 0x010001, 0x010002, 0x000000


def camera_jpeg(photo: Image.Image, extras: list[tuple[Image.Image, int]], quality: int = 90,
                exif: Image.Exif | None = None) -> bytes:
    """``photo`` as a camera JPEG followed by ``extras``, each (picture, MPF type)."""
    out = io.BytesIO()
    options = {"exif": exif} if exif is not None else {}
    photo.save(out, "MPO", save_all=True, append_images=[p for p, _ in extras],
               quality=quality, **options)
    data = bytearray(out.getvalue())
    entries = Image.open(io.BytesIO(bytes(data))).mpinfo[0xB002]
    for entry, (_, kind) in zip(entries[1:], extras, strict=True):
        written = struct.pack("<LLLHH", UNDEFINED, entry["Size"], entry["DataOffset"], 0, 0)
        at = data.find(written)
        assert at > 0 and data.find(written, at + 1) < 0, "MPF entry not found once"
        data[at:at + 16] = struct.pack("<LLLHH", kind, entry["Size"], entry["DataOffset"], 0, 0)
    return bytes(data)


def primary_only(data: bytes) -> bytes:
    """The photo alone: the bytes up to its own end-of-image marker (what a tool that keeps
    one picture leaves)."""
    size = Image.open(io.BytesIO(data)).mpinfo[0xB002][0]["Size"]
    return data[:size]
