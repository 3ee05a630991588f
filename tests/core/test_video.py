"""Videos in the core: frame sampling (steps, cuts, blank frames, the cap, variable frame rate,
an 8K frame), bad input with one-line reasons, the catalog and index holding a video's frames
(schema 3, migrated from a schema-2 library), search at the best moment with filters, frame
thumbnails, and a watched video read only once whole."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import numpy as np
import pytest

import oldlibrary
import tinyclip
import videofiles
from clipdesk.core import catalog as catalog_module
from clipdesk.core import models, search, video
from clipdesk.core.catalog import SCHEMA_VERSION, file_of_key, frame_key, frame_of_key
from clipdesk.core.indexer import Indexer
from clipdesk.core.library import Library
from clipdesk.core.query import Filters
from clipdesk.core.watcher import LiveIndexer, Watcher
from videofiles import Scene

SHAPES = [Scene("black", 1), Scene("red-circle", 3), Scene("blue-square", 3),
          Scene("white", 1), Scene("green-triangle", 3)]


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    return {
        "shapes": videofiles.write(folder / "shapes.mp4", SHAPES,
                                   creation_time="2024-05-01T12:00:00.000000Z"),
        "still": videofiles.write(folder / "still.mkv", [Scene("yellow-square", 5, still=True)]),
        "blank": videofiles.write(folder / "blank.mp4", [Scene("black", 2)]),
    }


def times(clip: video.Video) -> list[float]:
    return [round(f.t, 2) for f in clip.frames]


# ---------------------------------------------------------------------- sampling


def test_sampling_keeps_a_frame_every_step_and_no_blank_one(clips):
    clip = video.read(clips["shapes"], min_side=64)
    assert (clip.width, clip.height) == videofiles.SIZE
    assert clip.duration == pytest.approx(11.0, abs=0.15)
    assert clip.taken_at == pytest.approx(1714564800.0)  # the container's creation_time
    ts = times(clip)
    assert ts == sorted(ts) and len(ts) >= 4
    gaps = np.diff([0.0, *ts, clip.duration])
    assert gaps.max() <= 2 * video.STEP_S + 1e-6  # a frame in every step but the blank ones
    for frame in clip.frames:
        grey = np.asarray(frame.image.convert("L"), np.float32)
        assert grey.std() > video.UNIFORM_STD  # the black opening and the white flash: gone
        assert min(frame.image.size) <= 64  # reduced as decoded


def test_reading_through_gives_the_frames_seeking_gives(clips):
    """The fallback for files that cannot seek decodes every frame and keeps the same ones."""
    import av

    with av.open(str(clips["shapes"])) as container:
        stream = container.streams.video[0]
        plan = video._plan(container, stream, None)
        container.seek(0)
        seeking, _ = video._sample(container, stream, plan, 64, None, seek=True)
        container.seek(0)
        through, shape = video._sample(container, stream, plan, 64, None, seek=False)
    assert [f.t for f in through] == pytest.approx([f.t for f in seeking], abs=1e-3)
    assert shape == videofiles.SIZE


def test_a_still_scene_and_no_creation_time(clips):
    clip = video.read(clips["still"])
    assert clip.taken_at is None  # the catalog then dates it by the file's time
    assert 2 <= len(clip.frames) <= 3  # one per step of five seconds


def test_a_video_blank_throughout_keeps_one_frame(clips):
    clip = video.read(clips["blank"])
    assert len(clip.frames) == 1


def test_the_cap_bounds_the_frames_of_a_long_video(clips, monkeypatch):
    monkeypatch.setattr(video, "MAX_FRAMES", 3)
    clip = video.read(clips["shapes"])
    assert 1 <= len(clip.frames) <= 3 and clip.step == pytest.approx(11.0 / 3, abs=0.1)


def test_cuts_between_steps_are_found_at_keyframes(tmp_path, monkeypatch):
    """A long step (the cap) with a cut at a keyframe in between: the cut is kept."""
    monkeypatch.setattr(video, "STEP_S", 20.0)
    path = videofiles.write(tmp_path / "cut.mp4", [Scene("red-circle", 2), Scene("blue-square", 2)],
                            gop=10)  # keyframes every second
    ts = times(video.read(path))
    assert ts[0] == 0.0 and any(1.9 <= t <= 2.1 for t in ts)


def test_variable_frame_rate_gives_the_real_times(tmp_path):
    stamps = [0.0]
    for i in range(79):
        stamps.append(stamps[-1] + (0.25 if i % 4 == 0 else 0.05))
    path = videofiles.write(tmp_path / "vfr.mkv", [Scene("red-circle", 4), Scene("blue-square", 4)],
                            frame_times=stamps)
    clip = video.read(path)
    assert clip.duration == pytest.approx(stamps[-1], abs=0.3)
    assert all(min(abs(t - s) for s in stamps) < 1e-3 for t in times(clip))
    assert np.diff([0.0, *times(clip), clip.duration]).max() <= 2 * video.STEP_S


def test_an_8k_frame_is_reduced_as_soon_as_decoded(tmp_path):
    path = videofiles.write(tmp_path / "8k.mp4", [Scene("green-circle", 0.1)], size=(7680, 4320))
    clip = video.read(path, min_side=240)
    assert (clip.width, clip.height) == (7680, 4320)
    assert [f.image.size for f in clip.frames] == [(427, 240)]


def test_a_video_filmed_upright_is_turned_as_players_show_it(tmp_path):
    """A phone held upright stores a landscape picture and a display rotation."""
    path = videofiles.write(tmp_path / "upright.mp4", [Scene("red-circle", 1)], rotation=90)
    clip = video.read(path, min_side=60)
    assert (clip.width, clip.height) == (120, 160)
    image = clip.frames[0].image
    assert image.size == (60, 80)
    plain = video.read(videofiles.write(tmp_path / "plain.mp4", [Scene("red-circle", 1)]),
                       min_side=60).frames[0].image
    turned = plain.rotate(90, expand=True)  # counter-clockwise, as FFmpeg's rotation
    diff = np.abs(np.asarray(turned, np.int16) - np.asarray(image, np.int16)).mean()
    assert diff < 8


def test_formats(tmp_path):
    for name, codec in [("a.avi", "mpeg4"), ("b.webm", "libvpx-vp9"), ("c.mov", "mpeg4"),
                        ("d.m4v", "libx264")]:
        path = videofiles.write(tmp_path / name, [Scene("red-circle", 1)], codec=codec)
        assert len(video.read(path).frames) == 1, name
    path = videofiles.write(tmp_path / "e.3gp", [Scene("red-circle", 1)], codec="h263",
                            size=(176, 144))
    assert video.read(path).width == 176


def test_file_hash_is_the_content_hash(clips):
    from clipdesk.core import decode

    assert video.file_hash(clips["still"]) == decode.content_hash(clips["still"].read_bytes())


# ---------------------------------------------------------------------- one frame to show


def test_frame_at_is_the_frame_shown_at_that_time(tmp_path):
    """The first frame at or after ``t``, decoded from the keyframe before it (keyframes two
    seconds apart here), the same picture as decoding the video from its start gives; scaled
    down to fit, never enlarged."""
    import av

    path = videofiles.write(tmp_path / "gop.mp4", [Scene("red-circle", 2), Scene("blue-square", 2)],
                            gop=20)
    with av.open(str(path)) as container:
        every = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(every) == 40
    for t, n in [(0.0, 0), (0.5, 5), (1.25, 13), (2.0, 20), (3.3, 33), (3.9, 39)]:
        image = video.frame_at(path, t)
        assert image.mode == "RGB" and image.size == videofiles.SIZE
        assert np.array_equal(np.asarray(image), every[n]), (t, n)
    assert video.frame_at(path, 3.3, fit=(80, 80)).size == (80, 60)
    assert video.frame_at(path, 3.3, fit=(400, 400)).size == videofiles.SIZE


@pytest.mark.parametrize("suffix", ["mkv", "mp4"])
def test_frame_at_counts_from_the_first_frame_as_read_does(tmp_path, suffix):
    """A stream whose first frame is at 2 s (a cut from a longer recording): ``read`` gives
    times from that frame, and ``frame_at`` shows the frame at such a time."""
    import av

    path = videofiles.write(tmp_path / f"late.{suffix}", [Scene("red-circle", 1.5),
                                                         Scene("blue-square", 1.5)],
                            frame_times=[2.0 + i / 10 for i in range(30)])
    with av.open(str(path)) as container:
        every = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    times = [f.t for f in video.read(path, min_side=32).frames]
    assert times[0] == 0.0 and times[-1] == pytest.approx(1.5)
    for t, n in [(0.0, 0), (1.5, 15), (1.6, 16), (2.9, 29)]:
        assert np.array_equal(np.asarray(video.frame_at(path, t)), every[n]), (t, n)


def test_frame_at_turns_a_video_filmed_upright(tmp_path):
    """The display rotation applied, and ``fit`` taken as the upright picture's box."""
    upright = videofiles.write(tmp_path / "upright.mp4", [Scene("red-circle", 1)], rotation=90)
    plain = videofiles.write(tmp_path / "plain.mp4", [Scene("red-circle", 1)])
    image = video.frame_at(upright, 0.5, fit=(90, 90))
    assert image.size == (68, 90)
    assert video.frame_at(upright, 0.5).size == (120, 160)
    turned = video.frame_at(plain, 0.5).rotate(90, expand=True).resize(image.size)
    diff = np.abs(np.asarray(turned, np.int16) - np.asarray(image, np.int16)).mean()
    assert diff < 8


