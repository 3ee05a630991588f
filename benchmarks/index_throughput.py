"""Indexing throughput: `clipdesk index` against the naive pipeline and the bare model,
ONNX Runtime (ClipDesk's default) next to torch.

    python benchmarks/index_throughput.py [--images N] [--repeats R] [--cache DIR] [--no-cli]
        [--no-int8]

Works offline. It builds (once, then reuses from the cache folder):

* N camera-sized JPEGs (4000x3000, ~2-5 MB at quality 92) from scikit-image's sample
  photos, upscaled, randomly cropped and flipped, with film-like grain so they compress
  like real photos; every 8th carries EXIF orientation 6 (a phone held upright);
* a ViT-B-32 open_clip model with random weights in ClipDesk's ``local-dir`` layout, and
  its ONNX export (made untimed, on first use, in ``CLIPDESK_ONNX_CACHE``, by default
  ``DIR/onnx-cache``).

Then, R times each (interleaved, the order reversed every other run, medians reported),
images per second for:

(a) the tutorial pipeline: full ``Image.open().convert("RGB")``, open_clip's own (torchvision)
    preprocess, batches of 32 through torch ``model.encode_image``, all sequential in the
    main thread;
(b) the model alone on ready preprocessed arrays, batches of 32 at 224x224, through
    ``Encoder.encode_images``: ONNX fp32, ONNX int8 and torch fp32;
(c) ``clipdesk index``: in-process through ``Indexer`` (no import or model load) with each of
    those three encoders, and the real CLI as a subprocess, ONNX (the default) and torch
    (``CLIPDESK_RUNTIME=torch``): wall clock, and the rate the CLI prints itself.

Targets: (c)/(a) >= 3x and (c)/(b) >= 0.75x for ONNX (the shipped runtime), using the
in-process figure for (c); ONNX at least as fast as torch, model alone and Indexer.
Each figure also comes with the process CPU time per image, which a busy machine disturbs
far less than wall time (the load average is printed before, at each run and after).
Last, the fidelity of the indexer's reduced (DCT-scaled) decode against a full decode, and
RAW files (``--raw N``, default 6; ``--raw-only`` runs just this): the same 12 MP frames as
DNGs (16-bit Bayer, written with pidng from the test extra), with a 1620x1080 JPEG preview
(what many cameras embed) and without, decoded for the indexer (``decode.decode``, preview
path vs half-size demosaic), against the JPEG of the same frame and a full demosaic.
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
sys.path.insert(0, str(ROOT / "tests"))  # mpffiles: camera JPEGs with previews

# clipdesk before torch: what it sets up before torch loads then applies to every measurement.
import clipdesk  # noqa: E402, F401, I001
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

import mpffiles  # noqa: E402
from clipdesk.core import decode, models  # noqa: E402
from clipdesk.core import preprocess as preprocessing  # noqa: E402
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
TARGET_ONNX_VS_TORCH = 1.0


def onnx_cache_default(cache: Path) -> None:
    """Keep the benchmarks' ONNX exports in their own cache (a user's value wins)."""
    os.environ.setdefault("CLIPDESK_ONNX_CACHE", str(cache.resolve() / "onnx-cache"))


def load_encoders(model_dir: Path, int8: bool = True) -> dict[str, models.Encoder]:
    """ONNX fp32 (as shipped), ONNX int8 and torch fp32 encoders of one local-dir model. The
    ONNX export (and its int8 copy) is made here if missing, so no timing includes it."""
    spec = models.ModelSpec.parse(f"local-dir:{model_dir}")
    encoders = {"onnx": models.load(spec, device="cpu", runtime="onnx")}
    if int8:
        encoders["onnx int8"] = models.load(spec, device="cpu", runtime="onnx", int8=True)
    encoders["torch"] = models.load(spec, device="cpu", runtime="torch")
    for enc in encoders.values():
        if hasattr(enc, "load_image"):
            enc.load_image()
    return encoders


def open_clip_preprocess(cfg: dict):
    """open_clip's own eval transform (torchvision) for a model's preprocess_cfg."""
    from open_clip.transform import PreprocessCfg, image_transform_v2

    fields = PreprocessCfg.__dataclass_fields__
    return image_transform_v2(PreprocessCfg(**{k: v for k, v in cfg.items() if k in fields}),
                              is_train=False)


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


def make_photos(folder: Path, n: int, previews: bool = False) -> list[Path]:
    """N camera JPEGs in ``folder``, made once (files already there are reused). With
    ``previews``, each carries the two MPF "Large Thumbnails" (640x480 and 1440x1080) that
    Sony, Nikon, Fujifilm, Panasonic and Olympus cameras put after the photo."""
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
            if previews:
                extras = [(im.resize(size, Image.Resampling.LANCZOS), kind) for size, kind in
                          (((640, 480), mpffiles.VGA), ((1440, 1080), mpffiles.FULL_HD))]
                tmp.write_bytes(mpffiles.camera_jpeg(im, extras, QUALITY, exif))
            else:
                im.save(tmp, "JPEG", quality=QUALITY, exif=exif.tobytes())
            os.replace(tmp, p)
    return paths


def make_model(folder: Path, arch: str = ARCH) -> Path:
    """A random-weight open_clip ``arch`` (ViT-B-32) in ``local-dir`` layout, made once (the
    same compute as the trained one)."""
    if not (folder / models.CONFIG_NAME).is_file() or not (folder / models.WEIGHT_NAMES[0]).is_file():
        import open_clip

        print(f"saving a random-weight {arch} in {folder} ...", flush=True)
        torch.manual_seed(0)
        model = open_clip.create_model(arch, pretrained=None)
        models.save_local_dir(model, open_clip.get_model_config(arch), folder)
    return folder


# ----------------------------------------------------------------------------- measurements


def tutorial_pipeline(model, preprocess, paths: list[Path]) -> float:
    """(a) Full decode, open_clip's preprocess and batched torch encode, one image after
    another, one thread (``model``: the open_clip model, ``preprocess``: its transform)."""
    start = time.perf_counter()
    batch: list[torch.Tensor] = []
    with torch.no_grad():
        for p in paths:
            batch.append(preprocess(Image.open(p).convert("RGB")))
            if len(batch) == BATCH:
                model.encode_image(torch.stack(batch))
                batch = []
        if batch:
            model.encode_image(torch.stack(batch))
    return len(paths) / (time.perf_counter() - start)


def model_only(encoder: models.Encoder, batches: list[np.ndarray]) -> float:
    """(b) The image tower alone on ready arrays, via the same call the indexer makes."""
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


def indexer_cli(model_dir: Path, photos: Path, n: int, runtime: str = "onnx"
                ) -> tuple[float, float, float]:
    """(c) ``python -m clipdesk index`` into a fresh library, on the N photos and on one of them
    alone, back to back: (wall-clock rate, printed rate, marginal rate). The marginal rate,
    (N - 1) / (wall(N) - wall(1)), leaves out what every run pays once: start-up, imports,
    opening the model and the library."""
    with tempfile.TemporaryDirectory(prefix="clipdesk-bench-one-") as one:
        os.link(sorted(photos.glob("*.jpg"))[0], Path(one) / "p.jpg")
        wall_one = _cli_run(model_dir, Path(one), 1, runtime)[0]
    wall, printed = _cli_run(model_dir, photos, n, runtime)
    return n / wall, printed, (n - 1) / max(1e-9, wall - wall_one)


def _cli_run(model_dir: Path, photos: Path, n: int, runtime: str) -> tuple[float, float]:
    """One ``clipdesk index`` of ``photos`` into a fresh library: (wall seconds, printed rate)."""
    with tempfile.TemporaryDirectory(prefix="clipdesk-bench-cli-") as tmp:
        env = dict(os.environ, CLIPDESK_LOG_DIR=str(Path(tmp) / "logs"), HF_HUB_OFFLINE="1",
                   CLIPDESK_RUNTIME=runtime,
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
    return wall, float(found.group(2))


def fidelity(encoder: models.Encoder, paths: list[Path]) -> dict[str, float]:
    """The indexer's reduced decode against a full decode: tensor and embedding agreement."""
    min_side = max(encoder.image_size, decode.THUMB_SIZE * 3 // 4)
    fast, ref = [], []
    for p in paths:
        image = decode.decode(decode.read_bytes(p), min_side=min_side).image
        fast.append(encoder.preprocess(image))
        full = ImageOps.exif_transpose(Image.open(p).convert("RGB"))
        ref.append(encoder.preprocess(full))
    fast_t, ref_t = np.stack(fast), np.stack(ref)
    diff = np.abs(fast_t - ref_t)
    per_image = diff.reshape(len(diff), -1).mean(1)
    emb_fast = np.concatenate([encoder.encode_images(fast_t[i:i + BATCH])
                               for i in range(0, len(fast_t), BATCH)])
    emb_ref = np.concatenate([encoder.encode_images(ref_t[i:i + BATCH])
                              for i in range(0, len(ref_t), BATCH)])
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


def measure(encoders, tutorial, paths, batches, photos_dir, model_dir, repeats: int,
            cli: bool) -> dict:
    """Every (a)/(b)/(c) measurement, interleaved so that each run sees the same machine load;
    the order is reversed every other run, so that no measurement always follows the same one."""
    n = len(paths)
    results: dict[str, list[tuple[float, float]]] = {}
    cases = {"(a) tutorial pipeline (torch)": ("self", tutorial)}
    for name, enc in encoders.items():
        cases[f"(b) model only, {name}"] = ("self", lambda enc=enc: model_only(enc, batches))
    for name, enc in encoders.items():
        cases[f"(c) Indexer in-process, {name}"] = (
            "self", lambda enc=enc: indexer_in_process(enc, photos_dir, n))
    if cli:
        for runtime in ("onnx", "torch"):
            cases[f"(c) clipdesk index CLI, {runtime}"] = (
                "children", lambda runtime=runtime: indexer_cli(model_dir, photos_dir, n, runtime))
    for r in range(repeats):
        print(f"run {r + 1}/{repeats}: {_load(os.cpu_count() or 1)}", flush=True)
        order = list(cases.items())
        for name, (who, fn) in (order if r % 2 == 0 else order[::-1]):
            usage = resource.RUSAGE_SELF if who == "self" else resource.RUSAGE_CHILDREN
            cpu = _cpu_seconds(usage)
            rate = fn()
            cpu = _cpu_seconds(usage) - cpu
            if who == "self":
                _record(results, name, rate, cpu, n)
            else:  # CPU includes start-up and model load
                wall, printed, marginal = rate
                _record(results, f"{name}, wall", wall, cpu, n)
                _record(results, f"{name}, printed", printed, cpu, n)
                _record(results, f"{name}, marginal", marginal, cpu, n)
    return results


def _ratio_line(results: dict, med: dict, label: str, top: str, base: str, target: float | None
                ) -> None:
    per_run = ", ".join(f"{x[0] / y[0]:.2f}" for x, y in
                        zip(results[top], results[base], strict=True))
    ratio = med[top] / med[base]
    cpu_ratio = (statistics.median(c for _, c in results[base])
                 / statistics.median(c for _, c in results[top]))
    verdict = "" if target is None else (
        f"target >= {target:.2f}x  {'PASS' if ratio >= target else 'MISS'}")
    print(f"  {label:<44s} = {ratio:5.2f}x  {verdict:<24s} (per run: {per_run}); "
          f"CPU-ms/img ratio {cpu_ratio:.2f}x")


def report(results: dict, n: int) -> None:
    """The table of medians and the target ratios."""
    med = {name: statistics.median(rate for rate, _ in runs) for name, runs in results.items()}
    repeats = len(results["(b) model only, onnx"])
    print()
    print(f"images/s, median of {repeats} runs (N={n}, batch {BATCH}, 224x224); CPU-ms/img: "
          "process CPU time per image, all threads (CLI: start-up included)")
    print(f"  {'measurement':<40s} {'img/s':>7s} {'CPU-ms/img':>11s}   runs (img/s)")
    for name, runs in results.items():
        cpu = statistics.median(c for _, c in runs)
        print(f"  {name:<40s} {med[name]:7.2f} {cpu:11.0f}   "
              f"[{', '.join(f'{rate:.2f}' for rate, _ in runs)}]")

    tut, c = "(a) tutorial pipeline (torch)", "(c) Indexer in-process, onnx"
    print()
    print("ratios of medians (per run: each pair ran back to back; CPU-ms/img ratio: the base's "
          "CPU per image over this one's, the figure a busy machine disturbs least)")
    _ratio_line(results, med, "ONNX Indexer / (a) tutorial", c, tut, TARGET_VS_TUTORIAL)
    _ratio_line(results, med, "ONNX Indexer / ONNX model only", c, "(b) model only, onnx",
                TARGET_VS_MODEL)
    _ratio_line(results, med, "torch Indexer / torch model only", "(c) Indexer in-process, torch",
                "(b) model only, torch", None)
    _ratio_line(results, med, "model only: ONNX / torch", "(b) model only, onnx",
                "(b) model only, torch", TARGET_ONNX_VS_TORCH)
    _ratio_line(results, med, "Indexer: ONNX / torch", c, "(c) Indexer in-process, torch",
                TARGET_ONNX_VS_TORCH)
    if "(c) clipdesk index CLI, onnx, marginal" in results:
        cli = "(c) clipdesk index CLI, onnx, marginal"
        _ratio_line(results, med, "ONNX CLI (marginal) / (a) tutorial", cli, tut,
                    TARGET_VS_TUTORIAL)
        _ratio_line(results, med, "ONNX CLI (marginal) / ONNX model only", cli,
                    "(b) model only, onnx", TARGET_VS_MODEL)
        _ratio_line(results, med, "ONNX CLI (marginal) / ONNX Indexer", cli, c, None)
    if "(c) clipdesk index CLI, onnx, printed" in results:
        _ratio_line(results, med, "CLI printed rate: ONNX / torch",
                    "(c) clipdesk index CLI, onnx, printed",
                    "(c) clipdesk index CLI, torch, printed", TARGET_ONNX_VS_TORCH)
        _ratio_line(results, med, "CLI wall rate: ONNX / torch",
                    "(c) clipdesk index CLI, onnx, wall",
                    "(c) clipdesk index CLI, torch, wall", None)
    if "(b) model only, onnx int8" in results:
        _ratio_line(results, med, "int8 speed-up, model only (ONNX int8 / fp32)",
                    "(b) model only, onnx int8", "(b) model only, onnx", None)
        _ratio_line(results, med, "int8 speed-up, Indexer (ONNX int8 / fp32)",
                    "(c) Indexer in-process, onnx int8", c, None)
    ceiling = med["(b) model only, onnx"] / med[tut]
    print(f"  (b)/(a) = {ceiling:5.2f}x for ONNX: the most (c)/(a) can reach while the model "
          "is the bottleneck")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64, help="number of photos (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement (default 3)")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache",
                        help="where photos and the model are kept between runs")
    parser.add_argument("--no-cli", action="store_true",
                        help="skip the `clipdesk index` subprocess runs")
    parser.add_argument("--no-int8", action="store_true", help="skip the ONNX int8 encoder")
    parser.add_argument("--raw", type=int, default=6, help="RAW files to decode (0: none)")
    parser.add_argument("--raw-only", action="store_true", help="only the RAW decoding figures")
    parser.add_argument("--camera-previews", action="store_true",
                        help="photos carrying MPF previews, as many cameras write them")
    args = parser.parse_args()
    if args.raw_only:
        print_raw_costs(args.cache.resolve(), max(1, args.raw), args.repeats)
        return 0

    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    import onnxruntime

    print(f"machine: {platform.machine()} {platform.system()}, cpu_count={cores}, "
          f"python {platform.python_version()}")
    print(f"torch {torch.__version__}, torch threads={torch.get_num_threads()}, "
          f"interop threads={torch.get_num_interop_threads()}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}; "
          f"onnxruntime {onnxruntime.__version__}; Pillow {Image.__version__}")
    print(f"indexer decode workers (default) = {cores}")
    print(f"before: {_load(cores)}")

    cache = args.cache.resolve()
    onnx_cache_default(cache)
    photos_dir = cache / (f"photos-{SIZE[0]}x{SIZE[1]}-q{QUALITY}"
                          f"{'-mpf' if args.camera_previews else ''}-n{args.images}")
    paths = make_photos(photos_dir, args.images, args.camera_previews)
    sizes = [p.stat().st_size / 1e6 for p in paths]
    print(f"photos: {len(paths)} x {SIZE[0]}x{SIZE[1]} JPEG q{QUALITY}, "
          f"{min(sizes):.1f}-{max(sizes):.1f} MB (mean {statistics.mean(sizes):.1f}), "
          f"{sum(1 for i in range(len(paths)) if i % 8 == 7)} with EXIF orientation 6"
          f"{'; MPF previews 640x480 and 1440x1080 in each' if args.camera_previews else ''}")
    model_dir = make_model(cache / f"model-{ARCH}-random")

    t0 = time.perf_counter()
    encoders = load_encoders(model_dir, int8=not args.no_int8)
    onnx = encoders["onnx"]
    print(f"model: {ARCH} random weights, image_size={onnx.image_size}, dim={onnx.dim}; "
          f"encoders {', '.join(encoders)} loaded in {time.perf_counter() - t0:.1f}s "
          f"(ONNX export from {getattr(onnx, 'onnx', None) and onnx.onnx.root})")

    # Ready arrays for (b), built untimed with ClipDesk's preprocess; warm each model up once.
    ready = np.stack([
        onnx.preprocess(ImageOps.exif_transpose(Image.open(p).convert("RGB"))) for p in paths
    ])
    batches = [ready[i:i + BATCH] for i in range(0, len(ready), BATCH)]
    for enc in encoders.values():
        enc.encode_images(batches[0])
    torch_model = encoders["torch"].model
    tutorial_pre = open_clip_preprocess(dict(torch_model.visual.preprocess_cfg))

    results = measure(encoders, lambda: tutorial_pipeline(torch_model, tutorial_pre, paths),
                      paths, batches, photos_dir, model_dir, args.repeats, not args.no_cli)
    print(f"after: {_load(cores)}")
    report(results, len(paths))

    fid = fidelity(onnx, paths)
    print()
    print(f"preprocess fidelity (ONNX encoder): indexer decode (draft, min_side="
          f"{max(onnx.image_size, decode.THUMB_SIZE * 3 // 4)}) vs full decode + exif_transpose")
    print(f"  normalised tensor |diff|: mean {fid['mad']:.4f} (worst image {fid['mad_worst']:.4f}), "
          f"max {fid['max']:.3f}")
    print(f"  embedding cosine: mean {fid['cos_mean']:.5f}, min {fid['cos_min']:.5f}")
    print_stage_costs(onnx, tutorial_pre, paths)
    if args.raw:
        print_raw_costs(cache, args.raw, args.repeats)
    return 0


