"""Libraries as an earlier ClipDesk wrote them, for the schema migration tests: a library made
by the current code, then taken back to an older schema (what that schema's migrations made,
with the rows it held). The current code cannot write an old schema itself: it writes the
columns the new one adds."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from clipdesk.core.catalog import CATALOG_NAME, SCHEMA_VERSION

# version i+1 -> i: the statements undoing MIGRATIONS[i]
DOWNGRADES: dict[int, list[str]] = {
    4: [f"CREATE TABLE {table}_3 ({columns}, PRIMARY KEY ({key})) WITHOUT ROWID"
        for table, columns, key in (
            ("embeddings", "model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,"
             " hash TEXT NOT NULL, vector BLOB NOT NULL", "model_id, hash"),
            ("frames", "model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,"
             " hash TEXT NOT NULL, n INTEGER NOT NULL, t REAL NOT NULL, vector BLOB NOT NULL",
             "model_id, hash, n"),
            ("text_cache", "model_id INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,"
             " text TEXT NOT NULL, vector BLOB NOT NULL", "model_id, text"))] + [
        statement for table in ("embeddings", "frames", "text_cache") for statement in (
            f"INSERT INTO {table}_3 SELECT * FROM {table}", f"DROP TABLE {table}",
            f"ALTER TABLE {table}_3 RENAME TO {table}")],
    3: ["DROP TABLE frames", "ALTER TABLE files DROP COLUMN duration"],
    2: ["DROP TABLE albums"],
}


def take_back(folder: Path, version: int) -> None:
    """Turn the library at ``folder`` (written by this code) into one of schema ``version``."""
    db = sqlite3.connect(Path(folder) / CATALOG_NAME, isolation_level=None)
    try:
        db.execute("BEGIN")
        for step in range(SCHEMA_VERSION, version, -1):
            for statement in DOWNGRADES[step]:
                db.execute(statement)
        db.execute(f"PRAGMA user_version = {version}")
        db.execute("COMMIT")
    finally:
        db.close()
