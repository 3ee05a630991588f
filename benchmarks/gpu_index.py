"""GPU indexing: the model alone (fp32 and half precision) against `clipdesk index --device cuda`.

    python benchmarks/gpu_index.py [--photos 768] [--archs ViT-B-32,ViT-L-14] [--repeats 2]
        [--batch 256] [--cache DIR] [--agreement-only] [--device cuda]

Needs an NVIDIA GPU: on a machine where ``torch.cuda.is_available()`` is false it says so and
exits with status 2, except with ``--agreement-only`` (below), which runs anywhere. Works
offline. It makes, once, in ``DIR/gpu/`` (default ``benchmarks/.cache/gpu``):

* N camera JPEGs of 12 MP (4000x3000, 2.5-4 MB; ``index_throughput.py``'s photos: skimage
  samples upscaled with grain; every 8th with EXIF orientation 6), on every core at once;
* open_clip ViT-B-32 and ViT-L-14 with random weights (the compute of the trained ones) in
  ClipDesk's ``local-dir`` layout.

Then, per architecture, in one run:

(a) the decoders alone: ``gpudecode.DeviceJpegDecoder`` (torchvision's nvJPEG, with EXIF turn,
    resize, crop and normalise on the GPU) in batches of 64, and ClipDesk's CPU decode
    (``decode.decode``, PIL with DCT scaling) on every core;
(b) the model alone on ready tensors on the GPU, batches of ``--batch``, fp32 and half
    (``TorchEncoder`` with ``precision="bf16"``, or fp16 where the GPU has no bf16): R runs
    each, interleaved;
(c) ``clipdesk index DIR --device cuda`` in a subprocess into a fresh library, as shipped
    (decode workers = cores, batch 128, JPEGs decoded on the GPU, half precision), with
    ``--batch-size 256``, and as before issue 15 (these two for ViT-B-32 only) (4 workers, batch 32, fp32 and CPU decoding
    only: ``CLIPDESK_PRECISION=fp32 CLIPDESK_DEVICE_DECODE=0``), the baseline: the marginal rate, (N - 1) / (wall(N photos) - wall(1 photo)), the two runs back to
    back, so start-up, imports and loading the model drop out.

It prints images/s (medians, with every run), (c)/(b-half) and the targets: ViT-B-32 >= 800
img/s; ViT-L-14 >= 0.8x its half-precision model-alone rate.

Last, the agreement of half precision with fp32 on the test suite's tiny CLIP trained on
coloured shapes (``tests/tinyclip.py``; trained once, cached): per-image cosine of 600 shapes,
the top-10 overlap of the 12 captions ranked over them (numpy) and through ClipDesk's own
``Indexer`` and ``Searcher`` (two libraries), the top-10 overlap of find-similar for every
shape, and precision@10 of each. ``--agreement-only`` runs just this, on ``--device`` (on a CPU
torch's CPU autocast gives bf16; fp16 autocast needs a GPU). About 3-4 minutes on a 16-core
H200 machine the first time (photos and models made), 2-3 after.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's clipdesk, whatever is installed
sys.path.insert(0, str(ROOT / "benchmarks"))  # index_throughput's photos, quantization's shapes
sys.path.insert(0, str(ROOT / "tests"))  # tinyclip: the shapes and the trainer

import clipdesk  # noqa: E402, F401, I001  (before torch: the thread settings)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from clipdesk.core import decode, gpudecode, models, torch_encoder  # noqa: E402

TARGET_B32 = 800.0  # img/s, ViT-B-32 through `clipdesk index --device cuda`, 12 MP JPEGs
TARGET_L14_RATIO = 0.8  # ViT-L-14: of its half-precision model-alone rate
DECODE_BATCH = 64
TOP = 10


# ----------------------------------------------------------------------------- data


def _make_one(args: tuple[Path, int]) -> None:
    import index_throughput as it

    path, i = args
    if path.is_file():
        return
    sources = _make_one.sources if hasattr(_make_one, "sources") else None
    if sources is None:
        sources = _make_one.sources = it._sample_photos()
    im = it._camera_frame(sources[i % len(sources)], np.random.default_rng(i))
    exif = Image.Exif()
    exif[0x0110] = "ClipDesk benchmark camera"
    exif[0x0132] = f"2024:05:{1 + i % 28:02d} 12:{i % 60:02d}:00"
    if i % 8 == 7:
        exif[0x0112] = 6
    tmp = path.with_suffix(".tmp")
    im.save(tmp, "JPEG", quality=it.QUALITY, exif=exif.tobytes())
    os.replace(tmp, path)


def make_photos(folder: Path, n: int) -> list[Path]:
    """N camera JPEGs, made on every core at once (once; files already there are kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"IMG_{i:04d}.jpg" for i in range(n)]
    missing = [(p, i) for i, p in enumerate(paths) if not p.is_file()]
    if missing:
        t = time.perf_counter()
        print(f"making {len(missing)} camera JPEGs (12 MP) in {folder} ...", flush=True)
        with ProcessPoolExecutor(os.cpu_count()) as pool:
            list(pool.map(_make_one, missing, chunksize=4))
        print(f"  made in {time.perf_counter() - t:.0f} s", flush=True)
    return paths


