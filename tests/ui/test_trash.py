"""Move to Trash with a real trash (Qt's, the freedesktop.org one in tmp_path): a photo goes
there with its .trashinfo; a photo that changed or vanished, a folder without a usable trash
and a read-only folder leave every photo where it was, with the reason; nothing is deleted."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trashhelpers
from trashhelpers import trashed

from clipdesk.ui import trash as trash_module
from clipdesk.ui.trash import TrashRequest, trash_files

real_trash = trashhelpers.real_trash  # fixtures shared with the window's tests
read_only_folder = trashhelpers.read_only_folder


def photo(path: Path, data: bytes = b"not really a jpeg") -> TrashRequest:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    st = path.stat()
    return TrashRequest(str(path), st.st_size, st.st_mtime_ns / 1e9)


def test_a_photo_goes_to_the_trash_with_its_trashinfo(qapp, tmp_path, real_trash):
    request = photo(tmp_path / "photos" / "copy of beach.jpg", b"the bytes")
    result = trash_files([request])
    assert result.failed == []
    assert not os.path.lexists(request.path)
    (name, where), = trashed(real_trash).items()
    assert where == request.path
    assert result.moved == [(request.path, str(real_trash / "files" / name))]
    assert (real_trash / "files" / name).read_bytes() == b"the bytes"


def test_a_photo_that_changed_or_vanished_is_not_moved(qapp, tmp_path, real_trash):
    changed = photo(tmp_path / "photos" / "a.jpg")
    Path(changed.path).write_bytes(b"edited since")  # another size
    touched = photo(tmp_path / "photos" / "b.jpg")
    os.utime(touched.path, (1_000_000, 1_000_000))  # same size, another time
    gone = photo(tmp_path / "photos" / "c.jpg")
    os.unlink(gone.path)
    result = trash_files([changed, touched, gone])
    assert result.moved == []
    assert dict(result.failed) == {
        changed.path: "it changed since the duplicates were found",
        touched.path: "it changed since the duplicates were found",
        gone.path: "it is no longer there"}
    assert Path(changed.path).read_bytes() == b"edited since" and Path(touched.path).exists()
    assert not real_trash.exists()


def test_without_a_usable_trash_the_photo_stays(qapp, tmp_path, real_trash):
    real_trash.parent.mkdir(parents=True, exist_ok=True)
    real_trash.write_text("a file where the trash folder should be")  # no trash can be made
    request = photo(tmp_path / "photos" / "a.jpg", b"keep me")
    result = trash_files([request])
    assert result.moved == []
    (path, why), = result.failed
    assert path == request.path and why.startswith("there is no usable trash for it")
    assert Path(request.path).read_bytes() == b"keep me"


def test_a_read_only_folder_is_reported_and_its_photo_stays(qapp, tmp_path, real_trash,
                                                            read_only_folder):
    request = photo(tmp_path / "photos" / "a.jpg", b"keep me")
    read_only_folder(tmp_path / "photos")
    result = trash_files([request])
    assert result.moved == []
    assert result.failed == [(request.path, f"its folder {tmp_path / 'photos'} is read-only")]
    assert Path(request.path).read_bytes() == b"keep me"
    assert not real_trash.exists() or trashed(real_trash) == {}


@pytest.mark.allow_log("clipdesk.ui.trash")
def test_a_half_move_by_qt_is_taken_back(qapp, tmp_path, real_trash, read_only_folder,
                                         monkeypatch):
    """Qt links the photo into the trash, then cannot unlink it from a folder that refuses,
    and still says it moved: the trash's link and .trashinfo are removed, the photo stays."""
    request = photo(tmp_path / "photos" / "a.jpg", b"keep me")
    read_only_folder(tmp_path / "photos")
    monkeypatch.setattr(trash_module.os, "access", lambda *_a, **_k: True)  # skip our check
    result = trash_files([request])
    assert result.moved == []
    assert result.failed == [(request.path, f"its folder {tmp_path / 'photos'} does not allow "
                                            "removing files (read-only)")]
    assert Path(request.path).read_bytes() == b"keep me"
    assert list((real_trash / "files").iterdir()) == []
    assert list((real_trash / "info").iterdir()) == []