def print_stage_costs(encoder: models.Encoder, tutorial_pre, paths: list[Path]) -> None:
    """CPU-ms per image of each step a decode worker takes, one thread, no model running."""
    import hashlib

    min_side = max(encoder.image_size, decode.THUMB_SIZE * 3 // 4)
    ours = preprocessing.make(encoder.preprocess_cfg)
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
            timed("preprocess, open_clip (torchvision)", tutorial_pre, image)
            timed("preprocess, clipdesk (PIL + numpy)", ours, image)
    print()
    print("decode worker stages, CPU-ms/img (one thread; the indexer uses clipdesk.core.preprocess):")
    for name, seconds in costs.items():
        print(f"  {name:<36s} {seconds / len(paths) * 1000:6.1f}")


def make_raws(folder: Path, n: int) -> list[tuple[Path, Path, Path]]:
    """N camera frames, each as (JPEG, DNG with a 1620x1080 preview, DNG without), made once."""
    sys.path.insert(0, str(ROOT / "tests"))
    import dngfiles  # pidng: the test extra

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    sources = None
    for i in range(n):
        names = (f"RAW_{i:04d}.jpg", f"RAW_{i:04d}-preview.dng", f"RAW_{i:04d}.dng")
        paths = tuple(folder / name for name in names)
        if not all(p.is_file() for p in paths):
            if sources is None:
                print(f"making {n} camera-sized RAW frames in {folder} ...", flush=True)
                sources = _sample_photos()
            im = _camera_frame(sources[i % len(sources)], np.random.default_rng(1000 + i))
            im.save(paths[0], "JPEG", quality=QUALITY)
            preview = dngfiles.jpeg(im.resize((1620, 1080), Image.Resampling.BICUBIC),
                                    taken="2024:05:01 12:00:00")  # cameras date their previews
            dngfiles.write_dng(paths[1], im, preview=preview)
            dngfiles.write_dng(paths[2], im)
        out.append(paths)
    return out


def print_raw_costs(cache: Path, n: int, repeats: int) -> None:
    """Wall-ms per image (median over the files and repeats, one thread) of decoding a RAW for
    the indexer, by the preview and by the half-size demosaic, against the JPEG of the same
    frame (the baseline) and LibRaw's full demosaic (what a naive RAW reader does)."""
    import io

    import rawpy

    files = make_raws(cache / f"raw-{SIZE[0]}x{SIZE[1]}-n{n}", n)
    min_side = max(224, decode.THUMB_SIZE * 3 // 4)

    def full_demosaic(data: bytes, _name) -> None:
        with rawpy.imread(io.BytesIO(data)) as raw:
            raw.postprocess(use_camera_wb=True, output_bps=8)

    def ours(data: bytes, path: Path) -> None:  # the digest given, as the indexer does
        decode.decode(data, min_side, "digest", name=path)

    ways = {
        "JPEG of the frame (baseline)": (0, ours),
        "DNG, embedded preview": (1, ours),
        "DNG, no preview: half-size demosaic": (2, ours),
        "DNG, LibRaw full demosaic": (2, full_demosaic),
        "hash (blake2b) of the JPEG, not decoding": (0, lambda d, p: decode.content_hash(d)),
        "hash (blake2b) of the DNG, not decoding": (2, lambda d, p: decode.content_hash(d)),
    }
    times: dict[str, list[float]] = {name: [] for name in ways}
    for r in range(repeats):
        order = list(ways) if r % 2 == 0 else list(reversed(ways))
        for name in order:
            which, fn = ways[name]
            for paths in files:
                data = paths[which].read_bytes()
                start = time.perf_counter()
                fn(data, paths[which])
                times[name].append(time.perf_counter() - start)
    sizes = [p[2].stat().st_size / 1e6 for p in files]
    print()
    print(f"RAW decoding for the indexer (min_side={min_side}), {n} frames of {SIZE[0]}x{SIZE[1]} "
          f"(DNG {statistics.mean(sizes):.0f} MB), {repeats} repeats, wall-ms/img, median:")
    base = statistics.median(times["JPEG of the frame (baseline)"])
    for name, values in times.items():
        med = statistics.median(values)
        print(f"  {name:<41s} {med * 1000:7.1f}  ({med / base:5.1f}x the JPEG)")
    print(f"  peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
