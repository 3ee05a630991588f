"""I/O faults are reported, not fatal: a full disk, a read-only library, a photo folder that
becomes unreadable. Each gives a clear message, keeps what was done, and the work resumes
when the fault clears. Runs the real CLI; file permissions hold even for root (setpriv)."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hostile
import tinyclip

# file-size limits (the "full disk") and POSIX permission bits; Windows has neither
resource = pytest.importorskip("resource", reason="needs POSIX rlimits and permissions")


def make_photos(folder: Path, n: int, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        color, shape = tinyclip.CLASSES[i % len(tinyclip.CLASSES)]
        tinyclip.draw_shape(color, shape, rng, size=(320, 240)).save(folder / f"{seed}-{i}.jpg")


def clipdesk(*args: str, file_size_limit: int | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:  # the disk "fills up" at this file size: writes fail with EFBIG
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    return subprocess.run(
        [*hostile.drop_permissions(), sys.executable, "-m", "clipdesk", *args],
        capture_output=True, text=True, timeout=300,
        preexec_fn=limit if file_size_limit else None)


def status(lib: list[str]) -> dict:
    res = clipdesk("status", "--json", *lib)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def error_line(res: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("clipdesk: error: ")]
    assert len(lines) == 1, res.stderr
    return lines[0]


@pytest.fixture
def indexed(tmp_path, random_model):
    photos = tmp_path / "photos"
    make_photos(photos / "a", 8, seed=1)
    make_photos(photos / "b", 8, seed=2)
    library = tmp_path / "lib"
    lib = ["--library", str(library), "--model", random_model]
    res = clipdesk("index", str(photos), *lib)
    assert res.returncode == 0, res.stderr
    return photos, library, lib


def test_full_disk_stops_with_a_message_and_loses_nothing(indexed):
    photos, library, lib = indexed
    index_file = next((library / "index").glob("*.usearch"))
    saved = index_file.read_bytes()
    make_photos(photos / "c", 60, seed=3)
    catalog = library / "catalog.sqlite3"
    res = clipdesk("index", *lib, "--batch-size", "4",
                   file_size_limit=catalog.stat().st_size + 16_384)
    assert res.returncode == 2, res.stderr
    assert "could not save to the library" in error_line(res)
    assert "Nothing was lost" in res.stderr
    with sqlite3.connect(catalog) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert index_file.read_bytes() == saved  # the last good index, untouched
    st = status(lib)
    assert st["indexed"] >= 16 and st["indexed"] < 76
    found = clipdesk("search", "a red circle", "-n", "100", "--json", *lib)
    assert found.returncode == 0 and len(json.loads(found.stdout)) == st["indexed"]

    res = clipdesk("index", *lib)  # space again: it finishes, embedding only what was left
    assert res.returncode == 0, res.stderr
    assert f"{76 - st['indexed']} embedded" in res.stdout
    assert (status(lib)["indexed"], status(lib)["pending"]) == (76, 0)


def test_read_only_library_can_be_searched_but_not_updated(indexed):
    photos, library, lib = indexed
    before = {p: p.read_bytes() for p in library.rglob("*") if p.is_file()}
    make_photos(photos / "c", 2, seed=3)
    paths = sorted(library.rglob("*"), reverse=True) + [library]
    try:
        for p in paths:
            p.chmod(p.stat().st_mode & ~0o222)
        found = clipdesk("search", "a red circle", "-n", "3", "--json", *lib)
        assert found.returncode == 0, found.stderr
        assert len(json.loads(found.stdout)) == 3
        res = clipdesk("index", *lib)
        assert res.returncode == 2
        assert "can be searched, but updating it needs a folder" in error_line(res)
        assert {p: p.read_bytes() for p in library.rglob("*") if p.is_file()} == before
    finally:
        for p in paths:
            p.chmod(p.stat().st_mode | 0o200)
    res = clipdesk("index", *lib)
    assert res.returncode == 0, res.stderr
    assert "2 embedded" in res.stdout


def test_unreadable_photo_folder_keeps_its_photos_until_readable_again(indexed):
    photos, library, lib = indexed
    (photos / "b").chmod(0)
    try:
        res = clipdesk("index", *lib)
        assert res.returncode == 0, res.stderr
        assert f"cannot read folder {photos / 'b'}" in res.stderr
        assert "0 removed" in res.stdout
        assert status(lib)["indexed"] == 16
    finally:
        (photos / "b").chmod(0o755)
    make_photos(photos / "b", 1, seed=4)
    res = clipdesk("index", *lib)
    assert res.returncode == 0, res.stderr
    assert "1 embedded" in res.stdout and "0 removed" in res.stdout
    assert status(lib)["indexed"] == 17