def test_frame_at_a_broken_or_missing_video_says_why_in_a_line(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    sound = videofiles.audio_only(tmp_path / "sound.mp4")
    reasons = {}
    for path in (broken, sound, tmp_path / "gone.mp4"):
        with pytest.raises(video.VideoError) as err:
            video.frame_at(path, 1.0, fit=(100, 100))
        reasons[path.name] = str(err.value)
    assert reasons["broken.mp4"].startswith("damaged or truncated video, or not a video: ")
    assert reasons["sound.mp4"] == "no video stream in it (sound only?)"
    assert reasons["gone.mp4"] == "the file is gone"
    assert all("\n" not in r for r in reasons.values())


# ---------------------------------------------------------------------- bad input


def test_bad_videos_raise_one_line_reasons(tmp_path, clips):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(clips["shapes"].read_bytes()[:3000])
    text = tmp_path / "text.mkv"
    text.write_text("hello\n" * 100)
    sound = videofiles.audio_only(tmp_path / "sound.mp4")
    reasons = {}
    for path in (empty, cut, text, sound):
        with pytest.raises(video.VideoError) as err:
            video.read(path)
        reasons[path.name] = str(err.value)
    assert reasons["empty.mp4"] == "empty file (0 bytes)"
    assert reasons["sound.mp4"] == "no video stream in it (sound only?)"
    assert reasons["cut.mp4"].startswith("damaged or truncated video")
    assert reasons["text.mkv"].startswith("damaged or truncated video")
    assert all("\n" not in r for r in reasons.values())
    with pytest.raises(FileNotFoundError):
        video.read(tmp_path / "gone.mp4")


def test_a_video_cut_after_its_index_keeps_what_is_there(tmp_path):
    """A "fast start" MP4 (index first) cut in the middle: the frames that are there."""
    path = videofiles.write(tmp_path / "whole.mp4", [Scene("red-circle", 3), Scene("blue-square", 3)],
                            faststart=True)
    data = path.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    clip = video.read(cut)
    assert clip.frames and clip.duration < 6.0


def test_a_read_past_its_deadline_stops(clips):
    with pytest.raises(video.VideoError, match="took too long"):
        video.read(clips["shapes"], deadline=0.0)


# ---------------------------------------------------------------------- keys


def test_frame_keys_map_back_to_their_file():
    assert file_of_key(frame_key(7, 0)) == 7 and frame_of_key(frame_key(7, 63)) == 63
    assert file_of_key(7) == 7 and frame_of_key(7) is None


# ---------------------------------------------------------------------- library


@pytest.fixture(scope="module")
def encoder(trained_model):
    return models.load(models.ModelSpec.parse(trained_model), device="cpu")


def make_folder(folder, clips):
    folder.mkdir(parents=True, exist_ok=True)
    os.link(clips["shapes"], folder / "shapes.mp4")
    os.link(clips["still"], folder / "still.mkv")
    for i, (color, shape) in enumerate([("red", "square"), ("blue", "circle")]):
        tinyclip.draw_shape(color, shape, np.random.default_rng(i), (200, 150)).save(
            folder / f"{color}-{shape}.jpg")
    return folder


def index(library, encoder, folder, **kw):
    return Indexer(library, encoder, on_progress=lambda *_: None, **kw).run([folder])


def test_a_video_is_one_file_with_a_vector_per_frame(tmp_path, clips, encoder):
    folder = make_folder(tmp_path / "media", clips)
    library = Library(tmp_path / "lib")
    report = index(library, encoder, folder)
    assert report.embedded == 4 and not report.failed
    catalog = library.catalog
    model = library.model_row(encoder.spec)
    row = catalog.file_by_path(str(folder / "shapes.mp4"))
    assert row.is_video and row.duration == pytest.approx(11.0, abs=0.15)
    assert row.taken_at == pytest.approx(1714564800.0)
    frames = catalog.video_frames(model, row.hash)
    assert len(frames) == len(video.read(clips["shapes"]).frames)
    # the index holds each frame under its key, the photos under their ids
    index_ = library.vectors(model)
    keys = {int(k) for k in np.asarray(index_.index.keys)}
    assert {frame_key(row.id, n) for n in range(len(frames))} <= keys and row.id not in keys
    assert len(index_) == catalog.indexed_count(model) == len(keys)
    assert catalog.indexed_files(model) == 4
    # the mean of the frames stands for the video
    mean = video.mean_vector(np.stack([v for _, v in frames]))
    assert np.dot(mean, catalog.embedding(model, row.hash)) > 0.999
    # thumbnails: the video's, and each frame's
    assert library.thumbnails.exists(row.hash)
    for t in catalog.frame_times(model, row.hash):
        assert library.frame_thumbnail_path(row.hash, t).is_file()
    # rebuilt from the catalog alone (the index file lost): the same keys
    library.close()
    for f in (tmp_path / "lib" / "index").iterdir():
        f.unlink()
    again = Library(tmp_path / "lib")
    assert {int(k) for k in np.asarray(again.vectors(model).index.keys)} == keys
    again.close()


def test_search_finds_a_video_once_at_its_best_moment(tmp_path, clips, encoder, monkeypatch):
    folder = make_folder(tmp_path / "media", clips)
    library = Library(tmp_path / "lib")
    index(library, encoder, folder)
    model = library.model_row(encoder.spec)
    searcher = search.Searcher(library, model, lambda: encoder)
    query = searcher.query_vector(["a photo of a blue square"])
    hits = searcher.search(query, 10)
    assert len({h.file_id for h in hits}) == len(hits) == 4  # each file once
    shapes = next(h for h in hits if h.path.endswith("shapes.mp4"))
    assert 4 - video.STEP_S <= shapes.time <= 7 and shapes.duration == pytest.approx(11, abs=0.2)
    assert all(h.time is None and h.duration is None for h in hits if h.path.endswith(".jpg"))
    # the media filter, and the exact path taken for filters on a large library
    only = searcher.search(query, 10, Filters(media="video"))
    assert {h.path.rsplit("/", 1)[-1] for h in only} == {"shapes.mp4", "still.mkv"}
    monkeypatch.setattr(search, "EXACT_BELOW", 0)
    exact = searcher.search(query, 10, Filters(folder=folder))
    assert [(h.path, h.time) for h in exact] == [(h.path, h.time) for h in hits]
    library.close()


def test_a_removed_or_changed_video_takes_its_frames_and_thumbnails_along(tmp_path, clips, encoder):
    folder = make_folder(tmp_path / "media", clips)
    library = Library(tmp_path / "lib")
    index(library, encoder, folder)
    model = library.model_row(encoder.spec)
    row = library.catalog.file_by_path(str(folder / "shapes.mp4"))
    moments = library.catalog.frame_times(model, row.hash)
    (folder / "shapes.mp4").unlink()
    os.link(clips["blank"], folder / "blank.mp4")  # a new file may take the id back
    index(library, encoder, folder)
    keys = {int(k) for k in np.asarray(library.vectors(model).index.keys)}
    assert len(keys) == library.catalog.indexed_count(model)
    rows = library.catalog.files_by_ids(sorted({file_of_key(k) for k in keys}))
    for k in keys:  # every key is a file's now, and a frame's only when that file is a video
        assert (frame_of_key(k) is not None) == rows[file_of_key(k)].is_video
    assert library.catalog.video_frames(model, row.hash) == []
    assert not any(library.frame_thumbnail_path(row.hash, t).exists() for t in moments)
    assert not library.thumbnails.exists(row.hash)
    library.close()


def test_broken_videos_fail_with_reasons_and_are_retried_when_they_change(tmp_path, clips,
                                                                          encoder):
    folder = tmp_path / "media"
    folder.mkdir()
    (folder / "empty.mp4").write_bytes(b"")
    videofiles.audio_only(folder / "sound.mp4")
    os.link(clips["still"], folder / "still.mkv")
    library = Library(tmp_path / "lib")
    report = index(library, encoder, folder)
    assert dict((p.rsplit("/", 1)[-1], r) for p, r in report.failed) == {
        "empty.mp4": "empty file (0 bytes)", "sound.mp4": "no video stream in it (sound only?)"}
    assert report.embedded == 1
    (folder / "empty.mp4").write_bytes(clips["blank"].read_bytes())  # fixed: read again
    report = index(library, encoder, folder)
    assert report.embedded == 1 and [p for p, _ in report.failed] == []
    library.close()


def test_a_video_over_the_time_limit_fails_and_the_run_goes_on(tmp_path, clips, encoder):
    folder = make_folder(tmp_path / "media", clips)
    library = Library(tmp_path / "lib")
    report = index(library, encoder, folder, time_limit=0.0)
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in report.failed}
    assert set(reasons) == {"shapes.mp4", "still.mkv"}
    assert all("took too long" in r or "took longer" in r for r in reasons.values())
    assert report.embedded == 2  # the photos
    library.close()


