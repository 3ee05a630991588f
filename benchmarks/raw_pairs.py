"""What folding RAW+JPEG pairs costs the app: the browse listing of a real catalog with pairs
folded (``browse.listing(pair_raws=True)``, the app's default) against the same listing
unfolded (the setting that shows both; what it cost before pairing), and folding a search's
2,000 hits (``pairs.fold_hits``) against building those hits' result columns.

    python benchmarks/raw_pairs.py [--rows 100000] [--repeat 5]

Works offline, without a model: the catalog is filled by a scan record (every photo pending,
which browsing lists). Three libraries of ``--rows`` files: JPEGs only; a camera's RAW+JPEG
folders (half the files RAW, each beside its JPEG); and JPEGs with 1% videos (their lengths
are read for the badge). Prints medians and the ratio to the unfolded listing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_catalog(folder: Path, rows: int, kind: str):
    from clipdesk.core.catalog import Catalog
    from clipdesk.core.scan import FoundFile

    catalog = Catalog(folder / "lib")
    root = folder / "photos"
    rid = catalog.add_root(root)
    found = {}
    for i in range(rows):
        sub = root / f"{2000 + i // 5000}" / f"{i // 500:04d}"
        if kind == "pairs":
            name = f"IMG_{i // 2:06d}.{'CR2' if i % 2 else 'JPG'}"
        elif kind == "videos" and i % 100 == 0:
            name = f"MOV_{i:06d}.mp4"
        else:
            name = f"IMG_{i:06d}.JPG"
        path = str(sub / name)
        found[path] = FoundFile(path, 1000, 1_600_000_000_000_000_000 + i * 10**9)
    catalog.record_scan(rid, found, {}, [])
    return catalog


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    from clipdesk.core import browse, pairs
    from clipdesk.core.search import Hit
    from clipdesk.ui.answers import ResultSet

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"browse listing of {args.rows:,} files, median of {args.repeat}:")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("jpegs", "pairs", "videos"):
            catalog = make_catalog(Path(tmp) / kind, args.rows, kind)
            plain = median_ms(lambda c=catalog: browse.listing(c), args.repeat)
            folded = median_ms(lambda c=catalog: browse.listing(c, pair_raws=True), args.repeat)
            shown = len(browse.listing(catalog, pair_raws=True))
            print(f"  {kind:7s} unfolded {plain:7.1f} ms   folded {folded:7.1f} ms   "
                  f"ratio {folded / plain:4.2f}   ({shown:,} tiles)")
            catalog.close()
    hits = [Hit(f"/p/{i // 2000:03d}/IMG_{i // 2:06d}.{'CR2' if i % 2 else 'JPG'}",
                1 - i / 4000, i, None) for i in range(2000)]
    columns = median_ms(lambda: ResultSet.from_hits(hits), args.repeat * 4)
    fold = median_ms(lambda: pairs.fold_hits(hits), args.repeat * 4)
    print(f"2,000 search hits, all in pairs: result columns {columns:.2f} ms, folding "
          f"{fold:.2f} ms (ratio {fold / columns:.2f})")


if __name__ == "__main__":
    main()
