"""Reading a video once: its length, size, date, and a bounded set of small frames to embed.

A video is one file in the library with many vectors, one per sampled frame (the catalog's
``frames`` table; the usearch keys of ``catalog.frame_key``). What is sampled:

- at least one frame in every ``step`` (``STEP_S`` seconds, longer for long videos so that
  no video gives more than ``MAX_FRAMES``): the cell's first keyframe when it has one (a
  keyframe decodes alone), else the frame at the cell's middle, decoded from the keyframe
  before it;
- scene changes: encoders start a new keyframe at a cut, so keyframes (up to
  ``KEYFRAME_BUDGET`` of them) are decoded too, and one is kept when it differs from the last
  kept frame by more than ``SCENE_DIFF``;
- never a nearly uniform frame (a black fade, a white flash: pixel spread under
  ``UNIFORM_STD``). A video that is blank throughout keeps one frame, its first.

First the packets are read without decoding (where the keyframes are, how long the video
really is: a truncated file is shorter than its header says), then only the frames planned
are decoded, seeking to the keyframe before each; a keyframe is decoded alone (its packet,
then the decoder drained, so no B-frames after it are decoded). Every decoded frame is
reduced at once by FFmpeg's scaler (``reformat``), so an 8K frame is never kept at full size.
Formats that cannot seek are read from start to end instead. On 2 busy cores a minute of
1080p at 30 fps is sampled 4.4x faster than decoding its every frame, ten minutes at 10 fps
5.9x (benchmarks/video_index.py); embedding the frames then costs two to three times the
sampling.

The API (plain data, no Qt, no catalog):

- ``VIDEO_SUFFIXES``, ``is_video_name(name)``: what is a video (told by the name);
- ``file_hash(path)``: the content hash (as ``decode.content_hash`` of the bytes), read in
  chunks: a video is never read into memory whole;
- ``read(path, min_side, digest, deadline)`` -> ``Video``: ``frames`` as ``Frame(t, image)``
  (RGB PIL images, short side ``min_side``), in time order; raises ``VideoError`` (a
  ``decode.DecodeError``: the one-line reason) for a file that is no usable video;
- ``mean_vector(vectors)``: the one vector standing for a video (its frames' normalised
  mean), what ``embeddings`` holds for it;
- ``frame_at(path, t, fit)``: one frame to show (the preview's moment, Copy image, a still
  for a video without its thumbnail), upright and scaled to fit; raises ``VideoError``;
- ``complete(path)``: whether a video opens whole (the watcher's test for one still being
  recorded or copied).

What the rest of ClipDesk sees of a video (the catalog holds it; this module only reads):

- ``search.Hit``: a video is found once, ``time`` the best frame's seconds (its score the
  hit's), ``duration`` its length (None for a photo); ``Hit.is_video``;
- ``FileRow.duration`` / ``FileRow.is_video``; ``Catalog.frame_times(model, hash)`` the times
  of its sampled frames, ``Catalog.video_frames(model, hash)`` with their vectors;
- thumbnails: ``Library.thumbnail_path(hash)`` (its first frame that is not blank) and
  ``Library.frame_thumbnail_path(hash, t)`` for each sampled frame;
- the usearch index holds a video's frames under ``catalog.frame_key(file_id, n)``;
  ``catalog.removal_keys(ids, video_ids)`` lists the keys to remove with a file.

PyAV (FFmpeg's libraries in its wheel) is imported on first use: 50 ms the app's start-up
need not pay.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from PIL import Image

from clipdesk.core.catalog import FRAMES_MAX
from clipdesk.core.decode import DecodeError

VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".3gp"})
STEP_S = 2.0  # at least one frame this often (a video over MAX_FRAMES * STEP_S: less often)
MAX_FRAMES = FRAMES_MAX  # sampled frames per video, at most: an hour-long video costs as much
KEYFRAME_BUDGET = 2 * MAX_FRAMES  # keyframes decoded to look for scene changes, at most
UNIFORM_STD = 6.0  # a frame whose grey levels spread less than this (0-255) is blank
SCENE_DIFF = 30.0  # mean absolute difference (0-255) of 32x32 colour frames: a cut
_SIG = 32  # side of the tiny frame that tells blank frames and cuts
_CHUNK = 1 << 20


class VideoError(DecodeError):
    """A video that cannot be used; the message is the one-line reason shown to the user."""


@dataclass
class Frame:
    t: float  # seconds from the video's start
    image: Image.Image  # RGB, reduced: short side at most the ``min_side`` asked for


@dataclass
class Video:
    hash: str | None
    width: int  # as displayed (rotation applied)
    height: int
    duration: float  # seconds
    taken_at: float | None  # the container's creation time; None when it has none
    frames: list[Frame] = field(default_factory=list)  # not blank, in time order
    step: float = STEP_S  # the sampling step used: one frame at least this often


def is_video_name(name: str | os.PathLike) -> bool:
    return os.path.splitext(os.fspath(name))[1].lower() in VIDEO_SUFFIXES


def file_hash(path: str | os.PathLike) -> str:
    """blake2b-128 of the file's bytes, read in 1 MiB chunks (the same digest as
    ``decode.content_hash`` of the whole file)."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb", buffering=0) as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise
    except IsADirectoryError as exc:
        raise VideoError("is a folder, not a video") from exc
    except OSError as exc:
        raise VideoError(f"cannot read: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def mean_vector(vectors: np.ndarray) -> np.ndarray:
    """The unit mean of a video's frame vectors: its one vector (duplicates, "similar")."""
    v = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1).mean(axis=0)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def complete(path: str | os.PathLike) -> bool:
    """Whether a video looks whole: it opens, has a picture stream and tells its length.
    What the watcher asks before reading a video that was just written: an MP4 being
    recorded or copied has no index (``moov``) yet. Reads the header only."""
    import av

    try:
        with av.open(os.fspath(path), metadata_errors="ignore") as container:
            stream = container.streams.best("video")
            if stream is None:
                return False
            length = (stream.duration or 0) * float(stream.time_base or 0)
            return length > 0 or (container.duration or 0) > 0
    except (av.FFmpegError, OSError, ValueError):
        return False


