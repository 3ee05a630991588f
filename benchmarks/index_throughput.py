"""Indexing throughput: `clipdesk index` against the naive pipeline and the bare model.

    python benchmarks/index_throughput.py [--images N] [--repeats R] [--cache DIR]

Works offline. It builds (once, then reuses from the cache folder):

* N camera-sized JPEGs (4000x3000, ~2-5 MB at quality 92) from scikit-image's sample
  photos, upscaled, randomly cropped and flipped, with film-like grain so they compress
  like real photos; every 8th carries EXIF orientation 6 (a phone held upright);
* a ViT-B-32 open_clip model with random weights in ClipDesk's ``local-dir`` layout.

Then, R times each (interleaved, medians reported), images per second for:

(a) the tutorial pipeline: full ``Image.open().convert("RGB")``, the model's preprocess,
    batches of 32 through ``model.encode_image``, all sequential in the main thread;
(b) the model alone on ready preprocessed tensors, batches of 32;
(c) ``clipdesk index``: in-process through ``Indexer`` (no import or model load), and the
    real CLI as a subprocess (wall clock, and the rate the CLI prints itself).

Targets: (c)/(a) >= 3x and (c)/(b) >= 0.75x, using the in-process figure for (c).
Each figure also comes with the process CPU time per image, which a busy machine disturbs
far less than wall time (the load average is printed before and after).
Last, the fidelity of the indexer's reduced (DCT-scaled) decode against a full decode.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's clipdesk, whatever is installed

# clipdesk before torch: what it sets up before torch loads then applies to every measurement.
import clipdesk  # noqa: E402, F401, I001
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from clipdesk.core import decode, models  # noqa: E402
from clipdesk.core.indexer import Indexer  # noqa: E402
from clipdesk.core.library import Library  # noqa: E402

ARCH = "ViT-B-32"
SIZE = (4000, 3000)  # a 12 MP camera frame
QUALITY = 92
BATCH = 32
SOURCES = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
           "hubble_deep_field", "retina", "camera")
TARGET_VS_TUTORIAL = 3.0
TARGET_VS_MODEL = 0.75


# ----------------------------------------------------------------------------- fixtures


def _sample_photos() -> list[Image.Image]:
    import skimage.data

    photos = []
    for name in SOURCES:
        arr = getattr(skimage.data, name)()
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        photos.append(Image.fromarray(arr[..., :3]))
    return photos


def _camera_frame(src: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A random 4:3 crop of ``src`` (maybe mirrored), upscaled to 12 MP, with grain."""
    w, h = src.size
    scale = rng.uniform(0.6, 1.0)
    cw = min(w, int(h * 4 / 3)) * scale
    ch = cw * 3 / 4
    x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    im = src.crop((int(x0), int(y0), int(x0 + cw), int(y0 + ch)))
    if rng.random() < 0.5:
        im = ImageOps.mirror(im)
    im = im.resize(SIZE, Image.Resampling.BICUBIC)
    pixels = np.asarray(im, dtype=np.float32)
    grain = rng.standard_normal(pixels.shape[:2] + (1,), dtype=np.float32) * rng.uniform(3, 6)
    chroma = rng.standard_normal(pixels.shape, dtype=np.float32) * 2.0
    pixels += grain + chroma
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def make_photos(folder: Path, n: int) -> list[Path]:
    """N camera JPEGs in ``folder``, made once (files already there are reused)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"IMG_{i:04d}.jpg" for i in range(n)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        print(f"making {len(missing)} camera-sized JPEGs in {folder} ...", flush=True)
        sources = _sample_photos()
        for p in missing:
            i = int(p.stem.split("_")[1])
            rng = np.random.default_rng(i)
            im = _camera_frame(sources[i % len(sources)], rng)
            exif = Image.Exif()
            exif[0x0110] = "ClipDesk benchmark camera"  # Model
            exif[0x0132] = f"2024:05:{1 + i % 28:02d} 12:{i % 60:02d}:00"  # DateTime
            if i % 8 == 7:
                exif[0x0112] = 6  # Orientation: rotate 90 CW to display
            tmp = p.with_suffix(".tmp")
            im.save(tmp, "JPEG", quality=QUALITY, exif=exif.tobytes())
            os.replace(tmp, p)
    return paths


def make_model(folder: Path) -> Path:
    """A random-weight ViT-B-32 in ``local-dir`` layout (same compute as the real one)."""
    if not (folder / models.CONFIG_NAME).is_file() or not (folder / models.WEIGHT_NAMES[0]).is_file():
        import open_clip

        print(f"saving a random-weight {ARCH} in {folder} ...", flush=True)
        torch.manual_seed(0)
        model = open_clip.create_model(ARCH, pretrained=None)
        models.save_local_dir(model, open_clip.get_model_config(ARCH), folder)
    return folder


# ----------------------------------------------------------------------------- measurements


def tutorial_pipeline(encoder: models.Encoder, paths: list[Path]) -> float:
    """(a) Full decode, preprocess and batched encode, one image after another, one thread."""
    start = time.perf_counter()
    batch: list[torch.Tensor] = []
    with torch.no_grad():
        for p in paths:
            batch.append(encoder.preprocess(Image.open(p).convert("RGB")))
            if len(batch) == BATCH:
                encoder.model.encode_image(torch.stack(batch))
                batch = []
        if batch:
            encoder.model.encode_image(torch.stack(batch))
    return len(paths) / (time.perf_counter() - start)


def model_only(encoder: models.Encoder, batches: list[torch.Tensor]) -> float:
    """(b) The image tower alone on ready tensors, via the same call the indexer makes."""
    start = time.perf_counter()
    for batch in batches:
        encoder.encode_images(batch)
    return sum(len(b) for b in batches) / (time.perf_counter() - start)


def indexer_in_process(encoder: models.Encoder, photos: Path, n: int) -> float:
    """(c) ``Indexer.run`` into a fresh library; the model is already loaded."""
    with tempfile.TemporaryDirectory(prefix="clipdesk-bench-lib-") as tmp:
        library = Library(Path(tmp))
        report = Indexer(library, encoder, batch_size=BATCH, on_progress=lambda *_: None).run(
            [photos]
        )
        library.close()
    assert report.embedded == n and not report.failed, report.summary()
    return report.embedded / report.seconds


def indexer_cli(model_dir: Path, photos: Path, n: int) -> tuple[float, float]:
    """(c) ``python -m clipdesk index`` into a fresh library: (wall-clock rate, printed rate)."""
    with tempfile.TemporaryDirectory(prefix="clipdesk-bench-cli-") as tmp:
        env = dict(os.environ, CLIPDESK_LOG_DIR=str(Path(tmp) / "logs"), HF_HUB_OFFLINE="1",
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        cmd = [sys.executable, "-m", "clipdesk", "index", str(photos),
               "--library", str(Path(tmp) / "library"), "--model", f"local-dir:{model_dir}"]
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"clipdesk index failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    found = re.search(r"(\d+) embedded \(([\d.]+)/s\)", proc.stdout)
    if not found or int(found.group(1)) != n:
        raise SystemExit(f"unexpected clipdesk index output:\n{proc.stdout}")
    return n / wall, float(found.group(2))


def fidelity(encoder: models.Encoder, paths: list[Path]) -> dict[str, float]:
    """The indexer's reduced decode against a full decode: tensor and embedding agreement."""
    min_side = max(encoder.image_size, decode.THUMB_SIZE * 3 // 4)
    fast, ref = [], []
    for p in paths:
        image = decode.decode(decode.read_bytes(p), min_side=min_side).image
        fast.append(encoder.preprocess(image))
        full = ImageOps.exif_transpose(Image.open(p).convert("RGB"))
        ref.append(encoder.preprocess(full))
    fast_t, ref_t = torch.stack(fast), torch.stack(ref)
    diff = (fast_t - ref_t).abs()
    per_image = diff.flatten(1).mean(1)
    emb_fast = np.concatenate([encoder.encode_images(b) for b in fast_t.split(BATCH)])
    emb_ref = np.concatenate([encoder.encode_images(b) for b in ref_t.split(BATCH)])
    cos = (emb_fast * emb_ref).sum(1)  # both are unit vectors
    return {"mad": float(diff.mean()), "mad_worst": float(per_image.max()),
            "max": float(diff.max()), "cos_mean": float(cos.mean()), "cos_min": float(cos.min())}


# ----------------------------------------------------------------------------- report


def _cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _load(cores: int) -> str:
    """The 1-minute load average, flagged when other work is competing for the cores."""
    load = os.getloadavg()[0]
    busy = "  (BUSY: other processes compete for the cores; figures are noisy)" if load > 0.5 * cores else ""
    return f"load average {load:.2f} on {cores} cores{busy}"


def _record(results: dict, name: str, rate: float, cpu_s: float, n: int) -> None:
    """Keep (images/s, CPU ms per image) for one run and print it."""
    cpu_ms = cpu_s / n * 1000
    results.setdefault(name, []).append((rate, cpu_ms))
    print(f"  {name:<34s} {rate:7.2f} img/s  {cpu_ms:6.0f} CPU-ms/img", flush=True)


def measure(encoder, paths, batches, photos_dir, model_dir, repeats: int) -> dict:
    """Every (a)/(b)/(c) measurement, interleaved so that each run sees the same machine load."""
    n = len(paths)
    results: dict[str, list[tuple[float, float]]] = {}
    in_process = {
        "(a) tutorial pipeline": lambda: tutorial_pipeline(encoder, paths),
        "(b) model only": lambda: model_only(encoder, batches),
        "(c) Indexer in-process": lambda: indexer_in_process(encoder, photos_dir, n),
    }
    for r in range(repeats):
        print(f"run {r + 1}/{repeats}", flush=True)
        for name, fn in in_process.items():
            cpu = _cpu_seconds()
            rate = fn()
            _record(results, name, rate, _cpu_seconds() - cpu, n)
        cpu = _cpu_seconds(resource.RUSAGE_CHILDREN)
        wall, printed = indexer_cli(model_dir, photos_dir, n)
        cpu = _cpu_seconds(resource.RUSAGE_CHILDREN) - cpu  # includes start-up and model load
        _record(results, "(c) clipdesk index CLI, wall", wall, cpu, n)
        _record(results, "(c) clipdesk index CLI, printed", printed, cpu, n)
    return results


def report(results: dict, n: int) -> None:
    """The table of medians and the two target ratios."""
    med = {name: statistics.median(rate for rate, _ in runs) for name, runs in results.items()}
    repeats = len(results["(b) model only"])
    print()
    print(f"images/s, median of {repeats} runs (N={n}, batch {BATCH}); CPU-ms/img: process CPU "
          "time per image, all threads (CLI: start-up included)")
    print(f"  {'measurement':<34s} {'img/s':>7s} {'CPU-ms/img':>11s}   runs (img/s)")
    for name, runs in results.items():
        cpu = statistics.median(c for _, c in runs)
        print(f"  {name:<34s} {med[name]:7.2f} {cpu:11.0f}   "
              f"[{', '.join(f'{rate:.2f}' for rate, _ in runs)}]")

    c = med["(c) Indexer in-process"]
    cli = med["(c) clipdesk index CLI, printed"]
    print()
    print("ratios of medians, (c) = Indexer in-process  [with the CLI's printed rate]  (per run)")
    for label, base, target in (("(c)/(a)", "(a) tutorial pipeline", TARGET_VS_TUTORIAL),
                                ("(c)/(b)", "(b) model only", TARGET_VS_MODEL)):
        per_run = ", ".join(f"{x[0] / y[0]:.2f}" for x, y in
                            zip(results["(c) Indexer in-process"], results[base], strict=True))
        verdict = "PASS" if c / med[base] >= target else "MISS"
        print(f"  {label} = {c / med[base]:5.2f}x  [{cli / med[base]:.2f}x]  "
              f"target >= {target:.2f}x  {verdict}   ({per_run})")
    ceiling = med["(b) model only"] / med["(a) tutorial pipeline"]
    print(f"  (b)/(a) = {ceiling:5.2f}x: the most (c)/(a) can reach while the model is the bottleneck")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="number of photos (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement (default 3)")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache",
                        help="where photos and the model are kept between runs")
    args = parser.parse_args()

    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    print(f"machine: {platform.machine()} {platform.system()}, cpu_count={cores}, "
          f"python {platform.python_version()}")
    print(f"torch {torch.__version__}, torch threads={torch.get_num_threads()}, "
          f"interop threads={torch.get_num_interop_threads()}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}; "
          f"Pillow {Image.__version__}")
    print(f"indexer decode workers (default) = {max(1, min(4, cores))}")
    print(f"before: {_load(cores)}")

    cache = args.cache.resolve()
    photos_dir = cache / f"photos-{SIZE[0]}x{SIZE[1]}-q{QUALITY}-n{args.images}"
    paths = make_photos(photos_dir, args.images)
    sizes = [p.stat().st_size / 1e6 for p in paths]
    print(f"photos: {len(paths)} x {SIZE[0]}x{SIZE[1]} JPEG q{QUALITY}, "
          f"{min(sizes):.1f}-{max(sizes):.1f} MB (mean {statistics.mean(sizes):.1f}), "
          f"{sum(1 for i in range(len(paths)) if i % 8 == 7)} with EXIF orientation 6")
    model_dir = make_model(cache / f"model-{ARCH}-random")

    t0 = time.perf_counter()
    encoder = models.load(models.ModelSpec.parse(f"local-dir:{model_dir}"), device="cpu")
    print(f"model: {ARCH} random weights, image_size={encoder.image_size}, dim={encoder.dim}, "
          f"loaded in {time.perf_counter() - t0:.1f}s")

    # Ready tensors for (b), built untimed; warm the model up once.
    ready = torch.stack([
        encoder.preprocess(ImageOps.exif_transpose(Image.open(p).convert("RGB"))) for p in paths
    ])
    batches = list(ready.split(BATCH))
    encoder.encode_images(batches[0])

    results = measure(encoder, paths, batches, photos_dir, model_dir, args.repeats)
    print(f"after: {_load(cores)}")
    report(results, len(paths))

    fid = fidelity(encoder, paths)
    print()
    print(f"preprocess fidelity: indexer decode (draft, min_side="
          f"{max(encoder.image_size, decode.THUMB_SIZE * 3 // 4)}) vs full decode + exif_transpose")
    print(f"  normalised tensor |diff|: mean {fid['mad']:.4f} (worst image {fid['mad_worst']:.4f}), "
          f"max {fid['max']:.3f}")
    print(f"  embedding cosine: mean {fid['cos_mean']:.5f}, min {fid['cos_min']:.5f}")
    print_stage_costs(encoder, paths)
    return 0


