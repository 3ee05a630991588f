"""Watched folders through the real watchdog observer on real files."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import tinyclip
from clipdesk.core import models
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.search import Searcher
from clipdesk.core.watcher import LIVE, OFFLINE, POLLING, LiveIndexer, Watcher, ignored


@pytest.fixture(scope="module")
def encoder(random_model):
    return models.load(models.ModelSpec.parse(random_model), device="cpu")


def photo(path: Path, seed: int = 0, color="red", shape="circle") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = tinyclip.draw_shape(color, shape, np.random.default_rng(seed), size=(160, 120))
    tmp = path.parent / f".{path.name}.writing"  # hidden while written, like a careful copier
    img.save(tmp, format="JPEG", quality=90)
    tmp.rename(path)
    return path


def rows(lib_dir: Path) -> dict[str, str]:
    """{path: status} of every file in the catalog."""
    with sqlite3.connect(lib_dir / "catalog.sqlite3") as db:
        return dict(db.execute("SELECT path, status FROM files").fetchall())


def wait_until(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Live:
    """A LiveIndexer running on its own thread, as the app and `clipdesk watch` run it."""

    def __init__(self, lib_dir: Path, encoder, roots: list[Path], polling=frozenset()):
        self.lib_dir = lib_dir
        self.library = Library(lib_dir)
        for root in roots:
            self.library.catalog.add_root(root)
        self.indexer = Indexer(self.library, encoder, on_progress=lambda *_: None)
        self.watcher = Watcher(roots, quiet=0.3, poll_interval=0.3, polling=polling)
        self.batches = []
        self.live = LiveIndexer(self.indexer, self.watcher,
                                on_batch=lambda report, _messages: self.batches.append(report))
        self.thread = threading.Thread(target=self.live.run, daemon=True)
        self.thread.start()
        wait_until(lambda: self.batches, what="the start-up reconcile")

    def stop(self):
        self.live.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()
        self.library.close()  # as `clipdesk watch` does at exit: the writer lock goes with it

    def status(self, path: Path):
        return rows(self.lib_dir).get(str(path))

    def looked_again(self, times: int = 2) -> None:
        """Wait until the watch loop has taken ``times`` more steps (each one takes every
        settled change): what it would have done with earlier events, it has done."""
        start = self.live.steps
        wait_until(lambda: self.live.steps >= start + times, what="more watch-loop steps")


@pytest.fixture
def live(tmp_path, encoder):
    root = tmp_path / "photos"
    root.mkdir()
    running = Live(tmp_path / "lib", encoder, [root])
    yield running, root
    running.stop()


def test_new_photo_appears_and_is_found_by_search(live, encoder, tmp_path):
    lw, root = live
    new = photo(root / "sub" / "new.jpg", seed=1)
    wait_until(lambda: lw.status(new) == "ok", what="the new photo to be indexed")
    reader = Library(tmp_path / "lib")  # another reader, as another process would be
    searcher = Searcher(reader, reader.model_row(encoder.spec), lambda: encoder)
    assert searcher.search(searcher.image_vector(new), 1)[0].path == str(new)


def test_rename_and_move_keep_the_embedding_without_clip(live, encoder):
    lw, root = live
    first = photo(root / "a.jpg", seed=2)
    wait_until(lambda: lw.status(first) == "ok")
    calls = encoder.image_calls
    renamed = root / "b.jpg"
    first.rename(renamed)
    wait_until(lambda: lw.status(renamed) == "ok" and lw.status(first) is None, what="rename")
    (root / "deeper" / "still").mkdir(parents=True)
    moved = root / "deeper" / "still" / "c.jpg"
    renamed.rename(moved)
    wait_until(lambda: lw.status(moved) == "ok" and lw.status(renamed) is None, what="move")
    assert encoder.image_calls == calls
    assert list(rows(lw.lib_dir)) == [str(moved)]


def test_modified_photo_is_embedded_again(live, encoder):
    lw, root = live
    p = photo(root / "m.jpg", seed=3)
    wait_until(lambda: lw.status(p) == "ok")
    before = lw.library.catalog.file_by_path(str(p)).hash
    calls = encoder.image_calls
    photo(root / "m.jpg", seed=4, color="blue", shape="square")
    wait_until(lambda: Library(lw.lib_dir).catalog.file_by_path(str(p)).hash != before,
               what="the new content")
    assert encoder.image_calls == calls + 1


def test_moves_in_and_out_of_the_roots_and_deletions(live, tmp_path):
    lw, root = live
    outside = tmp_path / "outside"
    album = outside / "album"
    for i in range(3):
        photo(album / f"{i}.jpg", seed=10 + i)
    shutil.move(str(album), str(root / "album"))  # a folder moved in
    inside = [root / "album" / f"{i}.jpg" for i in range(3)]
    wait_until(lambda: all(lw.status(p) == "ok" for p in inside), what="moved-in folder")
    shutil.move(str(inside[0]), str(outside / "gone.jpg"))  # a photo moved out
    inside[1].unlink()  # a photo deleted
    wait_until(lambda: set(rows(lw.lib_dir)) == {str(inside[2])}, what="move out and delete")
    shutil.rmtree(root / "album")  # a folder deleted
    wait_until(lambda: rows(lw.lib_dir) == {}, what="folder deletion")


def test_partial_and_hidden_files_are_ignored(live):
    lw, root = live
    for name in ["x.jpg.part", "y.jpg.crdownload", ".hidden.jpg", "~$lock.jpg", ".DS_Store",
                 "._x.jpg"]:
        (root / name).write_bytes(b"partial")
    real = photo(root / "real.jpg", seed=5)
    wait_until(lambda: lw.status(real) == "ok")
    # the ignored files came first: once the loop has settled everything and looked again,
    # they would be in the catalog by now if they were not ignored
    wait_until(lambda: lw.watcher.pending_count == 0, what="nothing pending")
    lw.looked_again()
    assert list(rows(lw.lib_dir)) == [str(real)]
    assert all(ignored(n) for n in ["a.part", ".b.jpg", "~$c", "Thumbs.db"])
    assert not ignored("/x/.y/holiday.jpg")  # only the file's own name decides here


def test_half_written_file_waits_until_it_is_complete(live):
    lw, root = live
    src = photo(root.parent / "staging" / "big.jpg", seed=6)
    data = src.read_bytes()
    target = root / "big.jpg"
    with open(target, "wb") as fh:
        fh.write(data[: len(data) // 2])
        fh.flush()
        # a slow copy: the watcher has seen the write, the quiet period has passed, and the
        # loop has taken steps since; the file is still open, so it must not have been read
        wait_until(lambda: str(target) in lw.watcher._pending, what="the write event")
        quiet_until = time.monotonic() + lw.watcher.quiet
        wait_until(lambda: time.monotonic() > quiet_until, what="the quiet period")
        lw.looked_again(3)
        assert lw.status(target) in (None, "pending"), "a half-written photo was read"
        assert str(target) in lw.watcher._pending
        fh.write(data[len(data) // 2:])
    wait_until(lambda: lw.status(target) == "ok", what="the completed photo")


@pytest.mark.slow
def test_burst_of_2000_files_is_indexed_once_each(live, encoder):
    lw, root = live
    rng = np.random.default_rng(0)
    staging = root.parent / "burst-staging"
    staging.mkdir()
    for i in range(2000):
        color, shape = tinyclip.CLASSES[i % 12]
        tinyclip.draw_shape(color, shape, rng, size=48).save(staging / f"{i:04d}.png")
    calls = encoder.image_calls
    shutil.copytree(staging, root / "burst")
    wait_until(lambda: sum(s == "ok" for s in rows(lw.lib_dir).values()) == 2000, timeout=300,
               what="the whole burst")
    # late events must not cause a second embedding: let every one settle and be taken
    wait_until(lambda: lw.watcher.pending_count == 0, timeout=60, what="late events")
    lw.looked_again()
    assert encoder.image_calls - calls == 2000
    assert len(lw.library.vectors(lw.library.model_row(encoder.spec))) == 2000


@pytest.mark.allow_log("clipdesk.core.watcher", r"is not available \(offline\); its photos are kept")
def test_root_unplugged_and_back_keeps_photos_without_re_embedding(live, encoder):
    lw, root = live
    p = photo(root / "keep.jpg", seed=7)
    wait_until(lambda: lw.status(p) == "ok")
    calls = encoder.image_calls
    away = root.parent / "unplugged"
    root.rename(away)  # the drive goes away
    wait_until(lambda: lw.watcher.states[root] == OFFLINE, what="offline state")
    lw.looked_again(3)  # each step syncs roots that went away; none may drop the photos
    assert lw.status(p) == "ok", "an offline root's photos must be kept"
    away.rename(root)  # and comes back
    wait_until(lambda: lw.watcher.states[root] == LIVE, what="live again")
    newer = photo(root / "while-back.jpg", seed=8)
    wait_until(lambda: lw.status(newer) == "ok", what="watching resumed")
    assert encoder.image_calls == calls + 1  # only the new photo


def test_changes_while_nothing_ran_are_reconciled_at_start(tmp_path, encoder):
    root = tmp_path / "photos"
    keep, drop = photo(root / "keep.jpg", 1), photo(root / "drop.jpg", 2)
    lw = Live(tmp_path / "lib", encoder, [root])
    wait_until(lambda: lw.status(keep) == "ok" and lw.status(drop) == "ok")
    lw.stop()
    drop.unlink()
    added = photo(root / "added.jpg", 3)
    keep.rename(root / "renamed.jpg")
    calls = encoder.image_calls
    lw = Live(tmp_path / "lib", encoder, [root])
    try:
        assert set(rows(tmp_path / "lib")) == {str(root / "renamed.jpg"), str(added)}
        assert encoder.image_calls == calls + 1
    finally:
        lw.stop()


@pytest.mark.allow_log("clipdesk.core.watcher", "limit on watched folders is reached")
def test_polling_fallback_when_the_watch_limit_is_reached(tmp_path, encoder):
    class LimitedWatcher(Watcher):
        def _schedule_native(self, root):
            raise OSError(28, "inotify watch limit reached")

    root = tmp_path / "photos"
    root.mkdir()
    lw = Live.__new__(Live)
    lw.lib_dir = tmp_path / "lib"
    lw.library = Library(lw.lib_dir)
    lw.library.catalog.add_root(root)
    lw.indexer = Indexer(lw.library, encoder, on_progress=lambda *_: None)
    lw.watcher = LimitedWatcher([root], quiet=0.3, poll_interval=0.3)
    lw.batches, messages = [], []

    def on_batch(report, notes):
        lw.batches.append(report)
        messages.extend(notes)

    lw.live = LiveIndexer(lw.indexer, lw.watcher, on_batch=on_batch)
    lw.thread = threading.Thread(target=lw.live.run, daemon=True)
    lw.thread.start()
    try:
        wait_until(lambda: lw.watcher.states.get(root) == POLLING, what="polling state")
        wait_until(lambda: any("limit" in m for m in messages), what="the note saying why")
        p = photo(root / "polled.jpg", 9)
        wait_until(lambda: lw.status(p) == "ok", what="indexing by polling")
    finally:
        lw.stop()
