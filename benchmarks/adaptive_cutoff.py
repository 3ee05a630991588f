"""Adaptive cut-off against the best flat threshold, on the tiny trained CLIP of the tests.

    python benchmarks/adaptive_cutoff.py [--libraries 3] [--seed 0] [--repeats 20] [--cache DIR]

Works offline. Trains the tiny CLIP the tests use (``tests/tinyclip.py``, seed 0; kept in
``benchmarks/.cache/``), makes ``--libraries`` libraries of shape photos (seeds ``--seed``,
``--seed`` + 1, ...) and indexes them with the real indexer (ONNX Runtime): an uneven number
of clean photos per class (4 to 24), small shapes, photos of two shapes side by side, and
photos with no shape at all. Then, for each query, the scores of
the whole library (``Searcher.query_vector`` against every stored vector, as an exact search
ranks them) and, as relevant, the photos that show the query's class(es):

* caption: the 12 captions the model learnt ("a photo of a red circle");
* caption -neg: a caption with another colour's caption as a negative;
* like image: a photo of the class from outside the library ("like this");
* caption + like: a caption and a photo of another class (both classes relevant).

It prints mean precision, recall and F1 over the queries of each kind (all libraries) for:

* adaptive: ``clipdesk.core.cutoff.adaptive_cutoff`` on each query's scores;
* flat (captions): the one threshold with the best mean F1 over the captions, chosen with
  hindsight, used for every query (the best any single slider position can do);
* flat (each kind): the best threshold chosen with hindsight per kind (an upper bound no
  flat default reaches, since it knows the query's kind and the answers);
* top 20: no cut-off, the first 20 (``clipdesk search`` before ``--cutoff``);
* and simpler adaptive rules, to show why the shipped one is what it is: median + 3 robust
  sigmas, Otsu's split over all the scores, and over the top half only (the first of the
  tails the shipped rule compares).

An empty answer counts as precision 1 (no wrong photo shown), recall 0. Then the speed of
``adaptive_cutoff`` on 100,000 and 1,000,000 scores (median of ``--repeats``) against
ranking those scores (``np.argsort``), the baseline any cut-off that sorts would pay.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's clipdesk, whatever is installed
sys.path.insert(0, str(ROOT / "tests"))  # tinyclip

import clipdesk  # noqa: E402, F401, I001  (its environment settings come before torch)
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import tinyclip  # noqa: E402
from clipdesk.core import models  # noqa: E402
from clipdesk.core.cutoff import BINS, _otsu, adaptive_cutoff  # noqa: E402
from clipdesk.core.indexer import Indexer  # noqa: E402
from clipdesk.core.library import Library  # noqa: E402
from clipdesk.core.search import Searcher  # noqa: E402

TOP_N = 20


def make_library(folder: Path, rng: np.random.Generator) -> dict[str, set[str]]:
    """Photos in ``folder``; returns {file name: the classes it shows}."""
    folder.mkdir(parents=True)
    shows: dict[str, set[str]] = {}

    def save(image: Image.Image, name: str, classes: set[str]) -> None:
        image.save(folder / name, quality=90)
        shows[name] = classes

    for color, shape in tinyclip.CLASSES:
        for i in range(int(rng.integers(4, 25))):
            save(tinyclip.draw_shape(color, shape, rng, size=(320, 240)),
                 f"clean-{color}-{shape}-{i}.jpg", {f"{color}-{shape}"})
    scale = tinyclip.SCALE
    tinyclip.SCALE = (0.25, 0.4)  # small shapes: harder
    try:
        for color, shape in tinyclip.CLASSES:
            for i in range(3):
                save(tinyclip.draw_shape(color, shape, rng, size=(320, 240)),
                     f"small-{color}-{shape}-{i}.jpg", {f"{color}-{shape}"})
    finally:
        tinyclip.SCALE = scale
    for i in range(24):  # two shapes side by side
        a, b = rng.choice(len(tinyclip.CLASSES), size=2, replace=False)
        canvas = Image.new("RGB", (320, 240))
        canvas.paste(tinyclip.draw_shape(*tinyclip.CLASSES[a], rng, size=(160, 240)), (0, 0))
        canvas.paste(tinyclip.draw_shape(*tinyclip.CLASSES[b], rng, size=(160, 240)), (160, 0))
        save(canvas, f"pair-{i}.jpg", {"-".join(tinyclip.CLASSES[a]), "-".join(tinyclip.CLASSES[b])})
    for i in range(40):  # no shape: a light, noisy background
        tint = rng.integers(175, 236) + rng.integers(-12, 13, size=3)
        pixels = np.clip(tint + rng.normal(0.0, 10.0, size=(240, 320, 3)), 0, 255)
        save(Image.fromarray(pixels.astype(np.uint8)), f"empty-{i}.jpg", set())
    return shows


def queries(searcher: Searcher, outside: Path, rng: np.random.Generator):
    """(kind, label, query vector, relevant classes) for every benchmark query."""
    outside.mkdir()
    classes = ["-".join(c) for c in tinyclip.CLASSES]
    like = {}
    for color, shape in tinyclip.CLASSES:
        like[f"{color}-{shape}"] = outside / f"{color}-{shape}.jpg"
        tinyclip.draw_shape(color, shape, rng, size=(300, 260)).save(like[f"{color}-{shape}"])
    colors = list(tinyclip.COLORS)
    out = []
    for (color, shape), name in zip(tinyclip.CLASSES, classes, strict=True):
        text = tinyclip.caption(color, shape)
        other = colors[(colors.index(color) + 1) % len(colors)]
        partner = classes[(classes.index(name) + 4) % len(classes)]  # another colour
        out += [
            ("caption", text, searcher.query_vector([text]), {name}),
            ("caption -neg", f"{text} -{other} {shape}",
             searcher.query_vector([text], negatives=[tinyclip.caption(other, shape)]), {name}),
            ("like image", f"like {name}", searcher.query_vector(images=[like[name]]), {name}),
            ("caption + like", f"{text} + like {partner}",
             searcher.query_vector([text], images=[like[partner]]), {name, partner}),
        ]
    return out


def prf(kept: np.ndarray, relevant: np.ndarray) -> tuple[float, float, float]:
    hits = int((kept & relevant).sum())
    precision = hits / kept.sum() if kept.any() else 1.0
    recall = hits / relevant.sum()
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def best_flat(cases) -> float:
    """The one threshold with the best mean F1 over ``cases`` (scores, relevant)."""
    grid = np.unique(np.round(np.concatenate([s for s, _ in cases]), 4))
    f1 = np.zeros(len(grid))
    for scores, relevant in cases:
        kept = scores[None, :] >= grid[:, None]
        hits = (kept & relevant).sum(1)
        n_kept = kept.sum(1)
        precision = np.where(n_kept > 0, hits / np.maximum(n_kept, 1), 1.0)
        recall = hits / relevant.sum()
        f1 += np.where(precision + recall > 0,
                       2 * precision * recall / np.maximum(precision + recall, 1e-12), 0)
    return float(grid[int(np.argmax(f1))])


def robust_z(scores: np.ndarray) -> float:
    median = float(np.median(scores))
    return median + 3 * 1.4826 * float(np.median(np.abs(scores - median)))


def otsu_all(scores: np.ndarray) -> float:
    return _otsu(scores)[0]


def otsu_top_half(scores: np.ndarray) -> float:
    return _otsu(scores[scores > np.median(scores)])[0]


def top_n(scores: np.ndarray) -> float:
    return float(np.sort(scores)[-TOP_N]) if len(scores) >= TOP_N else float(scores.min())


def speed(repeats: int) -> None:
    rng = np.random.default_rng(0)
    print(f"\nSpeed (median of {repeats}; scores like a text query's: a body at 0.18, "
          f"1% of matches at 0.30):")
    print(f"  {'scores':>10s} {'adaptive_cutoff':>16s} {'np.argsort (baseline)':>22s}")
    for n in (100_000, 1_000_000):
        scores = rng.normal(0.18, 0.03, n).astype(np.float32)
        scores[: n // 100] = rng.normal(0.30, 0.02, n // 100)
        timings = {"cut": [], "sort": []}
        for _ in range(repeats):
            t = time.perf_counter()
            adaptive_cutoff(scores)
            timings["cut"].append(time.perf_counter() - t)
            t = time.perf_counter()
            np.argsort(-scores)
            timings["sort"].append(time.perf_counter() - t)
        cut, ranked = (statistics.median(timings[k]) * 1000 for k in ("cut", "sort"))
        print(f"  {n:>10,d} {cut:>13.2f} ms {ranked:>19.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--libraries", type=int, default=3, help="libraries to make")
    parser.add_argument("--seed", type=int, default=0, help="the first library's seed")
    parser.add_argument("--repeats", type=int, default=20, help="timing repeats")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("CLIPDESK_ONNX_CACHE", str(args.cache / "onnx-cache"))
    model_dir = args.cache / "tinyclip-trained-seed0"
    if not (model_dir / "open_clip_model.safetensors").is_file():
        print("Training the tiny CLIP of the tests (seed 0) ...", flush=True)
        tinyclip.train_tiny_clip(model_dir, seed=0)
    spec = models.ModelSpec.parse(f"local-dir:{model_dir}")
    encoder = models.load(spec, device="cpu")
    cases = []
    for seed in range(args.seed, args.seed + args.libraries):
        rng = np.random.default_rng(seed)
        with tempfile.TemporaryDirectory(prefix="clipdesk-cutoff-") as tmp:
            shows = make_library(Path(tmp) / "photos", rng)
            library = Library(Path(tmp) / "library")
            Indexer(library, encoder, on_progress=lambda *_: None).run([Path(tmp) / "photos"])
            row = library.model_row(spec)
            keys, vectors = library.catalog.indexed_vectors(row)
            rows = library.catalog.files_by_ids([int(k) for k in keys])
            names = [Path(rows[int(k)].path).name for k in keys]
            searcher = Searcher(library, row, lambda: encoder)
            asked = queries(searcher, Path(tmp) / "outside", rng)
            library.close()
        print(f"Library (seed {seed}): {len(names)} photos "
              f"({sum(n.startswith('clean') for n in names)} clean, "
              f"{sum(n.startswith('small') for n in names)} small shapes, "
              f"{sum(n.startswith('pair') for n in names)} pairs, "
              f"{sum(n.startswith('empty') for n in names)} without a shape); "
              f"{len(asked)} queries", flush=True)
        # scores against every stored vector: what an exact search ranks
        cases += [(kind, label, vectors @ q, np.array([bool(shows[n] & want) for n in names]))
                  for kind, label, q, want in asked]
    kinds = list(dict.fromkeys(k for k, *_ in cases))
    flat_captions = best_flat([(s, r) for k, _, s, r in cases if k == "caption"])
    flat_kind = {kind: best_flat([(s, r) for k, _, s, r in cases if k == kind]) for kind in kinds}
    methods = {
        "adaptive": lambda kind, s: adaptive_cutoff(s),
        "flat (captions)": lambda kind, s: flat_captions,
        "flat (each kind)": lambda kind, s: flat_kind[kind],
        f"top {TOP_N}": lambda kind, s: top_n(s),
        "median+3 sigma": lambda kind, s: robust_z(s),
        "Otsu, all scores": lambda kind, s: otsu_all(s),
        "Otsu, top half": lambda kind, s: otsu_top_half(s),
    }
    print(f"Flat thresholds chosen with hindsight: captions {flat_captions:.3f}; per kind "
          + ", ".join(f"{k} {v:.3f}" for k, v in flat_kind.items()) + f" ({BINS}-bin histogram "
          "in the adaptive split)")
    results = {m: {k: [] for k in kinds} for m in methods}
    for kind, _, scores, relevant in cases:
        for name, rule in methods.items():
            cut = rule(kind, scores)
            kept = np.ones_like(relevant) if cut is None else scores >= cut
            results[name][kind].append(prf(kept, relevant))

    def row_of(values) -> str:
        p, r, f = np.mean(values, axis=0)
        return f"{p:5.3f} {r:5.3f} {f:5.3f}"

    print(f"\nMean precision, recall, F1 per query kind ({len(cases) // len(kinds)} queries each):")
    print(f"  {'method':18s} " + " ".join(f"{k:>17s}" for k in [*kinds, "all"]))
    print(f"  {'':18s} " + " ".join(f"{'P     R     F1':>17s}" for _ in [*kinds, "all"]))
    for name in methods:
        every = [v for k in kinds for v in results[name][k]]
        print(f"  {name:18s} " + " ".join(f"{row_of(results[name][k]):>17s}" for k in kinds)
              + f" {row_of(every):>17s}")
    worst = min(results["adaptive"]["caption"], key=lambda v: v[2])
    print(f"\nCaptions, adaptive: worst F1 {worst[2]:.3f} (P {worst[0]:.3f}, R {worst[1]:.3f})")
    speed(args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
