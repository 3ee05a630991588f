"""`clipdesk albums` and `clipdesk search --album` / `--cutoff` as a user runs them, on a
library of 48 shape photos (4 per class, in two folders) indexed with the trained tiny CLIP.
Errors: one line, exit 2, the library untouched."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from modulepaths import module_paths

import tinyclip
from clipdesk.cli import main
from usercli import photo_class, run_cli

PER_CLASS = 4
DAY = 86_400
BASE = 1_700_000_000  # photo i of the folder listing is dated BASE + i days


@pytest.fixture(scope="module")
def built(tmp_path_factory, onnx_cache, trained_model) -> tuple[Path, Path]:
    """(photos, library) made once: photos/a holds photos 0-1 of each class, photos/b 2-3;
    each photo has its own day."""
    base = tmp_path_factory.mktemp("albums-cli").resolve()
    photos = base / "photos"
    rng = np.random.default_rng(11)
    for color, shape in tinyclip.CLASSES:
        for i in range(PER_CLASS):
            folder = photos / ("a" if i < 2 else "b")
            folder.mkdir(parents=True, exist_ok=True)
            tinyclip.draw_shape(color, shape, rng, size=(320, 240)).save(
                folder / f"{color}-{shape}-{i}.jpg", quality=90)
    for i, path in enumerate(sorted(photos.rglob("*.jpg"))):
        os.utime(path, (BASE + i * DAY, BASE + i * DAY))
    with module_paths(base, onnx_cache):  # module scope: before isolated_paths
        assert main(["index", str(photos), "--library", str(base / "lib"),
                     "--model", trained_model]) == 0
    return photos, base / "lib"


@pytest.fixture
def lib(built, tmp_path) -> list[str]:
    """A fresh copy of the library for each test: ``--library`` and its folder."""
    shutil.copytree(built[1], tmp_path / "lib")
    return ["--library", str(tmp_path / "lib")]


@pytest.fixture
def photos(built) -> Path:
    return built[0]


def albums_table(lib: list[str]) -> list[tuple]:
    db = sqlite3.connect(Path(lib[1]) / "catalog.sqlite3")
    try:
        return db.execute("SELECT * FROM albums ORDER BY id").fetchall()
    finally:
        db.close()


def classes(res) -> list[str]:
    assert res.code == 0, res.err
    return [photo_class(h["path"]) for h in res.json()]


def test_save_list_run_rename_delete(cli, lib):
    assert cli("albums", *lib).out.startswith("No albums yet")
    res = cli("albums", "save", "Red circles", "a photo of a red circle", "--not", "blue", *lib)
    assert res.code == 0, res.err
    assert res.out.strip() == ("Saved the album “Red circles”: “a photo of a red circle”, "
                               "not “blue”, auto cut-off")
    assert cli("albums", "save", "Squares", "a photo of a green square", "--cutoff", "none",
               *lib).code == 0
    listed = cli("albums", "list", *lib).out.strip().splitlines()
    assert listed == ["Red circles\t“a photo of a red circle”, not “blue”, auto cut-off",
                      "Squares\t“a photo of a green square”, no cut-off"]
    # run: the stored auto cut-off keeps the class's 4 photos of 48; "none" keeps -n of them
    assert classes(cli("search", "--album", "red circles", "--json", *lib)) == ["red-circle"] * 4
    squares = classes(cli("search", "--album", "Squares", "-n", "30", "--json", *lib))
    assert len(squares) == 30 and squares[:4] == ["green-square"] * 4

    assert cli("albums", "rename", "squares", "Green squares", *lib).out.strip() == (
        "Renamed the album “Squares” to “Green squares”.")
    res = cli("albums", "delete", "RED CIRCLES", *lib)
    assert res.code == 0 and "no photo was touched" in res.out
    data = json.loads(cli("albums", "--json", *lib).out)
    assert [a["name"] for a in data] == ["Green squares"]
    assert data[0]["query"]["text"] == "a photo of a green square"
    assert data[0]["query"]["filters"]["min_score"] == -1.0  # "none", as the app reads it


def test_an_album_of_filters_only_lists_its_photos_newest_first(cli, lib, photos):
    day = BASE + 20 * DAY
    after = date.fromtimestamp(day).isoformat()
    res = cli("albums", "save", "Lately in b", "--folder", photos / "b", "--after", after, *lib)
    assert res.code == 0, res.err
    assert "all photos, in" in res.out and "since" in res.out
    res = cli("search", "--album", "lately in b", "-n", "100", *lib)
    assert res.code == 0, res.err
    lines = [line.split("\t") for line in res.out.strip().splitlines()]
    paths = [Path(p) for _, p in lines]
    expected = sorted((p for p in (photos / "b").glob("*.jpg")
                       if p.stat().st_mtime >= day - DAY), key=lambda p: -p.stat().st_mtime)
    assert paths == expected and len(paths) > 5  # newest first, only b, only since that day
    assert lines[0][0] > lines[-1][0]  # dates printed, newest first


def test_cli_options_refine_an_album(cli, lib, photos):
    assert cli("albums", "save", "circles", "a photo of a red circle", "--cutoff", "none",
               *lib).code == 0
    top = cli("search", "--album", "circles", "-n", "48", "--json", *lib).json()
    assert len(top) == 48  # stored: no cut-off
    narrowed = cli("search", "--album", "circles", "--folder", photos / "a", "-n", "48",
                   "--json", *lib).json()
    assert len(narrowed) == 24 and all(h["path"].startswith(str(photos / "a")) for h in narrowed)
    auto = classes(cli("search", "--album", "circles", "--cutoff", "auto", "--json", *lib))
    assert auto == ["red-circle"] * 4  # the option given replaces the stored cut-off
    pushed = cli("search", "--album", "circles", "--not", "a photo of a red square", "-n", "48",
                 "--json", *lib).json()

    def rank(hits, name):
        return [photo_class(h["path"]) for h in hits].index(name)

    assert rank(pushed, "red-square") > rank(top, "red-square")
    stored = json.loads(albums_table(lib)[0][2])
    assert stored["negatives"] == [] and stored["filters"]["folder"] is None  # unchanged


def test_the_cutoff_option_of_search(cli, lib):
    caption = tinyclip.caption("blue", "triangle")
    assert classes(cli("search", caption, "--json", *lib)) == ["blue-triangle"] * 4  # default
    assert classes(cli("search", caption, "--cutoff", "auto", "--json", *lib)) == (
        ["blue-triangle"] * 4)
    assert len(classes(cli("search", caption, "--cutoff", "none", "-n", "40", "--json",
                           *lib))) == 40
    fixed = cli("search", caption, "--cutoff", "0.3", "-n", "48", "--json", *lib).json()
    assert fixed == cli("search", caption, "--min-score", "0.3", "-n", "48", "--json",
                        *lib).json()
    assert fixed and all(h["score"] >= 0.3 for h in fixed)


@pytest.mark.parametrize("args,message", [
    (["search", "--album", "Nope"], "no album named “Nope”"),
    (["albums", "rename", "Nope", "x"], "no album named “Nope”"),
    (["albums", "delete", "Nope"], "no album named “Nope”"),
    (["albums", "save", "KEPT", "a dog"], "an album named “Kept” already exists"),
    (["albums", "rename", "other", "kept"], "an album named “Kept” already exists"),
    (["albums", "save", "  ", "a dog"], "an album needs a name"),
    (["albums", "rename", "kept", ""], "an album needs a name"),
    (["albums", "save", "new", "a dog", "--like", "/no/such/photo.jpg"], "--like: image not"),
    (["albums", "save", "new", "a dog", "--cutoff", "most"], "--cutoff: not a cut-off"),
    (["search", "a dog", "--cutoff", "2"], "--cutoff: a cut-off score lies between -1 and 1"),
    (["search", "a dog", "--cutoff", "0.2", "--min-score", "0.2"], "give --cutoff or --min-score, not both"),
])
def test_mistakes_are_one_line_exit_2_and_change_nothing(cli, lib, args, message):
    assert cli("albums", "save", "Kept", "a photo of a red circle", *lib).code == 0
    assert cli("albums", "save", "Other", "a photo of a blue circle", *lib).code == 0
    before = albums_table(lib)
    res = cli(*args, *lib)
    assert res.code == 2
    assert res.err.count("\n") == 1 and res.err.startswith(f"clipdesk: error: {message}")
    assert albums_table(lib) == before


def test_albums_outlive_the_process_that_saved_them(lib, isolated_paths):
    """Real processes, as a user runs them: save in one, list and run in others."""
    saved = run_cli("albums", "save", "Yellow", "a photo of a yellow square", *lib)
    assert saved.returncode == 0, saved.stderr
    listed = run_cli("albums", *lib)
    assert listed.stdout == "Yellow\t“a photo of a yellow square”, auto cut-off\n"
    ran = run_cli("search", "--album", "yellow", "--json", *lib)
    assert ran.returncode == 0, ran.stderr
    assert [photo_class(h["path"]) for h in json.loads(ran.stdout)] == ["yellow-square"] * 4
