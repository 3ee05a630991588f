"""int8 image tower: speed-up over fp32, and agreement with fp32 embeddings and search results.

    python benchmarks/quantization.py [--repeats 3] [--cache benchmarks/.cache]

Works offline. Two models:

* ViT-B-32 with random weights (the compute of the real one; made by index_throughput.py's
  ``make_model`` if missing): speed of the image tower alone, fp32 against int8, batches of
  32, and of ``Indexer`` end to end on the camera JPEGs with each; per-image cosine between
  the fp32 and int8 embeddings of 256 photos; overlap of the top-10 results of 24 text queries.
* a tiny ViT trained here on the test suite's coloured shapes (cached after the first run):
  per-image cosine, top-10 overlap for the 12 captions over 600 shapes, and precision@10 of
  each (how many of the 10 are the caption's class).

The baseline in every line is fp32 measured in the same run, interleaved with int8.
The tiny *ResNet* the tests train is not measured: dynamic quantization swaps only the MLP
``nn.Linear`` layers of transformer blocks, and a ResNet tower has none (a no-op there).
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tinyclip: the shapes and the trainer
sys.path.insert(0, str(ROOT / "benchmarks"))

import clipdesk  # noqa: E402, F401, I001  (before torch: its thread settings)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from clipdesk.core import decode, models  # noqa: E402
from clipdesk.core.indexer import Indexer  # noqa: E402
from clipdesk.core.library import Library  # noqa: E402

BATCH = 32
TOP = 10
TINY_VIT_CFG: dict = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "patch_size": 4, "width": 96, "layers": 4, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
QUERIES = ["a dog", "a cat on a sofa", "a rocket launch", "a cup of coffee", "an astronaut",
           "a galaxy", "the retina of an eye", "a man with a camera", "a red flower",
           "a beach at sunset", "a city at night", "a mountain", "a birthday cake", "a car",
           "a bicycle", "snow", "a forest", "a portrait", "food", "a document", "a bird",
           "a boat", "a microscope image", "a black and white photo"]


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def _load(cores: int) -> str:
    load = os.getloadavg()[0]
    busy = "  (BUSY: figures are noisy; go by CPU-ms)" if load > 0.5 * cores else ""
    return f"load average {load:.2f} on {cores} cores{busy}"


def int8_copy(encoder: models.Encoder) -> tuple[models.Encoder, int]:
    """The same encoder with an int8 image tower (the fp32 one is left as it is)."""
    other = copy.copy(encoder)
    other.model = copy.deepcopy(encoder.model)
    other._lock = threading.Lock()
    n = models.quantize_image_tower(other.model, "cpu")
    other.int8 = n > 0
    return other, n


def embed(encoder: models.Encoder, tensors: torch.Tensor) -> np.ndarray:
    return np.concatenate([encoder.encode_images(b) for b in tensors.split(BATCH)])


def top_overlap(queries: np.ndarray, a: np.ndarray, b: np.ndarray, k: int = TOP) -> np.ndarray:
    """Per query: the share of fp32's top-k that int8's top-k also returns."""
    ta = np.argsort(-(queries @ a.T), axis=1)[:, :k]
    tb = np.argsort(-(queries @ b.T), axis=1)[:, :k]
    return np.array([len(set(x) & set(y)) / k for x, y in zip(ta, tb, strict=True)])


def agreement(name: str, fp32: np.ndarray, int8: np.ndarray, queries: np.ndarray) -> None:
    cos = (fp32 * int8).sum(1)
    overlap = top_overlap(queries, fp32, int8)
    scores = np.sort(queries @ fp32.T, axis=1)[:, ::-1]
    gap = np.median(scores[:, TOP - 1] - scores[:, TOP])  # 10th to 11th result, fp32
    shift = np.median(np.abs(queries @ fp32.T - queries @ int8.T))  # what int8 moves a score
    print(f"  {name}: fp32 scores: median gap between results {TOP} and {TOP + 1} {gap:.5f}; "
          f"median score change from int8 {shift:.5f} (the larger the ratio, the more swaps)")
    print(f"  {name}: cosine fp32 vs int8 per image: median {np.median(cos):.5f}, "
          f"mean {cos.mean():.5f}, min {cos.min():.5f}  (target >= 0.99)")
    print(f"  {name}: top-{TOP} overlap over {len(queries)} queries, {len(fp32)} images: "
          f"mean {overlap.mean():.3f}, min {overlap.min():.2f}  (target mean >= 0.9)")


# ----------------------------------------------------------------------------- ViT-B-32


def camera_tensors(encoder: models.Encoder, photos: list[Path], extra: int) -> torch.Tensor:
    """The camera photos as the indexer sees them, plus random crops of them (more images)."""
    rng = np.random.default_rng(0)
    pre = models.fast_preprocess(encoder.model.visual.preprocess_cfg) or encoder.preprocess
    images = [decode.decode(decode.read_bytes(p), 480).image for p in photos]
    out = [pre(im) for im in images]
    for i in range(extra):
        im = images[i % len(images)]
        w, h = im.size
        side = int(min(w, h) * rng.uniform(0.3, 0.8))
        x, y = int(rng.uniform(0, w - side)), int(rng.uniform(0, h - side))
        crop = im.crop((x, y, x + side, y + side))
        out.append(pre(ImageOps.mirror(crop) if rng.random() < 0.5 else crop))
    return torch.stack(out)


def model_rate(encoder: models.Encoder, batches: list[torch.Tensor]) -> tuple[float, float]:
    start, cpu = time.perf_counter(), _cpu()
    for b in batches:
        encoder.encode_images(b)
    n = sum(len(b) for b in batches)
    return n / (time.perf_counter() - start), (_cpu() - cpu) / n * 1000


def indexer_rate(encoder: models.Encoder, photos: Path, n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="clipdesk-bench-q-") as tmp:
        library = Library(Path(tmp))
        cpu = _cpu()
        report = Indexer(library, encoder, batch_size=BATCH, on_progress=lambda *_: None).run(
            [photos])
        cpu = _cpu() - cpu
        library.close()
    assert report.embedded == n and not report.failed, report.summary()
    return report.embedded / report.seconds, cpu / n * 1000


def vit_b32(cache: Path, repeats: int, n_photos: int) -> None:
    import index_throughput

    model_dir = index_throughput.make_model(cache / "model-ViT-B-32-random")
    photos_dir = cache / f"photos-4000x3000-q92-n{n_photos}"
    photos = index_throughput.make_photos(photos_dir, n_photos)
    fp32 = models.load(models.ModelSpec.parse(f"local-dir:{model_dir}"), device="cpu")
    t0 = time.perf_counter()
    int8, n = int8_copy(fp32)
    print(f"ViT-B-32 (random weights): {n} Linear layers quantized in "
          f"{time.perf_counter() - t0:.1f}s (the MLPs of 12 blocks; attention stays fp32)")
    tensors = camera_tensors(fp32, photos, 256 - len(photos))
    batches = list(tensors[:128].split(BATCH))
    fp32.encode_images(batches[0])
    int8.encode_images(batches[0])

    runs: dict[str, list[tuple[float, float]]] = {}
    for r in range(repeats):
        print(f" run {r + 1}/{repeats}: {_load(os.cpu_count() or 1)}", flush=True)
        for name, fn in (("model only, fp32", lambda: model_rate(fp32, batches)),
                         ("model only, int8", lambda: model_rate(int8, batches)),
                         ("Indexer, fp32", lambda: indexer_rate(fp32, photos_dir, n_photos)),
                         ("Indexer, int8", lambda: indexer_rate(int8, photos_dir, n_photos))):
            rate, cpu = fn()
            runs.setdefault(name, []).append((rate, cpu))
            print(f"   {name:<18s} {rate:6.2f} img/s {cpu:6.0f} CPU-ms/img", flush=True)
    print(f" ViT-B-32 speed, median of {repeats} (model: 128 ready tensors; Indexer: "
          f"{n_photos} camera JPEGs, 4000x3000)")
    med = {k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v))
           for k, v in runs.items()}
    for k, (rate, cpu) in med.items():
        print(f"  {k:<18s} {rate:6.2f} img/s {cpu:6.0f} CPU-ms/img")
    for what in ("model only", "Indexer"):
        (rf, cf), (ri, ci) = med[f"{what}, fp32"], med[f"{what}, int8"]
        per_run = ", ".join(f"{i[0] / f[0]:.2f}" for f, i in
                            zip(runs[f"{what}, fp32"], runs[f"{what}, int8"], strict=True))
        print(f"  {what}: int8/fp32 speed-up {ri / rf:.2f}x wall ({per_run}), "
              f"{cf / ci:.2f}x less CPU per image")
    queries = fp32.encode_texts(QUERIES)
    agreement("ViT-B-32", embed(fp32, tensors), embed(int8, tensors), queries)


# ----------------------------------------------------------------------------- tiny ViT


def tiny_vit(cache: Path) -> None:
    import tinyclip

    folder = cache / "tiny-vit-shapes"
    if not (folder / models.CONFIG_NAME).is_file():
        print("training a tiny ViT on coloured shapes (once) ...", flush=True)
        saved = tinyclip.TINY_MODEL_CFG
        tinyclip.TINY_MODEL_CFG = TINY_VIT_CFG
        try:
            tinyclip.train_tiny_clip(folder, seed=0, per_class=150, steps=600)
        finally:
            tinyclip.TINY_MODEL_CFG = saved
    fp32 = models.load(models.ModelSpec.parse(f"local-dir:{folder}"), device="cpu")
    int8, n = int8_copy(fp32)
    print(f"tiny ViT trained on shapes ({TINY_VIT_CFG['vision_cfg']['layers']} blocks): "
          f"{n} Linear layers quantized")
    rng = np.random.default_rng(1)
    labels, images = [], []
    for i in range(600):
        color, shape = tinyclip.CLASSES[i % len(tinyclip.CLASSES)]
        side = int(rng.integers(64, 200))
        images.append(tinyclip.draw_shape(color, shape, rng, (side, int(side * rng.uniform(0.75, 1)))))
        labels.append(i % len(tinyclip.CLASSES))
    tensors = torch.stack([fp32.preprocess(im) for im in images])
    a, b = embed(fp32, tensors), embed(int8, tensors)
    queries = fp32.encode_texts([tinyclip.caption(*c) for c in tinyclip.CLASSES])
    agreement("tiny ViT", a, b, queries)
    labels_arr = np.array(labels)
    for name, emb in (("fp32", a), ("int8", b)):
        top = np.argsort(-(queries @ emb.T), axis=1)[:, :TOP]
        precision = (labels_arr[top] == np.arange(len(queries))[:, None]).mean()
        print(f"  tiny ViT {name}: precision@{TOP} of the 12 captions {precision:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=64, help="camera JPEGs for the Indexer")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, quantized engine "
          f"{torch.backends.quantized.engine}, OMP_WAIT_POLICY="
          f"{os.environ.get('OMP_WAIT_POLICY')}, Pillow {Image.__version__}")
    print(f"before: {_load(cores)}")
    tiny_vit(args.cache.resolve())
    vit_b32(args.cache.resolve(), args.repeats, args.images)
    print(f"after: {_load(cores)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
