"""Fault injection: kill `clipdesk index` and `clipdesk watch` with SIGKILL at random moments
and check, after every kill, that the library kept its promises.

    .venv/bin/python benchmarks/crash_trials.py [--trials 50] [--seed 1] [--photos 150]

Works offline: the model is a tiny open_clip with random weights (tests/tinyclip.py), the
photos are generated. One library lives through all trials, as a user's would. Before each
trial the photo folder changes (photos added, deleted, renamed, rewritten) so that every run
has work to do; a `watch` trial also drops photos in while it runs. A watcher process (a
plain SQLite reader) records which photos are indexed up to the moment of the kill.

After each kill:
  1. ``PRAGMA integrity_check`` is ok;
  2. every photo seen indexed before the kill (and still on disk) is still indexed;
  3. the usearch index, as ClipDesk opens it, holds exactly the catalog's indexed photos;
     if the saved file claims to be current, it holds them without any healing;
  4. the next `clipdesk index` completes; then every photo on disk is indexed exactly once
     (no duplicate rows, one vector per photo, one embedding per distinct content).

Prints every trial's seed and outcome, and the totals: trials run, trials survived.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import tinyclip  # noqa: E402
from clipdesk.core.library import Library  # noqa: E402
from clipdesk.core.models import ModelSpec  # noqa: E402
from clipdesk.core.vectors import index_path, open_index  # noqa: E402


@dataclass
class Trial:
    number: int
    seed: int
    command: str
    killed_after: float = 0.0
    seen_before: int = 0
    left_at_kill: int = 0  # photos on disk not yet indexed when it was killed
    problems: list[str] = field(default_factory=list)

    @property
    def survived(self) -> bool:
        return not self.problems


def _photo(folder: Path, rng: np.random.Generator, name: str) -> Path:
    color, shape = tinyclip.CLASSES[int(rng.integers(len(tinyclip.CLASSES)))]
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name("." + path.name + ".tmp")  # hidden while written, then renamed in
    tinyclip.draw_shape(color, shape, rng, size=(int(rng.integers(200, 480)), 240)).save(
        tmp, "JPEG")
    os.replace(tmp, path)
    return path


def on_disk(photos: Path) -> set[str]:
    return {str(p) for p in photos.rglob("*.jpg") if not p.name.startswith(".")}


def indexed(library: Path) -> set[str]:
    db = sqlite3.connect(f"file:{library / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute("SELECT f.path FROM files f JOIN embeddings e ON e.hash = f.hash "
                          "WHERE f.status = 'ok'").fetchall()
    finally:
        db.close()
    return {r[0] for r in rows}


def catalog_version(library: Path) -> str | None:
    """Bumped by every write the indexer makes (see clipdesk.core.catalog)."""
    try:
        db = sqlite3.connect(f"file:{library / 'catalog.sqlite3'}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return None


def change_photos(photos: Path, rng: np.random.Generator, count: int) -> None:
    """Some new photos, and a few deleted, renamed and rewritten ones."""
    existing = sorted(on_disk(photos))
    for path in rng.permutation(existing)[: max(1, len(existing) // 30)]:
        Path(path).unlink()
    existing = sorted(on_disk(photos))
    for path in rng.permutation(existing)[: max(1, len(existing) // 30)]:
        Path(path).rename(Path(path).with_name("renamed-" + Path(path).name))
    existing = sorted(on_disk(photos))
    for path in rng.permutation(existing)[: max(1, len(existing) // 40)]:
        _photo(Path(path).parent, rng, Path(path).name)
    for _ in range(count):
        _photo(photos / f"sub{int(rng.integers(4))}", rng, f"p{rng.integers(1 << 40):x}.jpg")


def clipdesk(*args: str) -> list[str]:
    return [sys.executable, "-m", "clipdesk", *args]


def check(trial: Trial, library: Path, photos: Path, model: str, before: set[str]) -> None:
    """The promises after a kill (1-3), then a completing run (4)."""
    db = sqlite3.connect(library / "catalog.sqlite3")
    try:
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            trial.problems.append("integrity_check failed")
    finally:
        db.close()
    now = indexed(library)
    lost = {p for p in before - now if os.path.exists(p)}
    if lost:
        trial.problems.append(f"{len(lost)} photos indexed before the kill were lost")

    lib = Library(library)
    try:
        row = lib.model_row(ModelSpec.parse(model))
        if row is not None:
            want = set(lib.catalog.indexed_ids(row))
            path = index_path(library, ModelSpec.parse(model).slug)
            current = row.index_version == lib.catalog.version
            index, rebuilt = open_index(lib.catalog, row, path)
            keys = {int(k) for k in np.asarray(index.index.keys)}
            if keys != want:
                trial.problems.append(f"index holds {len(keys)} keys, catalog {len(want)}")
            if current and rebuilt:
                trial.problems.append("a saved index that claimed to be current was rebuilt")
    finally:
        lib.close()

    res = subprocess.run(clipdesk("index", "--library", str(library), "--model", model),
                         capture_output=True, text=True, timeout=600)
    if res.returncode != 0:
        trial.problems.append(f"the next run failed ({res.returncode}): {res.stderr[-300:]}")
        return
    disk = on_disk(photos)
    db = sqlite3.connect(library / "catalog.sqlite3")
    try:
        files, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT path) FROM files").fetchone()
        hashes = db.execute("SELECT COUNT(DISTINCT hash) FROM files").fetchone()[0]
        embeddings = db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
    finally:
        db.close()
    if indexed(library) != disk or files != len(disk) or distinct != files:
        trial.problems.append(f"after the next run: {files} rows for {len(disk)} photos")
    if embeddings != hashes:
        trial.problems.append(f"{embeddings} embeddings for {hashes} distinct contents")
    lib = Library(library)
    try:
        row = lib.model_row(ModelSpec.parse(model))
        if len(lib.vectors(row)) != len(disk):
            trial.problems.append(f"index holds {len(lib.vectors(row))} for {len(disk)} photos")
    finally:
        lib.close()


def run_trial(trial: Trial, library: Path, photos: Path, model: str) -> None:
    rng = np.random.default_rng(trial.seed)
    pick = random.Random(trial.seed)
    change_photos(photos, rng, count=int(rng.integers(10, 40)))
    args = ["--library", str(library), "--model", model, "--workers", "1"]
    if trial.command == "index":
        cmd = clipdesk("index", *args, "--batch-size", str(pick.choice([1, 4, 8])))
    else:
        cmd = clipdesk("watch", *args, "--poll-interval", "0.5")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    start = time.monotonic()
    before: set[str] = set()
    try:
        if trial.command == "watch":
            line = proc.stdout.readline()  # "Watching ..." once the start-up catch-up is done
            if not line.startswith("Watching") and pick.random() < 0.9:
                raise RuntimeError(f"watch did not start: {line!r}")
            for i in range(int(rng.integers(5, 25))):  # dropped in while it watches
                _photo(photos / "live", rng, f"live-{trial.number}-{i}.jpg")
        elif pick.random() < 0.85:  # mostly in the work itself: wait for its first write
            version = catalog_version(library)
            while proc.poll() is None and catalog_version(library) == version:
                time.sleep(0.01)
        # kill somewhere in the work: during start-up, during indexing, or while saving
        deadline = time.monotonic() + pick.uniform(0.0, 1.5 if trial.command == "index" else 2.0)
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                before = indexed(library)
            except sqlite3.Error:
                pass
            time.sleep(0.01)
        try:
            before = indexed(library)  # the last committed state before the kill
        except sqlite3.Error:
            pass
    finally:
        if proc.poll() is None:
            proc.kill()  # SIGKILL (TerminateProcess on Windows): no chance to clean up
        proc.wait()
    trial.killed_after = time.monotonic() - start
    trial.seen_before = len(before)
    trial.left_at_kill = len(on_disk(photos) - before)
    check(trial, library, photos, model, before)


def run_trials(n: int, seed: int, workdir: Path, photos_n: int = 150,
               report=print) -> list[Trial]:
    model_dir = tinyclip.random_model_dir(workdir / "model", seed=0)
    model = f"local-dir:{model_dir}"
    photos, library = workdir / "photos", workdir / "library"
    rng = np.random.default_rng(seed)
    for i in range(photos_n):
        _photo(photos / f"sub{i % 4}", rng, f"start-{i}.jpg")
    res = subprocess.run(clipdesk("index", str(photos), "--library", str(library),
                                  "--model", model), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    trials = []
    for i in range(n):
        trial = Trial(i + 1, seed * 1000 + i, "index" if i % 2 == 0 else "watch")
        try:
            run_trial(trial, library, photos, model)
        except Exception as exc:  # the harness itself: counted as a failed trial, shown
            trial.problems.append(f"harness: {type(exc).__name__}: {exc}")
        trials.append(trial)
        report(f"trial {trial.number:3d} seed {trial.seed} {trial.command:5s} killed after "
               f"{trial.killed_after:5.2f} s, {trial.seen_before:4d} indexed and "
               f"{trial.left_at_kill:3d} to go at the kill: "
               + ("survived" if trial.survived else "FAILED: " + "; ".join(trial.problems)))
    return trials


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--photos", type=int, default=150)
    args = parser.parse_args()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="clipdesk-crash-") as tmp:
        trials = run_trials(args.trials, args.seed, Path(tmp), args.photos)
    failed = [t for t in trials if not t.survived]
    print(f"\n{len(trials)} trials run ({sum(t.command == 'index' for t in trials)} index, "
          f"{sum(t.command == 'watch' for t in trials)} watch), {len(trials) - len(failed)} "
          f"survived, {len(failed)} failed; {time.monotonic() - start:.0f} s")
    mid = sum(t.left_at_kill > 0 for t in trials)
    print(f"{mid} kills landed with photos still to index, {len(trials) - mid} with none left "
          f"(during start-up catch-up, the final save, or idle watching)")
    if failed:
        print("failed seeds: " + ", ".join(str(t.seed) for t in failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