# ---------------------------------------------------------------------- reading


@dataclass
class _Plan:
    """What the packet pass learned, and which times to decode."""

    start: int  # the stream's first timestamp, in its time base
    time_base: float
    duration: float
    keyframes: list[float]  # seconds
    step: float
    points: list[tuple[float, bool]]  # (seconds, is a keyframe), in order


def read(path: str | os.PathLike, min_side: int = 224, digest: str | None = None,
         deadline: float | None = None) -> Video:
    """Sample a video (see the module's docstring). ``deadline`` (``time.monotonic()``) stops
    a read that takes too long with a VideoError. FileNotFoundError when the file is gone."""
    import av

    container, stream = _open(os.fspath(path))
    with container:
        try:
            plan = _plan(container, stream, deadline)
        except av.FFmpegError as exc:
            raise VideoError(f"damaged video: {_reason(exc)}") from exc
        taken_at = _creation_time(container, stream)
        try:
            frames, shape = _sample(container, stream, plan, min_side, deadline, seek=True)
        except av.FFmpegError:
            frames, shape = None, None
        if frames is None:  # seeking failed (a file without an index): read it through
            try:
                container.seek(0)
            except av.FFmpegError:
                pass
            try:
                frames, shape = _sample(container, stream, plan, min_side, deadline, seek=False)
            except av.FFmpegError as exc:
                raise VideoError(f"damaged video: {_reason(exc)}") from exc
    if not frames:
        raise VideoError("damaged video: no frame could be decoded")
    return Video(digest, shape[0], shape[1], plan.duration, taken_at, frames, plan.step)


