"""The sidebar's folder tree without Qt: the catalog's per-folder counts (real SQLite) and the
tree built from them, with the folders in between filled in and counts rolled up."""

from __future__ import annotations

from pathlib import Path

import pytest

from clipdesk.core import browse
from clipdesk.core.catalog import Catalog, Outcome
from clipdesk.core.foldertree import build_tree, folder_rows
from clipdesk.core.query import Filters
from clipdesk.core.scan import FoundFile


@pytest.fixture
def catalog(tmp_path):
    c = Catalog(tmp_path / "lib")
    yield c
    c.close()


def record(catalog: Catalog, root: Path, names: list[str]) -> dict[str, int]:
    """Scan ``names`` (POSIX paths under ``root``) into the catalog; returns {name: file id}."""
    rid = catalog.add_root(root)
    found = {str(root / n): FoundFile(str(root / n), 100, 1) for n in names}
    catalog.record_scan(rid, found, catalog.files_under(rid, str(root)), [])
    return {n: catalog.file_by_path(str(root / n)).id for n in names}


def shape(node) -> tuple:
    return (node.name, node.count, node.direct, [shape(c) for c in node.children])


def test_catalog_counts_photos_per_folder_and_leaves_failed_ones_out(catalog, tmp_path):
    root = tmp_path / "photos"
    ids = record(catalog, root, ["a.jpg", "b.jpg", "2024/x.jpg", "2024/trip/y.jpg",
                                 "2024/trip/z.jpg", "2024/trip/bad.jpg"])
    model = catalog.model("m", dim=4)
    catalog.record_outcomes(model, [Outcome(ids["2024/trip/bad.jpg"], error="not a photo")])
    assert catalog.folder_counts() == [
        (str(root), 2), (str(root / "2024"), 1), (str(root / "2024" / "trip"), 2)]


def test_tree_fills_in_folders_between_and_rolls_counts_up(catalog, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    record(catalog, a, ["top.jpg", "x/y/deep1.jpg", "x/y/deep2.jpg", "x/z/one.jpg",
                        "Other/one.jpg"])
    record(catalog, b, ["b1.jpg"])
    tree = build_tree([p for _, p in catalog.roots()], catalog.folder_counts())
    assert [shape(t) for t in tree] == [
        ("a", 5, 1, [
            ("Other", 1, 1, []),
            ("x", 3, 0, [("y", 2, 2, []), ("z", 1, 1, [])]),  # x holds photos only below
        ]),
        ("b", 1, 1, []),
    ]
    assert tree[0].find(a / "x" / "y").count == 2
    assert tree[0].find(b) is None


def test_a_root_without_photos_and_an_offline_root_are_still_listed(tmp_path):
    tree = build_tree([(tmp_path / "empty", True), (tmp_path / "gone", False)],
                      [(str(tmp_path / "gone" / "sub"), 3), (str(tmp_path / "elsewhere"), 7),
                       (str(tmp_path / "gone"), 0)])
    assert [(t.name, t.count, t.online, t.is_root) for t in tree] == [
        ("empty", 0, True, True), ("gone", 3, False, True)]
    assert [c.name for c in tree[1].children] == ["sub"]  # a folder outside every root: left out
    assert [n.path for n in tree[1].walk()] == [tmp_path / "gone", tmp_path / "gone" / "sub"]


def test_a_folder_whose_name_starts_like_its_sibling_is_its_own_node(catalog, tmp_path):
    root = tmp_path / "r"
    record(catalog, root, ["2024/a.jpg", "2024-old/b.jpg", "2024-old/c.jpg"])
    tree = build_tree([root], catalog.folder_counts())
    assert [shape(c) for c in tree[0].children] == [("2024", 1, 1, []),
                                                     ("2024-old", 2, 2, [])]


def test_roots_show_their_name_and_where_they_are_when_names_clash(tmp_path):
    a, b, c = tmp_path / "one" / "Photos", tmp_path / "two" / "Photos", tmp_path / "Scans"
    tree = build_tree([a, b, c], [(str(a), 1), (str(b), 2), (str(c), 3)])
    assert [t.name for t in tree] == [f"Photos ({a.parent})", f"Photos ({b.parent})", "Scans"]


def test_a_raw_and_its_jpeg_count_once_when_they_show_as_one_photo(catalog, tmp_path):
    """With RAW+JPEG pairs shown as one photo (the app's default) a folder counts what
    browsing it shows: a pair once; a RAW alone, or with its JPEG in another folder, once
    each. With pairs shown as two files, every file counts. Each count is the length of the
    folder's browse listing under the same setting."""
    root = tmp_path / "photos"
    record(catalog, root, ["IMG_1.JPG", "IMG_1.CR2", "IMG_2.jpg", "IMG_3.CR2",
                           "trip/a.jpg", "trip/A.dng", "trip/b.nef", "trip/b.NEF.xmp.jpg",
                           "trip/day2/IMG_1.cr2", "trip/day2/c.heic", "trip/day2/C.ARW"])
    tiles = build_tree([root], folder_rows(catalog, pair_raws=True))
    assert [shape(t) for t in tiles] == [
        ("photos", 8, 3, [("trip", 5, 3, [("day2", 2, 2, [])])])]
    files = build_tree([root], folder_rows(catalog, pair_raws=False))
    assert [shape(t) for t in files] == [
        ("photos", 11, 4, [("trip", 7, 4, [("day2", 3, 3, [])])])]
    for pairing, tree in ((True, tiles), (False, files)):
        for node in tree[0].walk():
            shown = browse.listing(catalog, Filters(folder=node.path), pair_raws=pairing)
            assert node.count == len(shown), (pairing, node.path)
