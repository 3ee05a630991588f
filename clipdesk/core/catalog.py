"""The library folder and its SQLite catalog. The layout is written down here, once.

Library folder (``--library DIR``, ``CLIPDESK_LIBRARY`` or the user data folder)::

    catalog.sqlite3            the truth: roots, files, embeddings, labels (schema below)
    catalog.sqlite3-wal/-shm   SQLite's write-ahead log (readers keep reading while one writer writes)
    index/<model>.usearch      derived usearch vector index per model; rebuilt from the
                               catalog's embeddings (no CLIP run) when missing, stale or corrupt
    thumbnails/<h2>/<hash>.jpg thumbnail cache keyed by content hash (moves keep their thumbnail);
                               the writer deletes those no photo uses and trims the least
                               recently used past 2 GiB (core/thumbnails.py); the app decodes
                               the photo itself when its thumbnail is missing. A video's is its
                               first sampled frame that is not blank
    thumbnails/<h2>/<hash>-t<ms>.jpg  a video's sampled frame at <ms> milliseconds
                               (``ThumbnailStore.frame_path``); goes with the video's hash

Schema (``PRAGMA user_version`` = SCHEMA_VERSION; MIGRATIONS[i] takes version i to i+1)::

    meta(key PRIMARY KEY, value)             'model': the library's model spec;
                                             'version': bumped by every write that changes
                                             which files have which vectors
    roots(id, path UNIQUE, added_at)         folders the user added (never nested)
    files(id, root_id -> roots, path UNIQUE, size, mtime_ns,
          hash,                              blake2b-128 of the bytes, hex; NULL until read
          taken_at,                          EXIF DateTimeOriginal as a Unix time, or NULL
          width, height,                     as displayed (EXIF orientation applied)
          status,                            'pending' | 'ok' | 'failed'
          reason, updated_at,                failure reason, one line
          duration)                          a video's length in seconds; NULL for a photo
                                             (schema 3)
    models(id, spec UNIQUE, dim,
           index_version, index_size, index_mtime_ns)  what the saved usearch file reflects
    embeddings(model_id, hash, vector)       float16 unit vector per content hash and model,
                                             so a renamed or moved photo keeps its embedding;
                                             a video's is the normalised mean of its frames'
                                             (duplicates, "similar", one vector per file)
    frames(model_id, hash, n, t, vector)     a video's sampled frames (schema 3): frame n
                                             (0, 1, ... in time order) at t seconds, its
                                             float16 unit vector; blank frames are not kept
    labels(text PRIMARY KEY, added_at)       tag labels the user added
    text_cache(model_id, text, vector)       cached label/prompt embeddings (float16)

    embeddings, frames and text_cache are rowid tables, UNIQUE on their keys (schema 4): a
    1 KB vector does not fit a WITHOUT ROWID row on a 4 KB page (it overflowed to a page
    of its own, 4.6 KB a photo); in a rowid table a photo costs ~1.1 KB.
    albums(id, name UNIQUE COLLATE NOCASE,   smart albums: saved searches, run afresh when
           query, created_at, updated_at)    opened; query is Query.to_json() (schema 2)

A file is *indexed* for a model when its status is 'ok' and an embedding exists for its
hash; *pending* when neither indexed nor failed.

The usearch keys: a photo's is ``files.id``; a video is in the index by its frames alone, frame
n under ``frame_key(files.id, n)`` = ``files.id | (n + 1) << 32`` (``file_of_key`` gives the
file back), so a search meets each moment and keeps a video's best (core/search.py). A
video's mean vector is in ``embeddings`` only.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clipdesk.core.errors import ClipDeskError, LibraryError
from clipdesk.core.query import Query

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 30.0  # how long a write waits for another process's transaction
SCHEMA_VERSION = 4
CATALOG_NAME = "catalog.sqlite3"

def _as_rowid_table(table: str, columns: str, key: str) -> str:
    """The statements that move ``table`` (a model's rows: ``model_id``, then ``columns``) from
    a WITHOUT ROWID table keyed on ``key`` to a rowid table UNIQUE on it, rows unchanged."""
    return f"""
    CREATE TABLE {table}_4 (
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        {columns}, UNIQUE ({key}));
    INSERT INTO {table}_4 SELECT * FROM {table} ORDER BY {key};
    DROP TABLE {table};
    ALTER TABLE {table}_4 RENAME TO {table};
    """


MIGRATIONS: list[str] = [
    # 0 -> 1
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE roots (
        id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE, added_at REAL NOT NULL);
    CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        root_id INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
        path TEXT NOT NULL UNIQUE,
        size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
        hash TEXT, taken_at REAL, width INTEGER, height INTEGER,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'ok', 'failed')),
        reason TEXT, updated_at REAL NOT NULL);
    CREATE INDEX files_root ON files(root_id);
    CREATE INDEX files_hash ON files(hash);
    CREATE TABLE models (
        id INTEGER PRIMARY KEY, spec TEXT NOT NULL UNIQUE, dim INTEGER NOT NULL,
        index_version INTEGER NOT NULL DEFAULT -1,
        index_size INTEGER NOT NULL DEFAULT -1, index_mtime_ns INTEGER NOT NULL DEFAULT -1);
    CREATE TABLE embeddings (
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        hash TEXT NOT NULL, vector BLOB NOT NULL,
        PRIMARY KEY (model_id, hash)) WITHOUT ROWID;
    CREATE TABLE labels (text TEXT PRIMARY KEY, added_at REAL NOT NULL);
    CREATE TABLE text_cache (
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        text TEXT NOT NULL, vector BLOB NOT NULL,
        PRIMARY KEY (model_id, text)) WITHOUT ROWID;
    INSERT INTO meta VALUES ('version', '0');
    """,
    # 1 -> 2: smart albums (a name and a saved query; the photos are found when it runs)
    """
    CREATE TABLE albums (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        query TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL);
    """,
    # 2 -> 3: videos (one file, many frames: each frame's time and vector)
    """
    ALTER TABLE files ADD COLUMN duration REAL;
    CREATE TABLE frames (
        model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        hash TEXT NOT NULL, n INTEGER NOT NULL, t REAL NOT NULL, vector BLOB NOT NULL,
        PRIMARY KEY (model_id, hash, n)) WITHOUT ROWID;
    """,
    # 3 -> 4: vectors in rowid tables. A 1 KB vector with its key overflows a WITHOUT ROWID
    # row (an index b-tree keeps < 1,002 bytes of a row on a 4 KB page), so every vector had
    # a 4 KB overflow page of its own: 4.8 KB a photo, a 1M-photo catalog of 4.7 GB, and a
    # look-up reading two pages. A rowid table keeps rows up to 4,061 bytes in place.
    "".join(_as_rowid_table(table, columns, key) for table, columns, key in (
        ("embeddings", "hash TEXT NOT NULL, vector BLOB NOT NULL", "model_id, hash"),
        ("frames", "hash TEXT NOT NULL, n INTEGER NOT NULL, t REAL NOT NULL, "
                   "vector BLOB NOT NULL", "model_id, hash, n"),
        ("text_cache", "text TEXT NOT NULL, vector BLOB NOT NULL", "model_id, text"))),
]