def frame_at(path: str | os.PathLike, t: float, fit: tuple[int, int] | None = None
             ) -> Image.Image:
    """The frame shown at ``t`` seconds (the first at or after it, decoded from the keyframe
    before it) as RGB, upright and scaled down to fit in ``fit`` (width, height as shown;
    None: full size). ``t`` counts from the video's first frame, as ``read``'s times do (a
    stream may start later than 0). Raises ``VideoError`` with the one-line reason, the file
    gone too."""
    import av

    try:
        container, stream = _open(os.fspath(path))
    except FileNotFoundError as exc:
        raise VideoError("the file is gone") from exc
    with container:
        chosen = None
        tb = float(stream.time_base) if stream.time_base else 0.0
        start = stream.start_time or 0
        try:
            if t > 0 and tb:
                container.seek(start + int(round(t / tb)), stream=stream, backward=True)
            for frame in container.decode(stream):
                chosen = frame
                if frame.pts is None or not tb or (frame.pts - start) * tb >= t - 1e-3:
                    break
        except av.FFmpegError as exc:
            if chosen is None:
                raise VideoError(f"damaged video: {_reason(exc)}") from exc
        if chosen is None:
            raise VideoError("no frame could be decoded there")
        rotation = _rotation(chosen)
        w, h = chosen.width, chosen.height
        box = fit or (w, h)
        if fit and rotation in (90, 270):  # ``fit`` is the upright picture's: the frame's turned
            box = (box[1], box[0])
        return _scaled(chosen, min(1.0, box[0] / max(1, w), box[1] / max(1, h)), rotation)


def _open(path: str):
    """(container, its video stream), opened by FFmpeg. Raises ``VideoError`` with the
    one-line reason, FileNotFoundError when the file is gone."""
    import av

    if os.stat(path).st_size == 0:  # FileNotFoundError: vanished
        raise VideoError("empty file (0 bytes)")
    try:
        container = av.open(path, metadata_errors="ignore")
    except FileNotFoundError:
        raise
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"damaged or truncated video, or not a video: {_reason(exc)}") from exc
    stream = container.streams.best("video")
    if stream is None:
        container.close()
        raise VideoError("no video stream in it (sound only?)")
    return container, stream


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0].rstrip(".")


