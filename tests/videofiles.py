"""Videos for the tests, encoded with PyAV: scenes of the coloured shapes the trained tiny
model knows (tinyclip.draw_shape), black fades, a still scene, sound without pictures,
variable frame rates and a very large frame. Small and few frames: a few seconds at 10 fps."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

import tinyclip

SIZE = (160, 120)
FPS = 10


@dataclass(frozen=True)
class Scene:
    """``seconds`` of one picture: a shape class ("red-circle"), "black" or "white". A shape
    drifts a little each frame, as filmed, unless ``still``."""

    what: str
    seconds: float
    still: bool = False


def _frame(scene: Scene, size: tuple[int, int], base: Image.Image | None, i: int) -> np.ndarray:
    w, h = size
    if scene.what == "black":
        return np.zeros((h, w, 3), np.uint8)
    if scene.what == "white":
        return np.full((h, w, 3), 255, np.uint8)
    arr = np.asarray(base)
    if scene.still:
        return arr
    shift = (i // 2) % 6 - 3  # a slow drift: a moving camera, not a new picture
    return np.roll(arr, shift, axis=1)


def write(path: Path, scenes: list[Scene], fps: int = FPS, size: tuple[int, int] = SIZE,
          codec: str = "libx264", seed: int = 0, creation_time: str | None = None,
          gop: int | None = None, audio: bool = False, frame_times: list[float] | None = None,
          faststart: bool = False, rotation: int = 0) -> Path:
    """Encode ``scenes`` one after another. ``frame_times`` (seconds, one per frame) gives a
    variable frame rate; ``gop`` the keyframe interval; ``audio`` adds a silent sound track;
    ``faststart`` puts an MP4's index first (as for streaming); ``rotation`` (degrees,
    counter-clockwise) is the display rotation a phone held upright writes."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as out:
        if creation_time is not None:
            out.metadata["creation_time"] = creation_time
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        if gop is not None:
            stream.codec_context.gop_size = gop
        if rotation:
            stream.set_display_rotation(rotation)
        if codec == "libx264" and size[0] * size[1] > 1_000_000:
            stream.options = {"preset": "ultrafast"}  # an 8K frame: seconds, not ten
        if frame_times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        sound = out.add_stream("aac", rate=8000) if audio else None
        n = 0
        for scene in scenes:
            base = None
            if "-" in scene.what:
                color, shape = scene.what.split("-")
                big = size[0] * size[1] > 1_000_000  # drawn small and enlarged: fast
                drawn = (size[0] // 16, size[1] // 16) if big else size
                base = tinyclip.draw_shape(color, shape, rng, size=drawn)
                if big:
                    base = base.resize(size, Image.Resampling.NEAREST)
            for i in range(round(scene.seconds * fps)):
                frame = av.VideoFrame.from_ndarray(_frame(scene, size, base, i), format="rgb24")
                if frame_times is not None:
                    frame.pts = round(frame_times[n] * 1000)
                    frame.time_base = Fraction(1, 1000)
                else:
                    frame.pts = n
                n += 1
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
        if sound is not None:
            _silence(out, sound, n / fps)
    return path


def _silence(out, stream, seconds: float) -> None:
    samples = 1024
    for i in range(int(seconds * 8000 / samples) + 1):
        frame = av.AudioFrame.from_ndarray(np.zeros((1, samples), np.float32), format="fltp",
                                           layout="mono")
        frame.sample_rate = 8000
        frame.pts = i * samples
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An .mp4 holding sound and no pictures."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=8000)
        _silence(out, stream, seconds)
    return path
