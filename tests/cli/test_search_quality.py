"""Search, similar, tags and combined queries through the CLI, with a trained tiny CLIP, on
both runtimes: ONNX Runtime (the default) and torch (``CLIPDESK_RUNTIME=torch``)."""

from __future__ import annotations

import numpy as np
import pytest

import tinyclip
from usercli import photo_class


@pytest.fixture(params=["onnx", "torch"])
def runtime(request, monkeypatch) -> str:
    monkeypatch.setenv("CLIPDESK_RUNTIME", request.param)
    return request.param


@pytest.fixture
def indexed(cli, runtime, trained_model, shapes_folder, tmp_path):
    lib = tmp_path / "shapes-library"
    res = cli("index", shapes_folder, "--library", lib, "--model", trained_model)
    assert res.code == 0, res.err
    assert "24 embedded" in res.out and f"({runtime})" in res.err
    return ["--library", str(lib)]


@pytest.mark.parametrize("color,shape", tinyclip.CLASSES)
def test_text_search_ranks_matching_photos_first(cli, indexed, color, shape):
    res = cli("search", tinyclip.caption(color, shape), "-n", "2", "--json", *indexed)
    assert res.code == 0, res.err
    hits = res.json()
    assert [photo_class(h["path"]) for h in hits] == [f"{color}-{shape}"] * 2
    assert hits[0]["score"] >= hits[1]["score"]


def test_plain_output_is_score_tab_path(cli, indexed, shapes_folder):
    res = cli("search", "a photo of a green triangle", "-n", "3", *indexed)
    lines = res.out.strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        score, path = line.split("\t")
        float(score)
        assert path.startswith(str(shapes_folder))


def test_similar_finds_the_same_kind_and_leaves_itself_out(cli, indexed, shapes_folder):
    query = shapes_folder / "red-circle-0.jpg"
    hits = cli("similar", query, "-n", "3", "--json", *indexed).json()
    paths = [h["path"] for h in hits]
    assert str(query) not in paths
    assert photo_class(paths[0]) == "red-circle"


def test_similar_with_an_image_outside_the_library(cli, indexed, tmp_path):
    outside = tmp_path / "elsewhere" / "query.png"
    outside.parent.mkdir()
    tinyclip.draw_shape("yellow", "square", np.random.default_rng(99), size=(300, 260)).save(outside)
    hits = cli("similar", outside, "-n", "2", "--json", *indexed).json()
    assert [photo_class(h["path"]) for h in hits] == ["yellow-square"] * 2


def test_text_plus_image_combines_both(cli, indexed, shapes_folder):
    """Red circle + like(blue circle): circles of both colours come before anything else."""
    like = shapes_folder / "more" / "blue-circle-1.png"
    hits = cli("search", "a photo of a red circle", "--like", like, "-n", "3", "--json",
               *indexed).json()
    classes = [photo_class(h["path"]) for h in hits]
    assert set(classes) <= {"red-circle", "blue-circle"}
    assert "red-circle" in classes and "blue-circle" in classes


def test_negative_text_pushes_results_away(cli, indexed):
    def rank_of_first(text, *extra):
        hits = cli("search", text, "-n", "24", "--json", *extra, *indexed).json()
        return [photo_class(h["path"]) for h in hits].index("red-square")

    plain = rank_of_first("a photo of a red circle")
    assert rank_of_first("a photo of a red circle", "--not", "a photo of a red square") > plain
    # the query language of the app's search bar: -word and -"a phrase" in the text itself
    inline = rank_of_first('a photo of a red circle -"a photo of a red square"')
    assert inline == rank_of_first("a photo of a red circle", "--not", "a photo of a red square")


def test_tags_rank_user_labels(cli, indexed, shapes_folder):
    labels = [f"{c} {s}" for c, s in tinyclip.CLASSES]
    assert cli("labels", "add", *labels, *indexed).code == 0
    for color, shape in [("blue", "square"), ("yellow", "triangle"), ("red", "circle")]:
        image = next(shapes_folder.rglob(f"{color}-{shape}-*"))
        res = cli("tags", image, "-n", "3", "--json", *indexed)
        assert res.code == 0, res.err
        assert res.json()[0]["label"] == f"{color} {shape}"


def test_filters_folder_and_min_score(cli, indexed, shapes_folder):
    hits = cli("search", "a photo of a red circle", "-n", "50", "--folder",
               shapes_folder / "more", "--json", *indexed).json()
    assert len(hits) == 12
    assert all(h["path"].startswith(str(shapes_folder / "more")) for h in hits)
    top = hits[0]["score"]
    some = cli("search", "a photo of a red circle", "-n", "50", "--min-score", top - 1e-4,
               "--json", *indexed).json()
    assert 1 <= len(some) < 24
    assert all(h["score"] >= top - 1e-4 for h in some)
