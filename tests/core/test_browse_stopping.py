"""A listing asked to stop (``browse.listing``'s ``stopped``) ends with ``Stopped``, even in
the middle of its SQL query, and leaves the thread's catalog connection as it was. Real
SQLite catalogs in tmp_path."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from clipdesk.core import browse
from clipdesk.core.catalog import Catalog
from clipdesk.core.scan import FoundFile

PHOTOS = 3000


@pytest.fixture
def catalog(tmp_path):
    c = Catalog(tmp_path / "lib")
    root = tmp_path / "photos"
    rid = c.add_root(root)
    start = datetime(2020, 1, 1).timestamp()
    found = {}
    for i in range(PHOTOS):
        path = str(root / f"{i // 100:02d}" / f"IMG_{i:05d}.jpg")
        found[path] = FoundFile(path, 10, int((start + 3600 * i) * 1e9))
    c.record_scan(rid, found, {}, [])
    yield c
    c.close()


def test_a_listing_stopped_before_it_starts_reads_nothing(catalog, monkeypatch):
    read = []
    monkeypatch.setattr(catalog, "browse_rows", lambda *a: read.append(a) or [])
    with pytest.raises(browse.Stopped):
        browse.listing(catalog, stopped=lambda: True)
    assert not read


def test_a_listing_stops_inside_its_query_and_the_connection_is_left_as_it_was(
        catalog, monkeypatch):
    monkeypatch.setattr(browse, "STOP_CHECK_STEPS", 100)  # many asks within the query
    real, ended = catalog.browse_rows, []

    def browse_rows(*args):
        try:
            rows = real(*args)
        except sqlite3.OperationalError as exc:
            ended.append(str(exc))
            raise
        ended.append(f"{len(rows)} rows")
        return rows

    monkeypatch.setattr(catalog, "browse_rows", browse_rows)
    asks = []

    def stopped() -> bool:  # asked once before the query, then by the query itself
        asks.append(1)
        return len(asks) >= 3

    with pytest.raises(browse.Stopped):
        browse.listing(catalog, stopped=stopped)
    assert ended == ["interrupted"]  # the query itself was cut short
    # the progress handler is gone: queries on this connection run to the end again
    assert len(catalog.db.execute("SELECT * FROM files").fetchall()) == PHOTOS
    whole = browse.listing(catalog)
    assert len(whole) == PHOTOS and ended[-1] == f"{PHOTOS} rows"
    kept = browse.listing(catalog, stopped=lambda: False)
    assert kept.paths == whole.paths and list(kept.dates) == list(whole.dates)
    assert Path(whole.paths[0]).name == f"IMG_{PHOTOS - 1:05d}.jpg"  # newest first