# ---------------------------------------------------------------------- migration


def test_a_schema_2_library_migrates_and_then_takes_videos(tmp_path, clips, encoder):
    folder = make_folder(tmp_path / "media", clips)
    for name in ("shapes.mp4", "still.mkv"):
        (folder / name).rename(tmp_path / name)  # the old version saw photos only
    old = Library(tmp_path / "lib")
    index(old, encoder, folder)
    old.catalog.add_labels(["a red square"])
    old.close()
    oldlibrary.take_back(tmp_path / "lib", 2)
    db = sqlite3.connect(tmp_path / "lib" / catalog_module.CATALOG_NAME)
    before = {t: db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
              for t in ("files", "embeddings", "labels", "models", "roots")}
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert len(before["files"][0]) == 12  # no duration column yet
    db.close()

    library = Library(tmp_path / "lib")
    catalog = library.catalog
    assert catalog.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 3
    after = {t: catalog.db.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall()
             for t in before}
    assert [r[:12] for r in after["files"]] == before["files"]
    assert all(r[12] is None for r in after["files"])  # photos have no duration
    assert {t: v for t, v in after.items() if t != "files"} == {
        t: v for t, v in before.items() if t != "files"}
    model = library.model_row(encoder.spec)
    assert len(library.vectors(model)) == 2
    for name in ("shapes.mp4", "still.mkv"):
        (tmp_path / name).rename(folder / name)
    report = index(library, encoder, folder)
    assert report.embedded == 2 and report.reused == 0
    assert catalog.indexed_files(model) == 4 and catalog.labels() == ["a red square"]
    library.close()


