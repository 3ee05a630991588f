"""The thumbnail store owns its lifecycle: orphans go after an index run and when the library
is opened for writing, the store is trimmed to its size limit, and its size is counted."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image

import tinyclip
from clipdesk.core import models
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.status import library_status
from clipdesk.core.thumbnails import ThumbnailStore


@pytest.fixture(scope="module")
def encoder(random_model):
    return models.load(models.ModelSpec.parse(random_model), device="cpu")


def make_photos(folder: Path, n: int, seed: int = 0) -> list[Path]:
    return tinyclip.photo_folder(folder, n, seed, prefix="t")


def index(library_dir: Path, encoder, folders=None) -> Library:
    """One `clipdesk index` run; the library is returned open (close it)."""
    library = Library(library_dir)
    Indexer(library, encoder, on_progress=lambda *_: None).run(folders)
    return library


def hash_of(library: Library, photo: Path) -> str:
    return library.catalog.file_by_path(str(photo)).hash


def thumbnail_files(library_dir: Path) -> list[Path]:
    return sorted((library_dir / "thumbnails").glob("*/*.jpg"))


def fake_thumbnail(store: ThumbnailStore, n: int, size: int = 1000, used: float | None = None
                   ) -> str:
    """A thumbnail file of ``size`` bytes whose last use was ``used`` (seconds since the epoch)."""
    hash_ = f"{n:032x}"
    path = store.path(hash_)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff" * size)
    if used is not None:
        os.utime(path, (used, used))
    return hash_


def test_an_index_run_deletes_the_thumbnails_of_deleted_and_changed_photos(tmp_path, encoder):
    photos = make_photos(tmp_path / "photos", 4)
    library = index(tmp_path / "lib", encoder, [tmp_path / "photos"])
    hashes = {p.name: hash_of(library, p) for p in photos}
    assert all(library.thumbnail_path(h).is_file() for h in hashes.values())
    library.close()

    photos[1].unlink()
    Image.new("RGB", (300, 200), (10, 200, 10)).save(photos[2])  # new content, new hash
    library = index(tmp_path / "lib", encoder)
    new_hash = hash_of(library, photos[2])
    library.close()

    assert not library.thumbnail_path(hashes[photos[1].name]).exists()  # deleted photo
    assert not library.thumbnail_path(hashes[photos[2].name]).exists()  # its old content
    kept = {hashes[photos[0].name], hashes[photos[3].name], new_hash}
    assert {p.stem for p in thumbnail_files(tmp_path / "lib")} == kept


def test_an_interrupted_run_deletes_no_thumbnails(tmp_path, encoder):
    photos = make_photos(tmp_path / "photos", 2)
    library = index(tmp_path / "lib", encoder, [tmp_path / "photos"])
    gone = hash_of(library, photos[0])
    library.close()
    photos[0].unlink()

    make_photos(tmp_path / "photos", 1, seed=1)  # work for the run, which stops after it
    library = Library(tmp_path / "lib")
    indexer = Indexer(library, encoder, on_progress=lambda *_: indexer.stop())
    assert indexer.run().interrupted
    assert library.thumbnail_path(gone).is_file()  # the next full run (or open) tidies
    library.close()


def test_opening_for_writing_tidies_and_a_reader_never_deletes(tmp_path, encoder):
    photos = make_photos(tmp_path / "photos", 2)
    library = index(tmp_path / "lib", encoder, [tmp_path / "photos"])
    kept = hash_of(library, photos[0])
    library.close()
    stray = fake_thumbnail(library.thumbnails, 7)  # e.g. left by a run that was killed

    reader = Library(tmp_path / "lib")
    assert reader.tidy_thumbnails() == (0, 0)
    assert reader.thumbnail_path(stray).is_file()
    reader.claim_writer()
    assert reader.tidy_thumbnails() == (1, 0)
    assert not reader.thumbnail_path(stray).exists()
    assert reader.thumbnail_path(kept).is_file()
    reader.close()


def test_size_on_disk_counts_the_thumbnails(tmp_path, encoder):
    make_photos(tmp_path / "photos", 3)
    library = index(tmp_path / "lib", encoder, [tmp_path / "photos"])
    on_disk = sum(p.stat().st_size for p in thumbnail_files(tmp_path / "lib"))
    assert on_disk > 0
    assert library.size_on_disk()["thumbnails"] == on_disk
    status = library_status(library, encoder.spec)
    assert status.sizes["thumbnails"] == on_disk
    assert status.bytes_on_disk == sum(status.sizes.values())
    library.close()
    fresh = Library(tmp_path / "lib")  # `clipdesk status`: a reader counts them too
    assert fresh.size_on_disk()["thumbnails"] == on_disk
    fresh.close()


def test_trim_deletes_the_least_recently_used_until_under_the_limit(tmp_path):
    store = ThumbnailStore(tmp_path, limit_bytes=3500)
    now = time.time()
    ages = {0: 50, 1: 10, 2: 40, 3: 20, 4: 30}  # days since each was last used
    hashes = {n: fake_thumbnail(store, n, 1000, now - days * 86400) for n, days in ages.items()}
    assert store.size() == 5000

    assert store.trim() == 2  # the two used longest ago
    assert not store.exists(hashes[0]) and not store.exists(hashes[2])
    assert all(store.exists(hashes[n]) for n in (1, 3, 4))
    assert store.size() == 3000
    assert store.trim() == 0  # under the limit: nothing to do
    assert store.trim(limit_bytes=0) == 3 and store.size() == 0


def test_an_index_run_keeps_the_store_under_its_limit(tmp_path, encoder):
    make_photos(tmp_path / "photos", 3)
    library = Library(tmp_path / "lib", thumbnail_limit=0)
    report = Indexer(library, encoder, on_progress=lambda *_: None).run([tmp_path / "photos"])
    assert report.embedded == 3
    assert thumbnail_files(tmp_path / "lib") == []  # all written, then all over the limit
    assert library.size_on_disk()["thumbnails"] == 0
    library.close()


def test_orphan_removal_tolerates_missing_folders_races_and_foreign_files(tmp_path, monkeypatch):
    store = ThumbnailStore(tmp_path / "nowhere")
    assert store.remove_orphans(set()) == 0 and store.trim(0) == 0 and store.size() == 0

    store = ThumbnailStore(tmp_path)
    keep = fake_thumbnail(store, 1)
    orphan = fake_thumbnail(store, 2)
    vanishing = fake_thumbnail(store, 3)
    foreign = store.folder / "readme.txt"
    foreign.write_text("not ours")
    stale = store.path(orphan).with_name("x.jpg.123-4.tmp")
    stale.write_bytes(b"half a thumbnail")
    os.utime(stale, (time.time() - 7200,) * 2)
    fresh = store.path(keep).with_name("y.jpg.123-5.tmp")  # a write in flight
    fresh.write_bytes(b"")

    real_unlink = os.unlink

    def racing_unlink(path, *args, **kwargs):
        if Path(path) == store.path(vanishing):  # another process deleted it first
            real_unlink(path)
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", racing_unlink)
    assert store.remove_orphans({keep}) == 1  # the orphan; the vanished one was not ours
    assert store.exists(keep) and not store.exists(orphan) and not store.exists(vanishing)
    assert foreign.exists() and fresh.exists() and not stale.exists()
