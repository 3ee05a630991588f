"""Vector search at library scale: a usearch index of up to 1,000,000 photo embeddings.

    python benchmarks/search_scale.py [--n 1000000] [--queries 500] [--dtypes f16,i8]
        [--connectivity 16] [--expansion-add 128] [--ef 16,32,64,128] [--cache DIR]

Works offline. It makes (once, then reuses from ``benchmarks/.cache/scale/``, ignored by
git) N synthetic 512-d embeddings shaped like CLIP photo embeddings, and text-like
queries, and the exact top-100 of every query (numpy matmul over all N, in chunks):

* photos: a mixture of 3,000 Gaussian clusters of Zipf-distributed sizes around a common
  mean direction, with anisotropic noise (a power-law spectrum), so that two photos have a
  cosine of about 0.3 and two photos of one cluster about 0.6, as real CLIP image
  embeddings do; not uniform noise, which is far easier for HNSW than real data;
* queries: built like text embeddings, near a cluster but offset by a separate "text"
  mean direction (the modality gap), scoring ~0.3 against their best photos; never
  copies of indexed vectors.

For each index setting (dtype x connectivity x expansion_add) it builds the index (all
cores) and saves it, then prints: build time, file size, time to open it in a fresh
process by loading (``Index.restore``) and by a memory-mapped view (``view=True``), the
resident memory after each, and for each search expansion the top-100 search latency
p50/p95 (one query at a time, one thread, as the app searches) with recall@10 against
exact search. The baseline in the same run is exact search (usearch brute force, one
thread) and the settings ClipDesk shipped before issue 6 (f16, connectivity 16,
expansion_add 128, expansion_search 64). The figures also report CPU-ms per query.
The library's own defaults (``clipdesk.core.vectors.INDEX_SETTINGS``) are marked.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's clipdesk, whatever is installed

import numpy as np  # noqa: E402

if "--_open" not in sys.argv:  # that child measures usearch's own memory: usearch alone
    # clipdesk.core.vectors (used below) loads onnxruntime, which crashes (SIGSEGV) once
    # usearch is loaded; vectors.py itself imports it before usearch, so it comes first
    import clipdesk.core.vectors  # noqa: E402, F401
from usearch.index import Index  # noqa: E402

DIM = 512
CLUSTERS = 3000
EVENT_SIZE = 8
SEED = 7
TOP = 100
TARGET_P95_MS = 10.0
TARGET_RECALL = 0.95
TARGET_OPEN_S = 2.0
TARGET_MEMORY_GB = 1.5


# ----------------------------------------------------------------------------- data


def _unit(a: np.ndarray) -> np.ndarray:
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def _shape(rng: np.random.Generator):
    """The shared structure: image mean, text mean, topic centres, noise spectrum, sizes."""
    mean = _unit(rng.standard_normal(DIM))
    text_mean = _unit(rng.standard_normal(DIM))
    centres = _unit(rng.standard_normal((CLUSTERS, DIM)))
    spectrum = (np.arange(1, DIM + 1) ** -0.75)[rng.permutation(DIM)]
    spectrum /= np.sqrt(np.mean(spectrum ** 2))
    weights = 1.0 / np.arange(1, CLUSTERS + 1) ** 0.8  # Zipf-like topic sizes
    return mean, text_mean, centres, spectrum, weights / weights.sum()


def _events(n: int, shape, seed: int):
    """Each photo's event (a burst or outing, ~8 photos on average) and each event's topic."""
    rng = np.random.default_rng(seed)
    n_events = max(1, n // EVENT_SIZE)
    topic = rng.choice(CLUSTERS, size=n_events, p=shape[4])
    return rng.integers(0, n_events, size=n), topic


def _event_dirs(ids: np.ndarray) -> np.ndarray:
    """Random unit direction of each event id, reproducible without storing them all."""
    out = np.empty((len(ids), DIM))
    for i, e in enumerate(ids):
        out[i] = np.random.default_rng((SEED, int(e))).standard_normal(DIM)
    return _unit(out)


def make_photos(n: int, rng: np.random.Generator, shape) -> np.ndarray:
    mean, _, centres, spectrum, _ = shape
    event, topic = _events(n, shape, SEED + 3)
    dirs = _event_dirs(np.arange(len(topic)))
    out = np.empty((n, DIM), dtype=np.float16)
    for start in range(0, n, 100_000):
        e = event[start:start + 100_000]
        noise = _unit(rng.standard_normal((len(e), DIM)) * spectrum)
        v = 0.55 * mean + 0.45 * centres[topic[e]] + 0.45 * dirs[e] + 0.35 * noise
        out[start:start + len(e)] = _unit(v).astype(np.float16)
    return out


def make_queries(q: int, n: int, rng: np.random.Generator, shape) -> np.ndarray:
    """Text-like: the text mean (modality gap), a topic, a hint of one event in the library
    (a query names a scene that exists), and text-only noise."""
    mean, text_mean, centres, spectrum, _ = shape
    event, topic = _events(n, shape, SEED + 3)
    picked = rng.choice(event, size=q)
    noise = _unit(rng.standard_normal((q, DIM)) * spectrum)
    v = (0.75 * text_mean + 0.2 * mean + 0.35 * centres[topic[picked]]
         + 0.25 * _event_dirs(picked) + 0.25 * noise)
    return _unit(v).astype(np.float32)


def exact_top(photos: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k keys (row index + 1) by cosine, numpy matmul in chunks."""
    best_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), k), dtype=np.int64)
    for start in range(0, len(photos), 100_000):
        block = photos[start:start + 100_000].astype(np.float32)
        s = queries @ block.T
        part = np.argpartition(-s, k, axis=1)[:, :k]
        ps = np.take_along_axis(s, part, axis=1)
        all_s = np.concatenate([best_s, ps], axis=1)
        all_i = np.concatenate([best_i, part + start], axis=1)
        keep = np.argpartition(-all_s, k, axis=1)[:, :k]
        best_s = np.take_along_axis(all_s, keep, axis=1)
        best_i = np.take_along_axis(all_i, keep, axis=1)
    order = np.argsort(-best_s, axis=1)
    return np.take_along_axis(best_i, order, axis=1) + 1


