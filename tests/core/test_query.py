"""The query language, parsed once for the command line and the app."""

from __future__ import annotations

from pathlib import Path

from clipdesk.core.query import Filters, parse


def test_negatives_words_and_phrases_leave_the_positive_text():
    q = parse('red car -night -"parking lot" at the beach -\'rain drops\'')
    assert q.text == "red car at the beach"
    assert q.negatives == ("night", "parking lot", "rain drops")


def test_a_dash_inside_a_word_or_alone_is_text():
    q = parse("t-shirt on a well-lit stage - again")
    assert q.text == "t-shirt on a well-lit stage - again" and q.negatives == ()


def test_cli_negatives_join_the_parsed_ones_and_filters_ride_along():
    filters = Filters(folder=Path("/photos/2024"), after=1.0, before=2.0, min_score=0.2)
    q = parse("dog -cat", images=["/a.jpg"], negatives=["leash", " "], filters=filters)
    assert q.negatives == ("cat", "leash") and q.images == ("/a.jpg",)
    assert q.filters == filters and q.filters.active and not q.empty


def test_empty_means_nothing_to_look_for():
    assert parse("").empty and parse("   -night").empty
    assert not parse("", images=["/a.jpg"]).empty
    assert not Filters().active and Filters(after=0.0).active
