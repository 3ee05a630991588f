"""`clipdesk duplicates`: exact copies, near copies and similar shots of real photo files
indexed with the trained tiny CLIP, as JSON and as text; options, bad input, and files that
vanished since they were indexed. The command never runs CLIP and never writes a photo.

Threshold 0.9: the tiny model scores copies of a photo ~1.00 against it and photos of other
shape classes at most ~0.6 (tests/core/test_duplicates.py says more)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from modulepaths import module_paths
from PIL import Image

import tinyclip


def exif_for(when: str | None) -> Image.Exif:
    exif = Image.Exif()
    if when is not None:
        exif.get_ifd(0x8769)[0x9003] = when  # DateTimeOriginal
    return exif


def make_photos(folder: Path) -> Path:
    """An exact pair, one picture in three forms, a burst of three, three unrelated photos."""
    (folder / "trip").mkdir(parents=True)
    rng = np.random.default_rng(7)
    red = tinyclip.draw_shape("red", "circle", rng, (640, 480))
    red.save(folder / "DSC_0001.jpg", quality=90, exif=exif_for("2023:07:01 08:00:00"))
    shutil.copyfile(folder / "DSC_0001.jpg", folder / "trip" / "DSC_0001 copy.jpg")
    blue = tinyclip.draw_shape("blue", "square", rng, (800, 600))
    blue.save(folder / "trip" / "IMG_0100.jpg", quality=90, exif=exif_for("2023:07:02 09:00:00"))
    blue.resize((400, 300)).save(folder / "IMG_0100-small.jpg", quality=85,
                                 exif=exif_for("2023:07:02 09:00:00"))
    blue.save(folder / "IMG_0100.webp", quality=90)
    scene = tinyclip.draw_shape("green", "triangle", rng, (700, 520))
    for i in range(3):
        scene.crop((i * 10, i * 5, i * 10 + 640, i * 5 + 480)).save(
            folder / "trip" / f"BURST_{i}.jpg", quality=90, exif=exif_for(f"2023:07:03 10:00:0{i}"))
    for i, (color, shape) in enumerate([("yellow", "square"), ("red", "triangle"),
                                        ("blue", "circle")]):
        tinyclip.draw_shape(color, shape, rng, (640, 480)).save(
            folder / f"other-{i}.jpg", quality=90, exif=exif_for(f"2023:0{i + 1}:20 12:00:00"))
    return folder


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, onnx_cache, trained_model) -> tuple[Path, list[str]]:
    """(photos, library options): indexed once for the tests that only read."""
    from clipdesk.cli import main

    base = tmp_path_factory.mktemp("duplicates-cli")
    with module_paths(base, onnx_cache):  # module scope: before isolated_paths
        photos = make_photos(base / "photos")
        options = ["--library", str(base / "library")]
        assert main(["index", str(photos), *options, "--model", trained_model]) == 0
    return photos, options


@pytest.fixture
def photos(indexed) -> Path:
    return indexed[0]


@pytest.fixture
def library(indexed) -> list[str]:
    return indexed[1]


def rel(paths, folder: Path) -> list[str]:
    return [Path(p).relative_to(folder).as_posix() for p in paths]


def test_json_lists_the_groups_by_space_to_free(cli, library, photos):
    res = cli("duplicates", "--json", "--threshold", "0.9", *library)
    assert res.code == 0, res.err
    groups = res.json()
    by_kind = {g["kind"]: g for g in groups}
    assert set(by_kind) == {"exact", "near", "shots"} and len(groups) == 3
    assert sorted(rel(by_kind["exact"]["paths"], photos)) == ["DSC_0001.jpg",
                                                              "trip/DSC_0001 copy.jpg"]
    assert sorted(rel(by_kind["near"]["paths"], photos)) == [
        "IMG_0100-small.jpg", "IMG_0100.webp", "trip/IMG_0100.jpg"]
    assert sorted(rel(by_kind["shots"]["paths"], photos)) == [f"trip/BURST_{i}.jpg"
                                                              for i in range(3)]
    keep = {k: rel([g["keep"]], photos)[0] for k, g in by_kind.items()}
    # the name without "copy"; full size JPEG over the WEBP re-save; the burst's first shot
    assert keep == {"exact": "DSC_0001.jpg", "near": "trip/IMG_0100.jpg",
                    "shots": "trip/BURST_0.jpg"}
    for g in groups:
        assert g["paths"][0] == g["keep"]
        assert g["bytes"] == sum(Path(p).stat().st_size for p in g["paths"] if p != g["keep"])
    assert [g["bytes"] for g in groups] == sorted((g["bytes"] for g in groups), reverse=True)


def test_kind_and_folder_narrow_the_groups(cli, library, photos):
    res = cli("duplicates", "--json", "--kind", "near", "--threshold", "0.9", *library)
    assert [g["kind"] for g in res.json()] == ["near"]
    res = cli("duplicates", "--json", "--folder", photos / "trip", "--threshold", "0.9", *library)
    assert res.code == 0, res.err
    assert [g["kind"] for g in res.json()] == ["shots"]  # the other groups reach outside it


def test_exact_copies_need_no_model_and_nothing_runs_clip(cli, library, photos, monkeypatch):
    from clipdesk.core import models

    def no_clip(*args, **kwargs):
        raise AssertionError("clipdesk duplicates must not load the model")

    monkeypatch.setattr(models, "load", no_clip)
    res = cli("duplicates", "--json", "--kind", "exact", "--model", "local-dir:/gone", *library)
    assert res.code == 0, res.err
    assert [g["kind"] for g in res.json()] == ["exact"]
    res = cli("duplicates", "--json", "--threshold", "0.9", *library)
    assert res.code == 0 and len(res.json()) == 3


def test_plain_output_shows_sizes_dimensions_and_what_to_free(cli, library, photos):
    res = cli("duplicates", "--threshold", "0.9", *library)
    assert res.code == 0, res.err
    lines = res.out.splitlines()
    assert any(line.startswith("near copies: 3 files, ") for line in lines)
    keep_line = next(line for line in lines if line.strip().startswith("keep")
                     and line.endswith("IMG_0100.jpg"))
    assert "800x600" in keep_line and "kB" in keep_line
    assert any("400x300" in line and line.endswith("IMG_0100-small.jpg") for line in lines)
    assert lines[-1].startswith("3 group(s): 1 exact copies, 1 near copies, 1 similar shots.")
    assert "of duplicates and" in lines[-1]


@pytest.mark.parametrize("bad", ["0", "1.5", "-0.3", "high", "nan"])
def test_a_bad_threshold_is_one_line_and_exit_2(cli, library, bad):
    res = cli("duplicates", "--threshold", bad, *library)
    assert res.code == 2
    assert res.err.strip().splitlines() == [
        f"clipdesk: error: --threshold must be a cosine similarity in (0, 1], not {bad}"]


def test_bad_folder_and_missing_library(cli, library, tmp_path):
    res = cli("duplicates", "--folder", tmp_path / "nowhere", *library)
    assert res.code == 2 and "not a folder" in res.err
    res = cli("duplicates", "--library", tmp_path / "empty")
    assert res.code == 2 and "no library" in res.err


def test_a_vanished_file_is_left_out_and_reported_and_photos_are_untouched(cli, trained_model,
                                                                           tmp_path):
    """Indexed through the command line, on its own copy: a photo is deleted."""
    photos = make_photos(tmp_path / "photos")
    library = ["--library", str(tmp_path / "library")]
    res = cli("index", photos, *library, "--model", trained_model)
    assert res.code == 0, res.err
    (photos / "IMG_0100.webp").unlink()
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in photos.rglob("*") if p.is_file()}
    res = cli("duplicates", "--json", "--threshold", "0.9", *library)
    assert res.code == 0, res.err
    near = next(g for g in res.json() if g["kind"] == "near")
    assert sorted(rel(near["paths"], photos)) == ["IMG_0100-small.jpg", "trip/IMG_0100.jpg"]
    assert "left out 1 file(s)" in res.err
    assert f"{photos / 'IMG_0100.webp'}: vanished" in res.err
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in photos.rglob("*") if p.is_file()}
    assert after == before