def load(model_dir: Path, device: str, precision: str) -> torch_encoder.TorchEncoder:
    files = models.locate(models.ModelSpec.parse(f"local-dir:{model_dir}"), download=False)
    return torch_encoder.load(files, device, precision=precision)


def half_precision(device: str) -> str:
    return torch_encoder.pick_precision(device, "auto") if device != "cpu" else "bf16"


# ----------------------------------------------------------------------------- measurements


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def model_alone(encoder, batch: torch.Tensor, seconds: float = 3.0) -> float:
    """Images/s of ``encode_images`` on a ready batch already on the device, batches for
    about ``seconds`` (at least two)."""
    encoder.encode_images(batch)  # warm: kernels chosen, memory allocated
    _sync(encoder.device)
    t = time.perf_counter()
    done = 0
    while done < 2 or time.perf_counter() - t < seconds:
        encoder.encode_images(batch)  # returns numpy: waits for the device
        done += 1
    return done * len(batch) / (time.perf_counter() - t)


def device_decode_rate(decoder: gpudecode.DeviceJpegDecoder, datas: list[bytes],
                       headers: list[tuple[decode.Photo, int]]) -> float:
    """Images/s of the device decoder: bytes in memory to normalised model input (and the
    thumbnail's source brought back to the CPU), batches of DECODE_BATCH."""
    pending = [gpudecode.Pending(d, o, p.width * p.height)
               for d, (p, o) in zip(datas, headers, strict=True)]
    decoder.decode(pending[:DECODE_BATCH])  # warm
    _sync(str(decoder.device))
    t = time.perf_counter()
    rejected = 0
    for i in range(0, len(pending), DECODE_BATCH):
        rejected += sum(o is None for o in decoder.decode(pending[i:i + DECODE_BATCH]))
    _sync(str(decoder.device))
    if rejected:
        print(f"  note: the device decoder rejected {rejected} of {len(pending)} JPEGs "
              "(the indexer decodes those on the CPU)")
    return len(pending) / (time.perf_counter() - t)


def cpu_decode_rate(datas: list[bytes], min_side: int, threads: int) -> float:
    """Images/s of ClipDesk's CPU decode (PIL, DCT scaling to ``min_side``) on ``threads``."""
    with ThreadPoolExecutor(threads) as pool:
        t = time.perf_counter()
        list(pool.map(lambda d: decode.decode(d, min_side), datas))
        return len(datas) / (time.perf_counter() - t)