# ---------------------------------------------------------------------- watching


def test_a_video_being_written_is_read_only_once_whole(tmp_path, clips):
    path = tmp_path / "recording.mp4"
    data = clips["shapes"].read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the index (moov) comes last: not there yet
    watcher = Watcher([tmp_path], quiet=0.0)
    watcher._touch(str(path), "closed", False)
    for _ in range(3):  # the size is stable, but the video does not open whole
        assert watcher.take_settled() == []
    assert watcher.pending_count == 1
    path.write_bytes(data)
    watcher._touch(str(path), "closed", False)
    assert watcher.take_settled() == []  # a first look at the new size
    assert watcher.take_settled() == [str(path)]


# ---------------------------------------------------------------------- duplicates


def test_videos_are_near_copies_on_their_frames_in_a_large_library_too(tmp_path, encoder,
                                                                       monkeypatch):
    """Past EXACT_MAX contents the photos ask the k-NN index, where a video is its frames:
    videos are compared among themselves, exactly. A shared black fade pairs nothing."""
    from clipdesk.core import duplicates

    folder = tmp_path / "media"
    videofiles.write(folder / "fade-red.mp4", [Scene("black", 3), Scene("red-square", 3)])
    videofiles.write(folder / "fade-red.mkv", [Scene("black", 3), Scene("red-square", 3)],
                     codec="mpeg4")
    videofiles.write(folder / "fade-blue.mp4", [Scene("black", 3), Scene("blue-circle", 3)])
    tinyclip.draw_shape("red", "square", np.random.default_rng(5), (200, 150)).save(
        folder / "red-square.jpg")
    library = Library(tmp_path / "lib")
    index(library, encoder, folder)
    model = library.model_row(encoder.spec)
    monkeypatch.setattr(duplicates, "EXACT_MAX", 1)
    finder = duplicates.DuplicateFinder(library, model, kinds=["near"]).build()
    found = finder.groups()
    groups = [{m.path.rsplit("/", 1)[-1] for m in g.members} for g in found]
    assert {"fade-red.mp4", "fade-red.mkv"} in groups
    pair = found[groups.index({"fade-red.mp4", "fade-red.mkv"})]
    assert pair.keep.endswith("fade-red.mp4")  # what a camera records, over a re-encode
    assert not any("fade-blue.mp4" in g for g in groups)
    library.close()


