"""A killed `clipdesk index` (SIGKILL or Ctrl-C) loses nothing committed and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

import tinyclip
from clipdesk.core.library import Library
from clipdesk.core.models import ModelSpec
from usercli import run_cli

N_PHOTOS = 160


@pytest.fixture(scope="module")
def many_photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(7)
    for i in range(N_PHOTOS):
        color, shape = tinyclip.CLASSES[i % len(tinyclip.CLASSES)]
        tinyclip.draw_shape(color, shape, rng, size=(480, 360)).save(folder / f"{i:03d}.jpg")
    return folder


def indexed_paths(library) -> set[str]:
    with sqlite3.connect(library / "catalog.sqlite3") as db:
        rows = db.execute(
            "SELECT f.path FROM files f JOIN embeddings e ON e.hash = f.hash WHERE f.status = 'ok'"
        ).fetchall()
    return {r[0] for r in rows}


def start_index(folder, library, model):
    return subprocess.Popen(
        [sys.executable, "-m", "clipdesk", "index", str(folder), "--library", str(library),
         "--model", model, "--batch-size", "4", "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_for_some(library, at_least: int, proc, timeout=120.0) -> set[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (library / "catalog.sqlite3").exists():
            try:
                done = indexed_paths(library)
            except sqlite3.OperationalError:
                done = set()
            if len(done) >= at_least:
                return done
        assert proc.poll() is None, "indexing finished before it could be interrupted"
        time.sleep(0.05)
    raise AssertionError("indexing made no progress")


def check_library(library, model, expect: int) -> None:
    with sqlite3.connect(library / "catalog.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT path) FROM files").fetchone() == (
            expect, expect)
    lib = Library(library)
    row = lib.model_row(ModelSpec.parse(model))
    assert lib.catalog.indexed_count(row) == expect
    assert len(lib.vectors(row)) == expect
    lib.close()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_index_resumes_without_loss_or_duplicates(tmp_path, many_photos, random_model, sig):
    library = tmp_path / "lib"
    proc = start_index(many_photos, library, random_model)
    before = wait_for_some(library, 12, proc)
    os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        assert "Stopped early" in out and "again to continue" in out
    else:
        assert proc.returncode == -signal.SIGKILL
    after_kill = indexed_paths(library)
    assert before <= after_kill, "photos reported indexed before the kill were lost"
    assert len(after_kill) < N_PHOTOS

    res = run_cli("index", "--library", str(library), "--model", random_model)
    assert res.returncode == 0, res.stderr
    # the rest is embedded; what was done before is not embedded again
    assert f"{N_PHOTOS - len(after_kill)} embedded" in res.stdout
    check_library(library, random_model, N_PHOTOS)
    status = json.loads(run_cli("status", "--json", "--library", str(library)).stdout)
    assert (status["indexed"], status["pending"], status["failed"]) == (N_PHOTOS, 0, [])
