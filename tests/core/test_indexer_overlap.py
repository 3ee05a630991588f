"""The indexer writes batch N on its commit thread while the model embeds batch N + 1 (issue
15): the same library as the serial path, a failed write raised from ``run`` with the batches
before it kept, and a stopped or interrupted run that saves an index holding every written
batch. Real SQLite, real usearch, the real tiny model."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from usearch.index import Index

import tinyclip
import videofiles
from clipdesk.core import indexer as indexer_module
from clipdesk.core import models
from clipdesk.core.catalog import Catalog
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.vectors import index_path
from videofiles import Scene

BATCH = 2


@pytest.fixture(scope="module")
def encoder(random_model):
    return models.load(models.ModelSpec.parse(random_model), device="cpu")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Nine photos of distinct content, a broken one and a short video."""
    folder = tmp_path_factory.mktemp("media")
    photos = tinyclip.photo_folder(folder, 9, seed=3)
    (folder / "broken.jpg").write_bytes(photos[0].read_bytes()[:300])
    videofiles.write(folder / "clip.mp4", [Scene("red-circle", 2), Scene("blue-square", 2)])
    return folder


def photos(folder: Path, n: int) -> Path:
    tinyclip.photo_folder(folder, n, seed=5)
    return folder


def state(library: Library, encoder) -> dict:
    """What a run left: every file's row, the catalog's vectors, the index's keys and vectors."""
    catalog = library.catalog
    model = library.model_row(encoder.spec)
    files = catalog.db.execute(
        "SELECT path, status, hash, reason, width, height, duration FROM files ORDER BY path"
    ).fetchall()
    keys, vectors = catalog.indexed_vectors(model)
    index = library.vectors(model)
    assert sorted(int(k) for k in index.index.keys) == sorted(int(k) for k in keys)
    in_index = np.asarray(index.index.get(keys, dtype=np.float32)).reshape(len(keys), -1)
    return {"files": files, "keys": keys, "vectors": vectors, "in_index": in_index}


def saved_index_matches_catalog(library_dir: Path, encoder) -> int:
    """Reopen the library: the saved index file is the one the catalog records for its version
    and holds exactly the catalog's indexed keys. Returns how many."""
    library = Library(library_dir)
    try:
        model = library.model_row(encoder.spec)
        assert model.index_version == library.catalog.version
        saved = Index.restore(str(index_path(library_dir, encoder.spec.slug)), view=False)
        wanted = sorted(library.catalog.indexed_ids(model))
        assert sorted(int(k) for k in saved.keys) == wanted
        assert len(saved) == library.catalog.indexed_count(model)
        return len(wanted)
    finally:
        library.close()


def record_writes(monkeypatch, delay: float = 0.0, before=None) -> list[dict]:
    """Wrap Catalog.record_outcomes: each call's thread and interval, after ``delay`` s;
    ``before(call number)`` runs first (it may raise)."""
    calls: list[dict] = []
    real = Catalog.record_outcomes

    def record_outcomes(self, model, outcomes):
        call = {"thread": threading.current_thread().name, "start": time.monotonic()}
        calls.append(call)
        if before is not None:
            before(len(calls))
        time.sleep(delay)
        real(self, model, outcomes)
        call["end"] = time.monotonic()

    monkeypatch.setattr(Catalog, "record_outcomes", record_outcomes)
    return calls


def record_encodes(monkeypatch, encoder, before=None) -> list[float]:
    """Wrap the encoder's encode_images: when each call starts; ``before(call number)`` first."""
    starts: list[float] = []
    real = encoder.encode_images

    def encode_images(batch):
        starts.append(time.monotonic())
        if before is not None:
            before(len(starts))
        return real(batch)

    monkeypatch.setattr(encoder, "encode_images", encode_images)
    return starts


def test_overlapped_run_gives_what_the_serial_run_gives(tmp_path, encoder, media):
    runs = {}
    for overlap in (False, True):
        library = Library(tmp_path / f"lib-{overlap}")
        progress = []
        indexer = Indexer(library, encoder, workers=2, batch_size=3, overlap_writes=overlap,
                          on_progress=lambda done, total, progress=progress: progress.append(
                              (done, total, threading.current_thread())))
        report = indexer.run([media])
        runs[overlap] = report, state(library, encoder), progress
        library.close()
        assert saved_index_matches_catalog(tmp_path / f"lib-{overlap}", encoder) > 0

    (serial, before, serial_progress), (overlapped, after, progress) = runs[False], runs[True]
    assert (overlapped.total, overlapped.todo, overlapped.embedded, overlapped.reused,
            overlapped.removed, overlapped.interrupted) == (
        serial.total, serial.todo, serial.embedded, serial.reused, serial.removed, False)
    assert (serial.total, serial.embedded) == (11, 10)  # nine photos and the video
    assert sorted(Path(p).name for p, _ in overlapped.failed) == ["broken.jpg"]
    assert sorted(overlapped.failed) == sorted(serial.failed)
    assert after["files"] == before["files"]
    assert np.array_equal(after["keys"], before["keys"])
    assert len(after["keys"]) > 10  # the video is in by its frames
    np.testing.assert_allclose(after["vectors"], before["vectors"], atol=2e-3)
    np.testing.assert_allclose(after["in_index"], before["in_index"], atol=2e-2)
    # progress: the same counts, in order, on the indexer's own thread
    assert [p[:2] for p in progress] == [p[:2] for p in serial_progress]
    assert progress[-1][:2] == (11, 11)
    assert {p[2] for p in progress} == {threading.current_thread()}