def dataset(n: int, q: int, cache: Path):
    cache.mkdir(parents=True, exist_ok=True)
    pf, qf, tf = (cache / f"photos-n{n}-s{SEED}.npy", cache / f"queries-n{n}-q{q}-s{SEED}.npy",
                  cache / f"truth-n{n}-q{q}-s{SEED}.npy")
    shape = _shape(np.random.default_rng(SEED))
    if not pf.exists():
        t = time.perf_counter()
        np.save(pf, make_photos(n, np.random.default_rng(SEED + 1), shape))
        print(f"  made {n:,} photo embeddings in {time.perf_counter() - t:.1f} s", flush=True)
    if not qf.exists():
        np.save(qf, make_queries(q, n, np.random.default_rng(SEED + 2), shape))
    photos = np.load(pf, mmap_mode="r")
    queries = np.load(qf)
    if not tf.exists():
        t = time.perf_counter()
        np.save(tf, exact_top(photos, queries, TOP))
        print(f"  exact top-{TOP} of {q} queries in {time.perf_counter() - t:.1f} s", flush=True)
    return photos, queries, np.load(tf)


def describe(photos: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    a = photos[rng.integers(0, len(photos), 2000)].astype(np.float32)
    pair = (a[:1000] * a[1000:]).sum(1)
    best = np.array([float(queries[i] @ photos[truth[i, 0] - 1].astype(np.float32))
                     for i in range(min(200, len(queries)))])
    tenth = np.array([float(queries[i] @ photos[truth[i, 9] - 1].astype(np.float32))
                      for i in range(min(200, len(queries)))])
    print(f"  photo-photo cosine: median {np.median(pair):.2f} (p5 {np.percentile(pair, 5):.2f},"
          f" p95 {np.percentile(pair, 95):.2f}); query top-1 {np.median(best):.2f},"
          f" top-10 {np.median(tenth):.2f}")


# ----------------------------------------------------------------------------- index


def build(photos: np.ndarray, settings: dict, path: Path) -> float:
    """Build and save; returns build seconds (cached next to the index)."""
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return json.loads(meta.read_text())["build_s"]
    index = Index(ndim=DIM, metric="cos", **settings)
    keys = np.arange(1, len(photos) + 1, dtype=np.uint64)
    t = time.perf_counter()
    cpu = time.process_time()
    for start in range(0, len(photos), 50_000):
        index.add(keys[start:start + 50_000],
                  np.asarray(photos[start:start + 50_000], dtype=np.float32))
        print(f"    {start + 50_000:>9,} added, {time.perf_counter() - t:6.0f} s", flush=True)
    build_s = time.perf_counter() - t
    tmp = path.with_name(path.name + ".tmp")
    index.save(str(tmp))
    os.replace(tmp, path)
    meta.write_text(json.dumps({"build_s": build_s, "cpu_s": time.process_time() - cpu}))
    return build_s


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _open_child(path: str, view: bool) -> None:
    """Run in a fresh process: time one open, then resident memory before/after a search."""
    before = rss_mb()
    t = time.perf_counter()
    index = Index.restore(path, view=view)
    open_s = time.perf_counter() - t
    after = rss_mb()
    q = _unit(np.random.default_rng(1).standard_normal((20, DIM))).astype(np.float32)
    for v in q:
        index.search(v, TOP, threads=1)
    print(json.dumps({"open_s": open_s, "rss_mb": after - before,
                      "rss_after_search_mb": rss_mb() - before}))


def open_figures(path: Path, view: bool, repeats: int = 3) -> dict:
    runs = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, __file__, "--_open", str(path), str(int(view))],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def latency(index: Index, queries: np.ndarray, truth: np.ndarray, exact: bool = False):
    times, cpus, recalls = [], [], []
    for qv, want in zip(queries, truth, strict=True):
        c = time.thread_time()
        t = time.perf_counter()
        found = index.search(qv, TOP, threads=1, exact=exact)
        times.append((time.perf_counter() - t) * 1000)
        cpus.append((time.thread_time() - c) * 1000)
        recalls.append(len(set(found.keys[:10].tolist()) & set(want[:10].tolist())) / 10)
    return (statistics.median(times), float(np.percentile(times, 95)),
            statistics.median(cpus), float(np.mean(recalls)))