def print_stage_costs(encoder: models.Encoder, paths: list[Path]) -> None:
    """CPU-ms per image of each step a decode worker takes, one thread, no model running."""
    import hashlib

    min_side = max(encoder.image_size, decode.THUMB_SIZE * 3 // 4)
    fast = models.fast_preprocess(encoder.model.visual.preprocess_cfg)
    costs: dict[str, float] = {}

    def timed(name, fn, *args):
        start = time.thread_time()
        out = fn(*args)
        costs[name] = costs.get(name, 0.0) + time.thread_time() - start
        return out

    with tempfile.TemporaryDirectory() as tmp:
        for p in paths:
            data = timed("read", decode.read_bytes, p)
            digest = timed("hash (blake2b)", decode.content_hash, data)
            timed("sha1, for comparison", lambda d: hashlib.sha1(d).digest(), data)
            image = timed("decode (draft)", decode.decode, data, min_side, digest).image
            timed("thumbnail", decode.save_thumbnail, image, Path(tmp) / "t.jpg")
            timed("preprocess, open_clip", encoder.preprocess, image)
            if fast is not None:
                timed("preprocess, fast_preprocess", fast, image)
    print()
    print("decode worker stages, CPU-ms/img (one thread; the indexer uses fast_preprocess):")
    for name, seconds in costs.items():
        print(f"  {name:<30s} {seconds / len(paths) * 1000:6.1f}")


if __name__ == "__main__":
    sys.exit(main())
