"""RAW photos through the command line, as a user runs it: `clipdesk index` on a folder of DNG
files (written with pidng, with and without an embedded preview) beside JPEGs and damaged RAW
files, with the trained tiny CLIP. Search and similar find the right RAW, the damaged ones are
reported with one-line reasons and retried once they change, the capture date is the RAW's."""

from __future__ import annotations

import os
from pathlib import Path

import dngfiles
import numpy as np
import pytest

import tinyclip
from usercli import photo_class


@pytest.fixture
def raw_folder(tmp_path) -> Path:
    """One DNG per shape class (every other one with a preview, one turned by its orientation),
    a JPEG per class dated long ago, and three damaged RAW files."""
    photos = tmp_path / "photos"
    rng = np.random.default_rng(21)
    for i, (color, shape) in enumerate(tinyclip.CLASSES):
        picture = tinyclip.draw_shape(color, shape, rng, size=(480, 360))
        preview = dngfiles.jpeg(picture) if i % 2 else None
        dngfiles.write_dng(photos / "raw" / f"{color}-{shape}-0.dng", picture, preview=preview,
                           orientation=8 if i == 0 else 1)
        jpeg = photos / "jpeg" / f"{color}-{shape}-1.jpg"
        jpeg.parent.mkdir(parents=True, exist_ok=True)
        tinyclip.draw_shape(color, shape, rng, size=(320, 240)).save(jpeg, quality=90)
        os.utime(jpeg, (1_500_000_000, 1_500_000_000))  # 2017: long before the RAWs
    good = dngfiles.dng_bytes(tinyclip.draw_shape("red", "square", rng, size=(480, 360)))
    (photos / "raw" / "cut.dng").write_bytes(good[: len(good) // 3])
    (photos / "raw" / "empty.cr2").write_bytes(b"")
    (photos / "raw" / "notes.nef").write_text("not a RAW file, just notes\n" * 40)
    return photos


def test_raw_files_index_search_and_fail_with_reasons(cli, raw_folder, trained_model, tmp_path):
    lib = ["--library", str(tmp_path / "lib")]
    res = cli("index", raw_folder, *lib, "--model", trained_model)
    assert res.code == 0, res.err  # damaged files never stop the run
    assert "24 embedded" in res.out and "3 failed" in res.out

    status = cli("status", "--json", *lib).json()
    assert (status["indexed"], status["pending"]) == (24, 0)
    reasons = {Path(f["path"]).name: f["reason"] for f in status["failed"]}
    assert reasons == {"cut.dng": "damaged RAW file: truncated or unreadable",
                       "empty.cr2": "empty file (0 bytes)",
                       "notes.nef": "not a RAW file, or a RAW format LibRaw cannot read"}

    for color, shape in tinyclip.CLASSES:
        hits = cli("search", tinyclip.caption(color, shape), "-n", "2", "--cutoff", "none",
                   "--json", *lib).json()
        assert [photo_class(h["path"]) for h in hits] == [f"{color}-{shape}"] * 2
        assert sorted(Path(h["path"]).suffix for h in hits) == [".dng", ".jpg"]

    raw = raw_folder / "raw" / "yellow-triangle-0.dng"
    hits = cli("similar", raw, "-n", "1", "--cutoff", "none", "--json", *lib).json()
    assert [Path(h["path"]).name for h in hits] == ["yellow-triangle-1.jpg"]

    # an album of a date range lists photos by their capture date: the RAWs' own (2021)
    assert cli("albums", "save", "May 2021", "--after", "2021-05-06", "--before", "2021-05-06",
               *lib).code == 0
    dated = cli("search", "--album", "May 2021", "-n", "50", "--json", *lib).json()
    assert sorted(Path(d["path"]).name for d in dated) == sorted(
        f"{c}-{s}-0.dng" for c, s in tinyclip.CLASSES)
    assert {d["date"] for d in dated} == {"2021-05-06 07:08"}

    # a damaged file is retried once it changes, and then indexes
    picture = tinyclip.draw_shape("red", "square", np.random.default_rng(5), size=(480, 360))
    dngfiles.write_dng(raw_folder / "raw" / "cut.dng", picture)
    res = cli("index", *lib, "--model", trained_model)
    assert res.code == 0 and "1 embedded" in res.out, res.out
    status = cli("status", "--json", *lib).json()
    assert status["indexed"] == 25
    assert sorted(Path(f["path"]).name for f in status["failed"]) == ["empty.cr2", "notes.nef"]
