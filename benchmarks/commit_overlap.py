"""Issue 15: the indexer writing batch N (catalog transaction, HNSW insertion) on its commit
thread while the model embeds batch N + 1, against the serial path, in a big library.

    .venv/bin/python benchmarks/commit_overlap.py [--base 200000] [--images 1536]
        [--rates 800,200] [--batch 128] [--camera 96] [--repeats 3] [--cache benchmarks/.cache]

Works offline. Each run indexes fresh photos into a fresh library whose vector index already
holds ``--base`` random unit vectors of the model's dimension (512, ViT-B-32), added straight
into the library's index before the run, so that inserting a batch costs what it costs in a
big library (i8, connectivity 48, expansion_add 128). The base index is built once and kept
in ``DIR/commit-overlap/`` (7.5 minutes for 200,000 on 2 busy cores); each run loads a copy.
The same run, ``Indexer(overlap_writes=False)`` (the serial path, the baseline) and the
shipped overlapped path, interleaved, the order reversed every other run; medians printed.
Once the cache is made, the default run takes about 2.5 minutes on 2 cores (``--repeats 5``:
3.5). Figures: benchmarks/README.md.

(A) a device-like model, to isolate the effect: ``encode_images`` waits batch / rate seconds
    without using the CPU, as a call into a GPU waits for it, and returns random unit
    vectors; batches of 128 (the CUDA batch); small photos (320x240 JPEGs) so that the CPU
    decoders keep up as well as they can. At each of ``--rates`` images/s: 800 is the GPU
    target; on 2 cores a batch's insertion takes longer than that model's batch, and the
    overlap can hide at most the shorter of the two, so 200 shows the case of a model as
    slow as the writes.
(B) the real ViT-B-32 (random weights, ONNX on the CPU, batches of 32) on ``--camera``
    camera-sized JPEGs (index_throughput.py's; 0 skips it): what it gives on this machine,
    where the model and the writes share the same cores.

For each: the wall time of the run (``IndexReport.seconds``: scan, read, model, writes; the
library's final save left out: the run goes through ``Indexer.sync_paths``), images/s, the
time the model's thread spent on writes per batch (``Indexer.write_wait_s``: writing, on the
serial path; waiting for the commit thread, overlapped), and CPU-ms per image.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's clipdesk, whatever is installed

import clipdesk  # noqa: E402, F401, I001
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import index_throughput  # noqa: E402  (benchmarks/: its model and camera JPEGs)
from clipdesk.core import models  # noqa: E402
from clipdesk.core.indexer import Indexer  # noqa: E402
from clipdesk.core.library import Library  # noqa: E402
from clipdesk.core.vectors import INDEX_SETTINGS, VectorIndex  # noqa: E402
from usearch.index import Index  # noqa: E402, I001  (after onnxruntime: see core/vectors.py)

BASE_KEY = 100_000_000  # the base vectors' keys: photo keys no file of a run has
SMALL = (320, 240)


class DeviceLike:
    """The real encoder's face (spec, dim, preprocess) with a device's timing: each
    ``encode_images`` waits len(batch) / rate seconds, the CPU free meanwhile, and returns
    random unit vectors."""

    device = "cpu"  # the CPU decoders feed it, as on a machine without a device decoder

    def __init__(self, real: models.Encoder, rate: float):
        self._real, self.rate = real, rate
        self._rng = np.random.default_rng(0)
        self.image_calls = 0

    def __getattr__(self, name: str):
        return getattr(self._real, name)

    def load_image(self) -> None:  # nothing to open
        pass

    def load_text(self) -> None:
        pass

    def encode_images(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(len(batch) / self.rate)
        self.image_calls += len(batch)
        v = self._rng.standard_normal((len(batch), self._real.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def base_index(folder: Path, dim: int, n: int) -> Path:
    """A usearch file of ``n`` random unit vectors with the library's settings, made once."""
    path = folder / f"base-d{dim}-n{n}-i8-c{INDEX_SETTINGS['connectivity']}.usearch"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"building a base index of {n:,} random {dim}-d vectors in {path} ...", flush=True)
        start = time.perf_counter()
        index = VectorIndex(dim)
        rng = np.random.default_rng(0)
        for lo in range(0, n, 20_000):
            count = min(20_000, n - lo)
            v = rng.standard_normal((count, dim)).astype(np.float32)
            index.index.add(np.arange(BASE_KEY + lo, BASE_KEY + lo + count, dtype=np.uint64),
                            v / np.linalg.norm(v, axis=1, keepdims=True))
            print(f"  {lo + count:,} ({time.perf_counter() - start:.0f} s)", flush=True)
        index.save(path)
    return path


