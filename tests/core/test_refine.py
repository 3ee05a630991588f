"""Refinement and the date presets: "not like this" images (the app's "Fewer like these",
the CLI's ``--unlike``) push their kind down the ranking on the trained tiny CLIP and are never
shown; date presets are local-time day boundaries."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from modulepaths import module_paths

from clipdesk.core import models, query
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.query import Filters, Query, date_preset, day_range, describe_dates, parse
from clipdesk.core.search import Searcher


def kind(path: str) -> str:
    """'red-circle' for .../red-circle-0.jpg."""
    return Path(path).stem.rsplit("-", 1)[0]


@pytest.fixture(scope="module")
def searcher(tmp_path_factory, onnx_cache, trained_model, shapes_folder):
    base = tmp_path_factory.mktemp("refine").resolve()
    with module_paths(base, onnx_cache):  # module scope: before isolated_paths
        encoder = models.load(models.ModelSpec.parse(trained_model), device="cpu")
        encoder.encode_texts(["warm up"])
        library = Library(base / "lib")
        Indexer(library, encoder, on_progress=lambda *_: None).run([shapes_folder])
    yield Searcher(library, library.model_row(encoder.spec), lambda: encoder)
    library.close()


def ranks(hits, name: str) -> list[int]:
    return [i for i, h in enumerate(hits) if kind(h.path) == name]


def test_a_negative_image_pushes_its_kind_down_and_is_left_out(searcher):
    everything = 24
    plain = searcher.answer(parse("a photo of a red circle"), n=everything)
    assert kind(plain[0].path) == "red-circle"
    runner_up = next(h for h in plain if kind(h.path) != "red-circle")
    unlike = runner_up.path
    refined = searcher.answer(parse("a photo of a red circle", negative_images=[unlike]),
                              n=everything)
    assert unlike not in [h.path for h in refined]  # the photo refined away is not shown
    assert len(refined) == everything - 1
    assert [kind(h.path) for h in refined[:2]] == ["red-circle"] * 2
    before = [r for r, h in enumerate(plain) if kind(h.path) == kind(unlike) and h.path != unlike]
    after = ranks(refined, kind(unlike))
    assert len(before) == len(after) == 1
    assert after[0] > before[0], (before, after)  # its sibling of the same kind went down
    # and its score fell more than the wanted kind's did
    drop = {h.path: h.score for h in plain}
    sibling = refined[after[0]]
    target = refined[0]
    assert drop[sibling.path] - sibling.score > drop[target.path] - target.score


def test_a_negative_image_weighs_as_much_as_a_negative_text(searcher):
    """Both subtract NEGATIVE_WEIGHT of a unit vector: an image's own vector subtracted from
    a query of that same image leaves it pointing the same way (0.5 of it)."""
    photo = searcher.answer(parse("a photo of a blue square"), n=1)[0].path
    alone = searcher.query_vector(images=[photo])
    refined = searcher.query_vector(images=[photo], negative_images=[photo])
    assert float(alone @ refined) == pytest.approx(1.0, abs=1e-5)


def test_a_query_with_only_negative_images_is_empty_and_describes_itself():
    q = parse("", negative_images=["/a.jpg"])
    assert q.empty and q.negative_images == ("/a.jpg",)
    q = Query("cat", ("dog",), ("/x.jpg",), negative_images=("/a.jpg", "/b.jpg"))
    assert q.describe() == ("“cat”, like this image, not “dog”, not like these 2 images")
    assert Query("cat", negative_images=("/a.jpg",)).describe() == "“cat”, not like this image"


def test_day_range_runs_from_the_first_midnight_to_the_end_of_the_last_day():
    after, before = day_range(date(2024, 3, 5), date(2024, 3, 7))
    assert after == datetime(2024, 3, 5).timestamp()
    assert datetime.fromtimestamp(before) < datetime(2024, 3, 8) <= datetime.fromtimestamp(
        before + 1e-5)
    assert day_range(date(2024, 3, 7), date(2024, 3, 5)) == (after, before)  # either order


@pytest.mark.parametrize("name, first, last", [
    ("today", date(2024, 12, 31), date(2024, 12, 31)),
    ("this-month", date(2024, 12, 1), date(2024, 12, 31)),
    ("this-year", date(2024, 1, 1), date(2024, 12, 31)),
    ("last-year", date(2023, 1, 1), date(2023, 12, 31)),
])
def test_date_presets_seen_from_new_years_eve(name, first, last):
    now = datetime(2024, 12, 31, 23, 30)
    assert date_preset(name, now) == day_range(first, last)
    after, before = date_preset(name, now)
    if name != "last-year":
        assert after <= now.timestamp() <= before


def test_this_month_in_february_of_a_leap_year_and_unknown_presets():
    assert date_preset("this-month", datetime(2024, 2, 10)) == day_range(date(2024, 2, 1),
                                                                         date(2024, 2, 29))
    assert set(query.DATE_PRESETS) == {"today", "this-month", "this-year", "last-year"}
    with pytest.raises(ValueError, match="unknown date preset"):
        date_preset("yesterday", datetime(2024, 2, 10))


def test_describe_dates_in_words():
    after, before = day_range(date(2024, 3, 1), date(2024, 3, 31))
    assert describe_dates(after, before) == "2024-03-01 – 2024-03-31"
    assert describe_dates(*day_range(date(2024, 3, 9), date(2024, 3, 9))) == "2024-03-09"
    assert describe_dates(after, None) == "since 2024-03-01"
    assert describe_dates(None, before) == "until 2024-03-31"
    assert Filters(after=after).active


def test_cli_search_unlike_pushes_away_and_leaves_the_photo_out(cli, trained_model,
                                                                shapes_folder, tmp_path):
    import json

    lib = tmp_path / "library"
    assert cli("index", shapes_folder, "--library", lib, "--model", trained_model).code == 0
    asked = ("search", "a photo of a red circle", "-n", "24", "--cutoff", "none", "--json",
             "--library", lib)
    res = cli(*asked)
    assert res.code == 0, res.err
    plain = [h["path"] for h in json.loads(res.out)]
    unlike = next(p for p in plain if kind(p) != "red-circle")
    res = cli(*asked, "--unlike", unlike)
    assert res.code == 0, res.err
    refined = [h["path"] for h in json.loads(res.out)]
    assert unlike not in refined and kind(refined[0]) == "red-circle"
    sibling = next(p for p in plain if kind(p) == kind(unlike) and p != unlike)
    assert refined.index(sibling) > plain.index(sibling)
    res = cli(*asked, "--unlike", tmp_path / "missing.jpg")
    assert res.code != 0 and "image not found" in res.err and res.err.count("\n") == 1
