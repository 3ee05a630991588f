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
exact search. With ``--rerank K`` each search asks the index for K candidates and re-scores
them exactly from the stored f16 vectors (what ClipDesk does for an i8 index, from its
catalog). The baseline in the same run is exact search (usearch brute force, one thread) and,
when listed in ``--dtypes``/``--connectivity``, the settings shipped before issue 15 (f16,
connectivity 16, expansion_search 512). ``--exact-sizes`` times exact search alone by library
size (where ``vectors.EXACT_BELOW`` comes from). The figures also report CPU-ms per query.
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


def rerank(photos: np.ndarray, query: np.ndarray, keys: np.ndarray, count: int) -> np.ndarray:
    """The ``count`` best of ``keys`` by exact cosine against the stored f16 vectors (what
    an index of quantized vectors re-ranks its candidates with)."""
    rows = np.sort(keys.astype(np.int64) - 1)
    scores = photos[rows].astype(np.float32) @ query
    return rows[np.argsort(-scores)[:count]] + 1


def latency(index: Index, queries: np.ndarray, truth: np.ndarray, exact: bool = False,
            candidates: int = 0, photos: np.ndarray | None = None):
    """p50, p95, CPU-ms and recall@10 of top-100 searches; with ``candidates``, that many
    come from the index and are re-ranked exactly from ``photos``."""
    times, cpus, recalls = [], [], []
    for qv, want in zip(queries, truth, strict=True):
        c = time.thread_time()
        t = time.perf_counter()
        found = index.search(qv, max(TOP, candidates), threads=1, exact=exact)
        keys = rerank(photos, qv, found.keys, TOP) if candidates else found.keys
        times.append((time.perf_counter() - t) * 1000)
        cpus.append((time.thread_time() - c) * 1000)
        recalls.append(len(set(keys[:10].tolist()) & set(want[:10].tolist())) / 10)
    return (statistics.median(times), float(np.percentile(times, 95)),
            statistics.median(cpus), float(np.mean(recalls)))


def exact_sizes(photos: np.ndarray, queries: np.ndarray, sizes: list[int], budget_ms: float
                ) -> int:
    """Exact search (``Index.search(exact=True)``, as ``VectorIndex`` does below
    ``EXACT_BELOW``) of the first N photos, for each N: p50/p95 of the app's top 2,000 and the
    CLI's top 100, default threads and one. Returns the largest N whose p95 (top 2,000, one
    thread) stays under ``budget_ms``. The index is filled with a minimal graph
    (connectivity 2): exact search reads only the stored f16 vectors."""
    print(f"\nExact search by library size (f16, {len(queries)} queries; budget {budget_ms:.0f} ms"
          " p95)")
    print(f"  {'photos':>9} {'top':>5} {'threads':>7} {'p50 ms':>7} {'p95 ms':>7}")
    best = 0
    for n in sizes:
        index = Index(ndim=DIM, metric="cos", dtype="f16", connectivity=2, expansion_add=2)
        for start in range(0, n, 100_000):
            stop = min(n, start + 100_000)
            index.add(np.arange(start + 1, stop + 1, dtype=np.uint64),
                      np.asarray(photos[start:stop], dtype=np.float32))
        index.search(queries[:5], 100, exact=True, threads=1)  # warm
        for count in (2000, 100):
            for threads in (1, 0):
                times = []
                for qv in queries:
                    t = time.perf_counter()
                    index.search(qv, count, exact=True, threads=threads)
                    times.append((time.perf_counter() - t) * 1000)
                p50, p95 = statistics.median(times), float(np.percentile(times, 95))
                if count == 2000 and threads == 1 and p95 < budget_ms:
                    best = max(best, n)
                print(f"  {n:>9,} {count:>5} {threads or 'all':>7} {p50:7.2f} {p95:7.2f}",
                      flush=True)
        del index
    return best


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
    ap.add_argument("--rerank", default="0",
                    help="candidates to re-rank exactly from the stored vectors (0: none)")
    ap.add_argument("--exact-sizes", default="",
                    help="library sizes at which to time exact search, e.g. 100000,200000")
    ap.add_argument("--exact-budget-ms", type=float, default=20.0)
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--_open", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._open:
        _open_child(args._open[0], bool(int(args._open[1])))
        return

    from clipdesk.core.vectors import EXACT_DTYPES, INDEX_SETTINGS, RERANK

    cache = args.cache / "scale"
    print(f"search_scale: n={args.n:,} dim={DIM} queries={args.queries} cores={os.cpu_count()}"
          f" load={os.getloadavg()[0]:.1f}")
    photos, queries, truth = dataset(args.n, args.queries, cache)
    describe(photos, queries, truth)
    if args.exact_sizes:
        from clipdesk.core.vectors import EXACT_BELOW

        sizes = [int(x) for x in args.exact_sizes.split(",") if int(x) <= len(photos)]
        best = exact_sizes(photos, queries[:100], sizes, args.exact_budget_ms)
        print(f"  largest size measured under {args.exact_budget_ms:.0f} ms p95 (top 2,000, one"
              f" thread): {best:,}; ClipDesk's EXACT_BELOW: {EXACT_BELOW:,}")
        return
    efs = [int(x) for x in args.ef.split(",")]
    reranks = [int(x) for x in args.rerank.split(",")]
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
                print(f"  {'ef':>5} {'rerank':>6} {'p50 ms':>7} {'p95 ms':>7} {'cpu ms':>7}"
                      f" {'recall@10':>9}")
                for ef in efs:
                    index.expansion_search = ef
                    for cand in reranks:
                        p50, p95, cpu, rec = latency(index, queries, truth, candidates=cand,
                                                     photos=photos)
                        mine = (dtype == INDEX_SETTINGS["dtype"]
                                and m == INDEX_SETTINGS["connectivity"]
                                and ea == INDEX_SETTINGS["expansion_add"]
                                and ef == INDEX_SETTINGS["expansion_search"]
                                and cand == (RERANK if dtype not in EXACT_DTYPES else 0))
                        ok = p95 < TARGET_P95_MS and rec >= TARGET_RECALL
                        print(f"  {ef:>5} {cand or '-':>6} {p50:7.2f} {p95:7.2f} {cpu:7.2f}"
                              f" {rec:9.3f}{'  meets target' if ok else ''}"
                              f"{'  <- ClipDesk default' if mine else ''}", flush=True)
                        label = f"{name} rerank {cand}" if cand else name
                        results.append((label, ef, p50, p95, rec, size_mb, load, view, build_s))
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
