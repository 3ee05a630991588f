"""The SQLite catalog on its own: schema, roots, scans, outcomes, filters, vectors, labels,
the text cache and its write transactions. Real SQLite files in tmp_path; fake embeddings
(unit vectors from numpy) under a fake model row."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

import oldlibrary
from clipdesk.core.catalog import CATALOG_NAME, SCHEMA_VERSION, Catalog, Outcome
from clipdesk.core.errors import LibraryError
from clipdesk.core.library import Library
from clipdesk.core.scan import FoundFile

DIM = 8
F16 = 2e-3  # float16 storage: a unit vector's components come back within this


def unit(seed: int, dim: int = DIM) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture
def catalog(tmp_path):
    c = Catalog(tmp_path / "lib")
    yield c
    c.close()


@pytest.fixture
def model(catalog):
    return catalog.model("x", dim=DIM)


def n(posix: str) -> str:
    """A path as this OS writes it (the tests name paths the POSIX way)."""
    return str(Path(posix))


def scan(catalog: Catalog, root_id: int, files: dict[Path, tuple[int, int]],
         gone: list[int] = ()) -> dict[str, int]:
    """Record a scan that found ``files`` ({path: (size, mtime_ns)}); returns {POSIX path: id}."""
    found = {str(p): FoundFile(str(p), s, m) for p, (s, m) in files.items()}
    known = {}
    for rid, root in catalog.roots():
        if rid == root_id:
            known = catalog.files_under(root_id, str(root))
    catalog.record_scan(root_id, found, known, list(gone))
    return {p.as_posix(): catalog.file_by_path(str(p)).id for p in files}


def ok(file_id: int, hash_: str, vector: np.ndarray | None = None, **facts) -> Outcome:
    return Outcome(file_id, size=facts.pop("size", 100), mtime_ns=facts.pop("mtime_ns", 1),
                   hash=hash_, new_vector=vector, **facts)


def status(catalog: Catalog, file_id: int) -> tuple:
    return catalog.db.execute("SELECT status, reason, hash FROM files WHERE id = ?",
                              (file_id,)).fetchone()


# ---------------------------------------------------------------------- schema and meta


def test_a_new_catalog_has_the_schema_and_version_zero(tmp_path):
    c = Catalog(tmp_path / "new" / "lib")  # the folder is made
    assert (tmp_path / "new" / "lib" / CATALOG_NAME).is_file()
    assert c.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in c.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"meta", "roots", "files", "models", "embeddings", "labels", "text_cache"} <= tables
    assert c.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.version == 0
    c.add_labels(["kept"])
    c.close()
    again = Catalog(tmp_path / "new" / "lib")  # reopening migrates nothing and loses nothing
    assert again.labels() == ["kept"] and again.version == 0
    again.close()


def _vector_tables(db) -> dict[str, str]:
    return {name: sql for name, sql in db.execute(
        "SELECT name, sql FROM sqlite_master WHERE name IN ('embeddings', 'frames', 'text_cache')")}


def test_a_schema_3_catalog_moves_its_vectors_to_rowid_tables_and_shrinks(tmp_path):
    """Schema 3 kept each 1 KB vector in a WITHOUT ROWID row, which overflowed to a 4 KB page
    of its own; schema 4 keeps them in place, and the migration gives the pages back."""
    folder, count, dim = tmp_path / "lib", 3000, 512
    catalog = Catalog(folder)
    model = catalog.model("x", dim=dim)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(count, dim)).astype(np.float16)
    with catalog.write() as db:
        db.execute("INSERT INTO roots VALUES (1, '/photos', 0)")
        db.executemany("INSERT INTO files (id, root_id, path, size, mtime_ns, hash, status,"
                       " updated_at) VALUES (?, 1, ?, 1, 1, ?, 'ok', 0)",
                       [(i + 1, f"/photos/{i}.jpg", f"{i:032x}") for i in range(count)])
        db.executemany("INSERT INTO embeddings VALUES (?, ?, ?)",
                       [(model.id, f"{i:032x}", vectors[i].tobytes()) for i in range(count)])
        db.executemany("INSERT INTO frames VALUES (?, ?, ?, ?, ?)",
                       [(model.id, f"{0:032x}", n, n * 2.0, vectors[n].tobytes())
                        for n in range(5)])
    catalog.cache_texts(model, {"a dog": unit(1, dim)})
    catalog.close()
    oldlibrary.take_back(folder, 3)  # as schema 3 wrote it: every vector overflowing
    old = sqlite3.connect(folder / CATALOG_NAME)
    assert all("WITHOUT ROWID" in sql for sql in _vector_tables(old).values())
    dump = {t: old.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
            for t in ("embeddings", "frames", "text_cache", "files")}
    old.close()
    size_before = (folder / CATALOG_NAME).stat().st_size
    assert size_before > count * 4096  # a page of its own per vector

    catalog = Catalog(folder)
    db = catalog.db
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = _vector_tables(db)
    assert len(tables) == 3 and not any("WITHOUT ROWID" in sql for sql in tables.values())
    assert dump == {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
                    for t in dump}  # every row as it was
    size_after = (folder / CATALOG_NAME).stat().st_size
    # three rows a 4 KB page, plus files and the key index: ~1.6 KB a photo, not ~6.3 KB
    assert size_after < count * 2048 and size_after * 3 < size_before, (size_before, size_after)
    assert db.execute("PRAGMA freelist_count").fetchone()[0] < 100  # given back to the disk
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    got = catalog.stored_vectors(model, [1, 1500, count, count + 7])
    assert sorted(got) == [1, 1500, count]
    np.testing.assert_array_equal(got[1500], vectors[1499])
    assert [t for t, _ in catalog.video_frames(model, f"{0:032x}")] == [0, 2, 4, 6, 8]
    # the keys stay unique: writing a vector again replaces it
    catalog.record_outcomes(model, [ok(1, f"{0:032x}", unit(5, dim))])
    assert db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == count
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO embeddings VALUES (?, ?, x'00')", (model.id, f"{1:032x}"))
    catalog.close()


def test_an_upgrade_that_meets_another_writer_says_the_library_is_busy_and_changes_nothing(
        tmp_path, monkeypatch):
    from clipdesk.core import catalog as catalog_module

    Catalog(tmp_path / "lib").close()
    oldlibrary.take_back(tmp_path / "lib", 3)
    other = sqlite3.connect(tmp_path / "lib" / CATALOG_NAME, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process, mid-write
    monkeypatch.setattr(catalog_module, "BUSY_TIMEOUT_S", 0.2)
    with pytest.raises(LibraryError, match="is busy: another ClipDesk is upgrading or writing"):
        Catalog(tmp_path / "lib")
    other.execute("ROLLBACK")
    assert other.execute("PRAGMA user_version").fetchone()[0] == 3
    other.close()
    catalog = Catalog(tmp_path / "lib")  # free again: upgraded
    assert catalog.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    catalog.close()


def test_meta_get_set_replace_and_persist(tmp_path, catalog):
    assert catalog.get_meta("model") is None
    assert catalog.get_meta("model", "fallback") == "fallback"
    catalog.set_meta("model", "hf-hub:a")
    catalog.set_meta("model", "hf-hub:b")
    assert catalog.get_meta("model") == "hf-hub:b"
    assert catalog.version == 0  # meta is not about vectors
    catalog.close()
    assert Catalog(tmp_path / "lib").get_meta("model") == "hf-hub:b"


def test_a_catalog_from_a_newer_clipdesk_is_refused_untouched(tmp_path):
    c = Catalog(tmp_path / "lib")
    c.db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.close()
    before = (tmp_path / "lib" / CATALOG_NAME).read_bytes()
    with pytest.raises(LibraryError, match="newer ClipDesk") as err:
        Catalog(tmp_path / "lib")
    assert f"schema {SCHEMA_VERSION + 1}" in str(err.value)
    assert (tmp_path / "lib" / CATALOG_NAME).read_bytes() == before


@pytest.mark.parametrize("content", [b"these are my holiday notes\n" * 200, b"tiny"])
def test_a_file_that_is_not_sqlite_is_refused_clearly_and_left_alone(tmp_path, content):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / CATALOG_NAME).write_bytes(content)
    with pytest.raises(LibraryError) as err:
        Catalog(tmp_path / "lib")
    message = str(err.value)
    assert CATALOG_NAME in message and "not a database" in message
    assert "\n" not in message
    assert (tmp_path / "lib" / CATALOG_NAME).read_bytes() == content


def test_a_library_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "lib").write_text("not a folder")
    with pytest.raises(LibraryError, match="is a file, not a folder"):
        Library(tmp_path / "lib")


# ---------------------------------------------------------------------- write transactions


def test_a_failed_write_rolls_back_everything_and_keeps_the_version(catalog, model):
    rid = catalog.add_root(Path("/p"))
    v0 = catalog.version
    with pytest.raises(RuntimeError, match="boom"), catalog.write() as db:
        db.execute("INSERT INTO labels VALUES ('half', 0)")
        db.execute("INSERT INTO files (root_id, path, size, mtime_ns, updated_at) "
                   "VALUES (?, ?, 1, 1, 0)", (rid, n("/p/a.jpg")))
        raise RuntimeError("boom")
    assert catalog.labels() == [] and catalog.file_by_path(n("/p/a.jpg")) is None
    assert catalog.version == v0
    assert not catalog.db.in_transaction
    catalog.add_labels(["after"])  # the connection is still usable
    assert catalog.labels() == ["after"]


def test_a_failing_statement_rolls_back_the_statements_before_it(catalog):
    catalog.add_labels(["dup"])
    v0 = catalog.version
    with pytest.raises(sqlite3.IntegrityError), catalog.write() as db:
        db.execute("INSERT INTO labels VALUES ('fresh', 0)")
        db.execute("INSERT INTO labels VALUES ('dup', 0)")  # primary key clash
    assert catalog.labels() == ["dup"] and catalog.version == v0


def test_a_refused_write_becomes_a_library_error_and_nothing_is_written(catalog):
    with pytest.raises(LibraryError, match="the disk is full.*Nothing was lost"), \
            catalog.write() as db:
        db.execute("INSERT INTO labels VALUES ('half', 0)")
        raise sqlite3.OperationalError("database or disk is full")  # what SQLite says then
    assert catalog.labels() == [] and catalog.version == 0


def test_a_bug_stays_a_bug_and_nothing_is_written(catalog):
    """Not every OperationalError is the disk's fault: "no such table" is a bug, and it must
    reach the log with its traceback, not pass for a full disk."""
    with pytest.raises(sqlite3.OperationalError, match="no such table"), catalog.write() as db:
        db.execute("INSERT INTO labels VALUES ('half', 0)")
        db.execute("INSERT INTO no_such_table VALUES (1)")
    assert catalog.labels() == [] and catalog.version == 0


def test_removing_a_folder_that_is_not_a_root_changes_nothing(catalog, tmp_path):
    catalog.add_root(tmp_path / "photos")
    before = catalog.version
    assert catalog.remove_root(tmp_path / "elsewhere") == []
    assert catalog.version == before  # the saved vector index stays current


def test_only_writes_that_change_vectors_bump_the_version(catalog):
    with catalog.write(changes_vectors=False):
        pass
    assert catalog.version == 0
    with catalog.write():
        pass
    with catalog.write():
        pass
    assert catalog.version == 2


def test_each_thread_has_its_own_connection_and_sees_commits(catalog):
    catalog.add_labels(["from main"])
    seen = {}

    def reader():
        seen["labels"] = catalog.labels()
        seen["same"] = catalog.db is main_conn

    main_conn = catalog.db
    t = threading.Thread(target=reader)
    t.start()
    t.join()
    assert seen == {"labels": ["from main"], "same": False}


# ---------------------------------------------------------------------- roots


def test_a_folder_inside_a_root_is_that_root(catalog):
    rid = catalog.add_root(Path("/a/photos"))
    assert catalog.add_root(Path("/a/photos")) == rid
    assert catalog.add_root(Path("/a/photos/2019/summer")) == rid
    assert catalog.roots() == [(rid, Path("/a/photos"))]


def test_a_sibling_folder_sharing_a_name_prefix_is_a_new_root(catalog):
    rid = catalog.add_root(Path("/a/photos"))
    other = catalog.add_root(Path("/a/photos2"))
    assert other != rid
    assert [p for _, p in catalog.roots()] == [Path("/a/photos"), Path("/a/photos2")]


def test_a_new_parent_folds_the_roots_inside_it_and_their_files_move(catalog, model):
    x = catalog.add_root(Path("/a/p/x"))
    y = catalog.add_root(Path("/a/p/y"))
    keep = catalog.add_root(Path("/a/q"))
    ids = scan(catalog, x, {Path("/a/p/x/1.jpg"): (1, 1)})
    ids |= scan(catalog, y, {Path("/a/p/y/2.jpg"): (1, 1)})
    catalog.record_outcomes(model, [ok(ids["/a/p/x/1.jpg"], "h1", unit(1)),
                                    ok(ids["/a/p/y/2.jpg"], "h2", unit(2))])
    v0 = catalog.version
    parent = catalog.add_root(Path("/a/p"))
    assert parent not in (x, y, keep)
    assert catalog.roots() == [(parent, Path("/a/p")), (keep, Path("/a/q"))]
    assert set(catalog.files_under(parent, n("/a/p"))) == {n("/a/p/x/1.jpg"), n("/a/p/y/2.jpg")}
    assert {r.id for r in catalog.files_under(parent, n("/a/p")).values()} == set(ids.values())
    assert catalog.indexed_count(model) == 2  # their embeddings are kept
    assert catalog.counts(model.id) == {parent: {"indexed": 2, "failed": 0, "pending": 0}}
    assert catalog.version == v0  # no vector changed


def test_remove_root_returns_its_file_ids_and_forgets_only_its_rows(catalog, model):
    a = catalog.add_root(Path("/a"))
    b = catalog.add_root(Path("/b"))
    ids_a = scan(catalog, a, {Path("/a/1.jpg"): (1, 1), Path("/a/s/2.jpg"): (1, 1)})
    ids_b = scan(catalog, b, {Path("/b/3.jpg"): (1, 1)})
    catalog.record_outcomes(model, [ok(ids_a["/a/1.jpg"], "ha", unit(1)),
                                    ok(ids_b["/b/3.jpg"], "hb", unit(2))])
    v0 = catalog.version
    assert sorted(catalog.remove_root(Path("/a"))) == sorted(ids_a.values())
    assert catalog.roots() == [(b, Path("/b"))]
    assert catalog.file_by_path(n("/a/1.jpg")) is None and catalog.file_by_path(n("/a/s/2.jpg")) is None
    assert catalog.file_by_path(n("/b/3.jpg")) is not None
    assert catalog.version > v0  # the index must drop those vectors
    assert catalog.indexed_ids(model) == [ids_b["/b/3.jpg"]]
    assert catalog.remove_root(Path("/never/added")) == []


# ---------------------------------------------------------------------- scans and work


def test_record_scan_new_changed_gone_and_unchanged(catalog, model):
    rid = catalog.add_root(Path("/r"))
    ids = scan(catalog, rid, {Path("/r/new.jpg"): (10, 1), Path("/r/same.jpg"): (10, 1),
                              Path("/r/size.jpg"): (10, 1), Path("/r/time.jpg"): (10, 1),
                              Path("/r/bad.jpg"): (10, 1), Path("/r/gone.jpg"): (10, 1)})
    assert all(status(catalog, i)[0] == "pending" for i in ids.values())
    catalog.record_outcomes(model, [
        ok(ids["/r/same.jpg"], "h-same", unit(1), size=10, mtime_ns=1),
        ok(ids["/r/size.jpg"], "h-size", unit(2), size=10, mtime_ns=1),
        ok(ids["/r/time.jpg"], "h-time", unit(3), size=10, mtime_ns=1),
        Outcome(ids["/r/bad.jpg"], size=10, mtime_ns=1, error="truncated JPEG"),
    ])
    stamp = catalog.file_by_path(n("/r/same.jpg"))
    updated = catalog.db.execute("SELECT updated_at FROM files WHERE id = ?", (stamp.id,)).fetchone()
    v0 = catalog.version

    scan(catalog, rid, {Path("/r/new.jpg"): (10, 1), Path("/r/same.jpg"): (10, 1),
                        Path("/r/size.jpg"): (11, 1), Path("/r/time.jpg"): (10, 2),
                        Path("/r/bad.jpg"): (10, 5)}, gone=[ids["/r/gone.jpg"]])
    assert catalog.version == v0 + 1
    assert catalog.file_by_path(n("/r/gone.jpg")) is None
    same = catalog.file_by_path(n("/r/same.jpg"))
    assert same == stamp  # unchanged: untouched
    assert catalog.db.execute("SELECT updated_at FROM files WHERE id = ?",
                              (same.id,)).fetchone() == updated
    size, mtime = catalog.file_by_path(n("/r/size.jpg")), catalog.file_by_path(n("/r/time.jpg"))
    assert (size.status, size.size, mtime.status, mtime.mtime_ns) == ("pending", 11, "pending", 2)
    bad = catalog.file_by_path(n("/r/bad.jpg"))
    assert (bad.status, bad.reason, bad.mtime_ns) == ("pending", None, 5)  # a fixed file is retried
    assert set(catalog.needing_work(model, rid, n("/r")).values()) == {
        n("/r/new.jpg"), n("/r/size.jpg"), n("/r/time.jpg"), n("/r/bad.jpg")}


def test_needing_work_skips_failed_and_covers_files_lacking_this_models_embedding(catalog, model):
    rid = catalog.add_root(Path("/r"))
    ids = scan(catalog, rid, {Path("/r/done.jpg"): (1, 1), Path("/r/failed.jpg"): (1, 1),
                              Path("/r/todo.jpg"): (1, 1)})
    catalog.record_outcomes(model, [ok(ids["/r/done.jpg"], "h", unit(1)),
                                    Outcome(ids["/r/failed.jpg"], error="broken")])
    assert catalog.needing_work(model, rid, n("/r")) == {ids["/r/todo.jpg"]: n("/r/todo.jpg")}
    other = catalog.model("y", dim=DIM)  # another model has embedded nothing yet
    assert catalog.needing_work(other, rid, n("/r")) == {ids["/r/done.jpg"]: n("/r/done.jpg"),
                                                      ids["/r/todo.jpg"]: n("/r/todo.jpg")}


def test_needing_work_and_files_under_keep_to_the_prefix_folder(catalog, model):
    rid = catalog.add_root(Path("/r"))
    sep = os.sep
    ids = scan(catalog, rid, {Path("/r/sub/a.jpg"): (1, 1), Path("/r/sub/deep/b.jpg"): (1, 1),
                              Path("/r/sub2/c.jpg"): (1, 1), Path("/r/sub.jpg"): (1, 1)})
    under = {ids["/r/sub/a.jpg"]: n("/r/sub/a.jpg"),
             ids["/r/sub/deep/b.jpg"]: n("/r/sub/deep/b.jpg")}
    assert catalog.needing_work(model, rid, n("/r/sub")) == under
    assert catalog.needing_work(model, rid, n("/r/sub") + sep) == under
    assert set(catalog.files_under(rid, n("/r/sub"))) == set(under.values())
    assert list(catalog.files_under(rid, n("/r/sub.jpg"))) == [n("/r/sub.jpg")]  # a file: itself
    other = catalog.add_root(Path("/s"))
    assert catalog.needing_work(model, other, n("/r/sub")) == {}  # another root's id


# ---------------------------------------------------------------------- outcomes


def test_record_outcomes_vanished_failed_and_ok(catalog, model):
    rid = catalog.add_root(Path("/r"))
    ids = scan(catalog, rid, {Path("/r/v.jpg"): (1, 1), Path("/r/e.jpg"): (1, 1),
                              Path("/r/o.jpg"): (1, 1)})
    catalog.record_outcomes(model, [ok(ids["/r/e.jpg"], "was-read-before", unit(9))])
    v0 = catalog.version
    vector = unit(1)
    catalog.record_outcomes(model, [
        Outcome(ids["/r/v.jpg"], vanished=True),
        Outcome(ids["/r/e.jpg"], size=7, mtime_ns=8, error="cannot identify image file"),
        ok(ids["/r/o.jpg"], "abc", vector, size=3, mtime_ns=4, taken_at=1.5e9, width=640,
           height=480),
    ])
    assert catalog.version == v0 + 1
    assert catalog.file_by_path(n("/r/v.jpg")) is None
    e = catalog.file_by_path(n("/r/e.jpg"))
    assert (e.status, e.reason, e.hash, e.size, e.mtime_ns) == (
        "failed", "cannot identify image file", None, 7, 8)
    o = catalog.file_by_path(n("/r/o.jpg"))
    assert (o.status, o.reason, o.hash, o.size, o.mtime_ns, o.taken_at, o.width, o.height) == (
        "ok", None, "abc", 3, 4, 1.5e9, 640, 480)
    np.testing.assert_allclose(catalog.embedding(model, "abc"), vector, atol=F16)
    assert catalog.has_embedding(model.id, "abc")
    assert catalog.indexed_ids(model) == [o.id]
    assert catalog.failures() == [(n("/r/e.jpg"), "cannot identify image file")]


def test_an_embedding_is_stored_once_per_model_and_hash_and_reused(catalog, model):
    rid = catalog.add_root(Path("/r"))
    ids = scan(catalog, rid, {Path("/r/a.jpg"): (1, 1), Path("/r/copy.jpg"): (1, 1),
                              Path("/r/again.jpg"): (1, 1)})
    first, second = unit(1), unit(2)
    catalog.record_outcomes(model, [ok(ids["/r/a.jpg"], "same", first)])
    catalog.record_outcomes(model, [ok(ids["/r/copy.jpg"], "same", second),  # kept: the first
                                    ok(ids["/r/again.jpg"], "same")])  # no vector: reused
    rows = catalog.db.execute("SELECT COUNT(*) FROM embeddings WHERE hash = 'same'").fetchone()
    assert rows[0] == 1
    np.testing.assert_allclose(catalog.embedding(model, "same"), first, atol=F16)
    assert catalog.indexed_count(model) == 3
    other = catalog.model("y", dim=DIM)
    catalog.record_outcomes(other, [ok(ids["/r/a.jpg"], "same", second)])  # per model
    np.testing.assert_allclose(catalog.embedding(other, "same"), second, atol=F16)
    np.testing.assert_allclose(catalog.embedding(model, "same"), first, atol=F16)


def test_retry_failed_makes_failures_pending_again(catalog, model):
    rid = catalog.add_root(Path("/r"))
    ids = scan(catalog, rid, {Path("/r/a.jpg"): (1, 1), Path("/r/b.jpg"): (1, 1),
                              Path("/r/c.jpg"): (1, 1)})
    catalog.record_outcomes(model, [Outcome(ids["/r/a.jpg"], error="one"),
                                    Outcome(ids["/r/b.jpg"], error="two"),
                                    ok(ids["/r/c.jpg"], "h", unit(1))])
    v0 = catalog.version
    assert sorted(catalog.retry_failed()) == [n("/r/a.jpg"), n("/r/b.jpg")]
    assert catalog.failures() == []
    assert status(catalog, ids["/r/a.jpg"]) == ("pending", None, None)
    assert status(catalog, ids["/r/c.jpg"]) == ("ok", None, "h")
    assert set(catalog.needing_work(model, rid, n("/r"))) == {ids["/r/a.jpg"], ids["/r/b.jpg"]}
    assert catalog.version == v0
    assert catalog.retry_failed() == []


# ---------------------------------------------------------------------- filters


@pytest.fixture
def dated(catalog):
    """Files with known times: taken_at where set, else the mtime."""
    rid = catalog.add_root(Path("/a"))
    day = 86_400
    files = {  # path: (mtime in days, taken_at in days or None)
        "/a/photos/m10.jpg": (10, None),
        "/a/photos/sub/m20.jpg": (20, None),
        "/a/photos/t30.jpg": (5, 30),  # the EXIF date wins over the mtime
        "/a/photos2/m15.jpg": (15, None),
        "/a/photos-x/m15.jpg": (15, None),
        "/a/photos.jpg": (15, None),
    }
    model = catalog.model("x", dim=DIM)
    ids = scan(catalog, rid, {Path(p): (1, m * day * 10**9) for p, (m, _) in files.items()})
    catalog.record_outcomes(model, [
        ok(ids[p], f"h{i}", unit(i), mtime_ns=m * day * 10**9,
           taken_at=t * day if t is not None else None)
        for i, (p, (m, t)) in enumerate(files.items())])
    return ids, day


def test_ids_matching_a_folder_does_not_match_a_sibling_sharing_its_name(catalog, dated):
    ids, _ = dated
    got = catalog.ids_matching(Path("/a/photos"), None, None, 100)
    assert sorted(got) == sorted(ids[p] for p in
                                 ("/a/photos/m10.jpg", "/a/photos/sub/m20.jpg", "/a/photos/t30.jpg"))
    assert catalog.ids_matching(Path("/a/photos/sub"), None, None, 100) == [
        ids["/a/photos/sub/m20.jpg"]]
    assert catalog.ids_matching(Path("/a/photos2"), None, None, 100) == [ids["/a/photos2/m15.jpg"]]
    assert catalog.ids_matching(Path("/elsewhere"), None, None, 100) == []
    assert sorted(catalog.ids_matching(None, None, None, 100)) == sorted(ids.values())


def test_ids_matching_the_filesystem_root_matches_everything(catalog, dated):
    ids, _ = dated
    assert sorted(catalog.ids_matching(Path("/"), None, None, 100)) == sorted(ids.values())


def test_ids_matching_dates_are_inclusive_and_use_taken_at_before_mtime(catalog, dated):
    ids, day = dated
    got = catalog.ids_matching(Path("/a/photos"), 10 * day, 20 * day, 100)
    assert sorted(got) == sorted([ids["/a/photos/m10.jpg"], ids["/a/photos/sub/m20.jpg"]])
    # the file whose mtime is day 5 was taken on day 30
    assert catalog.ids_matching(Path("/a/photos"), None, 5 * day, 100) == []
    assert catalog.ids_matching(Path("/a/photos"), 30 * day, None, 100) == [
        ids["/a/photos/t30.jpg"]]
    assert catalog.ids_matching(None, 10 * day + 1, 20 * day - 1, 100) is not None
    assert sorted(catalog.ids_matching(None, 10 * day + 1, 20 * day - 1, 100)) == sorted(
        ids[p] for p in ("/a/photos2/m15.jpg", "/a/photos-x/m15.jpg", "/a/photos.jpg"))
    assert catalog.ids_matching(None, 21 * day, 29 * day, 100) == []


def test_ids_matching_is_none_over_the_limit(catalog, dated):
    ids, _ = dated
    assert catalog.ids_matching(None, None, None, len(ids) - 1) is None
    assert len(catalog.ids_matching(None, None, None, len(ids))) == len(ids)
    assert catalog.ids_matching(Path("/a/photos"), None, None, 2) is None
    assert len(catalog.ids_matching(Path("/a/photos"), None, None, 3)) == 3


def test_files_by_ids_reads_more_than_one_chunk(catalog):
    rid = catalog.add_root(Path("/big"))
    ids = scan(catalog, rid, {Path(f"/big/{i:04}.jpg"): (i, i) for i in range(1000)})
    wanted = sorted(ids.values())
    rows = catalog.files_by_ids([*wanted, 999_999])
    assert sorted(rows) == wanted
    assert all(rows[i].path == n(p) for p, i in ids.items())


# ---------------------------------------------------------------------- status


def test_counts_per_root_and_failures(catalog, model):
    a = catalog.add_root(Path("/a"))
    b = catalog.add_root(Path("/b"))
    ids = scan(catalog, a, {Path(f"/a/{i}.jpg"): (1, 1) for i in range(5)})
    ids |= scan(catalog, b, {Path("/b/x.jpg"): (1, 1)})
    catalog.record_outcomes(model, [
        ok(ids["/a/0.jpg"], "h0", unit(0)), ok(ids["/a/1.jpg"], "h1", unit(1)),
        ok(ids["/a/2.jpg"], "h2"),  # read, but no embedding for this model: pending
        Outcome(ids["/a/3.jpg"], error="zero bytes"), Outcome(ids["/b/x.jpg"], error=""),
    ])
    assert catalog.counts(model.id) == {a: {"indexed": 2, "failed": 1, "pending": 2},
                                        b: {"indexed": 0, "failed": 1, "pending": 0}}
    assert catalog.counts(None) == {a: {"indexed": 0, "failed": 1, "pending": 4},
                                    b: {"indexed": 0, "failed": 1, "pending": 0}}
    assert catalog.failures() == [(n("/a/3.jpg"), "zero bytes"),
                                  (n("/b/x.jpg"), "unknown error")]


# ---------------------------------------------------------------------- models and vectors


def test_model_rows_are_created_with_a_dim_and_found_after(catalog):
    assert catalog.model("x") is None
    row = catalog.model("x", dim=8)
    assert (row.spec, row.dim, row.index_version, row.index_size, row.index_mtime_ns) == (
        "x", 8, -1, -1, -1)
    assert catalog.model("x") == row
    assert catalog.model("x", dim=16) == row  # an existing row is not changed
    other = catalog.model("y", dim=4)
    assert other.id != row.id
    catalog.record_index_saved(row, 7, 1234, 5678)
    saved = catalog.model("x")
    assert (saved.index_version, saved.index_size, saved.index_mtime_ns) == (7, 1234, 5678)
    assert catalog.model("y") == other
    assert catalog.version == 0


def test_indexed_vectors_and_count(catalog, model):
    rid = catalog.add_root(Path("/r"))
    ids = scan(catalog, rid, {Path(f"/r/{i}.jpg"): (1, 1) for i in range(6)})
    vecs = {i: unit(i) for i in range(6)}
    catalog.record_outcomes(model, [
        ok(ids["/r/0.jpg"], "h0", vecs[0]), ok(ids["/r/1.jpg"], "h1", vecs[1]),
        ok(ids["/r/2.jpg"], "h2", vecs[2]), ok(ids["/r/3.jpg"], "h3"),  # no embedding
        Outcome(ids["/r/4.jpg"], error="bad"),
    ])  # 5 stays pending
    keys, vectors = catalog.indexed_vectors(model)
    assert keys.dtype == np.uint64 and vectors.dtype == np.float32
    assert keys.tolist() == sorted(ids[f"/r/{i}.jpg"] for i in range(3))
    by_key = {ids[f"/r/{i}.jpg"]: vecs[i] for i in range(3)}
    np.testing.assert_allclose(vectors, np.stack([by_key[int(k)] for k in keys]), atol=F16)
    assert catalog.indexed_count(model) == 3 == len(catalog.indexed_ids(model))
    empty = catalog.model("y", dim=DIM)
    keys, vectors = catalog.indexed_vectors(empty)
    assert keys.shape == (0,) and vectors.shape == (0, DIM)
    assert catalog.indexed_count(empty) == 0


def test_indexed_vectors_changed_since_plus_the_ids_asked_for(catalog, model):
    rid = catalog.add_root(Path("/r"))
    ids = scan(catalog, rid, {Path(f"/r/{i}.jpg"): (1, 1) for i in range(4)})
    catalog.record_outcomes(model, [ok(ids[f"/r/{i}.jpg"], f"h{i}", unit(i)) for i in range(4)])
    old = [ids["/r/0.jpg"], ids["/r/1.jpg"], ids["/r/2.jpg"]]
    with catalog.write(changes_vectors=False) as db:  # these were updated long ago
        db.executemany("UPDATE files SET updated_at = 100 WHERE id = ?", [(i,) for i in old])
    keys, _ = catalog.indexed_vectors(model, changed_since=1000.0)
    assert keys.tolist() == [ids["/r/3.jpg"]]
    keys, vectors = catalog.indexed_vectors(model, changed_since=1000.0, also=[ids["/r/1.jpg"]])
    assert keys.tolist() == sorted([ids["/r/1.jpg"], ids["/r/3.jpg"]])
    np.testing.assert_allclose(vectors[0], unit(1), atol=F16)
    keys, _ = catalog.indexed_vectors(model, changed_since=1000.0)  # `also` is not remembered
    assert keys.tolist() == [ids["/r/3.jpg"]]
    keys, _ = catalog.indexed_vectors(model, changed_since=50.0)
    assert keys.tolist() == sorted(ids.values())


def test_drop_orphan_embeddings_keeps_what_a_file_still_uses(catalog, model):
    rid = catalog.add_root(Path("/r"))
    ids = scan(catalog, rid, {Path("/r/a.jpg"): (1, 1), Path("/r/b.jpg"): (1, 1),
                              Path("/r/c.jpg"): (1, 1)})
    other = catalog.model("y", dim=DIM)
    catalog.record_outcomes(model, [ok(ids["/r/a.jpg"], "shared", unit(1)),
                                    ok(ids["/r/b.jpg"], "shared"),
                                    ok(ids["/r/c.jpg"], "lonely", unit(2))])
    catalog.record_outcomes(other, [ok(ids["/r/c.jpg"], "lonely", unit(3))])
    scan(catalog, rid, {Path("/r/b.jpg"): (1, 1)}, gone=[ids["/r/a.jpg"], ids["/r/c.jpg"]])
    assert catalog.has_embedding(model.id, "lonely")  # kept until dropped
    assert catalog.drop_orphan_embeddings(model) == 1
    assert not catalog.has_embedding(model.id, "lonely")
    assert catalog.has_embedding(model.id, "shared")  # b still has that content
    assert catalog.has_embedding(other.id, "lonely")  # only this model's orphans go
    assert catalog.drop_orphan_embeddings(model) == 0


# ---------------------------------------------------------------------- labels and text cache


def test_labels_add_remove(catalog):
    assert catalog.labels() == []
    catalog.add_labels(["zebra", "apple", "zebra"])
    catalog.add_labels(["apple"])
    assert catalog.labels() == ["apple", "zebra"]
    assert catalog.remove_labels(["zebra", "never added"]) == 1
    assert catalog.labels() == ["apple"]
    assert catalog.version == 0


def test_text_cache_round_trip_per_model(catalog, model):
    other = catalog.model("y", dim=DIM)
    texts = [f"text {i}" for i in range(1000)]  # more than one IN (...) chunk
    vectors = {t: unit(i) for i, t in enumerate(texts)}
    assert catalog.cached_texts(model, texts) == {}
    catalog.cache_texts(model, vectors)
    got = catalog.cached_texts(model, [*texts, "never cached"])
    assert set(got) == set(texts)
    for t in ("text 0", "text 950"):
        assert got[t].dtype == np.float32
        np.testing.assert_allclose(got[t], vectors[t], atol=F16)
    assert catalog.cached_texts(other, texts) == {}
    catalog.cache_texts(model, {"text 0": unit(99)})  # replaced
    np.testing.assert_allclose(catalog.cached_texts(model, ["text 0"])["text 0"], unit(99),
                               atol=F16)
    assert catalog.version == 0