def upgrade_pending(folder: Path) -> bool:
    """Whether the catalog in ``folder`` was written by an older ClipDesk, so opening it will
    migrate it first (a minute and a half at 1M photos for schema 4): what the app and the
    command line say before they open it. Reads without writing; False when there is none."""
    path = Path(folder) / CATALOG_NAME
    if not path.is_file():
        return False
    try:
        db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=1)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return False  # opening it says what is wrong
    return 0 < version < SCHEMA_VERSION


FRAME_SHIFT = 32  # a frame's usearch key: the file's id below, its number + 1 above
FILE_MASK = (1 << FRAME_SHIFT) - 1


def frame_key(file_id: int, n: int) -> int:
    """The usearch key of a video's frame ``n`` (0-based)."""
    return int(file_id) | (int(n) + 1) << FRAME_SHIFT


def file_of_key(key: int) -> int:
    """The file id a usearch key belongs to (a photo's key is its id)."""
    return int(key) & FILE_MASK


FRAMES_MAX = 64  # frames of one video in the index, at most (core.video samples no more)


def removal_keys(ids: list[int], videos: set[int]) -> list[int]:
    """Every usearch key these files may have in an index, for ``VectorIndex.remove``: a
    photo's id; for the ids in ``videos`` (``FileRow.is_video``) also every frame key."""
    out: list[int] = []
    for i in ids:
        out.append(int(i))
        if i in videos:
            out += [frame_key(i, n) for n in range(FRAMES_MAX)]
    return out


def frame_of_key(key: int) -> int | None:
    """The frame number a key stands for, None for a photo's key."""
    n = int(key) >> FRAME_SHIFT
    return n - 1 if n else None

ALBUM_NAME_MAX = 100  # characters


def album_name(text: str) -> str:
    """An album's name as stored: trimmed, one line, not empty. Raises ClipDeskError (a
    message for the user) otherwise. Names are unique regardless of case."""
    name = " ".join(str(text).split())
    if not name:
        raise ClipDeskError("an album needs a name")
    if len(name) > ALBUM_NAME_MAX:
        raise ClipDeskError(f"album names are at most {ALBUM_NAME_MAX} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise ClipDeskError("an album name cannot hold control characters")
    return name


@dataclass
class FileRow:
    id: int
    root_id: int
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    taken_at: float | None
    width: int | None
    height: int | None
    status: str
    reason: str | None
    duration: float | None = None  # seconds, for a video; None for a photo

    @classmethod
    def of(cls, r: tuple) -> FileRow:
        """A row of ``SELECT * FROM files`` (columns 0-10, ``updated_at``, ``duration``)."""
        return cls(*r[:11], r[12] if len(r) > 12 else None)

    @property
    def is_video(self) -> bool:
        return self.duration is not None


@dataclass
class ModelRow:
    id: int
    spec: str
    dim: int
    index_version: int
    index_size: int
    index_mtime_ns: int


@dataclass(frozen=True)
class AlbumRow:
    """A smart album: a name and the query it runs (``Query.to_json`` text)."""

    id: int
    name: str
    query_json: str
    created_at: float
    updated_at: float

    @property
    def query(self) -> Query:
        """The saved query; ClipDeskError when the stored text cannot be read (deleting the
        album is then the way out, so listing never fails on it)."""
        try:
            return Query.from_json(self.query_json)
        except ValueError as exc:
            raise ClipDeskError(f"the album “{self.name}” cannot be read ({exc}); delete it "
                                f"and save the search again") from exc


@dataclass
class Outcome:
    """What the indexer learned about one file, for ``Catalog.record_outcomes``: it vanished,
    it failed (``error``), or it was read (``hash`` and facts; ``new_vector`` when the model
    embedded new content)."""

    file_id: int
    size: int = 0
    mtime_ns: int = 0
    vanished: bool = False
    error: str | None = None
    hash: str | None = None
    taken_at: float | None = None
    width: int | None = None
    height: int | None = None
    new_vector: np.ndarray | None = None
    duration: float | None = None  # a video's: it is one then
    new_frames: list[tuple[float, np.ndarray]] | None = None  # a video's (t, vector), new content


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float16).tobytes()


