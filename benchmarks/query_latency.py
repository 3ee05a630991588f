"""Query latency: from the search bar's debounce firing to ranked file ids, at 1M photos.

    python benchmarks/query_latency.py [--n 1000000] [--repeats 30] [--threads T]
        [--cache DIR]

Works offline. Uses (making them once, in ``benchmarks/.cache/``, ignored by git):

* ViT-B-32 with random weights in the ``local-dir`` layout (trained weights cannot be
  downloaded here; random ones cost exactly the same compute);
* the library-shaped 1M-embedding usearch index of ``search_scale.py`` built with the
  library's default settings (``clipdesk.core.vectors.INDEX_SETTINGS``; run
  ``search_scale.py --n N`` first for big N: building 1M takes most of an hour on 2 cores);
* a real ClipDesk catalog (SQLite) holding N file rows, for mapping ids to files.

It prints p50/p95 over short queries ("dog" ... "kids on a beach at sunset") of:

1. text encoding, baseline: open_clip's ``encode_text`` over all 77 positions (torch);
2. text encoding as ClipDesk does it (``Encoder.encode_texts``: tokenize, run the text
   tower up to the end token only, normalise): ONNX Runtime as shipped (its text session
   takes min(4, cores) intra-op threads), ONNX with one thread (not shipped; for comparison),
   and the torch path (``runtime="torch"``) with 1 and 2 torch threads;
3. end to end with the shipped ONNX encoder, as the app's search worker runs it
   (``Searcher.query_vector`` then
   ``Searcher.search``: encode, search the 1M index, map ids to catalog rows), for the
   app's first page (``searchcontrol.FIRST_PAGE``, 200: what a large library answers first)
   and for the app's ``max_results`` (2,000, which follows); a query typed again
   is answered from the Searcher's LRU of query embeddings: also shown.

The index is searched with the text-like synthetic queries of ``search_scale.py`` (a
random-weight model's embeddings bear no relation to the synthetic photos), one per query.
Targets: text encoding p50 < 30 ms; end to end p50 < 50 ms.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's clipdesk, whatever is installed
sys.path.insert(0, str(ROOT / "benchmarks"))

import clipdesk  # noqa: E402, F401, I001  (its environment settings come before torch)
import numpy as np  # noqa: E402

# clipdesk.core.vectors before search_scale: it loads onnxruntime before usearch (usearch
# first makes onnxruntime's import crash, see vectors.py); search_scale imports usearch itself.
from clipdesk.core.vectors import INDEX_SETTINGS, VectorIndex  # noqa: E402, I001
import search_scale  # noqa: E402
from clipdesk.core import models  # noqa: E402
from clipdesk.core.catalog import Catalog  # noqa: E402
from clipdesk.core.search import Searcher  # noqa: E402

QUERIES = ["dog", "cat", "red car", "snow", "birthday cake", "sunset over the sea",
           "kids on a beach at sunset", "my grandmother in the garden", "wedding dress",
           "a bowl of ramen", "mountains with snow and a lake", "receipt"]
TARGET_ENCODE_MS = 30.0
TARGET_END_TO_END_MS = 50.0


def make_model(folder: Path) -> Path:
    if (folder / models.CONFIG_NAME).is_file() and (folder / models.WEIGHT_NAMES[0]).is_file():
        return folder
    from clipdesk.core.torch_encoder import import_open_clip

    open_clip = import_open_clip()
    import torch

    torch.manual_seed(0)
    print(f"saving a random-weight ViT-B-32 in {folder} ...", flush=True)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    return models.save_local_dir(model, open_clip.get_model_config("ViT-B-32"), folder)


def make_catalog(folder: Path, n: int, photos: np.ndarray):
    """A real catalog with ``n`` file rows (ids 1..n) and their stored f16 embeddings (the
    photos of ``search_scale``: what a quantized index re-scores from), made once. Returns
    (catalog, model row)."""
    catalog = Catalog(folder)
    model = catalog.model("benchmark-model", photos.shape[1])
    have = catalog.db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
    vectors = catalog.db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    if have != n or vectors != n:
        t = time.perf_counter()
        with catalog.write(changes_vectors=False) as db:
            db.execute("DELETE FROM files")
            db.execute("INSERT OR IGNORE INTO roots (id, path, added_at) VALUES (1, '/photos', 0)")
            for start in range(1, n + 1, 100_000):
                db.executemany(
                    "INSERT INTO files (id, root_id, path, size, mtime_ns, hash, taken_at, status,"
                    " updated_at) VALUES (?, 1, ?, 3000000, 1700000000000000000, ?, NULL, 'ok', 0)",
                    ((i, f"/photos/{i // 1000:04d}/IMG_{i:07d}.jpg", f"{i:064x}")
                     for i in range(start, min(n + 1, start + 100_000))))
            db.execute("DELETE FROM embeddings")
            for start in range(1, n + 1, 100_000):
                block = np.asarray(photos[start - 1:start - 1 + 100_000], dtype=np.float16)
                db.executemany(
                    "INSERT INTO embeddings (model_id, hash, vector) VALUES (?, ?, ?)",
                    ((model.id, f"{start + j:064x}", block[j].tobytes())
                     for j in range(len(block))))
        print(f"  made a catalog of {n:,} files in {time.perf_counter() - t:.0f} s", flush=True)
    return catalog, model


def percentiles(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), float(np.percentile(values, 95))


def timed_ms(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


class _Library:
    """What ``Searcher`` needs of a Library: the catalog and the vector index."""

    def __init__(self, catalog: Catalog, index: VectorIndex):
        self.catalog = catalog
        self._index = index

    def vectors(self, _model):
        return self._index


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=30, help="timed runs per query and figure")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads for the torch rows' default (default: torch's own)")
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    ap.add_argument("--index", default="",
                    help="DTYPE,CONNECTIVITY,EXPANSION_ADD,EXPANSION_SEARCH of the index to search"
                         " (default: the library's INDEX_SETTINGS), e.g. i8,48,128,512")
    args = ap.parse_args()
    import torch

    from clipdesk.core import onnx_encoder

    os.environ.setdefault("CLIPDESK_ONNX_CACHE", str(args.cache.resolve() / "onnx-cache"))
    args.threads = args.threads or torch.get_num_threads()
    print(f"query_latency: n={args.n:,}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f};"
          f" index {INDEX_SETTINGS}")
    folder = make_model(args.cache / "model-ViT-B-32-random")
    spec = models.ModelSpec.parse(f"local-dir:{folder}")
    encoder = models.load(spec, device="cpu", download=False, runtime="onnx")  # as shipped
    encoder.load_text()
    one_thread = models.load(spec, device="cpu", download=False, runtime="onnx")
    real_count = onnx_encoder.os.cpu_count
    onnx_encoder.os.cpu_count = lambda: 1  # its text session gets 1 intra-op thread
    try:
        one_thread.load_text()
    finally:
        onnx_encoder.os.cpu_count = real_count
    torch_enc = models.load(spec, device="cpu", download=False, runtime="torch")
    tokens = {q: torch_enc.tokenizer([q]) for q in QUERIES}

    onnx_threads = min(4, os.cpu_count() or 1)
    cases = {  # name: (fn, torch threads or None, threads shown)
        "ONNX (shipped): tokenize + up to the end token":
            (lambda q: encoder.encode_texts([q]), None, f"{onnx_threads} threads"),
        "ONNX, 1 intra-op thread (not shipped)":
            (lambda q: one_thread.encode_texts([q]), None, "1 thread"),
    }
    for threads in (1, 2):
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        cases[f"baseline: torch encode_text, 77 positions ({threads})"] = (
            lambda q: torch_enc.model.encode_text(tokens[q], normalize=True), threads, label)
        cases[f"torch path: tokenize + up to the end token ({threads})"] = (
            lambda q: torch_enc.encode_texts([q]), threads, label)
    wall: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    with torch.inference_mode():
        for q in QUERIES:  # every case on every query, interleaved
            for fn, threads, _ in cases.values():
                if threads:
                    torch.set_num_threads(threads)
                fn(q)  # warm
            for rep in range(max(3, args.repeats // 3)):
                order = list(cases.items())
                for name, (fn, threads, _) in (order if rep % 2 == 0 else order[::-1]):
                    if threads:
                        torch.set_num_threads(threads)
                    c = time.process_time()
                    wall[name] += timed_ms(lambda q=q, fn=fn: fn(q), 1)
                    cpu[name].append((time.process_time() - c) * 1000)

    print(f"\ntext encoding, ms (p50 / p95 over all queries, interleaved; CPU-ms p50); load "
          f"{os.getloadavg()[0]:.1f}:")
    rows: dict[str, float] = {}
    for name, (_, _, label) in cases.items():
        p50, p95 = percentiles(wall[name])
        rows[name] = p50
        print(f"  {name:50s} {label:>9s}  {p50:6.1f} / {p95:6.1f}   cpu "
              f"{statistics.median(cpu[name]):6.1f}")
    onnx_p50 = rows["ONNX (shipped): tokenize + up to the end token"]
    for threads in (1, 2):
        base = rows[f"baseline: torch encode_text, 77 positions ({threads})"]
        mine = rows[f"torch path: tokenize + up to the end token ({threads})"]
        print(f"  torch, {threads} thread(s): the truncated tower is {base / mine:.1f}x faster "
              f"than encode_text; ONNX (shipped) is {mine / onnx_p50:.2f}x the torch path's speed")
    torch.set_num_threads(args.threads)
    enc_p50 = onnx_p50

    scale = args.cache / "scale"
    photos, queries, _truth = search_scale.dataset(args.n, 500, scale)
    settings = {k: INDEX_SETTINGS[k] for k in ("dtype", "connectivity", "expansion_add")}
    ef = INDEX_SETTINGS["expansion_search"]
    if args.index:
        dtype, m, ea, ef = args.index.split(",")
        settings = {"dtype": dtype, "connectivity": int(m), "expansion_add": int(ea)}
        ef = int(ef)
    path = scale / (f"index-n{args.n}-s{search_scale.SEED}-{settings['dtype']}"
                    f"-c{settings['connectivity']}-ea{settings['expansion_add']}.usearch")
    search_scale.build(photos, settings, path)
    from usearch.index import Index

    t = time.perf_counter()
    index = VectorIndex(photos.shape[1], Index.restore(str(path)))
    index.index.expansion_search = ef
    print(f"\nindex of {len(index):,} ({settings}, expansion_search {ef}) opened in"
          f" {time.perf_counter() - t:.2f} s")
    catalog, model_row = make_catalog(scale / f"catalog-n{args.n}", args.n, photos)
    index.stored = functools.partial(catalog.stored_vectors, model_row)  # as a library's
    print(f"  re-scoring from the catalog's vectors: {index.quantized}")
    searcher = Searcher(_Library(catalog, index), None, lambda: encoder)
    synthetic = {q: queries[i % len(queries)] for i, q in enumerate(QUERIES)}

    print(f"\nend to end at {args.n:,} photos, ms (p50 / p95), ONNX Runtime (shipped):")
    results = {}
    from clipdesk.ui.searchcontrol import FIRST_PAGE

    for count in (FIRST_PAGE, 2000):
        for cached in (False, True):
            times, parts = [], {"encode": [], "search": [], "map ids": []}
            for q in QUERIES:
                for _ in range(max(3, args.repeats // 3)):
                    if not cached:
                        searcher._text_cache.clear()
                    t0 = time.perf_counter()
                    searcher.query_vector([q])  # what the worker runs: encoded (or the LRU's)
                    vec = synthetic[q]  # ... and searched for a library-shaped query
                    t1 = time.perf_counter()
                    keys, _scores = index.search(vec, count)
                    t2 = time.perf_counter()
                    hits = searcher._hits(keys, _scores, searcher_filters(), set())
                    t3 = time.perf_counter()
                    assert len(hits) == count
                    times.append((t3 - t0) * 1000)
                    for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                        parts[k].append(v * 1000)
            p50, p95 = percentiles(times)
            results[(count, cached)] = p50
            split = ", ".join(f"{k} {statistics.median(v):.1f}" for k, v in parts.items())
            label = f"top {count:>5,}{', query in the LRU' if cached else ''}"
            print(f"  {label:30s} {p50:6.1f} / {p95:6.1f}   (p50 parts: {split})")

    print(f"\nTargets: text encoding (ONNX) p50 < {TARGET_ENCODE_MS:.0f} ms: {enc_p50:.1f} ms"
          f" ({'met' if enc_p50 < TARGET_ENCODE_MS else 'MISSED'}); end to end p50 <"
          f" {TARGET_END_TO_END_MS:.0f} ms: the app's first page (top {FIRST_PAGE})"
          f" {results[(FIRST_PAGE, False)]:.1f} ms"
          f" ({'met' if results[(FIRST_PAGE, False)] < TARGET_END_TO_END_MS else 'MISSED'}),"
          f" top 2,000 {results[(2000, False)]:.1f} ms"
          f" ({'met' if results[(2000, False)] < TARGET_END_TO_END_MS else 'MISSED'})")


def searcher_filters():
    from clipdesk.core.search import Filters

    return Filters()


if __name__ == "__main__":
    main()
