"""The smoke test's files that only the bundle's native libraries can read: a camera RAW
(LibRaw, through rawpy), an iPhone-style HEIC photo (libheif and libde265, through pi-heif) and
one short video in each container ClipDesk lists (FFmpeg, through PyAV). The frozen ``clipdesk index`` must embed every one and ``clipdesk search``
must list every one (a video with its moment), so a library left out of the bundle fails
the build instead of a user's library. (A RAW is not even listed when rawpy cannot be
imported: ``clipdesk.core.decode.RAW_AVAILABLE``; so "0 failed" alone would prove nothing.)

The DNG is shipped, ``packaging/smoke/sensor.dng`` (12 KB: 96x64 16-bit RGGB sensor data, no
embedded preview, so LibRaw demosaics it), made once with the tests' pidng writer::

    .venv/bin/python packaging/smoke_media.py --write-dng

so the build needs no pidng; ``packaging/smoke/phone.heic`` (the same picture, HEVC-coded) likewise,
with the test extra's pillow-heif encoder (the bundle carries a decoder only)::

    .venv/bin/python packaging/smoke_media.py --write-heic

The videos are encoded here at build time with the build
environment's PyAV (its wheel's encoders): a second of a moving shape each, at 128x96, in the
codecs those containers usually hold (H.264, HEVC as phones record, VP9, AV1, MPEG-4 Part 2,
H.263; MPEG-4 where a wheel lacks an encoder).
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGING = Path(__file__).resolve().parent
SMOKE_DNG = PACKAGING / "smoke" / "sensor.dng"
SMOKE_HEIC = PACKAGING / "smoke" / "phone.heic"

# file name: the codecs to encode it with, the first this PyAV can (one file per suffix of
# clipdesk.core.video.VIDEO_SUFFIXES); FFmpeg's own MPEG-4 Part 2 and H.263 encoders are
# always built in, so a PyAV wheel without, say, SVT-AV1 still gets its container checked
VIDEOS = {
    "clip.mp4": ("libx264", "mpeg4"),
    "clip.mov": ("libx265", "mpeg4"),  # HEVC, as iPhones record
    "clip.m4v": ("libx264", "mpeg4"),
    "clip.mkv": ("libsvtav1", "libaom-av1", "mpeg4"),  # AV1: FFmpeg decodes it with dav1d
    "clip.webm": ("libvpx-vp9", "libvpx", "libsvtav1", "libaom-av1"),  # WebM holds only these
    "clip.avi": ("mpeg4",),
    "clip.3gp": ("h263",),
}
SIZE = (128, 96)  # sub-QCIF: one size every codec above takes, H.263 included
FPS = 10


def _picture(i: int):
    """Frame ``i``: a red disc drifting over a blue-to-green gradient (never uniform, so the
    sampler does not take it for a black fade)."""
    import numpy as np

    w, h = SIZE
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 1] = (x * 255 // w).astype(np.uint8)
    rgb[..., 2] = (y * 255 // h).astype(np.uint8)
    cx, cy = 30 + 4 * i, h // 2
    disc = (x - cx) ** 2 + (y - cy) ** 2 < 20**2
    rgb[disc] = (220, 30, 30)
    return rgb


def write_video(path: Path, codec: str, seconds: float = 1.0) -> Path:
    """``seconds`` of the drifting disc, encoded with ``codec`` into ``path`` (the container
    from its suffix)."""
    import os

    import av

    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1: errors only, not its banner
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=FPS)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        if codec == "libx265":
            stream.options = {"x265-params": "log-level=error"}
        for i in range(round(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(_picture(i), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_media(folder: Path) -> list[Path]:
    """The DNG, the HEIC and the videos in ``folder``; returns their paths."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    made = [Path(shutil.copyfile(still, folder / still.name)) for still in (SMOKE_DNG, SMOKE_HEIC)]
    made += [write_video(folder / name, encoder(codecs)) for name, codecs in VIDEOS.items()]
    return made


def encoder(codecs: tuple[str, ...]) -> str:
    """The first of ``codecs`` this PyAV can encode."""
    import av

    for codec in codecs:
        try:
            av.Codec(codec, "w")
        except (av.codec.codec.UnknownCodecError, ValueError):
            print(f"smoke_media: this PyAV cannot encode {codec}")
            continue
        return codec
    raise SystemExit(f"smoke_media: this PyAV can encode none of {', '.join(codecs)}")


def _write_dng() -> None:
    """Remake packaging/smoke/sensor.dng with tests/dngfiles.py (needs the test extra)."""
    sys.path.insert(0, str(PACKAGING.parent / "tests"))
    from dngfiles import write_dng
    from PIL import Image

    write_dng(SMOKE_DNG, Image.fromarray(_picture(0)).resize((96, 64)), preview=None)
    print(f"{SMOKE_DNG}: {SMOKE_DNG.stat().st_size} bytes")


def _write_heic() -> None:
    """Remake packaging/smoke/phone.heic with pillow-heif's encoder (the test extra)."""
    import pillow_heif
    from PIL import Image

    pillow_heif.from_pillow(Image.fromarray(_picture(0))).save(SMOKE_HEIC, quality=80)
    print(f"{SMOKE_HEIC}: {SMOKE_HEIC.stat().st_size} bytes")


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-dng"]:
        _write_dng()
    elif sys.argv[1:] == ["--write-heic"]:
        _write_heic()
    else:
        sys.exit("usage: smoke_media.py --write-dng | --write-heic (the build calls write_media"
                 " itself)")
