"""A folder of hostile files, as a photo library meets them in the wild, plus a few good photos.

``make_corpus(folder)`` writes them and returns what a user should see for each name:
``"ok"`` (indexed), ``"failed"`` (recorded with a reason and skipped) or ``"absent"`` (not a
photo at all: never listed). ``drop_permissions()`` gives the arguments that make a child
process obey file permissions even when the tests run as root.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

import tinyclip

LONG_NAME = "a-very-long-name-" + "x" * 230 + ".jpg"  # 251 bytes: near the 255-byte limit
BAD_UTF8 = b"caf\xe9-latin1.jpg"  # a Latin-1 name, not valid UTF-8


def _jpeg(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kw)
    return buf.getvalue()


def _png(im: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", **kw)
    return buf.getvalue()


def make_corpus(folder: Path, slow: bool = True) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    good = tinyclip.draw_shape("red", "circle", rng, size=(320, 240))
    expect: dict[str, str] = {}

    def put(name: str, data: bytes, outcome: str) -> None:
        (folder / name).write_bytes(data)
        expect[name] = outcome

    put("good.jpg", _jpeg(good), "ok")
    put("good.png", _png(tinyclip.draw_shape("blue", "square", rng, size=(300, 200))), "ok")
    full = _jpeg(good)
    put("truncated.jpg", full[: len(full) // 3], "failed")
    put("zero.jpg", b"", "failed")
    put("zero.png", b"", "failed")
    put("truncated.png", _png(good)[:200], "failed")
    put("notes.jpg", b"shopping list: milk, eggs\n" * 20, "failed")
    put("page.png", b"<!doctype html><html><body>404 Not Found</body></html>", "failed")
    # 900 megapixels in ~100 KB: refused from the header, never decoded
    put("bomb.png", _png(Image.new("1", (30_000, 30_000))), "failed")
    exif = Image.Exif()
    exif[0x9286] = "x" * 60_000  # UserComment: an APP1 block near its 64 KB maximum
    exif[0x0112] = 1
    put("huge-exif.jpg", _jpeg(good, exif=exif.tobytes()), "ok")
    bad = Image.Exif()
    bad[0x0112] = 99  # no such orientation
    put("bad-orientation.jpg", _jpeg(good, exif=bad.tobytes()), "ok")
    put("cmyk.jpg", _jpeg(good.convert("CMYK")), "ok")
    put("sixteen-bit.png", _png(good.convert("L").convert("I").point(lambda v: v * 257)
                                .convert("I;16")), "ok")
    pal = good.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    put("palette-alpha.png", _png(pal, transparency=0), "ok")
    frames = [tinyclip.draw_shape(c, "triangle", rng, size=(160, 120)) for c in ("red", "green")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    put("animated.gif", buf.getvalue(), "ok")
    put(LONG_NAME, _jpeg(good), "ok")
    with open(os.path.join(os.fsencode(folder), BAD_UTF8), "wb") as fh:
        fh.write(_jpeg(good))
    expect[os.fsdecode(BAD_UTF8)] = "failed"
    noperm = folder / "no-permission.jpg"
    noperm.write_bytes(_jpeg(good))
    noperm.chmod(0)
    expect[noperm.name] = "failed"
    os.mkfifo(folder / "pipe.jpg")  # reading it would block forever
    expect["pipe.jpg"] = "absent"
    (folder / "album").mkdir()
    shutil.copy(folder / "good.jpg", folder / "album" / "copy.jpg")
    expect["album/copy.jpg"] = "ok"
    os.symlink("..", folder / "album" / "loop")  # a folder link back up: a loop
    os.symlink("nowhere.jpg", folder / "dangling.jpg")
    expect["dangling.jpg"] = "absent"
    if slow:  # a real photo that takes seconds to decode (100 MP with alpha) in 1.8 MB
        put("slow.png", _png(Image.new("RGBA", (10_000, 10_000), (200, 30, 30, 128)),
                             compress_level=1), "failed")
    return expect


def drop_permissions() -> list[str]:
    """A command prefix under which file permissions hold: as root, drop the capabilities
    that bypass them (util-linux ``setpriv``); as anyone else, nothing is needed."""
    if os.geteuid() != 0:
        return []
    assert shutil.which("setpriv"), "running the tests as root needs util-linux's setpriv"
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