def _check(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise VideoError("took too long to read (a very long or damaged video)")


def _plan(container, stream, deadline: float | None) -> _Plan:
    """Read the packets (no decoding): keyframe times and the real length; then plan."""
    tb = float(stream.time_base) if stream.time_base else 1 / 90000
    start, end, keys = None, None, []
    count = 0
    try:
        for packet in container.demux(stream):
            stamp = packet.pts if packet.pts is not None else packet.dts
            if stamp is None or packet.size == 0:
                continue
            count += 1
            if count % 512 == 0:
                _check(deadline)
            if start is None or stamp < start:
                start = stamp
            last = stamp + (packet.duration or 0)
            end = last if end is None else max(end, last)
            if packet.is_keyframe:
                keys.append(stamp)
    except (EOFError, OSError):  # a truncated file: what was read is what there is
        pass
    except Exception as exc:
        import av

        if not isinstance(exc, av.FFmpegError) or not count:
            raise
    if start is None:
        raise VideoError("damaged video: it holds no frames")
    duration = max(0.0, (end - start) * tb)
    header = (float(stream.duration * tb) if stream.duration
              else container.duration / 1e6 if container.duration else 0.0)
    if duration <= 0:
        duration = header
    keyframes = sorted({(k - start) * tb for k in keys})
    step = max(STEP_S, duration / MAX_FRAMES)
    return _Plan(start, tb, duration, keyframes, step, _points(duration, keyframes, step))


def _points(duration: float, keyframes: list[float], step: float) -> list[tuple[float, bool]]:
    """The times to decode, as (seconds, is a step's sample): each step's first keyframe,
    else its middle; more keyframes (at most KEYFRAME_BUDGET in all, evenly spread) as
    scene-change candidates."""
    cells = max(1, math.ceil(duration / step - 1e-9))
    chosen: set[float] = set()
    points = []
    for i in range(cells):
        lo, hi = i * step, (i + 1) * step
        j = bisect.bisect_left(keyframes, lo - 1e-6)
        if j < len(keyframes) and keyframes[j] < hi - 1e-6:
            chosen.add(keyframes[j])
            points.append((keyframes[j], True))
        else:
            points.append((min(lo + step / 2, max(0.0, duration - 1e-3)), True))
    extra = [k for k in keyframes if k not in chosen]
    room = max(0, KEYFRAME_BUDGET - len(chosen))
    if len(extra) > room:
        extra = [extra[round(i)] for i in np.linspace(0, len(extra) - 1, room)] if room else []
    points += [(k, False) for k in extra]
    return sorted(set(points))


def _sample(container, stream, plan: _Plan, min_side: int, deadline: float | None,
            seek: bool) -> tuple[list[Frame] | None, tuple[int, int] | None]:
    """Decode the planned frames and keep the ones worth embedding: every step's sample and,
    among extra keyframes, the cuts; no blank frame; at most MAX_FRAMES. Returns
    (frames, displayed (width, height)); (None, None) when seeking does not work here."""
    kept: list[tuple[Frame, np.ndarray]] = []
    blank: list[Frame] = []  # the first blank one: the fallback
    shape = None
    source = (_seeking(container, stream, plan, deadline) if seek
              else _sequential(container, stream, plan, deadline))
    try:
        for t, is_cell, frame in source:
            rotation = _rotation(frame)
            tiny = frame.reformat(width=_SIG, height=_SIG, format="rgb24").to_ndarray()
            w, h = frame.width, frame.height
            shape = (h, w) if rotation in (90, 270) else (w, h)
            if tiny.astype(np.float32).mean(axis=2).std() < UNIFORM_STD:
                if not blank:
                    blank.append(Frame(t, _reduced(frame, min_side, rotation)))
                continue
            if kept and t <= kept[-1][0].t + 1e-6:
                continue  # two points met the same frame
            if not is_cell and kept:  # an extra keyframe: kept only at a cut
                diff = np.abs(tiny.astype(np.int16) - kept[-1][1].astype(np.int16)).mean()
                if diff < SCENE_DIFF:
                    continue
            kept.append((Frame(t, _reduced(frame, min_side, rotation)), tiny))
            if len(kept) > 2 * MAX_FRAMES:  # thin as we go: memory stays bounded
                kept = kept[:1] + kept[2::2]
    except _SeekFailed:
        return None, None
    frames = [f for f, _ in kept]
    if len(frames) > MAX_FRAMES:
        frames = [frames[round(i)] for i in np.linspace(0, len(frames) - 1, MAX_FRAMES)]
    if not frames and blank:  # blank throughout: one frame still stands for it
        frames = blank
    return frames, shape


class _SeekFailed(Exception):
    pass


def _frame_time(frame, plan: _Plan, previous: float | None) -> float:
    stamp = frame.pts if frame.pts is not None else getattr(frame, "dts", None)
    if stamp is None:
        return 0.0 if previous is None else previous + 1e-3
    return (stamp - plan.start) * plan.time_base


def _seeking(container, stream, plan: _Plan, deadline: float | None
             ) -> Iterator[tuple[float, bool, object]]:
    """(time, is a step's sample, frame) for each planned point: the first frame at or after
    it, seeking to the keyframe before it unless the decoder is already between the two."""
    import av

    decoded = None  # frames from the last seek on
    position = None  # time of the last frame decoded
    for t, is_cell in plan.points:
        _check(deadline)
        j = bisect.bisect_right(plan.keyframes, t + 1e-6) - 1
        before = plan.keyframes[j] if j >= 0 else 0.0
        if decoded is None or position is None or not (before - 1e-6 <= position < t - 1e-3):
            if position is not None and abs(position - t) <= 1e-3:
                continue  # this very frame was the last one decoded
            try:
                container.seek(plan.start + int(round(t / plan.time_base)), stream=stream,
                               backward=True, any_frame=False)
            except av.FFmpegError as exc:
                raise _SeekFailed() from exc
            decoded, position = None, None
            if _is_keyframe(plan, t):
                found = _keyframe(container, stream, plan)
                if found is not None and abs(found[0] - t) <= 1e-3:
                    position = found[0]
                    yield found[0], is_cell, found[1]
                    continue
                container.seek(plan.start + int(round(t / plan.time_base)), stream=stream,
                               backward=True, any_frame=False)
            decoded = container.decode(stream)
        frame = None
        for n, candidate in enumerate(decoded):
            position = _frame_time(candidate, plan, position)
            if position >= t - 1e-3:
                frame = candidate
                break
            if n % 16 == 15:
                _check(deadline)
        if frame is None:  # past the end (a truncated file): nothing more to find
            decoded = None
            continue
        if position > t + plan.step:  # the seek went astray: do not trust seeking here
            raise _SeekFailed()
        yield position, is_cell, frame


def _is_keyframe(plan: _Plan, t: float) -> bool:
    j = bisect.bisect_left(plan.keyframes, t - 1e-6)
    return j < len(plan.keyframes) and abs(plan.keyframes[j] - t) <= 1e-6


def _keyframe(container, stream, plan: _Plan) -> tuple[float, object] | None:
    """The keyframe a seek landed on, decoded alone: its packet, then the decoder drained, so
    that it does not decode the frames after it to fill its reordering delay (B-frames:
    three frames decoded for one). None when the first packet is no keyframe."""
    context = stream.codec_context
    for packet in container.demux(stream):
        if packet.size == 0:
            continue
        if not packet.is_keyframe:
            return None
        frames = list(context.decode(packet)) + list(context.decode(None))
        context.flush_buffers()
        if not frames:
            return None
        return _frame_time(frames[0], plan, None), frames[0]
    return None


def _sequential(container, stream, plan: _Plan, deadline: float | None
                ) -> Iterator[tuple[float, bool, object]]:
    """As ``_seeking``, decoding every frame from the start: for files that cannot seek."""
    points = plan.points
    i, position = 0, None
    for n, frame in enumerate(container.decode(stream)):
        if n % 64 == 0:
            _check(deadline)
        position = _frame_time(frame, plan, position)
        if i < len(points) and position >= points[i][0] - 1e-3:
            is_cell = False
            while i < len(points) and points[i][0] <= position + 1e-3:
                is_cell = is_cell or points[i][1]
                i += 1
            yield position, is_cell, frame
        if i >= len(points):
            break


def _rotation(frame) -> int:
    """The frame's display rotation: 0, 90, 180 or 270 degrees, counter-clockwise."""
    return int(getattr(frame, "rotation", 0) or 0) % 360


def _reduced(frame, min_side: int, rotation: int) -> Image.Image:
    """The frame as RGB with its short side ``min_side`` (never enlarged), turned upright."""
    return _scaled(frame, min(1.0, min_side / max(1, min(frame.width, frame.height))), rotation)


def _scaled(frame, scale: float, rotation: int) -> Image.Image:
    """The frame as RGB scaled by ``scale`` (by FFmpeg, as it is decoded), turned upright."""
    width, height = max(2, round(frame.width * scale)), max(2, round(frame.height * scale))
    image = frame.reformat(width=width, height=height, format="rgb24",
                           interpolation="AREA").to_image()
    if rotation:  # FFmpeg's display rotation is counter-clockwise, as PIL's
        image = image.rotate(rotation, expand=True)
    return image


def _creation_time(container, stream) -> float | None:
    """The container's (or the stream's) creation_time, as a Unix time; None when missing
    or implausible (cameras without a clock write 1904 or 1970)."""
    for meta in (container.metadata, stream.metadata):
        text = (meta or {}).get("creation_time")
        if not text:
            continue
        try:
            when = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # QuickTime stores UTC
        stamp = when.timestamp()
        if stamp > 86400 * 366 * 10:  # after 1980
            return stamp
    return None
