"""Finding photos: which names count, walking folders (hidden ones, links, loops, folders
that cannot be read), and names that are not UTF-8."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import hostile
from clipdesk.core.decode import HEIF_AVAILABLE, RAW_AVAILABLE
from clipdesk.core.scan import is_photo_name, media_kind, shown, storable, walk

POSIX = pytest.mark.skipif(sys.platform == "win32",
                           reason="POSIX permission bits and symbolic links")


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def found(root: Path, **kw) -> set[str]:
    return {f.path for f in walk(root, **kw)}


@pytest.mark.parametrize("name", [
    "a.jpg", "B.JPG", "c.JpEg", "d.jpe", "e.jfif", "f.png", "g.webp", "h.gif", "i.bmp",
    "j.tif", "k.TIFF", "name with spaces.jpg", "été.png", "two.dots.jpeg",
])
def test_photo_names(name):
    assert is_photo_name(name)


@pytest.mark.parametrize("name", [
    ".hidden.jpg", ".jpg", "~$lock.jpg", "Thumbs.db", "thumbs.db", "desktop.ini",
    "ehthumbs.db", "notes.txt", "movie.mp4.part", "jpg", "photo", "photo.jpg.part",
    "photo.jpg.crdownload", "photo.jpg.tmp", "archive.jpg.zip", ".hidden.mov", "song.mp3",
])
def test_names_that_are_not_photos(name):
    assert not is_photo_name(name)


@pytest.mark.parametrize("name", ["a.mp4", "B.MOV", "c.m4v", "d.mkv", "e.webm", "f.avi",
                                  "g.3gp"])
def test_video_names_are_indexed_as_videos(name):
    assert is_photo_name(name) and media_kind(name) == "video"


@pytest.mark.parametrize("name", ["x.heic", "x.HEIF", "x.avif"])
def test_heif_names_count_only_when_heif_can_be_read(name):
    assert is_photo_name(name) == HEIF_AVAILABLE


@pytest.mark.parametrize("name", ["raw.cr2", "x.CR3", "x.nef", "x.arw", "x.dng", "x.raf",
                                  "x.orf", "x.rw2", "x.pef", "x.srw", "x.x3f", "x.iiq"])
def test_raw_names_count_when_rawpy_can_read_them(name):
    assert is_photo_name(name) == RAW_AVAILABLE


def test_walk_finds_photos_by_extension_in_any_case(tmp_path):
    photos = [touch(tmp_path / n) for n in ("a.jpg", "B.JPG", "c.JpEg", "d.PNG", "e.webp")]
    photos += [touch(tmp_path / "sub" / "deep" / "f.TiF"), touch(tmp_path / "sub" / "g.gif")]
    photos.append(touch(tmp_path / "sub" / "raw.CR2"))  # RAW: rawpy is a base dependency
    photos.append(touch(tmp_path / "movie.MP4"))  # videos: PyAV is a base dependency
    for n in ("notes.txt", "noext", "sub/h.jpg.part", "sub/clip.mov.part"):
        touch(tmp_path / n)
    (tmp_path / "folder.jpg").mkdir()  # a folder named like a photo is walked, not listed
    photos.append(touch(tmp_path / "folder.jpg" / "inside.jpg"))
    assert found(tmp_path) == {str(p) for p in photos}


def test_walk_reports_size_and_mtime(tmp_path):
    photo = touch(tmp_path / "a.jpg", b"12345")
    os.utime(photo, ns=(1_500_000_000_123_456_789, 1_500_000_000_123_456_789))
    (entry,) = list(walk(tmp_path))
    assert (entry.path, entry.size, entry.mtime_ns) == (str(photo), 5, photo.stat().st_mtime_ns)
    assert entry.mtime_ns // 1000 == 1_500_000_000_123_456  # at least microseconds kept


def test_walk_skips_hidden_folders_hidden_files_and_litter(tmp_path):
    keep = touch(tmp_path / "sub" / "keep.jpg")
    for n in (".hidden.jpg", ".thumbnails/t.jpg", "sub/.cache/c.png", "sub/.git/x.jpg",
              "Thumbs.db", "desktop.ini", "~$draft.jpg", "sub/ehthumbs.db"):
        touch(tmp_path / n)
    assert found(tmp_path) == {str(keep)}


def test_a_hidden_root_chosen_by_the_user_is_walked(tmp_path):
    photo = touch(tmp_path / ".photos" / "a.jpg")
    assert found(tmp_path / ".photos") == {str(photo)}


@POSIX
def test_walk_follows_folder_links_once_and_cuts_loops(tmp_path):
    root = tmp_path / "photos"
    a = touch(root / "a.jpg")
    outside = touch(tmp_path / "elsewhere" / "b.jpg")
    (root / "loop").symlink_to(root)  # a link back up: not walked again
    (root / "link1").symlink_to(tmp_path / "elsewhere")
    (root / "link2").symlink_to(tmp_path / "elsewhere")  # the same folder twice: walked once
    (root / "gone.jpg").symlink_to(tmp_path / "nowhere.jpg")  # dangling
    (root / "gone").symlink_to(tmp_path / "no-folder")
    (root / "file-link.jpg").symlink_to(outside)
    got = sorted(walk(root), key=lambda f: f.path)
    paths = [f.path for f in got]
    linked = [p for p in paths if Path(p).parent.name in ("link1", "link2")]
    assert len(linked) == 1 and Path(linked[0]).name == "b.jpg"
    assert set(paths) == {str(a), str(root / "file-link.jpg"), linked[0]}
    assert all(f.size == 1 for f in got)


@pytest.mark.allow_log("clipdesk.core.scan", "cannot read folder")
def test_a_root_that_does_not_exist_is_reported_not_raised(tmp_path):
    errors, unreadable = [], []
    assert found(tmp_path / "missing", errors=errors, unreadable=unreadable) == set()
    assert unreadable == [str(tmp_path / "missing")]
    assert len(errors) == 1 and "cannot read folder" in errors[0]


# ---------------------------------------------------------------------- unreadable folders

WALK = """
import json, sys
from clipdesk.core.scan import walk
errors, unreadable = [], []
found = sorted(f.path for f in walk(sys.argv[1], errors, unreadable))
bare = sorted(f.path for f in walk(sys.argv[1]))  # without lists to note problems in
print(json.dumps({"found": found, "errors": errors, "unreadable": unreadable, "bare": bare}))
"""


def walk_as_a_user(root: Path) -> dict:
    """walk() in a child process that file permissions apply to (as root: setpriv)."""
    res = subprocess.run([*hostile.drop_permissions(), sys.executable, "-c", WALK, str(root)],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture
def locked(tmp_path):
    """photos/{a.jpg, open/b.jpg, locked/c.jpg}; the test sets locked's mode."""
    root = tmp_path / "photos"
    touch(root / "a.jpg")
    touch(root / "open" / "b.jpg")
    touch(root / "locked" / "c.jpg")
    yield root
    os.chmod(root / "locked", 0o755)


