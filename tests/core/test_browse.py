"""Browsing the library: which photos an empty query lists, in which order, with which
filters, and the month and day sections of the timeline. Real SQLite catalogs in tmp_path."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from clipdesk.core import browse
from clipdesk.core.catalog import Catalog, Outcome
from clipdesk.core.query import Filters
from clipdesk.core.scan import FoundFile


@pytest.fixture
def catalog(tmp_path):
    c = Catalog(tmp_path / "lib")
    yield c
    c.close()


def stamp(*args: int) -> float:
    """A local time, as the user's clock shows it."""
    return datetime(*args).timestamp()


def add(catalog: Catalog, root: Path, files: dict[str, float]) -> dict[str, int]:
    """Scan ``files`` ({name: file time}) into a root; returns {name: file id}."""
    rid = catalog.add_root(root)
    found = {str(root / name): FoundFile(str(root / name), 10, int(when * 1e9))
             for name, when in files.items()}
    catalog.record_scan(rid, found, catalog.files_under(rid, str(root)), [])
    return {name: catalog.file_by_path(str(root / name)).id for name in files}


def names(listing: browse.Listing) -> list[str]:
    return [Path(p).name for p in listing.paths]


def test_newest_first_by_exif_date_else_file_time_and_failed_photos_stay_out(catalog, tmp_path):
    model = catalog.model("x", dim=4)
    root = tmp_path / "photos"
    ids = add(catalog, root, {"old.jpg": stamp(2020, 1, 5), "new.jpg": stamp(2024, 6, 1),
                              "exif.jpg": stamp(2025, 1, 1), "broken.jpg": stamp(2026, 1, 1),
                              "waiting.jpg": stamp(2022, 3, 3)})
    catalog.record_outcomes(model, [
        Outcome(ids["exif.jpg"], 10, int(stamp(2025, 1, 1) * 1e9), hash="h1",
                taken_at=stamp(2019, 7, 4, 12)),  # the camera's date wins over the file's
        Outcome(ids["new.jpg"], 10, int(stamp(2024, 6, 1) * 1e9), hash="h2",
                new_vector=np.ones(4, np.float32) / 2),
        Outcome(ids["broken.jpg"], 10, 1, error="truncated JPEG"),
    ])
    got = browse.listing(catalog)
    assert names(got) == ["new.jpg", "waiting.jpg", "old.jpg", "exif.jpg"]  # pending shows
    assert got.dates[-1] == pytest.approx(stamp(2019, 7, 4, 12))
    assert got.hashes == ["h2", None, None, "h1"]
    assert list(got.ids) == [ids[n] for n in names(got)]
    assert list(got.dates) == sorted(got.dates, reverse=True)


def test_filters_keep_a_folder_with_its_subfolders_and_a_date_range(catalog, tmp_path):
    root = tmp_path / "photos"
    add(catalog, root, {"trip/a.jpg": stamp(2024, 5, 2), "trip/day2/b.jpg": stamp(2024, 5, 3),
                        "tripod/c.jpg": stamp(2024, 5, 4), "home/d.jpg": stamp(2023, 1, 1)})
    trip = browse.listing(catalog, Filters(folder=root / "trip"))
    assert names(trip) == ["b.jpg", "a.jpg"]  # "tripod" shares the prefix, not the folder
    may = browse.listing(catalog, Filters(after=stamp(2024, 5, 3), before=stamp(2024, 5, 4)))
    assert names(may) == ["c.jpg", "b.jpg"]  # both ends inclusive
    assert names(browse.listing(catalog, Filters(media="photo"))) == ["c.jpg", "b.jpg", "a.jpg",
                                                                      "d.jpg"]
    assert len(browse.listing(catalog, Filters(media="video"))) == 0
    # a minimum score means nothing without a query: it filters nothing out
    assert len(browse.listing(catalog, Filters(min_score=0.9))) == 4


def test_an_empty_library_lists_nothing(catalog):
    got = browse.listing(catalog)
    assert len(got) == 0 and len(got.months) == 0 and len(got.days) == 0


def test_months_in_local_time_with_counts_and_labels():
    dates = np.array([stamp(2026, 3, 31, 23, 59), stamp(2026, 3, 1, 0, 0),
                      stamp(2026, 2, 28, 23, 59), stamp(2025, 12, 25), stamp(2025, 12, 1),
                      stamp(2024, 7, 14)])
    months = browse.sections(dates, "month")
    assert list(months.starts) == [0, 2, 3, 5]
    assert list(months.counts) == [2, 1, 2, 1]  # empty months (Jan 2026, 2025 mostly) dropped
    assert [months.title(i) for i in range(len(months))] == [
        "March 2026", "February 2026", "December 2025", "July 2024"]
    assert months.label(1) == "February 2026 · 1 photo"
    assert months.label(0) == "March 2026 · 2 photos"
    assert [months.section_of(r) for r in range(6)] == [0, 0, 1, 2, 2, 3]


def test_days_split_a_month_and_name_the_weekday():
    dates = np.array([stamp(2026, 3, 3, 18), stamp(2026, 3, 3, 8), stamp(2026, 3, 1, 0, 0, 1),
                      stamp(2026, 2, 28, 23)])
    days = browse.sections(dates, "day")
    assert list(days.counts) == [2, 1, 1]
    assert days.title(0) == "Tuesday 3 March 2026"
    assert days.title(2) == "Saturday 28 February 2026"


def test_dates_before_1970_join_the_oldest_month_and_nothing_is_lost():
    dates = np.array([stamp(1971, 2, 1), 0.0, -86400.0 * 400])
    months = browse.sections(dates, "month")
    assert int(months.counts.sum()) == 3
    # the epoch's month as the local clock names it (December 1969 west of Greenwich)
    assert months.title(len(months) - 1) == datetime.fromtimestamp(0).strftime("%B %Y")
    assert list(months.counts)[-1] == 2


def test_sections_of_100000_photos_cost_milliseconds():
    rng = np.random.default_rng(0)
    dates = np.sort(rng.uniform(stamp(2006, 1, 1), stamp(2026, 1, 1), 100_000))[::-1]
    start = time.perf_counter()
    months = browse.sections(dates, "month")
    days = browse.sections(dates, "day")
    took = time.perf_counter() - start
    assert len(months) == 240 and int(months.counts.sum()) == 100_000
    assert int(days.counts.sum()) == 100_000 and len(days) > 7000
    # every row's section holds that row's local month
    for row in rng.integers(0, 100_000, 50):
        when = datetime.fromtimestamp(float(dates[row]))
        assert months.title(months.section_of(int(row))) == when.strftime("%B %Y")
    assert took < 1.0, took  # milliseconds on a desktop; generous for a loaded CI machine
