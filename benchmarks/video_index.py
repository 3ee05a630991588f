"""Indexing videos: sampled frames and their embedding, per second of video, against decoding
every frame, in the same run.

    python benchmarks/video_index.py [--repeats R] [--fps F] [--long-fps F] [--long-minutes M]
        [--cache DIR]

Works offline. It builds once, then reuses from the cache folder (``benchmarks/.cache``):

* two synthetic 1920x1080 H.264 clips (libx264 "veryfast": B-frames, CABAC; a keyframe every
  2 s, as phones and cameras write them, and at cuts): one minute at 30 fps (``--fps``) and
  ``M`` (10) minutes at 10 fps (``--long-fps``: ten minutes at 30 fps take too long to encode
  on 2 cores), of scenes that change every 4-12 s (coloured shapes over grain, panning, with
  black fades before some);
* a ViT-B-32 open_clip model with random weights (the compute of the real one) and its ONNX
  export, as ``index_throughput.py`` makes them.

Then, for each clip, R (2) times (medians reported; the order reversed every other run), in seconds of video handled per second of
wall time ("x real time"), with the process CPU time:

(a) decoding every frame (PyAV, FFmpeg's default threads), nothing else: the baseline, what a
    tool that looks at every frame pays before any model runs;
(b) ``video.read``: the packet pass, then only the sampled frames decoded (seeking to
    keyframes) and reduced to the model's size;
(c) (b) plus embedding the sampled frames with the ONNX image tower (batches of 32);
(d) ``Indexer.run`` on a folder holding just the clip: hashing, sampling, thumbnails of the
    video and each frame, embedding, the catalog and the index;
(e) the naive sampler for comparison: decode every frame, keep the first of every step
    (reduced the same way) and embed those (as many frames as (c) or more).

(b)/(a) is how much cheaper sampling is than merely decoding everything; (c)/(e) is what
seeking to keyframes saves against the naive sampler that embeds as much.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's clipdesk, whatever is installed
sys.path.insert(0, str(ROOT / "tests"))  # tinyclip.draw_shape: the scenes
sys.path.insert(0, str(ROOT / "benchmarks"))  # index_throughput.make_model

import clipdesk  # noqa: E402, F401, I001
import av  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import tinyclip  # noqa: E402
from clipdesk.core import models, video  # noqa: E402
from clipdesk.core.indexer import Indexer  # noqa: E402
from clipdesk.core.library import Library  # noqa: E402

SIZE = (1920, 1080)
GOP_S = 2.0
BATCH = 32
ARCH = "ViT-B-32"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ----------------------------------------------------------------------------- data


def make_clip(path: Path, seconds: float, fps: int, seed: int = 0) -> Path:
    """A synthetic 1080p clip: scenes of 4-12 s (a shape over grain, panning), some with a
    black fade before them. Written to a temp name, then renamed: an interrupted run leaves
    no half clip in the cache."""
    if path.is_file():
        return path
    print(f"encoding {path.name} ({seconds:.0f} s at {fps} fps, 1080p) ...", flush=True)
    rng = np.random.default_rng(seed)
    scenes = []
    total = 0.0
    while total < seconds:
        length = float(min(rng.uniform(4, 12), seconds - total))
        color, shape = tinyclip.CLASSES[int(rng.integers(len(tinyclip.CLASSES)))]
        small = tinyclip.draw_shape(color, shape, rng, size=(SIZE[0] // 8, SIZE[1] // 8))
        base = np.asarray(small.resize(SIZE, Image.Resampling.BILINEAR))
        scenes.append((length, base, rng.random() < 0.3))
        total += length
    tmp = path.with_name(path.name + ".tmp.mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(tmp), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = round(GOP_S * fps)
        stream.options = {"preset": "veryfast", "crf": "23"}
        n = 0
        black = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
        for length, base, fade in scenes:
            frames = round(length * fps)
            for i in range(frames):
                # a black fade opens some scenes; the others pan slowly
                pixels = black if fade and i < fps // 2 else np.roll(base, i * 4 % SIZE[0], axis=1)
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts = n
                n += 1
                for packet in stream.encode(frame):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    os.replace(tmp, path)
    return path


# ----------------------------------------------------------------------------- measurements


def every_frame(path: Path) -> tuple[float, int]:
    """(a) Decode every frame; returns (seconds, frames)."""
    start = time.perf_counter()
    n = 0
    with av.open(str(path)) as container:
        for _ in container.decode(container.streams.video[0]):
            n += 1
    return time.perf_counter() - start, n


def sampled(path: Path, encoder, embed: bool) -> tuple[float, int]:
    """(b) ``video.read`` at the model's size, and (c) with the embedding of its frames."""
    start = time.perf_counter()
    clip = video.read(path, encoder.image_size)
    if embed:
        tensors = np.stack([encoder.preprocess(f.image) for f in clip.frames])
        for i in range(0, len(tensors), BATCH):
            encoder.encode_images(tensors[i:i + BATCH])
    return time.perf_counter() - start, len(clip.frames)