@POSIX
def test_an_unreadable_folder_is_reported_and_skipped(locked):
    os.chmod(locked / "locked", 0)
    out = walk_as_a_user(locked)
    assert out["found"] == out["bare"] == [str(locked / "a.jpg"), str(locked / "open" / "b.jpg")]
    assert out["unreadable"] == [str(locked / "locked")]
    (message,) = out["errors"]
    assert message.startswith(f"cannot read folder {locked / 'locked'}: Permission denied")
    assert "its photos stay in the library" in message


@POSIX
def test_an_unreadable_root_finds_nothing_and_says_so(locked):
    os.chmod(locked / "locked", 0)
    out = walk_as_a_user(locked / "locked")
    assert out["found"] == [] and out["unreadable"] == [str(locked / "locked")]
    assert len(out["errors"]) == 1


@POSIX
def test_a_folder_that_can_be_listed_but_not_searched_is_reported_unreadable(locked):
    os.chmod(locked / "locked", 0o644)
    out = walk_as_a_user(locked)
    assert str(locked / "locked" / "c.jpg") not in out["found"]  # it cannot be read, ...
    assert out["unreadable"] == [str(locked / "locked")]  # ... so what it holds is unknown


# ---------------------------------------------------------------------- names that are not UTF-8


@pytest.mark.skipif(sys.platform != "linux",
                    reason="only Linux file names may be bytes that are not UTF-8")
def test_a_name_that_is_not_utf8_is_found_but_not_storable_and_shown_escaped(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9-latin1.jpg"
    with open(raw, "wb") as fh:
        fh.write(b"x")
    good = touch(tmp_path / "café.jpg")
    paths = found(tmp_path)
    bad = os.fsdecode(raw)
    assert paths == {bad, str(good)}
    assert not storable(bad)
    assert storable(str(good))
    assert shown(bad) == f"{tmp_path}/caf\\xe9-latin1.jpg"
    shown(bad).encode("utf-8")  # printable and loggable
    assert shown(str(good)) == str(good)


def test_storable_and_shown_on_plain_strings():
    assert storable("/photos/été/日本.jpg") and shown("/photos/été/日本.jpg") == "/photos/été/日本.jpg"
    lone = "/photos/caf\udce9.jpg"  # what os.fsdecode makes of a Latin-1 byte
    assert not storable(lone)
    assert shown(lone) == "/photos/caf\\xe9.jpg"