def _wait_until(condition, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_watched_folder_indexes_a_video_once_it_is_whole(tmp_path, clips, encoder):
    """Half a recording sits in a watched folder, closed and unchanged: it is not read (nor
    recorded as failed) until the rest arrives; then it is indexed once, with its frames."""
    root = tmp_path / "watched"
    root.mkdir()
    library = Library(tmp_path / "lib")
    indexer = Indexer(library, encoder, on_progress=lambda *_: None)
    library.catalog.add_root(root)
    live = LiveIndexer(indexer, Watcher([root], quiet=0.2))
    thread = threading.Thread(target=live.run, daemon=True)
    thread.start()
    try:
        _wait_until(lambda: live.steps > 0, what="the watch loop")
        data = clips["shapes"].read_bytes()
        path = root / "recording.mp4"
        path.write_bytes(data[: len(data) // 2])  # the MP4's index comes last: not yet
        start = live.steps
        _wait_until(lambda: live.steps > start + 20, what="the loop to look again and again")
        assert library.catalog.file_by_path(str(path)) is None
        with open(path, "ab") as fh:
            fh.write(data[len(data) // 2:])
        row = _wait_until(lambda: (r := library.catalog.file_by_path(str(path))) is not None
                          and r.status != "pending" and r, what="the video to be read")
        assert row.status == "ok" and row.is_video
        model = library.model_row(encoder.spec)
        assert len(library.catalog.video_frames(model, row.hash)) >= 4
    finally:
        live.stop()
        thread.join(timeout=30)
        library.close()
    assert not thread.is_alive()
