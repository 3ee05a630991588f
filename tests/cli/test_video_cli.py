"""Videos through the command line, with the trained tiny CLIP: a search finds the video at
the right moment, `similar` takes a video, duplicates never pair two videos for their shared
black opening, and broken videos are listed with a reason while the rest is indexed."""

from __future__ import annotations

import shutil

import pytest

import videofiles
from videofiles import Scene

# shapes.mp4: a black opening, then three shapes, four seconds each
SCENES = [Scene("black", 1), Scene("red-circle", 4), Scene("blue-square", 4),
          Scene("yellow-triangle", 4)]
WHEN = {"a photo of a red circle": (1, 5), "a photo of a blue square": (5, 9),
        "a photo of a yellow triangle": (9, 13)}
STEP = 2.0  # video.STEP_S: the moment found is within one step of the scene


@pytest.fixture(scope="module")
def video_folder(tmp_path_factory, shapes_folder):
    folder = tmp_path_factory.mktemp("videos")
    videofiles.write(folder / "shapes.mp4", SCENES)
    videofiles.write(folder / "still.mov", [Scene("green-circle", 3, still=True)],
                     codec="mpeg4")
    # two different videos opening on the same black fade, and a re-encoded copy of one
    videofiles.write(folder / "fade-red.mp4", [Scene("black", 3), Scene("red-square", 3)])
    videofiles.write(folder / "fade-blue.mp4", [Scene("black", 3), Scene("blue-circle", 3)])
    videofiles.write(folder / "fade-red-copy.mkv", [Scene("black", 3), Scene("red-square", 3)],
                     codec="mpeg4")
    # photos beside them
    for name in ("green-circle-0.jpg", "yellow-square-0.jpg"):
        shutil.copy(shapes_folder / name, folder / name)
    # broken ones
    (folder / "empty.mp4").write_bytes(b"")
    data = (folder / "shapes.mp4").read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) // 3])
    videofiles.audio_only(folder / "sound.mp4")
    (folder / "notes.avi").write_text("not a video at all\n")
    return folder


@pytest.fixture
def library(cli, trained_model, video_folder, tmp_path):
    lib = ["--library", str(tmp_path / "lib")]
    res = cli("index", video_folder, *lib, "--model", trained_model)
    assert res.code == 0, res.err
    return lib


def test_search_finds_the_video_at_the_moment_that_matches(cli, library, video_folder):
    for text, (start, end) in WHEN.items():
        hits = cli("search", text, "--json", "-n", "3", *library).json()
        best = hits[0]
        assert best["path"] == str(video_folder / "shapes.mp4"), (text, hits)
        assert start - STEP <= best["time"] <= end, (text, best)
        assert [h["path"] for h in hits].count(best["path"]) == 1  # a video is found once


def test_plain_output_gives_the_moment_as_minutes_and_seconds(cli, library, video_folder):
    res = cli("search", "a photo of a yellow triangle", "-n", "5", *library)
    lines = [line.split("\t") for line in res.out.strip().splitlines()]
    score, path, moment = lines[0]
    float(score)
    assert path == str(video_folder / "shapes.mp4")
    minutes, seconds = moment.removeprefix("t=").split(":")
    assert moment.startswith("t=0:") and 9 - STEP <= int(minutes) * 60 + int(seconds) <= 13
    photos = [line for line in lines if line[1].endswith(".jpg")]
    assert photos and all(len(line) == 2 for line in photos)  # photos: no moment


def test_videos_filter_and_photos_filter(cli, library, video_folder):
    hits = cli("search", "a photo of a green circle", "--json", "--cutoff", "none", *library,
               "--folder", video_folder).json()
    assert any(h["path"].endswith("still.mov") for h in hits)
    assert all(("time" in h) == (not h["path"].endswith(".jpg")) for h in hits)


def test_similar_to_a_video_uses_its_frames(cli, library, video_folder):
    hits = cli("similar", video_folder / "still.mov", "--json", "-n", "2", *library).json()
    assert hits[0]["path"] == str(video_folder / "green-circle-0.jpg")
    assert all(h["path"] != str(video_folder / "still.mov") for h in hits)


def test_similar_to_a_video_outside_the_library(cli, library, tmp_path):
    outside = videofiles.write(tmp_path / "elsewhere" / "q.webm",
                               [Scene("yellow-square", 2)], codec="libvpx-vp9")
    hits = cli("similar", outside, "--json", "-n", "1", *library).json()
    assert hits[0]["path"].endswith("yellow-square-0.jpg")


def test_a_shared_black_opening_is_no_duplicate(cli, library, video_folder):
    groups = cli("duplicates", "--kind", "near", "--json", *library).json()
    grouped = [{p.rsplit("/", 1)[-1] for p in g["paths"]} for g in groups]
    assert {"fade-red.mp4", "fade-red-copy.mkv"} in grouped  # the same video, re-encoded
    assert not any({"fade-red.mp4", "fade-blue.mp4"} <= g for g in grouped)
    assert not any("fade-blue.mp4" in g for g in grouped)


def test_broken_videos_are_listed_with_a_reason_and_the_rest_is_indexed(cli, library):
    res = cli("status", "--json", *library)
    status = res.json()
    failed = {f["path"].rsplit("/", 1)[-1]: f["reason"] for f in status["failed"]}
    assert set(failed) == {"empty.mp4", "cut.mp4", "sound.mp4", "notes.avi"}
    assert failed["empty.mp4"] == "empty file (0 bytes)"
    assert "no video stream" in failed["sound.mp4"]
    assert "damaged or truncated" in failed["cut.mp4"]
    assert all("\n" not in r for r in failed.values())