def small_photos(folder: Path, n: int) -> Path:
    """``n`` distinct 320x240 JPEGs (scikit-image's sample photos, cropped, with grain)."""
    folder.mkdir(parents=True, exist_ok=True)
    missing = [i for i in range(n) if not (folder / f"s{i:05d}.jpg").is_file()]
    if missing:
        print(f"making {len(missing)} small JPEGs in {folder} ...", flush=True)
        sources = [im.resize((640, 480)) for im in index_throughput._sample_photos()]
        for i in missing:
            rng = np.random.default_rng(i)
            src = sources[i % len(sources)]
            x, y = int(rng.integers(0, 320)), int(rng.integers(0, 240))
            pixels = np.asarray(src.crop((x, y, x + SMALL[0], y + SMALL[1])), np.float32)
            pixels += rng.standard_normal(pixels.shape, dtype=np.float32) * 4
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
                folder / f"s{i:05d}.jpg", quality=90)
    return folder


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_run(encoder, photos: Path, n: int, base: Path, batch: int, overlap: bool) -> dict:
    """Index ``photos`` into a fresh library whose index holds the base vectors."""
    with tempfile.TemporaryDirectory(prefix="clipdesk-bench-overlap-") as tmp:
        library = Library(Path(tmp))
        model = library.model_row(encoder.spec, encoder.dim)
        index = library.vectors(model, persist=True)  # the library's own (empty) index ...
        index.index = VectorIndex(encoder.dim, Index.restore(str(base), view=False)).index
        base_size = len(index)  # ... now holding the base vectors
        library.catalog.add_root(photos)
        indexer = Indexer(library, encoder, batch_size=batch, on_progress=lambda *_: None,
                          overlap_writes=overlap)
        cpu = cpu_seconds()
        report = indexer.sync_paths([photos])  # no final save: the base is not the run's
        cpu = cpu_seconds() - cpu
        assert report.embedded == n and not report.failed, report.summary()
        assert len(index) == base_size + n
        library.close()
    batches = math.ceil(n / batch)
    return {"wall": report.seconds, "wait": indexer.write_wait_s / batches,
            "cpu": cpu / n * 1000, "rate": n / report.seconds}


def load(cores: int) -> str:
    avg = os.getloadavg()
    busy = "  (BUSY: other work competes for the cores)" if avg[0] > 0.5 * cores else ""
    return f"load average {avg[0]:.2f} {avg[1]:.2f} {avg[2]:.2f} on {cores} cores{busy}"


def measure(name: str, encoder, photos: Path, n: int, base: Path, batch: int,
            repeats: int) -> None:
    print(f"\n{name}", flush=True)
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for r in range(repeats):
        print(f"  run {r + 1}/{repeats}: {load(os.cpu_count() or 1)}", flush=True)
        for overlap in ((False, True) if r % 2 == 0 else (True, False)):
            res = one_run(encoder, photos, n, base, batch, overlap)
            runs[overlap].append(res)
            print(f"    {'overlapped' if overlap else 'serial':<10s} {res['wall']:7.2f} s  "
                  f"{res['rate']:7.1f} img/s  model thread on writes {res['wait'] * 1000:6.1f} "
                  f"ms/batch  {res['cpu']:6.1f} CPU-ms/img", flush=True)
    print(f"  median of {repeats}:")
    print(f"    {'':<10s} {'wall s':>8s} {'img/s':>8s} {'writes ms/batch':>16s} {'CPU-ms/img':>11s}"
          f"   wall per run")
    for overlap in (False, True):
        rs = runs[overlap]
        print(f"    {'overlapped' if overlap else 'serial':<10s} "
              f"{statistics.median(r['wall'] for r in rs):8.2f} "
              f"{statistics.median(r['rate'] for r in rs):8.1f} "
              f"{statistics.median(r['wait'] for r in rs) * 1000:16.1f} "
              f"{statistics.median(r['cpu'] for r in rs):11.1f}   "
              + ", ".join(f"{r['wall']:.2f}" for r in rs))
    per_run = [s["wall"] / o["wall"] for s, o in zip(runs[False], runs[True], strict=True)]
    ratio = (statistics.median(r["wall"] for r in runs[False])
             / statistics.median(r["wall"] for r in runs[True]))
    print(f"  overlapped speed-up (serial wall / overlapped wall): {ratio:.2f}x "
          f"(per run {', '.join(f'{x:.2f}' for x in per_run)})", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=int, default=200_000, help="vectors already in the index")
    ap.add_argument("--images", type=int, default=1536, help="small photos for (A)")
    ap.add_argument("--rates", default="800,200", help="(A)'s model, images/s, comma-separated")
    ap.add_argument("--batch", type=int, default=128, help="(A)'s batch")
    ap.add_argument("--camera", type=int, default=96, help="camera JPEGs for (B); 0 skips it")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    start = time.perf_counter()
    print(f"start: {load(cores)}", flush=True)
    index_throughput.onnx_cache_default(args.cache)
    model_dir = index_throughput.make_model(args.cache / f"model-{index_throughput.ARCH}-random")
    real = models.load(models.ModelSpec.parse(f"local-dir:{model_dir}"), device="cpu",
                       runtime="onnx")
    base = base_index(args.cache / "commit-overlap", real.dim, args.base)
    small = small_photos(args.cache / f"photos-{SMALL[0]}x{SMALL[1]}", args.images)
    with tempfile.TemporaryDirectory(prefix="clipdesk-bench-small-") as tmp:
        photos = Path(tmp)  # exactly --images of them
        for i in range(args.images):
            os.link(small / f"s{i:05d}.jpg", photos / f"s{i:05d}.jpg")
        for rate in (float(r) for r in args.rates.split(",") if r):
            measure(f"(A) device-like model at {rate:g} img/s, batches of {args.batch}, "
                    f"{args.images} photos of {SMALL[0]}x{SMALL[1]}, into an index of "
                    f"{args.base:,}", DeviceLike(real, rate), photos, args.images, base,
                    args.batch, args.repeats)
    if args.camera:
        size, quality = index_throughput.SIZE, index_throughput.QUALITY
        camera = args.cache / f"photos-{size[0]}x{size[1]}-q{quality}-n{args.camera}"
        index_throughput.make_photos(camera, args.camera)  # index_throughput.py's, made once
        real.load_image()
        measure(f"(B) {index_throughput.ARCH} ONNX on the CPU, batches of "
                f"{index_throughput.BATCH}, {args.camera} camera JPEGs ({size[0]}x{size[1]}), "
                f"into an index of "
                f"{args.base:,}", real, camera, args.camera, base, index_throughput.BATCH,
                args.repeats)
    print(f"\nend: {load(cores)}; {time.perf_counter() - start:.0f} s in all; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
