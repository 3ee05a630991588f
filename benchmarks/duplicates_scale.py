"""Duplicates at library scale: 300,000 photos with planted exact copies, near copies, bursts.

    python benchmarks/duplicates_scale.py [--n 300000] [--threshold 0.95]
        [--shots-threshold 0.85] [--baseline-rows 2000] [--cache DIR]

Works offline. It makes (once, then reuses from ``benchmarks/.cache/duplicates/``, ignored
by git) a real library folder: a SQLite catalog of N photo rows with their float16
embeddings, and the usearch index built with the library's settings and saved, as
``clipdesk index`` leaves them. The embeddings are library-shaped, made the way
``search_scale.py`` makes them (3,000 Zipf-sized topics around a common mean, events of ~8
photos, power-law anisotropic noise; two photos ~0.37, two of one event ~0.85), and 80% of
the photos have an EXIF date, in event order, at least 30 s apart. Planted among them:

* exact copies: 1% of the photos get one or two byte-identical copies (same hash);
* near copies: 1% get one or two re-encodes/resizes (cosine 0.97-0.99 to the original,
  its EXIF date or none, like a PNG re-save);
* bursts: 0.4% of the photos become bursts of 3-6 shots of one scene, 1-3 s apart (cosine
  ~0.92 between shots).

Then, in a fresh process (so that its peak memory is the pass's own, the index loaded
included), it runs ``duplicates.find_groups`` over the whole library and prints the time,
the peak resident memory, and per kind the groups found vs planted with pair precision and
recall (a pair: two files put in one group). The files do not exist on disk, so the check
that a file is still the one indexed is off (``verify=False``); it stats only the members
of groups, a few percent of the library.

The baseline, in the same run: the exact scan (numpy, every content against every other)
that the k-NN graph replaces, timed on ``--baseline-rows`` rows against the whole library
and scaled to all of them; and its near pairs for those rows, which the graph's pairs are
checked against (the graph's recall of what an exact scan finds).

Targets: under 3 minutes and under 2 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's clipdesk, whatever is installed
sys.path.insert(0, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402

import clipdesk.core.vectors  # noqa: E402, F401  (onnxruntime before usearch, see vectors.py)
from clipdesk.core import duplicates  # noqa: E402
from clipdesk.core.catalog import Outcome  # noqa: E402
from clipdesk.core.library import Library  # noqa: E402
from clipdesk.core.scan import FoundFile  # noqa: E402
from clipdesk.core.vectors import VectorIndex  # noqa: E402

SEED = 11
SPEC = "local-dir:/benchmark/synthetic-512"
TARGET_S = 180.0
TARGET_GB = 2.0
PHOTOS = "/benchmark/photos"


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def _away(v: np.ndarray, cosine: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors at the given cosine from the unit rows of ``v``, in random directions."""
    noise = rng.standard_normal(v.shape)
    noise -= (noise * v).sum(1, keepdims=True) * v  # orthogonal to v
    noise = _unit(noise)
    c = cosine[:, None]
    return _unit(c * v + np.sqrt(1 - c ** 2) * noise)