# ----------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--dtypes", default="f16,i8")
    ap.add_argument("--connectivity", default="16")
    ap.add_argument("--expansion-add", default="128")
    ap.add_argument("--ef", default="16,24,32,48,64,96,128")
    ap.add_argument("--exact-queries", type=int, default=20,
                    help="queries for the brute-force baseline (slow at 1M)")
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--_open", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._open:
        _open_child(args._open[0], bool(int(args._open[1])))
        return

    from clipdesk.core.vectors import INDEX_SETTINGS

    cache = args.cache / "scale"
    print(f"search_scale: n={args.n:,} dim={DIM} queries={args.queries} cores={os.cpu_count()}"
          f" load={os.getloadavg()[0]:.1f}")
    photos, queries, truth = dataset(args.n, args.queries, cache)
    describe(photos, queries, truth)
    efs = [int(x) for x in args.ef.split(",")]
    results = []
    for dtype in args.dtypes.split(","):
        for m in (int(x) for x in args.connectivity.split(",")):
            for ea in (int(x) for x in args.expansion_add.split(",")):
                settings = {"dtype": dtype, "connectivity": m, "expansion_add": ea}
                name = f"{dtype} M={m} ef_add={ea}"
                path = cache / f"index-n{args.n}-s{SEED}-{dtype}-c{m}-ea{ea}.usearch"
                print(f"\n[{name}] building {path.name}", flush=True)
                build_s = build(photos, settings, path)
                if args.build_only:
                    continue
                size_mb = path.stat().st_size / 2**20
                load = open_figures(path, view=False)
                view = open_figures(path, view=True)
                print(f"  build {build_s:.0f} s, file {size_mb:,.0f} MiB")
                print(f"  open by load  {load['open_s'] * 1000:7.0f} ms, resident"
                      f" {load['rss_mb']:,.0f} MiB")
                print(f"  open by view  {view['open_s'] * 1000:7.0f} ms, resident"
                      f" {view['rss_mb']:,.0f} MiB ({view['rss_after_search_mb']:,.0f} MiB"
                      " after 20 searches; pages are file-backed, shared, evictable)")
                index = Index.restore(str(path), view=False)
                index.search(queries[:20], TOP, threads=1)  # warm
                print(f"  {'ef':>5} {'p50 ms':>7} {'p95 ms':>7} {'cpu ms':>7} {'recall@10':>9}")
                for ef in efs:
                    index.expansion_search = ef
                    p50, p95, cpu, rec = latency(index, queries, truth)
                    mine = (dtype == INDEX_SETTINGS["dtype"]
                            and m == INDEX_SETTINGS["connectivity"]
                            and ea == INDEX_SETTINGS["expansion_add"]
                            and ef == INDEX_SETTINGS["expansion_search"])
                    ok = p95 < TARGET_P95_MS and rec >= TARGET_RECALL
                    print(f"  {ef:>5} {p50:7.2f} {p95:7.2f} {cpu:7.2f} {rec:9.3f}"
                          f"{'  meets target' if ok else ''}{'  <- ClipDesk default' if mine else ''}",
                          flush=True)
                    results.append((name, ef, p50, p95, rec, size_mb, load, view, build_s))
                if dtype == args.dtypes.split(",")[0] and m == int(args.connectivity.split(",")[0]):
                    nq = args.exact_queries
                    p50, p95, cpu, rec = latency(index, queries[:nq], truth[:nq], exact=True)
                    print(f"  baseline, exact brute force ({nq} queries): p50 {p50:.1f} ms,"
                          f" p95 {p95:.1f} ms, recall@10 {rec:.3f}")
                del index
    if not results:
        return
    print(f"\nTargets: p95 < {TARGET_P95_MS:.0f} ms at recall@10 >= {TARGET_RECALL},"
          f" open < {TARGET_OPEN_S:.0f} s, vector memory < {TARGET_MEMORY_GB} GB")
    print("Cheapest setting per index that meets the latency and recall targets:")
    for name in dict.fromkeys(r[0] for r in results):
        ok = [r for r in results if r[0] == name and r[3] < TARGET_P95_MS and r[4] >= TARGET_RECALL]
        if not ok:
            print(f"  {name}: none")
            continue
        r = min(ok, key=lambda r: r[1])  # the smallest expansion that meets them
        print(f"  {name}: ef {r[1]}: p50 {r[2]:.2f} ms, p95 {r[3]:.2f} ms, recall@10 {r[4]:.3f};"
              f" file {r[5]:,.0f} MiB; open {r[6]['open_s']:.2f} s load /"
              f" {r[7]['open_s'] * 1000:.0f} ms view; resident {r[6]['rss_mb']:,.0f} MiB loaded")


if __name__ == "__main__":
    main()
