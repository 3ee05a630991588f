"""RAW+JPEG pairs: which files are one shot, how search hits and the browse listing fold them
(the JPEG in front, the RAW beside it), and what stays apart. Real catalogs in tmp_path."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from clipdesk.core import browse, pairs
from clipdesk.core.catalog import Catalog
from clipdesk.core.query import Filters
from clipdesk.core.scan import FoundFile
from clipdesk.core.search import Hit


def test_one_shot_is_same_folder_same_name_case_ignored_one_raw_one_jpeg():
    assert pairs.shot_key("/p/IMG_0001.CR2") == (pairs.shot_key("/p/img_0001.jpg")[0], True)
    assert pairs.shot_key("/p/IMG_0001.JPG")[1] is False
    assert pairs.shot_key("/p.d/IMG") is None and pairs.is_raw("/p/x.NEF")
    assert pairs.shot_key("/p/IMG_0001.png") is None  # a PNG is no camera's developed picture
    assert pairs.shot_key("/p/notes.txt") is None
    got = pairs.fold(["/p/IMG_0001.CR2", "/p/img_0001.jpg", "/q/IMG_0001.JPG", "/p/IMG_0002.NEF",
                      "/p/IMG_0003.jpeg", "/p/IMG_0003.png", "/p/IMG_0004.HEIC", "/p/img_0004.dng"])
    # the JPEG keeps its own place; /q is another folder; IMG_0002 has no JPEG; the PNG of
    # IMG_0003 is no pair; a HEIF is a developed picture too
    assert got.rows.tolist() == [1, 2, 3, 4, 5, 6]
    assert got.raws == {0: "/p/IMG_0001.CR2", 5: "/p/img_0004.dng"}


def test_same_shot_is_a_raw_and_a_jpeg_never_two_of_a_kind():
    assert pairs.same_shot("/p/IMG_1.CR2", "/p/img_1.jpg")
    assert pairs.same_shot("/p/IMG_1.HEIC", "/p/IMG_1.dng")
    assert not pairs.same_shot("/p/IMG_1.jpg", "/p/IMG_1.jpeg")  # two JPEGs: maybe copies
    assert not pairs.same_shot("/p/IMG_1.CR2", "/q/IMG_1.jpg")
    assert not pairs.same_shot("/p/IMG_1.CR2", "/p/IMG_1.png")


def test_hits_fold_into_the_jpeg_at_the_better_place_with_the_better_score():
    hits = [Hit("/p/a.jpg", 0.9, 1, None), Hit("/p/B.ARW", 0.8, 2, None),
            Hit("/p/c.jpg", 0.7, 3, None), Hit("/p/a.dng", 0.6, 4, None),
            Hit("/p/b.JPG", 0.5, 5, None), Hit("/p/lone.orf", 0.4, 6, None)]
    got, raws = pairs.fold_hits(hits)
    assert [(h.path, h.score, h.file_id) for h in got] == [
        ("/p/a.jpg", 0.9, 1), ("/p/b.JPG", 0.8, 5), ("/p/c.jpg", 0.7, 3), ("/p/lone.orf", 0.4, 6)]
    assert raws == {0: "/p/a.dng", 1: "/p/B.ARW"}
    assert hits[4].score == 0.5  # the caller's hits are not changed


def test_a_raw_whose_jpeg_was_left_out_on_purpose_leaves_too():
    """"Find similar" and "Fewer like these" leave the JPEG out: its RAW, all but the same
    picture, must not take its place at the top."""
    hits = [Hit("/p/a.CR2", 0.99, 1, None), Hit("/p/x.jpg", 0.5, 2, None),
            Hit("/p/x.cr2", 0.4, 3, None)]
    got, raws = pairs.fold_hits(hits, dropped=["/p/A.jpg"])
    assert [h.path for h in got] == ["/p/x.jpg"] and raws == {0: "/p/x.cr2"}
    assert [h.path for h in pairs.fold_hits(hits, dropped=["/p/a.png"])[0]] == [
        "/p/a.CR2", "/p/x.jpg"]  # a PNG is no pair


def test_nothing_to_pair_keeps_every_row():
    paths = ["/p/a.jpg", "/p/b.nef", "/p/c.png"]
    got = pairs.fold(paths, at_first=True)
    assert got.rows.tolist() == got.places.tolist() == [0, 1, 2] and got.raws == {}


def add(catalog: Catalog, root: Path, files: dict[str, float]) -> None:
    rid = catalog.add_root(root)
    found = {str(root / name): FoundFile(str(root / name), 10, int(when * 1e9))
             for name, when in files.items()}
    catalog.record_scan(rid, found, catalog.files_under(rid, str(root)), [])


def test_browse_folds_pairs_keeps_the_jpeg_date_and_the_media_filters(tmp_path):
    catalog = Catalog(tmp_path / "lib")
    root = tmp_path / "photos"
    day = datetime(2024, 5, 15, 12).timestamp()
    # the RAW written a second after its JPEG: the pair sits where the JPEG's date puts it
    add(catalog, root, {"IMG_1.JPG": day, "IMG_1.CR2": day + 1, "IMG_2.jpg": day - 10,
                        "IMG_3.CR2": day - 20, "old.jpg": datetime(2023, 1, 1).timestamp()})
    got = browse.listing(catalog, pair_raws=True)
    names = [Path(p).name for p in got.paths]
    assert names == ["IMG_1.JPG", "IMG_2.jpg", "IMG_3.CR2", "old.jpg"]
    assert got.raws == {0: str(root / "IMG_1.CR2")}
    assert got.months.counts.tolist() == [3, 1] and len(got.ids) == len(got.hashes) == 4
    both = browse.listing(catalog)  # the setting to show both; and the CLI's albums
    assert len(both) == 5 and both.raws == {}
    photos = browse.listing(catalog, Filters(media="photo"), pair_raws=True)
    assert [Path(p).name for p in photos.paths] == ["IMG_1.JPG", "IMG_2.jpg", "old.jpg"]
    assert photos.raws == {0: str(root / "IMG_1.CR2")}  # the JPEG keeps its RAW
    raw = browse.listing(catalog, Filters(media="raw"), pair_raws=True)
    assert [Path(p).name for p in raw.paths] == ["IMG_1.CR2", "IMG_3.CR2"] and raw.raws == {}
    catalog.close()