def make_library(n: int, folder: Path) -> dict:
    """Write the library (catalog and saved index); returns the planted truth."""
    import search_scale

    rng = np.random.default_rng(SEED)
    n_exact, n_near, n_burst = n // 100, n // 100, n // 250
    # rows: base photos, then exact copies, near copies, burst shots; sized to make n in all
    copies_exact = rng.integers(1, 3, n_exact)
    copies_near = rng.integers(1, 3, n_near)
    shots = rng.integers(3, 7, n_burst)
    n_base = n - int(copies_exact.sum() + copies_near.sum() + shots.sum())
    shape = search_scale._shape(np.random.default_rng(search_scale.SEED))
    base = search_scale.make_photos(n_base, rng, shape).astype(np.float32)
    base = _unit(base)
    # EXIF dates: in event order (as a camera fills a card), >= 30 s apart; 20% have none
    taken = np.cumsum(30 + rng.exponential(900, n_base)) + 1.4e9
    taken[rng.random(n_base) < 0.2] = np.nan
    picked = rng.choice(n_base, n_exact + n_near, replace=False)
    exact_of, near_of = picked[:n_exact], picked[n_exact:]
    vectors, dates, origin = [base], [taken], [np.arange(n_base)]
    truth = {"exact": [], "near": [], "shots": []}
    row = n_base
    for src, k in zip(exact_of, copies_exact, strict=True):
        truth["exact"].append([int(src), *range(row, row + k)])
        vectors.append(np.repeat(base[src][None], k, 0))
        dates.append(np.full(k, taken[src]))
        origin.append(np.full(k, src))
        row += k
    for src, k in zip(near_of, copies_near, strict=True):
        truth["near"].append([int(src), *range(row, row + k)])
        vectors.append(_away(np.repeat(base[src][None], k, 0), rng.uniform(0.97, 0.99, k), rng))
        dates.append(np.where(rng.random(k) < 1 / 3, np.nan, taken[src]))
        origin.append(np.arange(row, row + k))
        row += k
    scene = search_scale.make_photos(n_burst, np.random.default_rng(SEED + 5), shape)
    start = 1.3e9 + rng.uniform(0, 1e8, n_burst)  # years before the other photos
    for b, k in enumerate(shots):
        truth["shots"].append(list(range(row, row + k)))
        centre = _unit(scene[b].astype(np.float32))
        vectors.append(_away(np.repeat(centre[None], k, 0), np.full(k, 0.96), rng))
        dates.append(start[b] + np.cumsum(rng.integers(1, 4, k)))
        origin.append(np.arange(row, row + k))
        row += k
    vectors = np.concatenate(vectors).astype(np.float16)
    dates = np.concatenate(dates)
    origin = np.concatenate(origin)  # the content each row holds (exact copies share one)
    assert len(vectors) == n == row

    t = time.perf_counter()
    library = Library(folder, role="benchmark")
    library.claim_writer()
    catalog = library.catalog
    rid = catalog.add_root(Path(PHOTOS))
    model = catalog.model(SPEC, vectors.shape[1])
    paths = [f"{PHOTOS}/{i // 1000:03d}/IMG_{i:06d}.jpg" for i in range(n)]
    catalog.record_scan(rid, {p: FoundFile(p, 3_000_000, 1) for p in paths}, {}, [])
    ids = {p: r.id for p, r in catalog.files_under(rid, PHOTOS).items()}
    sizes = rng.integers(2_000_000, 5_000_000, n)
    outcomes, stored = [], set()
    for i, p in enumerate(paths):
        h = f"{int(origin[i]):032x}"
        outcomes.append(Outcome(ids[p], int(sizes[origin[i]]), 1, hash=h,
                                taken_at=None if np.isnan(dates[i]) else float(dates[i]),
                                width=4000, height=3000,
                                new_vector=None if h in stored else vectors[i]))
        stored.add(h)
    catalog.record_outcomes(model, outcomes)
    print(f"  catalog: {n:,} photos in {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    keys, vecs = catalog.indexed_vectors(model)
    index = VectorIndex.build(model.dim, keys, vecs)
    library.save_vectors(model, index)
    print(f"  usearch index built and saved in {time.perf_counter() - t:.1f} s", flush=True)
    library.close()
    id_of = [ids[p] for p in paths]
    truth = {k: [[id_of[r] for r in g] for g in groups] for k, groups in truth.items()}
    return truth


def _peak_rss() -> int:
    """This process's peak resident memory in bytes: VmHWM, which starts afresh with the
    program (``ru_maxrss`` keeps the parent's peak across fork and exec: the 2.3 GiB of the
    process that built the library)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, else KiB


def find(folder: Path, threshold: float, shots_threshold: float) -> None:
    """The pass, in this (fresh) process; prints JSON."""
    t = time.perf_counter()
    cpu = time.process_time()
    library = Library(folder, role="benchmark")
    model = library.catalog.model(SPEC)
    library.vectors(model)
    loaded = time.perf_counter() - t
    groups = duplicates.find_groups(library, model, threshold=threshold,
                                    shots_threshold=shots_threshold, verify=False)
    wall = time.perf_counter() - t
    rss = _peak_rss()
    print(json.dumps({"wall_s": wall, "load_s": loaded, "cpu_s": time.process_time() - cpu,
                      "peak_rss": rss,
                      "groups": [[g.kind, [m.file_id for m in g.members]] for g in groups]}))


def pairs(groups: list[list[int]]) -> set[tuple[int, int]]:
    return {(a, b) for g in groups for a in g for b in g if a < b}


def baseline(folder: Path, rows: int, threshold: float, check: set[tuple[int, int]]
             ) -> tuple[float, set[tuple[int, int]], list, int]:
    """Exact scan of ``rows`` contents against all: seconds, the pairs it finds, the ids;
    and how many of the pairs in ``check`` have a cosine of at least ``threshold``."""
    library = Library(folder, role="benchmark")
    model = library.catalog.model(SPEC)
    facts = library.catalog.indexed_facts(model)
    first: dict[str, int] = {}
    for file_id, h, _ in facts:
        first.setdefault(h, file_id)
    keys, vectors = library.catalog.indexed_vectors(model)
    row_of = {int(k): i for i, k in enumerate(keys)}
    a = np.array([row_of[x] for x, _ in check], dtype=np.int64)
    b = np.array([row_of[y] for _, y in check], dtype=np.int64)
    above = int((np.einsum("ij,ij->i", _unit(vectors[a]), _unit(vectors[b])) >= threshold).sum()
                ) if len(check) else 0
    keep = np.isin(keys, np.array(list(first.values()), dtype=np.uint64))
    keys, vectors = keys[keep], _unit(vectors[keep])
    rng = np.random.default_rng(SEED + 9)
    sample = rng.choice(len(keys), min(rows, len(keys)), replace=False)
    t = time.perf_counter()
    sims = vectors[sample] @ vectors.T
    spent = time.perf_counter() - t
    found = set()
    for i, j in zip(*np.nonzero(sims >= threshold), strict=True):
        a, b = int(keys[sample[i]]), int(keys[j])
        if a != b:
            found.add((min(a, b), max(a, b)))
    library.close()
    return spent * len(keys) / len(sample), found, [int(keys[s]) for s in sample], above


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=300_000)
    ap.add_argument("--threshold", type=float, default=duplicates.NEAR_THRESHOLD)
    ap.add_argument("--shots-threshold", type=float, default=duplicates.SHOTS_THRESHOLD)
    ap.add_argument("--baseline-rows", type=int, default=2000)
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache" / "duplicates")
    ap.add_argument("--_find", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._find:
        find(args._find, args.threshold, args.shots_threshold)
        return 0
    folder = args.cache / f"library-n{args.n}-s{SEED}"
    truth_file = folder / "planted.json"
    if not truth_file.is_file():
        print(f"making a library of {args.n:,} synthetic photos in {folder} (once) ...",
              flush=True)
        if folder.exists():
            import shutil
            shutil.rmtree(folder)
        truth = make_library(args.n, folder)
        truth_file.write_text(json.dumps(truth))
    truth = json.loads(truth_file.read_text())

    print(f"find_groups over {args.n:,} photos (threshold {args.threshold}, shots "
          f"{args.shots_threshold}, gap {duplicates.SHOT_GAP_S} s, k {duplicates.NEIGHBOURS}, "
          f"expansion {duplicates.SEARCH_EXPANSION}), in a fresh process ...", flush=True)
    out = subprocess.run([sys.executable, __file__, "--_find", str(folder), "--threshold",
                          str(args.threshold), "--shots-threshold", str(args.shots_threshold)],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    found: dict[str, list[list[int]]] = {k: [] for k in duplicates.KINDS}
    for kind, ids in res["groups"]:
        found[kind].append(ids)
    print(f"  time {res['wall_s']:.1f} s (of which opening the index {res['load_s']:.1f} s), "
          f"CPU {res['cpu_s']:.1f} s; peak RSS {res['peak_rss'] / 2**30:.2f} GiB  "
          f"[targets: < {TARGET_S:.0f} s, < {TARGET_GB:.0f} GB]")
    print(f"  {'kind':6s} {'planted':>8s} {'found':>7s} {'same':>6s} {'pair precision':>15s} "
          f"{'pair recall':>12s}")
    for kind in duplicates.KINDS:
        planted, got = pairs(truth[kind]), pairs(found[kind])
        both = len(planted & got)
        same = len({tuple(sorted(g)) for g in truth[kind]}
                   & {tuple(sorted(g)) for g in found[kind]})
        precision = both / len(got) if got else float("nan")
        recall = both / len(planted) if planted else float("nan")
        print(f"  {kind:6s} {len(truth[kind]):>8,} {len(found[kind]):>7,} {same:>6,} "
              f"{precision:>15.4f} {recall:>12.4f}")

    unplanted = pairs(found["near"]) - pairs(truth["near"])
    exact_s, exact_pairs, sample, above = baseline(folder, args.baseline_rows, args.threshold,
                                                   unplanted)
    print(f"  near: of the {len(unplanted):,} pairs found that were not planted, {above:,} "
          f"have a cosine >= {args.threshold} themselves (the synthetic library's own similar "
          f"photos without an EXIF date; the rest are joined through them)")
    sampled = set(sample)
    graph = {p for p in pairs(found["near"]) if p[0] in sampled or p[1] in sampled}
    # the graph's near groups join only contents whose dates agree; the exact scan's pairs
    # are raw similarities, so compare those it shares with planted near pairs
    planted_near = pairs(truth["near"])
    exact_near = exact_pairs & planted_near
    print(f"  baseline: an exact scan of every content against every other: "
          f"{exact_s:.0f} s (measured on {len(sample):,} rows, scaled); k-NN graph: "
          f"{res['wall_s'] - res['load_s']:.1f} s")
    if exact_near:
        print(f"  the graph finds {len(exact_near & graph)}/{len(exact_near)} of the planted "
              f"near pairs the exact scan finds for those rows; the exact scan finds "
              f"{len(exact_pairs - planted_near)} unplanted pairs above the threshold there")
    return 0


if __name__ == "__main__":
    sys.exit(main())