def naive(path: Path, encoder) -> tuple[float, int]:
    """(e) Decode every frame, keep the first of each step, embed them."""
    start = time.perf_counter()
    images, next_t = [], 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            if frame.time is not None and frame.time >= next_t:
                images.append(video._reduced(frame, encoder.image_size, 0))
                next_t += video.STEP_S
    tensors = np.stack([encoder.preprocess(im) for im in images])
    for i in range(0, len(tensors), BATCH):
        encoder.encode_images(tensors[i:i + BATCH])
    return time.perf_counter() - start, len(images)


def indexed(path: Path, encoder) -> tuple[float, int]:
    """(d) ``Indexer.run`` on a folder holding just the clip, into a fresh library."""
    with tempfile.TemporaryDirectory(prefix="clipdesk-bench-video-") as tmp:
        folder = Path(tmp) / "videos"
        folder.mkdir()
        os.link(path, folder / path.name) if _same_fs(path, folder) else shutil.copy(path, folder)
        library = Library(Path(tmp) / "lib")
        start = time.perf_counter()
        report = Indexer(library, encoder, on_progress=lambda *_: None).run([folder])
        seconds = time.perf_counter() - start
        assert report.embedded == 1 and not report.failed, report.summary()
        row = library.model_row(encoder.spec)
        frames = library.catalog.indexed_count(row)
        library.close()
    return seconds, frames


def _same_fs(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--long-fps", type=int, default=10)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    args = parser.parse_args()
    cache = args.cache.resolve()
    os.environ.setdefault("CLIPDESK_ONNX_CACHE", str(cache / "onnx-cache"))
    clips = [(make_clip(cache / f"video-1080p-{args.fps}fps-60s.mp4", 60, args.fps), args.fps),
             (make_clip(cache / f"video-1080p-{args.long_fps}fps-{args.long_minutes:g}min.mp4",
                        args.long_minutes * 60, args.long_fps), args.long_fps)]
    from index_throughput import make_model  # the random-weight model the other benchmarks use

    model_dir = make_model(cache / f"model-{ARCH}-random", ARCH)
    encoder = models.load(models.ModelSpec.parse(f"local-dir:{model_dir}"), device="cpu",
                          runtime="onnx")
    encoder.load_image()
    print(f"PyAV {av.__version__}, FFmpeg {'.'.join(map(str, av.ffmpeg_version_info)) if isinstance(av.ffmpeg_version_info, tuple) else av.ffmpeg_version_info}; "
          f"{os.cpu_count()} cores; load {os.getloadavg()[0]:.2f}; model {ARCH} (ONNX, random "
          f"weights); step {video.STEP_S:g} s, at most {video.MAX_FRAMES} frames a video")
    for path, fps in clips:
        with av.open(str(path)) as c:
            length = float(c.duration / 1e6)
        size_mb = path.stat().st_size / 2**20
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in "abcde"}
        counts = {}
        for r in range(args.repeats):
            order = list("abcde") if r % 2 == 0 else list("edcba")
            for key in order:
                cpu = _cpu()
                if key == "a":
                    seconds, counts["a"] = every_frame(path)
                elif key in "bc":
                    seconds, counts[key] = sampled(path, encoder, embed=key == "c")
                elif key == "d":
                    seconds, counts["d"] = indexed(path, encoder)
                else:
                    seconds, counts["e"] = naive(path, encoder)
                runs[key].append((seconds, _cpu() - cpu))
        print(f"\n{path.name}: {length:.0f} s of 1080p at {fps} fps, {size_mb:.0f} MiB, "
              f"{counts['a']} frames; medians of {args.repeats}")
        names = {"a": "(a) decode every frame", "b": "(b) sample (video.read)",
                 "c": "(c) sample + embed", "d": "(d) Indexer.run, whole",
                 "e": "(e) naive: decode all, embed"}
        med = {}
        for key, label in names.items():
            wall = statistics.median(s for s, _ in runs[key])
            cpu = statistics.median(c for _, c in runs[key])
            med[key] = wall
            what = f"{counts[key]} frames" if key != "d" else f"{counts['d']} frames indexed"
            print(f"  {label:26s} {wall:7.2f} s  {length / wall:7.1f}x real time  "
                  f"CPU {cpu:6.2f} s  ({what})")
        print(f"  sampling is {med['a'] / med['b']:.1f}x faster than decoding every frame (a/b); "
              f"sample + embed {med['e'] / med['c']:.2f}x faster than the naive sampler (e/c); "
              f"the model is {(med['c'] - med['b']) / med['c']:.0%} of (c)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