def test_a_failed_write_stops_the_run_and_keeps_the_batches_before(tmp_path, encoder,
                                                                    monkeypatch):
    folder = photos(tmp_path / "photos", 4 * BATCH)

    def fail_second(n):
        if n == 2:
            raise sqlite3.OperationalError("disk I/O error")

    calls = record_writes(monkeypatch, delay=0.05, before=fail_second)
    library = Library(tmp_path / "lib")
    indexer = Indexer(library, encoder, workers=2, batch_size=BATCH)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        indexer.run([folder])
    assert len(calls) == 2  # nothing written after the failed batch
    assert calls[1]["thread"].startswith("clipdesk-commit")
    catalog, model = library.catalog, library.model_row(encoder.spec)
    assert catalog.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert catalog.indexed_count(model) == BATCH
    assert len(library.vectors(model)) == BATCH
    assert sum(c["pending"] for c in catalog.counts(model.id).values()) == 3 * BATCH

    monkeypatch.undo()  # the disk is fixed
    report = Indexer(library, encoder, workers=2, batch_size=BATCH).run()
    assert (report.embedded, report.failed, report.interrupted) == (3 * BATCH, [], False)
    assert catalog.indexed_count(model) == 4 * BATCH
    library.close()
    assert saved_index_matches_catalog(tmp_path / "lib", encoder) == 4 * BATCH


def test_stop_waits_for_the_write_in_flight_before_saving(tmp_path, encoder, monkeypatch):
    folder = photos(tmp_path / "photos", 6 * BATCH)
    library = Library(tmp_path / "lib")
    indexer = Indexer(library, encoder, workers=2, batch_size=BATCH)

    def stop_at_second(n):  # from another thread, while the 2nd batch is being written
        if n == 2:
            indexer.stop()

    calls = record_writes(monkeypatch, delay=0.3, before=stop_at_second)
    report = indexer.run([folder])
    assert report.interrupted
    assert all("end" in c for c in calls)  # no write was still running when run returned
    assert len(calls) in (2, 3)  # the batch embedded while the 2nd was written is kept too
    assert report.embedded == len(calls) * BATCH
    library.close()
    assert saved_index_matches_catalog(tmp_path / "lib", encoder) == report.embedded


def test_ctrl_c_waits_for_the_write_in_flight_before_saving(tmp_path, encoder, monkeypatch):
    folder = photos(tmp_path / "photos", 5 * BATCH)

    def interrupt_third(n):  # Ctrl-C reaches the model's thread while batch 2 is written
        if n == 3:
            raise KeyboardInterrupt

    calls = record_writes(monkeypatch, delay=0.3)
    record_encodes(monkeypatch, encoder, before=interrupt_third)
    library = Library(tmp_path / "lib")
    report = Indexer(library, encoder, workers=2, batch_size=BATCH).run([folder])
    assert report.interrupted
    assert len(calls) == 2 and all("end" in c for c in calls)
    assert report.embedded == 2 * BATCH
    library.close()
    assert saved_index_matches_catalog(tmp_path / "lib", encoder) == 2 * BATCH


def test_periodic_saves_come_between_writes(tmp_path, encoder, monkeypatch):
    """The save every SAVE_EVERY_S holds every written batch and none half-written."""
    monkeypatch.setattr(indexer_module, "SAVE_EVERY_S", 0.0)  # a save at every batch
    folder = photos(tmp_path / "photos", 4 * BATCH)
    calls = record_writes(monkeypatch, delay=0.1)
    saves: list[tuple[int, bool]] = []
    real = Library.save_vectors

    def save_vectors(self, model, index=None):
        saves.append((len(calls), all("end" in c for c in calls)))
        real(self, model, index)

    monkeypatch.setattr(Library, "save_vectors", save_vectors)
    library = Library(tmp_path / "lib")
    Indexer(library, encoder, workers=2, batch_size=BATCH).run([folder])
    library.close()
    assert all(written for _, written in saves)
    # (the first, of the new library's empty index, before any batch) then before batches
    # 2-4 are handed to the commit thread, then the run's own at the end
    assert [n for n, _ in saves][-4:] == [1, 2, 3, 4]
    assert saved_index_matches_catalog(tmp_path / "lib", encoder) == 4 * BATCH


def overlaps(tmp_path: Path, encoder, monkeypatch, overlap: bool) -> tuple[int, set[str]]:
    """For how many batches N + 1 the model started before batch N's write had finished, with
    writes slowed to 0.2 s; and the threads that wrote."""
    folder = photos(tmp_path / f"photos-{overlap}", 5 * BATCH)
    with monkeypatch.context() as patch:
        writes = record_writes(patch, delay=0.2)
        encodes = record_encodes(patch, encoder)
        library = Library(tmp_path / f"lib-{overlap}")
        report = Indexer(library, encoder, workers=2, batch_size=BATCH,
                         overlap_writes=overlap).run([folder])
        library.close()
    assert (report.embedded, len(encodes), len(writes)) == (5 * BATCH, 5, 5)
    during = sum(start < write["end"] for start, write in zip(encodes[1:], writes, strict=False))
    return during, {w["thread"] for w in writes}


def test_the_model_embeds_the_next_batch_while_the_last_is_written(tmp_path, encoder,
                                                                   monkeypatch):
    during, threads = overlaps(tmp_path, encoder, monkeypatch, overlap=True)
    assert during >= 3  # of 4 (batches 2-5); the commit thread writes batches 1-4
    assert any(t.startswith("clipdesk-commit") for t in threads)
    # the serial path, the same measure: never (so the measure tells the two apart)
    during, threads = overlaps(tmp_path, encoder, monkeypatch, overlap=False)
    assert during == 0
    assert threads == {threading.current_thread().name}
