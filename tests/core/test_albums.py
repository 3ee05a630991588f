"""Smart albums in the catalog: the schema 1 -> 2 migration on a library the previous version
wrote, the album methods (names, duplicates, rename, delete), and the saved query's JSON (every
field kept, newer and older JSON read). Real SQLite files in tmp_path."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import fields, replace
from pathlib import Path

import pytest

import oldlibrary
import tinyclip
from clipdesk.core import albums, cutoff, models
from clipdesk.core import catalog as catalog_module
from clipdesk.core.catalog import SCHEMA_VERSION, Catalog
from clipdesk.core.errors import ClipDeskError
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.query import QUERY_JSON_VERSION, Filters, Query, parse


@pytest.fixture
def catalog(tmp_path):
    c = Catalog(tmp_path / "lib")
    yield c
    c.close()


A_QUERY = parse('red car -night -"parking lot"', images=["/photos/like.jpg"],
                filters=Filters(folder=Path("/photos/2024"), after=1.5e9, before=1.6e9,
                                min_score=0.21, media="photo"))


# ---------------------------------------------------------------------- the query as JSON


def test_a_query_round_trips_through_json_with_every_field():
    full = replace(A_QUERY, exclude=("/photos/self.jpg",))
    text = full.to_json()
    data = json.loads(text)
    assert data["version"] == QUERY_JSON_VERSION
    assert data["filters"]["folder"] == str(Path("/photos/2024"))  # paths stored as text
    assert {f.name for f in fields(Query)} <= set(data)  # every field, the ones added later too
    back = Query.from_json(text)
    assert back == full
    assert isinstance(back.filters.folder, Path) and isinstance(back.images, tuple)


def test_fields_another_engineer_adds_are_carried_without_changes():
    """Every tuple-of-paths field of Query (e.g. negative_images) round-trips as given."""
    tuple_fields = [f.name for f in fields(Query) if f.name not in ("text", "filters")]
    q = Query(**{name: (f"/photos/{name}.jpg",) for name in tuple_fields})
    assert Query.from_json(q.to_json()) == q


def test_json_from_an_older_or_newer_version_reads():
    older = '{"version": 1, "text": "dog", "filters": {"after": 100}}'  # keys missing
    q = Query.from_json(older)
    assert q == Query(text="dog", filters=Filters(after=100.0))
    assert isinstance(q.filters.after, float)
    newer = json.dumps({"version": 99, "text": "dog", "sparkle": [1, 2],
                        "filters": {"folder": "/a", "colour": "red"}})  # keys not known here
    assert Query.from_json(newer) == Query(text="dog", filters=Filters(folder=Path("/a")))


@pytest.mark.parametrize("text", ["", "[]", "nonsense", '{"text": 3}', '{"images": "a.jpg"}',
                                  '{"filters": [1]}', '{"filters": {"after": "today"}}'])
def test_json_that_is_not_a_query_is_a_value_error(text):
    with pytest.raises(ValueError, match="not a saved query"):
        Query.from_json(text)


# ---------------------------------------------------------------------- album methods


def test_save_list_and_open_albums(catalog):
    assert catalog.albums() == []
    saved = catalog.save_album("  Red  cars ", A_QUERY)
    assert saved.name == "Red cars" and saved.query == A_QUERY
    catalog.save_album("beach", parse("a beach"))
    catalog.save_album("Autumn", parse("", filters=Filters(after=1.0)))  # filters only
    assert [a.name for a in catalog.albums()] == ["Autumn", "beach", "Red cars"]  # case ignored
    assert catalog.album("RED CARS").query == A_QUERY
    assert catalog.album("red cars ").id == saved.id
    assert catalog.album("nothing") is None


def test_a_name_in_use_is_an_error_unless_replacing(catalog):
    first = catalog.save_album("Dogs", parse("a dog"))
    with pytest.raises(ClipDeskError, match="an album named “Dogs” already exists"):
        catalog.save_album("dogs", parse("a cat"))
    assert catalog.album("dogs").query == parse("a dog")  # untouched
    again = catalog.save_album("DOGS", parse("a puppy"), replace=True)
    assert (again.id, again.created_at, again.name) == (first.id, first.created_at, "DOGS")
    assert again.query == parse("a puppy") and again.updated_at >= first.updated_at
    assert len(catalog.albums()) == 1
    assert catalog.save_album("new", parse("x"), replace=True).name == "new"  # replace or add


@pytest.mark.parametrize("name,why", [("", "needs a name"), ("   ", "needs a name"),
                                      ("x" * 101, "at most 100"), ("a\x07b", "control")])
def test_bad_names_are_refused_and_nothing_is_written(catalog, name, why):
    with pytest.raises(ClipDeskError, match=why):
        catalog.save_album(name, A_QUERY)
    catalog.save_album("kept", A_QUERY)
    with pytest.raises(ClipDeskError, match=why):
        catalog.rename_album("kept", name)
    assert [a.name for a in catalog.albums()] == ["kept"]


def test_rename_and_delete(catalog):
    catalog.save_album("Dogs", parse("a dog"))
    catalog.save_album("Cats", parse("a cat"))
    assert catalog.rename_album("dogs", "Puppies").name == "Puppies"
    assert catalog.rename_album("puppies", "PUPPIES").name == "PUPPIES"  # case alone
    with pytest.raises(ClipDeskError, match="an album named “Cats” already exists"):
        catalog.rename_album("puppies", "cats")
    with pytest.raises(ClipDeskError, match="no album named “Birds”"):
        catalog.rename_album(" Birds", "Owls")
    assert sorted(a.name for a in catalog.albums()) == ["Cats", "PUPPIES"]
    catalog.delete_album("CATS")
    with pytest.raises(ClipDeskError, match="no album named “Cats”"):
        catalog.delete_album("Cats")
    assert [(a.name, a.query) for a in catalog.albums()] == [("PUPPIES", parse("a dog"))]


def test_an_unreadable_album_still_lists_and_can_be_deleted(catalog):
    catalog.save_album("broken", A_QUERY)
    with catalog.write(changes_vectors=False) as db:
        db.execute("UPDATE albums SET query = '{not json'")
    album = catalog.albums()[0]
    with pytest.raises(ClipDeskError, match="the album “broken” cannot be read"):
        _ = album.query
    catalog.delete_album("broken")
    assert catalog.albums() == []


def test_album_writes_leave_the_vector_version_alone(catalog):
    """An album is no change to the vectors: the saved index must stay current."""
    version = catalog.version
    catalog.save_album("a", A_QUERY)
    catalog.rename_album("a", "b")
    catalog.delete_album("b")
    assert catalog.version == version


# ---------------------------------------------------------------------- the migration


def dump(folder: Path) -> dict[str, list]:
    """Everything the previous schema held, table by table."""
    db = sqlite3.connect(folder / catalog_module.CATALOG_NAME)
    try:
        return {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
                for t in ("meta", "roots", "files", "models", "embeddings", "labels",
                          "text_cache")}
    finally:
        db.close()


def test_a_library_written_by_schema_1_migrates_and_keeps_everything(tmp_path, random_model):
    encoder = models.load(models.ModelSpec.parse(random_model), device="cpu")
    photos = tinyclip.photo_folder(tmp_path / "photos", 5)
    folder = tmp_path / "lib"
    old = Library(folder)
    Indexer(old, encoder, on_progress=lambda *_: None).run([tmp_path / "photos"])
    old.catalog.add_labels(["a red circle"])
    old.close()
    oldlibrary.take_back(folder, 1)  # as the schema-1 version wrote it
    before = dump(folder)
    db = sqlite3.connect(folder / catalog_module.CATALOG_NAME)
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert db.execute("PRAGMA user_version").fetchone()[0] == 1 and "albums" not in tables
    db.close()
    assert len(before["files"]) == 5 and len(before["embeddings"]) == 5

    for _ in range(2):  # opening twice: the second open changes nothing
        library = Library(folder)
        catalog = library.catalog
        assert catalog.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        after = dump(folder)  # photos, vectors, labels, versions: all still there
        after["files"] = [r[:len(before["files"][0])] for r in after["files"]]  # + new columns
        assert after == before
        row = library.model_row(encoder.spec)
        assert catalog.indexed_count(row) == 5 and catalog.labels() == ["a red circle"]
        assert len(library.vectors(row)) == 5
        catalog.save_album("circles", parse("a red circle"), replace=True)
        assert [a.name for a in catalog.albums()] == ["circles"]
        library.close()
    assert {Path(p).name for p in map(str, photos)} == {
        Path(r[2]).name for r in dump(folder)["files"]}


# ---------------------------------------------------------------------- describing and refining


def test_describe_says_what_an_album_asks():
    assert albums.describe(A_QUERY).startswith("“red car”, like this image, not “night”, not "
                                               "“parking lot”, in ")
    assert albums.describe(A_QUERY).endswith(", photo only, score ≥ 0.21")
    assert albums.describe(parse("dog")) == "“dog”, auto cut-off"
    assert albums.describe(parse("dog", filters=Filters(min_score=cutoff.SHOW_ALL))) == (
        "“dog”, no cut-off")
    assert albums.describe(Query()) == "all photos"  # filters only: no cut-off to speak of


def test_refine_adds_to_an_album_and_narrows_its_filters():
    saved = parse("red car -night", images=["/a.jpg"],
                  filters=Filters(folder=Path("/photos"), after=10.0, before=50.0, min_score=0.3))
    extra = parse("at the beach -rain", images=["/a.jpg", "/b.jpg"],
                  filters=Filters(folder=Path("/photos/2024"), after=5.0, before=40.0))
    got = albums.refine(saved, extra)
    assert got.text == "red car at the beach"
    assert got.negatives == ("night", "rain") and got.images == ("/a.jpg", "/b.jpg")
    assert got.filters == Filters(folder=Path("/photos/2024"), after=10.0, before=40.0,
                                  min_score=0.3)
    assert albums.refine(saved, Query(filters=Filters(min_score=cutoff.SHOW_ALL))
                         ).filters.min_score == cutoff.SHOW_ALL
    assert albums.refine(saved, Query()) == saved
    # every tuple field joins, including ones added to Query later
    tuple_fields = [f.name for f in fields(Query) if f.name not in ("text", "filters")]
    one = Query(**{name: ("/x.jpg",) for name in tuple_fields})
    two = Query(**{name: ("/y.jpg",) for name in tuple_fields})
    assert all(getattr(albums.refine(one, two), n) == ("/x.jpg", "/y.jpg") for n in tuple_fields)


@pytest.mark.parametrize("text,expected", [("auto", None), (" AUTO ", None), ("none", -1.0),
                                           ("0.25", 0.25), ("-0.5", -0.5)])
def test_parse_cutoff(text, expected):
    assert cutoff.parse_cutoff(text) == expected


@pytest.mark.parametrize("text", ["", "most", "1.5", "-2", "nan"])
def test_parse_cutoff_refuses_what_is_not_a_cutoff(text):
    with pytest.raises(ValueError):
        cutoff.parse_cutoff(text)