def cli_index(model_dir: Path, photos: Path, device: str, extra: list[str],
              env_extra: dict[str, str]) -> tuple[float, str]:
    """One ``clipdesk index`` of ``photos`` into a fresh library: (wall seconds, its summary)."""
    with tempfile.TemporaryDirectory(prefix="clipdesk-gpu-bench-") as tmp:
        env = dict(os.environ, CLIPDESK_LOG_DIR=str(Path(tmp) / "logs"), HF_HUB_OFFLINE="1",
                   CLIPDESK_RUNTIME="torch", **env_extra,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        cmd = [sys.executable, "-m", "clipdesk", "index", str(photos), "--device", device,
               "--library", str(Path(tmp) / "library"), "--model", f"local-dir:{model_dir}",
               *extra]
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"clipdesk index failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return wall, summary


def cli_marginal(model_dir: Path, photos: Path, n: int, device: str, extra: list[str],
                 env: dict[str, str]) -> tuple[float, float]:
    """(marginal images/s, wall images/s): N photos and one photo, back to back."""
    with tempfile.TemporaryDirectory(prefix="clipdesk-gpu-one-") as one:
        os.link(sorted(photos.glob("*.jpg"))[0], Path(one) / "IMG_0000.jpg")
        wall_one, _ = cli_index(model_dir, Path(one), device, extra, env)
    wall, summary = cli_index(model_dir, photos, device, extra, env)
    found = re.search(r"(\d+) embedded", summary)
    if not found or int(found.group(1)) != n:
        raise SystemExit(f"clipdesk index did not embed the {n} photos: {summary!r}")
    marginal = (n - 1) / (wall - wall_one) if wall > wall_one else float("nan")  # too few photos
    return marginal, n / wall


def _runs(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f}  [{', '.join(f'{v:.1f}' for v in values)}]"


def speed(arch: str, model_dir: Path, photos: list[Path], device: str, repeats: int,
          batch: int) -> dict[str, float]:
    """(a), (b) and (c) for one architecture; returns the medians."""
    half = half_precision(device)
    cores = os.cpu_count() or 1
    print(f"\n== {arch} (random weights), {len(photos)} photos of 12 MP, {device}, {cores} cores")
    datas = [p.read_bytes() for p in photos]
    headers = [gpudecode.header(d, decode.content_hash(d)) for d in datas]
    enc = {p: load(model_dir, device, p) for p in ("fp32", half)}
    min_side = max(enc["fp32"].image_size, decode.THUMB_SIZE * 3 // 4)
    decoder = gpudecode.DeviceJpegDecoder(device, enc["fp32"].preprocess_cfg, min_side)
    rates: dict[str, list[float]] = {}
    ready = torch.randn(batch, 3, enc["fp32"].image_size, enc["fp32"].image_size,
                        device=device)
    for r in range(repeats):  # interleaved, the order reversed every other run
        cases = [("(a) decode on the device, nvJPEG", lambda: device_decode_rate(
                      decoder, datas, headers)),
                 (f"(a) decode on the CPU, {cores} threads", lambda: cpu_decode_rate(
                      datas, min_side, cores)),
                 ("(b) model alone, fp32", lambda: model_alone(enc["fp32"], ready)),
                 (f"(b) model alone, {half}", lambda: model_alone(enc[half], ready))]
        for name, fn in cases if r % 2 == 0 else cases[::-1]:
            rates.setdefault(name, []).append(fn())
    enc.clear()  # the CLI runs below need the GPU's memory
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    configs = {"as shipped": ([], {}),
               "--batch-size 256": (["--batch-size", "256"], {}),
               "before (4 workers, batch 32, fp32, CPU decode)": (
                   ["--workers", "4", "--batch-size", "32"],
                   {"CLIPDESK_PRECISION": "fp32", "CLIPDESK_DEVICE_DECODE": "0"})}
    if arch != "ViT-B-32":  # the comparisons once, on the small model: 5 minutes in all
        configs = {"as shipped": configs["as shipped"]}
    for _ in range(repeats):
        for label, (extra, env) in configs.items():
            marginal, wall = cli_marginal(model_dir, photos[0].parent, len(photos), device,
                                          extra, env)
            rates.setdefault(f"(c) clipdesk index, {label}, marginal", []).append(marginal)
            rates.setdefault(f"(c) clipdesk index, {label}, wall", []).append(wall)
    print(f"  {'images/s':<46s} {'median':>8s}  runs")
    for name, values in rates.items():
        print(f"  {name:<46s} {_runs(values)}")
    med = {k: statistics.median(v) for k, v in rates.items()}
    shipped = med["(c) clipdesk index, as shipped, marginal"]
    model_half = med[f"(b) model alone, {half}"]
    print(f"  half / fp32, model alone: {model_half / med['(b) model alone, fp32']:.2f}x")
    print(f"  clipdesk index (as shipped) / model alone ({half}): {shipped / model_half:.2f}x")
    before = med.get("(c) clipdesk index, before (4 workers, batch 32, fp32, CPU decode), marginal")
    if before:
        print(f"  clipdesk index, as shipped / before: {shipped / before:.2f}x")
    both = med["(a) decode on the device, nvJPEG"] + med[f"(a) decode on the CPU, {cores} threads"]
    print(f"  decoders side by side, the ceiling for 12 MP JPEGs: about {both:.0f} img/s")
    if arch == "ViT-B-32":
        print(f"  target: >= {TARGET_B32:.0f} img/s: {shipped:.0f} "
              f"{'PASS' if shipped >= TARGET_B32 else 'MISS'}")
    elif arch == "ViT-L-14":
        print(f"  target: >= {TARGET_L14_RATIO}x the {half} model-alone rate: "
              f"{shipped / model_half:.2f}x {'PASS' if shipped >= TARGET_L14_RATIO * model_half else 'MISS'}")
    return med


# ----------------------------------------------------------------------------- agreement


def agreement(cache: Path, device: str) -> None:
    """Half precision against fp32 on the tests' tiny CLIP trained on shapes."""
    import quantization as q

    import tinyclip

    folder = q.train(cache / "tiny-clip-shapes", None, 150)
    half = half_precision(device)
    fp32, low = load(folder, device, "fp32"), load(folder, device, half)
    images, labels = q.shapes(q.SHAPES)
    arrays = np.stack([fp32.preprocess(im) for im in images])
    a = np.concatenate([fp32.encode_images(arrays[i:i + 64]) for i in range(0, len(arrays), 64)])
    b = np.concatenate([low.encode_images(arrays[i:i + 64]) for i in range(0, len(arrays), 64)])
    captions = [tinyclip.caption(*c) for c in tinyclip.CLASSES]
    queries = fp32.encode_texts(captions)  # the text tower runs in fp32 on every path
    cos = (a * b).sum(1)
    ta = np.argsort(-(queries @ a.T), axis=1)[:, :TOP].tolist()
    tb = np.argsort(-(queries @ b.T), axis=1)[:, :TOP].tolist()
    ov = q.overlap(ta, tb)
    print(f"\n== agreement of {half} autocast with fp32 ({device}), tests' tiny CLIP trained on "
          f"shapes, {len(a)} images")
    print(f"  cosine per image: median {np.median(cos):.5f}, mean {cos.mean():.5f}, "
          f"min {cos.min():.5f}")
    print(f"  top-{TOP} overlap, 12 captions ranked over the images (numpy): mean {ov.mean():.3f}, "
          f"min {ov.min():.2f}")
    lov, (p_fp32, p_half) = q.library_agreement(fp32, low, images, labels, captions)
    precision = {"fp32": p_fp32, half: p_half}
    sim = q.similar_overlap(a, b)
    print(f"  top-{TOP} overlap, library search (Indexer + Searcher, 12 captions): mean "
          f"{lov.mean():.3f}, min {lov.min():.2f}; precision@{TOP} fp32 {precision['fp32']:.3f}, "
          f"{half} {precision[half]:.3f}")
    print(f"  top-{TOP} overlap, find-similar, {len(a)} queries: mean {sim.mean():.3f}, "
          f"min {sim.min():.2f}")


# ----------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=768)
    ap.add_argument("--archs", default="ViT-B-32,ViT-L-14")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256, help="batch of the model-alone runs")
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--agreement-only", action="store_true",
                    help="only half precision's agreement with fp32 (runs on any device)")
    args = ap.parse_args()
    cache = args.cache.resolve()
    os.environ.setdefault("CLIPDESK_ONNX_CACHE", str(cache / "onnx-cache"))
    cuda = torch.cuda.is_available()
    if args.device.startswith("cuda") and not cuda:
        if not args.agreement_only:
            print(f"gpu_index.py: no CUDA GPU on this machine (torch {torch.__version__}: "
                  "torch.cuda.is_available() is False). It measures indexing on an NVIDIA GPU "
                  "and cannot run here; `--agreement-only --device cpu` runs its precision "
                  "check on the CPU.", file=sys.stderr)
            return 2
        args.device = "cpu"
    start = time.perf_counter()
    gpu = torch.cuda.get_device_name(0) if cuda else "none"
    print(f"gpu_index: device {args.device} (GPU: {gpu}), {os.cpu_count()} cores, torch "
          f"{torch.__version__}, load average {os.getloadavg()[0]:.1f}")
    if not args.agreement_only:
        photos = make_photos(cache / "gpu" / f"photos-12mp-n{args.photos}", args.photos)
        import index_throughput as it

        for arch in args.archs.split(","):
            model_dir = it.make_model(cache / "gpu" / f"model-{arch}-random", arch)
            speed(arch, model_dir, photos, args.device, args.repeats, args.batch)
    agreement(cache, args.device)
    print(f"\ndone in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