def from_blobs(blobs: list[bytes], dim: int) -> np.ndarray:
    """float16 blobs -> (N, dim) float32 array."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(blobs), dtype=np.float16).reshape(-1, dim).astype(np.float32)


class Catalog:
    """The SQLite catalog. One connection per thread; writes go through ``write()``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / CATALOG_NAME
        self.read_only = False  # set when the folder only allows reading
        self._local = threading.local()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LibraryError(f"cannot create the library folder {self.folder}: {exc.strerror}") from exc
        self._migrate()

    # ------------------------------------------------------------------ plumbing

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
            except sqlite3.OperationalError as exc:
                if conn is not None:
                    conn.close()
                read_only = "readonly" in str(exc) or (
                    self.path.is_file() and not os.access(self.folder, os.W_OK | os.X_OK))
                if not read_only:
                    raise LibraryError(f"cannot open the library catalog {self.path}: {exc}") from exc
                conn = self._connect_read_only()
            except sqlite3.DatabaseError as exc:
                raise LibraryError(f"cannot open the library catalog {self.path}: {exc}") from exc
            self._local.conn = conn
        return conn

    def _connect_read_only(self) -> sqlite3.Connection:
        """A library on a read-only folder or medium can still be searched."""
        self.read_only = True
        uri = self.path.resolve().as_uri()
        for mode in ("?mode=ro", "?immutable=1"):  # immutable: no -shm can be made beside it
            try:
                conn = sqlite3.connect(uri + mode, uri=True, timeout=BUSY_TIMEOUT_S,
                                       isolation_level=None)
                conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.OperationalError:
                continue
        raise LibraryError(f"cannot open the library catalog {self.path}: its folder is read-only")

    def _write_failed(self, exc: sqlite3.Error) -> Exception:
        """A write the disk refused, as one line for the user; any other error (a bug, say
        "no such table") stays what it is, so it is logged with its traceback."""
        text = str(exc)
        if self.read_only or "readonly" in text:
            why = "the library folder is read-only"
        elif "full" in text:
            why = "the disk is full"
        elif "I/O" in text:
            why = f"the disk refused the write ({text}): is it full, or failing?"
        elif "unable to open" in text:
            why = f"the library's files cannot be opened for writing ({text})"
        else:
            return exc
        return LibraryError(f"could not save to the library {self.folder}: {why}. Nothing was "
                            f"lost; fix that and run again to continue.")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def write(self, changes_vectors: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction. ``changes_vectors`` bumps the version that marks indexes stale."""
        db = self.db
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or (err := self._write_failed(exc)) is exc:
                raise
            raise err from exc
        try:
            yield db
            if changes_vectors:
                db.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'"
                )
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):  # disk full, I/O: nothing half-written
                err = self._write_failed(exc)
                if err is not exc:
                    raise err from exc
            raise

    def _migrate(self) -> None:
        try:
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise LibraryError(f"{self.path} is not a ClipDesk catalog ({exc})") from exc
        if version > SCHEMA_VERSION:
            raise LibraryError(
                f"the library at {self.folder} was written by a newer ClipDesk (catalog schema "
                f"{version}, this version reads up to {SCHEMA_VERSION}); update ClipDesk to use it"
            )
        if version == SCHEMA_VERSION:
            return
        started = time.perf_counter()
        for step in range(version, SCHEMA_VERSION):
            try:
                with self.write(changes_vectors=False) as db:
                    # another process (the app and a CLI command) may have migrated it meanwhile
                    if db.execute("PRAGMA user_version").fetchone()[0] > step:
                        continue
                    for statement in MIGRATIONS[step].split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute(f"PRAGMA user_version = {step + 1}")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc):
                    raise
                raise LibraryError(
                    f"the library at {self.folder} is busy: another ClipDesk is upgrading or "
                    f"writing it; try again when it has finished") from exc
        if version > 0:
            log.info("catalog %s upgraded from schema %d to %d in %.1f s", self.path, version,
                     SCHEMA_VERSION, time.perf_counter() - started)
            self._give_back_free_pages()

    def _give_back_free_pages(self) -> None:
        """After a migration that rewrote big tables: return their old pages to the disk
        (VACUUM, atomic like any transaction) when they are a quarter of the file or more.
        Not doing it loses nothing: SQLite reuses free pages for later writes."""
        db = self.db
        free, pages = (db.execute(f"PRAGMA {p}").fetchone()[0]
                       for p in ("freelist_count", "page_count"))
        if free < 1024 or free * 4 < pages:
            return
        started = time.perf_counter()
        try:
            db.execute("VACUUM")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.OperationalError as exc:  # no room for the copy, say: next time
            log.warning("could not compact the catalog %s (%s); it keeps %d free pages",
                        self.path, exc, free)
            return
        log.info("catalog %s compacted from %d to %d pages in %.1f s", self.path, pages,
                 db.execute("PRAGMA page_count").fetchone()[0], time.perf_counter() - started)

    # ------------------------------------------------------------------ meta

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self.write(changes_vectors=False) as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def version(self) -> int:
        return int(self.get_meta("version", "0") or 0)

    # ------------------------------------------------------------------ roots

    def roots(self) -> list[tuple[int, Path]]:
        rows = self.db.execute("SELECT id, path FROM roots ORDER BY path").fetchall()
        return [(rid, Path(p)) for rid, p in rows]

    def add_root(self, folder: Path) -> int:
        """Add a folder; a folder inside an existing root is that root, and roots inside a new
        folder are folded into it (their photos keep their embeddings)."""
        folder = Path(folder)
        for rid, root in self.roots():
            if folder == root or folder.is_relative_to(root):
                return rid
        with self.write(changes_vectors=False) as db:
            rid = db.execute(
                "INSERT INTO roots (path, added_at) VALUES (?, ?)", (str(folder), time.time())
            ).lastrowid
            for old_id, root in self.roots():
                if old_id != rid and root.is_relative_to(folder):
                    db.execute("UPDATE files SET root_id = ? WHERE root_id = ?", (rid, old_id))
                    db.execute("DELETE FROM roots WHERE id = ?", (old_id,))
        return rid

    def root_video_ids(self, folder: Path) -> set[int]:
        """The ids of the videos under a root (their frame keys leave an index with them)."""
        return {row.id for rid, root in self.roots() if root == Path(folder)
                for row in self.files_under(rid, str(root)).values() if row.is_video}

    def remove_root(self, folder: Path) -> list[int]:
        """Forget a root and its photos' rows; returns the removed file ids."""
        if all(path != Path(folder) for _, path in self.roots()):
            return []  # not a root: nothing changes (and the index stays current)
        with self.write() as db:
            row = db.execute("SELECT id FROM roots WHERE path = ?", (str(folder),)).fetchone()
            if row is None:
                return []
            ids = [r[0] for r in db.execute("SELECT id FROM files WHERE root_id = ?", row)]
            db.execute("DELETE FROM roots WHERE id = ?", row)
        return ids

    # ------------------------------------------------------------------ files

    _UNDER = "root_id = ? AND (path = ? OR substr(path, 1, ?) = ?)"

    def _under_args(self, root_id: int, prefix: str) -> tuple:
        folder = prefix.rstrip("/\\") + os.sep
        return (root_id, prefix, len(folder), folder)

    def files_under(self, root_id: int, prefix: str) -> dict[str, FileRow]:
        """Rows of the root at ``prefix`` or inside the folder ``prefix``."""
        rows = self.db.execute(f"SELECT * FROM files WHERE {self._UNDER}",
                               self._under_args(root_id, prefix)).fetchall()
        return {r[2]: FileRow.of(r) for r in rows}

    def needing_work(self, model: ModelRow, root_id: int, prefix: str) -> dict[int, str]:
        """{id: path} at or under ``prefix`` that are pending or lack this model's embedding."""
        rows = self.db.execute(
            "SELECT f.id, f.path FROM files f LEFT JOIN embeddings e "
            "ON e.model_id = ? AND e.hash = f.hash "
            f"WHERE {self._UNDER} "  # path and root_id exist only in files
            "AND f.status != 'failed' AND (f.status = 'pending' OR e.hash IS NULL)",
            (model.id, *self._under_args(root_id, prefix)),
        ).fetchall()
        return dict(rows)

    def record_scan(self, root_id: int, found: dict, known: dict[str, FileRow],
                    gone: list[int]) -> None:
        """What a scan saw, in one transaction: new files (pending), changed ones (size or
        mtime differ: pending again), and the ids of files gone from disk (deleted).
        ``found`` maps path -> an object with ``size`` and ``mtime_ns``."""
        now = time.time()
        with self.write() as db:
            for path, f in found.items():
                row = known.get(path)
                if row is None:
                    db.execute(
                        "INSERT INTO files (root_id, path, size, mtime_ns, status, updated_at) "
                        "VALUES (?, ?, ?, ?, 'pending', ?)",
                        (root_id, path, f.size, f.mtime_ns, now),
                    )
                elif (row.size, row.mtime_ns) != (f.size, f.mtime_ns):
                    db.execute(
                        "UPDATE files SET size = ?, mtime_ns = ?, status = 'pending', "
                        "reason = NULL, updated_at = ? WHERE id = ?",
                        (f.size, f.mtime_ns, now, row.id),
                    )
            db.executemany("DELETE FROM files WHERE id = ?", [(i,) for i in gone])

    def record_outcomes(self, model: ModelRow, outcomes: list[Outcome]) -> None:
        """What reading (and embedding) a batch of files gave, in one transaction."""
        now = time.time()
        with self.write() as db:
            for o in outcomes:
                if o.vanished:
                    db.execute("DELETE FROM files WHERE id = ?", (o.file_id,))
                elif o.error is not None:
                    db.execute(
                        "UPDATE files SET status = 'failed', reason = ?, size = ?, mtime_ns = ?, "
                        "hash = NULL, updated_at = ? WHERE id = ?",
                        (o.error, o.size, o.mtime_ns, now, o.file_id),
                    )
                else:
                    db.execute(
                        "UPDATE files SET status = 'ok', reason = NULL, size = ?, mtime_ns = ?, "
                        "hash = ?, taken_at = ?, width = ?, height = ?, duration = ?, "
                        "updated_at = ? WHERE id = ?",
                        (o.size, o.mtime_ns, o.hash, o.taken_at, o.width, o.height,
                         o.duration, now, o.file_id),
                    )
                    if o.new_frames is not None:  # the frames and their mean, together
                        db.execute("DELETE FROM frames WHERE model_id = ? AND hash = ?",
                                   (model.id, o.hash))
                        db.executemany("INSERT INTO frames VALUES (?, ?, ?, ?, ?)", [
                            (model.id, o.hash, n, float(t), to_blob(v))
                            for n, (t, v) in enumerate(o.new_frames)])
                        db.execute("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                                   (model.id, o.hash, to_blob(o.new_vector)))
                    elif o.new_vector is not None:
                        db.execute("INSERT OR IGNORE INTO embeddings VALUES (?, ?, ?)",
                                   (model.id, o.hash, to_blob(o.new_vector)))

    def hashes_in_use(self) -> set[str]:
        """The content hashes of every photo in the catalog: the thumbnails worth keeping."""
        rows = self.db.execute("SELECT DISTINCT hash FROM files WHERE hash IS NOT NULL")
        return {row[0] for row in rows}

    def retry_failed(self) -> list[str]:
        """Mark every failed file pending again; returns their paths."""
        with self.write(changes_vectors=False) as db:
            rows = db.execute("SELECT path FROM files WHERE status = 'failed'").fetchall()
            db.execute("UPDATE files SET status = 'pending', reason = NULL WHERE status = 'failed'")
        return [r[0] for r in rows]

    def ids_matching(self, folder: Path | None, after: float | None, before: float | None,
                     limit: int) -> list[int] | None:
        """Ids of the files under ``folder`` taken within [after, before] (EXIF date, else
        the file's time), or None when more than ``limit`` match."""
        sql, args = "SELECT id FROM files WHERE 1", []
        if folder is not None:
            prefix = os.path.join(str(folder), "")  # "/" stays "/", "E:\\" stays "E:\\"
            sql += " AND path >= ? AND path < ?"  # a range on the path index: a prefix
            args += [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
        when = "COALESCE(taken_at, mtime_ns / 1e9)"
        if after is not None:
            sql += f" AND {when} >= ?"
            args.append(after)
        if before is not None:
            sql += f" AND {when} <= ?"
            args.append(before)
        rows = self.db.execute(f"{sql} LIMIT ?", [*args, limit + 1]).fetchall()
        return None if len(rows) > limit else [r[0] for r in rows]

    def browse_rows(self, folder: Path | None = None, after: float | None = None,
                    before: float | None = None) -> list[tuple[int, str, str | None, float]]:
        """(id, path, hash, date) of every photo that is indexed or pending (not failed) under
        ``folder`` and within [after, before], newest first; the date is the EXIF date, else
        the file's time. What the app shows before anything is typed (core/browse.py)."""
        when = "COALESCE(taken_at, mtime_ns / 1e9)"
        sql, args = f"SELECT id, path, hash, {when} AS t FROM files WHERE status != 'failed'", []
        if folder is not None:
            prefix = os.path.join(str(folder), "")
            sql += " AND path >= ? AND path < ?"
            args += [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
        if after is not None:
            sql += " AND t >= ?"
            args.append(after)
        if before is not None:
            sql += " AND t <= ?"
            args.append(before)
        return self.db.execute(sql + " ORDER BY t DESC, path", args).fetchall()

    def file_by_path(self, path: str) -> FileRow | None:
        row = self.db.execute("SELECT * FROM files WHERE path = ?", (path,)).fetchone()
        return FileRow.of(row) if row else None

    @staticmethod
    def _path_range(folder: Path | None) -> tuple[str, list]:
        """SQL (and its arguments) keeping the paths under ``folder``: a range on the path
        index; "" and no arguments for no folder."""
        if folder is None:
            return "", []
        prefix = os.path.join(str(folder), "")  # "/" stays "/", "E:\\" stays "E:\\"
        return " AND path >= ? AND path < ?", [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]

    def shared_hash_files(self, folder: Path | None = None) -> list[FileRow]:
        """Read files ('ok') under ``folder`` whose content another such file there has: the
        exact duplicates (core.duplicates), by hash then path."""
        where, args = self._path_range(folder)
        rows = self.db.execute(
            f"SELECT * FROM files WHERE status = 'ok' AND hash IN (SELECT hash FROM files "
            f"WHERE status = 'ok' AND hash IS NOT NULL{where} GROUP BY hash HAVING COUNT(*) > 1)"
            f"{where} ORDER BY hash, path", args + args).fetchall()
        return [FileRow.of(r) for r in rows]

    def files_with_hashes(self, hashes: list[str], folder: Path | None = None) -> list[FileRow]:
        """Read files ('ok') under ``folder`` holding any of these contents."""
        where, args = self._path_range(folder)
        out = []
        for start in range(0, len(hashes), 900):
            chunk = list(hashes[start:start + 900])
            marks = ",".join("?" * len(chunk))
            out += [FileRow.of(r) for r in self.db.execute(
                f"SELECT * FROM files WHERE status = 'ok' AND hash IN ({marks}){where}",
                [*chunk, *args])]
        return out

    def indexed_facts(self, model: ModelRow, folder: Path | None = None,
                      ids: list[int] | None = None) -> list[tuple[int, str, float | None]]:
        """(file id, hash, taken_at) of the files indexed for ``model`` under ``folder`` (and
        among ``ids``), by id: what the near-duplicate and burst passes need of every photo,
        without a row object for each of 300,000."""
        where, args = self._path_range(folder)
        sql = (f"SELECT f.id, f.hash, f.taken_at {self._INDEXED}"
               + where.replace("path", "f.path"))
        if ids is None:
            return self.db.execute(sql + " ORDER BY f.id", [model.id, *args]).fetchall()
        out = []
        for start in range(0, len(ids), 900):
            chunk = list(ids[start:start + 900])
            marks = ",".join("?" * len(chunk))
            out += self.db.execute(f"{sql} AND f.id IN ({marks})", [model.id, *args, *chunk])
        return sorted(out)

    def files_by_ids(self, ids: list[int]) -> dict[int, FileRow]:
        out: dict[int, FileRow] = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for r in self.db.execute(f"SELECT * FROM files WHERE id IN ({marks})", chunk):
                out[r[0]] = FileRow.of(r)
        return out

    def folder_counts(self) -> list[tuple[str, int]]:
        """(folder, photos directly in it) for every folder that holds photos, failed ones
        left out (the sidebar's folder tree, ``core.foldertree``). The folder is the path up
        to its last separator: ``rtrim`` drops the trailing characters that are not one."""
        sep = os.sep
        rows = self.db.execute(
            "SELECT rtrim(path, replace(path, ?, '')) AS folder, COUNT(*) FROM files "
            "WHERE status != 'failed' GROUP BY folder ORDER BY folder", (sep,)).fetchall()
        # "/a/b/" -> "/a/b"; "/" and "E:\\" stay as they are
        return [(folder if folder == sep or folder.endswith(":" + sep) else folder[:-1], n)
                for folder, n in rows if folder]

    # ------------------------------------------------------------------ models & vectors

    def model(self, spec: str, dim: int | None = None) -> ModelRow | None:
        """The model's row; created when ``dim`` is given."""
        row = self.db.execute("SELECT * FROM models WHERE spec = ?", (spec,)).fetchone()
        if row is None and dim is not None:
            with self.write(changes_vectors=False) as db:
                db.execute("INSERT OR IGNORE INTO models (spec, dim) VALUES (?, ?)", (spec, dim))
            row = self.db.execute("SELECT * FROM models WHERE spec = ?", (spec,)).fetchone()
        return ModelRow(*row) if row else None

    def has_embedding(self, model_id: int, hash_: str) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM embeddings WHERE model_id = ? AND hash = ?", (model_id, hash_)
        ).fetchone()
        return row is not None

    def embedding(self, model: ModelRow, hash_: str) -> np.ndarray | None:
        row = self.db.execute(
            "SELECT vector FROM embeddings WHERE model_id = ? AND hash = ?", (model.id, hash_)
        ).fetchone()
        return from_blobs([row[0]], model.dim)[0] if row else None

    _INDEXED = ("FROM files f JOIN embeddings e ON e.model_id = ? AND e.hash = f.hash "
                "WHERE f.status = 'ok'")

    # Photos are in the index by their own vector, videos by their frames' (``frame_key``)
    _PHOTO_KEYS = f"SELECT f.id AS k, e.vector AS v {_INDEXED} AND f.duration IS NULL"
    _FRAME_KEYS = ("SELECT f.id | ((fr.n + 1) << 32) AS k, fr.vector AS v "
                   "FROM files f JOIN embeddings e ON e.model_id = ? AND e.hash = f.hash "
                   "JOIN frames fr ON fr.model_id = e.model_id AND fr.hash = f.hash "
                   "WHERE f.status = 'ok' AND f.duration IS NOT NULL")

    def stored_vectors(self, model: ModelRow, keys) -> dict[int, np.ndarray]:
        """The stored (float16) vectors of usearch keys, a photo's embedding or a video
        frame's, by key; keys the catalog does not hold are left out. What an index of
        quantized vectors re-scores its candidates with (``vectors.VectorIndex``)."""
        out: dict[int, np.ndarray] = {}
        keys = [int(k) for k in keys]
        photos = [k for k in keys if k >> FRAME_SHIFT == 0]
        frames = [k for k in keys if k >> FRAME_SHIFT]
        for start in range(0, len(photos), 900):
            chunk = photos[start:start + 900]
            # CROSS JOIN keeps files the outer loop: SQLite may otherwise scan every
            # embedding of the model (39 s at 1M photos) instead of looking up these few
            rows = self.db.execute(
                "SELECT f.id, e.vector FROM files f CROSS JOIN embeddings e ON e.model_id = ? "
                f"AND e.hash = f.hash WHERE f.id IN ({','.join('?' * len(chunk))})",
                [model.id, *chunk]).fetchall()
            out.update(zip((r[0] for r in rows), from_blobs([r[1] for r in rows], model.dim),
                           strict=True))
        for key in frames:  # a search's candidates hold few frames: one look-up each
            row = self.db.execute(
                "SELECT fr.vector FROM files f CROSS JOIN frames fr ON fr.model_id = ? "
                "AND fr.hash = f.hash AND fr.n = ? WHERE f.id = ?",
                (model.id, frame_of_key(key), file_of_key(key))).fetchone()
            if row is not None:
                out[key] = from_blobs([row[0]], model.dim)[0]
        return out

    def indexed_vectors(self, model: ModelRow, changed_since: float | None = None,
                        also: list[int] = ()) -> tuple[np.ndarray, np.ndarray]:
        """(usearch keys, vectors) of indexed files, a video's frames each under their key:
        all of them (what the usearch index must hold), or those of files updated since a
        time plus the files of the keys in ``also``."""
        photos, frames, args = self._PHOTO_KEYS, self._FRAME_KEYS, [model.id]
        if changed_since is not None:
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS wanted (id INTEGER PRIMARY KEY)")
            self.db.execute("DELETE FROM wanted")
            self.db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)",
                                [(file_of_key(k),) for k in also])
            where = " AND (f.updated_at >= ? OR f.id IN (SELECT id FROM wanted))"
            photos, frames = photos + where, frames + where
            args.append(changed_since)
        rows = self.db.execute(f"{photos} UNION ALL {frames} ORDER BY k", args + args).fetchall()
        keys = np.array([r[0] for r in rows], dtype=np.uint64)
        return keys, from_blobs([r[1] for r in rows], model.dim)

    def indexed_ids(self, model: ModelRow) -> list[int]:
        """The usearch keys the model's index holds when current: indexed photos' ids, and
        every frame key of indexed videos."""
        return [r[0] for r in self.db.execute(
            f"SELECT k FROM ({self._PHOTO_KEYS}) UNION ALL SELECT k FROM ({self._FRAME_KEYS})",
            (model.id, model.id))]

    def indexed_count(self, model: ModelRow) -> int:
        """How many vectors the model's index holds when current: one per indexed photo, one
        per sampled frame of an indexed video (``indexed_files`` counts files)."""
        photos = self.db.execute(
            f"SELECT COUNT(*) {self._INDEXED} AND f.duration IS NULL", (model.id,)).fetchone()[0]
        frames = self.db.execute(
            "SELECT COUNT(*) FROM files f JOIN frames fr ON fr.model_id = ? AND fr.hash = f.hash "
            "WHERE f.status = 'ok' AND f.duration IS NOT NULL", (model.id,)).fetchone()[0]
        return photos + frames

    def indexed_files(self, model: ModelRow) -> int:
        """How many files (photos and videos) are indexed for the model."""
        return self.db.execute(f"SELECT COUNT(*) {self._INDEXED}", (model.id,)).fetchone()[0]

    def index_keys(self, model: ModelRow, file_ids: list[int]) -> list[int]:
        """The usearch keys of these files: a photo's id, a video's frame keys (an exact
        search among filtered files, core/search.py)."""
        out: list[int] = []
        for start in range(0, len(file_ids), 900):
            chunk = list(file_ids[start:start + 900])
            marks = ",".join("?" * len(chunk))
            videos = dict(self.db.execute(
                f"SELECT f.id, COUNT(fr.n) FROM files f JOIN frames fr ON fr.model_id = ? "
                f"AND fr.hash = f.hash WHERE f.duration IS NOT NULL AND f.id IN ({marks}) "
                f"GROUP BY f.id", [model.id, *chunk]).fetchall())
            for i in chunk:
                count = videos.get(i)
                out += [i] if count is None else [frame_key(i, n) for n in range(count)]
        return out

    def video_frames(self, model: ModelRow, hash_: str) -> list[tuple[float, np.ndarray]]:
        """A video's sampled frames for the model, in time order: (t seconds, unit vector)."""
        rows = self.db.execute("SELECT t, vector FROM frames WHERE model_id = ? AND hash = ? "
                               "ORDER BY n", (model.id, hash_)).fetchall()
        vectors = from_blobs([r[1] for r in rows], model.dim)
        return [(float(r[0]), v) for r, v in zip(rows, vectors, strict=True)]

    def video_hashes(self, hashes: list[str]) -> set[str]:
        """Those of these contents that are videos."""
        out: set[str] = set()
        for start in range(0, len(hashes), 900):
            chunk = list(hashes[start:start + 900])
            marks = ",".join("?" * len(chunk))
            out |= {r[0] for r in self.db.execute(
                f"SELECT DISTINCT hash FROM files WHERE duration IS NOT NULL AND hash IN ({marks})",
                chunk)}
        return out

    def video_facts(self, hash_: str) -> FileRow | None:
        """A read video ('ok') holding this content: its size, date and duration stand for a
        copy or a rename, which then needs no decoding."""
        row = self.db.execute("SELECT * FROM files WHERE hash = ? AND status = 'ok' AND "
                              "duration IS NOT NULL LIMIT 1", (hash_,)).fetchone()
        return FileRow.of(row) if row else None

    def frame_times(self, model: ModelRow, hash_: str) -> list[float]:
        """The times (seconds) of a video's sampled frames, in order: what the app shows of
        a video's moments (their thumbnails: ``ThumbnailStore.frame_path``)."""
        return [r[0] for r in self.db.execute(
            "SELECT t FROM frames WHERE model_id = ? AND hash = ? ORDER BY n", (model.id, hash_))]

    def frame_time(self, model: ModelRow, hash_: str, n: int) -> float | None:
        """The time of a video's frame ``n``, None when unknown."""
        row = self.db.execute("SELECT t FROM frames WHERE model_id = ? AND hash = ? AND n = ?",
                              (model.id, hash_, n)).fetchone()
        return row[0] if row else None

    def record_index_saved(self, model: ModelRow, version: int, size: int, mtime_ns: int) -> None:
        with self.write(changes_vectors=False) as db:
            db.execute(
                "UPDATE models SET index_version = ?, index_size = ?, index_mtime_ns = ? WHERE id = ?",
                (version, size, mtime_ns, model.id),
            )

    def drop_orphan_embeddings(self, model: ModelRow) -> int:
        with self.write(changes_vectors=False) as db:
            cur = db.execute(
                "DELETE FROM embeddings WHERE model_id = ? AND hash NOT IN "
                "(SELECT hash FROM files WHERE hash IS NOT NULL)",
                (model.id,),
            )
            db.execute("DELETE FROM frames WHERE model_id = ? AND hash NOT IN "
                       "(SELECT hash FROM files WHERE hash IS NOT NULL)", (model.id,))
            return cur.rowcount

    # ------------------------------------------------------------------ status

    def counts(self, model_id: int | None) -> dict[int, dict[str, int]]:
        """Per root id: indexed, pending and failed counts for a model."""
        rows = self.db.execute(
            "SELECT f.root_id, "
            "SUM(f.status = 'ok' AND e.hash IS NOT NULL), SUM(f.status = 'failed'), COUNT(*) "
            "FROM files f LEFT JOIN embeddings e ON e.model_id = ? AND e.hash = f.hash "
            "GROUP BY f.root_id",
            (model_id if model_id is not None else -1,),
        ).fetchall()
        out = {}
        for rid, indexed, failed, total in rows:
            indexed, failed = int(indexed or 0), int(failed or 0)
            out[rid] = {"indexed": indexed, "failed": failed, "pending": total - indexed - failed}
        return out

    def failures(self) -> list[tuple[str, str]]:
        rows = self.db.execute(
            "SELECT path, reason FROM files WHERE status = 'failed' ORDER BY path"
        ).fetchall()
        return [(p, r or "unknown error") for p, r in rows]

    # ------------------------------------------------------------------ smart albums

    _ALBUM = "SELECT id, name, query, created_at, updated_at FROM albums"

    def albums(self) -> list[AlbumRow]:
        """Every smart album, by name (case ignored)."""
        return [AlbumRow(*r) for r in self.db.execute(f"{self._ALBUM} ORDER BY name, id")]

    def album(self, name: str) -> AlbumRow | None:
        """The album of this name (case ignored, spaces trimmed), or None."""
        row = self.db.execute(f"{self._ALBUM} WHERE name = ?",
                              (" ".join(str(name).split()),)).fetchone()
        return AlbumRow(*row) if row else None

    def _known_album(self, name: str) -> AlbumRow:
        album = self.album(name)
        if album is None:
            raise ClipDeskError(f"no album named “{' '.join(str(name).split())}”")
        return album

    def save_album(self, name: str, query: Query, replace: bool = False) -> AlbumRow:
        """Save ``query`` under ``name``. A name in use is an error unless ``replace`` (then
        the album keeps its id and creation time and takes the new query and spelling)."""
        name, text, now = album_name(name), query.to_json(), time.time()
        try:
            with self.write(changes_vectors=False) as db:
                replaced = replace and db.execute(
                    "UPDATE albums SET name = ?, query = ?, updated_at = ? WHERE name = ?",
                    (name, text, now, name)).rowcount
                if not replaced:
                    db.execute("INSERT INTO albums (name, query, created_at, updated_at) "
                               "VALUES (?, ?, ?, ?)", (name, text, now, now))
        except sqlite3.IntegrityError as exc:
            raise ClipDeskError(f"an album named “{self._known_album(name).name}” already "
                                f"exists") from exc
        return self._known_album(name)

    def rename_album(self, old: str, new: str) -> AlbumRow:
        """Rename an album (a change of case alone is a rename too)."""
        album, new = self._known_album(old), album_name(new)
        try:
            with self.write(changes_vectors=False) as db:
                db.execute("UPDATE albums SET name = ?, updated_at = ? WHERE id = ?",
                           (new, time.time(), album.id))
        except sqlite3.IntegrityError as exc:
            raise ClipDeskError(f"an album named “{self._known_album(new).name}” already "
                                f"exists") from exc
        return self._known_album(new)

    def delete_album(self, name: str) -> None:
        """Forget an album (its photos are not touched: an album is a saved search)."""
        album = self._known_album(name)
        with self.write(changes_vectors=False) as db:
            db.execute("DELETE FROM albums WHERE id = ?", (album.id,))

    # ------------------------------------------------------------------ labels & text cache

    def labels(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT text FROM labels ORDER BY text")]

    def add_labels(self, texts: list[str]) -> None:
        with self.write(changes_vectors=False) as db:
            db.executemany(
                "INSERT OR IGNORE INTO labels VALUES (?, ?)", [(t, time.time()) for t in texts]
            )

    def remove_labels(self, texts: list[str]) -> int:
        with self.write(changes_vectors=False) as db:
            return db.executemany("DELETE FROM labels WHERE text = ?", [(t,) for t in texts]).rowcount

    def cached_texts(self, model: ModelRow, texts: list[str]) -> dict[str, np.ndarray]:
        out = {}
        for start in range(0, len(texts), 900):
            chunk = texts[start : start + 900]
            marks = ",".join("?" * len(chunk))
            for text, blob in self.db.execute(
                f"SELECT text, vector FROM text_cache WHERE model_id = ? AND text IN ({marks})",
                [model.id, *chunk],
            ):
                out[text] = from_blobs([blob], model.dim)[0]
        return out

    def cache_texts(self, model: ModelRow, vectors: dict[str, np.ndarray]) -> None:
        with self.write(changes_vectors=False) as db:
            db.executemany(
                "INSERT OR REPLACE INTO text_cache VALUES (?, ?, ?)",
                [(model.id, t, to_blob(v)) for t, v in vectors.items()],
            )
