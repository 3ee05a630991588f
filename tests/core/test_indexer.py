"""The indexer on real files: new, unchanged, renamed, moved, modified, deleted, broken."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import tinyclip
from clipdesk.core import models
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library


@pytest.fixture(scope="module")
def encoder(random_model):
    return models.load(models.ModelSpec.parse(random_model), device="cpu")


def make_photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    return tinyclip.photo_folder(folder, n, seed, prefix="p")


_open: dict[Path, Library] = {}


def index(library_dir: Path, encoder, folders=None):
    """One run, as one `clipdesk index` would: the previous run's library is closed first."""
    if library_dir in _open:
        _open.pop(library_dir).close()
    library = Library(library_dir)
    _open[library_dir] = library
    calls = encoder.image_calls
    report = Indexer(library, encoder, on_progress=lambda *_: None).run(folders)
    return library, report, encoder.image_calls - calls


def test_second_run_does_nothing(tmp_path, encoder):
    make_photos(tmp_path / "photos", 6)
    lib, report, calls = index(tmp_path / "lib", encoder, [tmp_path / "photos"])
    assert (report.embedded, calls) == (6, 6)
    assert lib.catalog.counts(lib.model_row(encoder.spec).id)
    lib, report, calls = index(tmp_path / "lib", encoder)
    assert (report.todo, report.embedded, calls) == (0, 0, 0)


def test_rename_and_move_reuse_embeddings_without_clip(tmp_path, encoder):
    photos = make_photos(tmp_path / "photos", 4)
    index(tmp_path / "lib", encoder, [tmp_path / "photos"])
    (tmp_path / "photos" / "sub").mkdir()
    photos[0].rename(tmp_path / "photos" / "renamed.jpg")
    photos[1].rename(tmp_path / "photos" / "sub" / "moved.jpg")
    lib, report, calls = index(tmp_path / "lib", encoder)
    assert calls == 0
    assert (report.reused, report.removed, report.embedded) == (2, 2, 0)
    rows = lib.catalog.db.execute("SELECT path FROM files ORDER BY path").fetchall()
    assert sorted(Path(r[0]).name for r in rows) == sorted(
        ["renamed.jpg", "moved.jpg", photos[2].name, photos[3].name])
    assert len(lib.vectors(lib.model_row(encoder.spec))) == 4


def test_modified_photo_is_embedded_again_and_deleted_one_removed(tmp_path, encoder):
    photos = make_photos(tmp_path / "photos", 3)
    index(tmp_path / "lib", encoder, [tmp_path / "photos"])
    tinyclip.draw_shape("blue", "circle", np.random.default_rng(5), 200).save(photos[0], quality=80)
    photos[1].unlink()
    lib, report, calls = index(tmp_path / "lib", encoder)
    assert (report.embedded, report.removed, calls) == (1, 1, 1)
    row = lib.model_row(encoder.spec)
    assert lib.catalog.indexed_count(row) == 2
    assert len(lib.vectors(row)) == 2
    # the stale embedding of the old content is garbage-collected
    assert lib.catalog.db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 2


def test_duplicate_content_shares_one_embedding(tmp_path, encoder):
    photos = make_photos(tmp_path / "photos", 2)
    shutil.copy(photos[0], tmp_path / "photos" / "copy.jpg")
    lib, report, calls = index(tmp_path / "lib", encoder, [tmp_path / "photos"])
    row = lib.model_row(encoder.spec)
    assert lib.catalog.indexed_count(row) == 3
    assert lib.catalog.db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 2


def test_bad_files_are_recorded_skipped_and_retried_when_changed(tmp_path, encoder):
    folder = tmp_path / "photos"
    make_photos(folder, 2)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("not a photo at all")
    (folder / "page.png").write_text("<html><body>hi</body></html>")
    good = (folder / "p0-0.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / ".hidden.jpg").write_bytes(good)
    (folder / "._resource.jpg").write_bytes(b"junk")
    (folder / ".DS_Store").write_bytes(b"junk")
    (folder / "Thumbs.db").write_bytes(b"junk")
    lib, report, _ = index(tmp_path / "lib", encoder, [folder])
    reasons = dict((Path(p).name, r) for p, r in report.failed)
    assert set(reasons) == {"empty.jpg", "text.jpg", "page.png", "truncated.jpg"}
    assert "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["text.jpg"]
    assert dict(lib.catalog.failures()).keys() == {str(folder / n) for n in reasons}
    # unchanged failures are not retried; fixed ones are
    _, report, calls = index(tmp_path / "lib", encoder)
    assert (report.todo, calls) == (0, 0)
    (folder / "text.jpg").write_bytes(good)
    lib, report, calls = index(tmp_path / "lib", encoder)
    assert report.failed == [] and report.reused == 1
    assert str(folder / "text.jpg") not in dict(lib.catalog.failures())


def test_file_vanishing_between_scan_and_read_is_dropped(tmp_path, encoder):
    photos = make_photos(tmp_path / "photos", 3)

    class VanishingIndexer(Indexer):
        def _record(self, *args):
            todo = super()._record(*args)
            photos[1].unlink()  # the user deletes it while the run is starting
            return todo

    lib = Library(tmp_path / "lib")
    report = VanishingIndexer(lib, encoder, on_progress=lambda *_: None).run([tmp_path / "photos"])
    assert report.failed == [] and report.embedded == 2 and report.removed == 1
    assert lib.catalog.file_by_path(str(photos[1])) is None


def test_unreadable_photo_gets_a_reason(tmp_path, encoder):
    if os.geteuid() == 0:
        # root reads everything; a folder given as a file stands in for an unreadable one
        folder = tmp_path / "photos"
        make_photos(folder, 1)
        (folder / "dir.jpg").mkdir()
        lib, report, _ = index(tmp_path / "lib", encoder, [folder])
        assert report.embedded == 1
        return
    photos = make_photos(tmp_path / "photos", 2)
    photos[0].chmod(0)
    lib, report, _ = index(tmp_path / "lib", encoder, [tmp_path / "photos"])
    assert [Path(p).name for p, _ in report.failed] == [photos[0].name]
    assert "cannot read" in report.failed[0][1]


def test_nested_roots_fold_into_one(tmp_path, encoder):
    make_photos(tmp_path / "photos" / "a", 2)
    lib, _, _ = index(tmp_path / "lib", encoder, [tmp_path / "photos" / "a"])
    lib, report, calls = index(tmp_path / "lib", encoder, [tmp_path / "photos"])
    assert [p for _, p in lib.catalog.roots()] == [tmp_path / "photos"]
    assert calls == 0 and lib.catalog.indexed_count(lib.model_row(encoder.spec)) == 2
