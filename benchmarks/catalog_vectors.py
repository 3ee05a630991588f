"""Re-scoring reads at 1M photos: the catalog's stored vectors in schema 3's layout (WITHOUT
ROWID rows, each 1 KB vector overflowing to a 4 KB page of its own) against schema 4's (rowid
tables), in the same run; and what the migration from one to the other costs.

    python benchmarks/catalog_vectors.py [--n 1000000] [--keys 200] [--repeats 40]
        [--no-migrate] [--cache DIR]

A quantized index re-scores its candidates exactly from the catalog
(``Catalog.stored_vectors``): the app's first page at 1M photos asks for 200 of them, at random
places in the catalog. This measures that call on both layouts, interleaved:

* **cold**: the catalog file evicted from the OS page cache before each call
  (``posix_fadvise(DONTNEED)``) and SQLite's own cache emptied (``PRAGMA shrink_memory``):
  what a search meets after the machine has used its memory for something else;
* **warm**: the same keys again at once.

It uses ``query_latency.py``'s 1M catalog (``benchmarks/.cache/scale/catalog-n{N}``, made if
missing, in minutes) and keeps a copy of it in schema 3's layout beside it (made once, as
``tests/oldlibrary.py`` takes a library back). With ``--no-migrate`` it skips timing a
migration of a fresh copy of the schema-3 catalog (a copy of ~5 GB at 1M).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's clipdesk, whatever is installed
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
import query_latency  # noqa: E402
import search_scale  # noqa: E402

import oldlibrary  # noqa: E402
from clipdesk.core.catalog import CATALOG_NAME, Catalog  # noqa: E402


def unmigrated(folder: Path) -> Catalog:
    """A Catalog on ``folder`` as it is: the schema-3 copy must stay schema 3."""
    catalog = Catalog.__new__(Catalog)
    catalog.folder, catalog.path = folder, folder / CATALOG_NAME
    catalog.read_only, catalog._local = False, threading.local()
    return catalog


def evict(catalog: Catalog) -> None:
    """Out of the OS page cache and out of SQLite's: the next read comes from the disk."""
    catalog.db.execute("PRAGMA shrink_memory")
    for path in (catalog.path, catalog.path.with_name(catalog.path.name + "-wal")):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def size_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=200, help="keys per call (the app's first page)")
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--no-migrate", action="store_true")
    ap.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    args = ap.parse_args()
    scale = args.cache / "scale"
    print(f"catalog_vectors: n={args.n:,}, {args.keys} keys a call, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")
    new_folder = scale / f"catalog-n{args.n}"
    old_folder = scale / f"catalog-n{args.n}-schema3"
    if not (old_folder / CATALOG_NAME).is_file():
        photos, _, _ = search_scale.dataset(args.n, 500, scale)
        catalog, _ = query_latency.make_catalog(new_folder, args.n, photos)
        catalog.close()
        shutil.copytree(new_folder, old_folder)
        oldlibrary.take_back(old_folder, 3)
        print(f"  made the schema-3 copy {old_folder}")

    if not args.no_migrate:
        trial = scale / f"catalog-n{args.n}-migrating"
        shutil.rmtree(trial, ignore_errors=True)
        shutil.copytree(old_folder, trial)
        before = size_mib(trial)
        t = time.perf_counter()
        Catalog(trial).close()
        took = time.perf_counter() - t
        print(f"\nmigration 3 -> 4 of {args.n:,} photos (rewrite + VACUUM): {took:.1f} s; "
              f"{before:,.0f} MiB -> {size_mib(trial):,.0f} MiB")
        shutil.rmtree(trial, ignore_errors=True)

    new = Catalog(new_folder)  # migrates query_latency's catalog once, if it is schema 3
    layouts = {"schema 3 (WITHOUT ROWID, overflow pages)": unmigrated(old_folder),
               "schema 4 (rowid tables)": new}
    models = {name: c.model("benchmark-model", 512) for name, c in layouts.items()}
    rng = np.random.default_rng(1)
    cold: dict[str, list[float]] = {name: [] for name in layouts}
    warm: dict[str, list[float]] = {name: [] for name in layouts}
    for rep in range(args.repeats):
        keys = [int(k) for k in rng.choice(args.n, args.keys, replace=False) + 1]
        order = list(layouts.items())
        for name, catalog in order if rep % 2 == 0 else order[::-1]:
            evict(catalog)
            for times in (cold[name], warm[name]):
                t = time.perf_counter()
                got = catalog.stored_vectors(models[name], keys)
                times.append((time.perf_counter() - t) * 1000)
                assert len(got) == len(keys)

    print(f"\nstored_vectors of {args.keys} random photos, ms (p50 / p95 of {args.repeats}); "
          f"load {os.getloadavg()[0]:.1f}:")
    p50 = {}
    for name, catalog in layouts.items():
        mib = size_mib(catalog.folder)
        p50[name] = statistics.median(cold[name])
        print(f"  {name:42s} cold {p50[name]:6.1f} / {np.percentile(cold[name], 95):6.1f}"
              f"   warm {statistics.median(warm[name]):5.1f} / {np.percentile(warm[name], 95):5.1f}"
              f"   file {mib:,.0f} MiB ({mib * 2**20 / args.n / 1024:.2f} KiB a photo)")
    old_p50, new_p50 = p50.values()
    print(f"  cold p50: schema 4 is {old_p50 / new_p50:.2f}x faster")


if __name__ == "__main__":
    main()
