"""The app tidies the thumbnail store when it opens a library as its writer."""

from __future__ import annotations

import shutil

from uihelpers import wait_ready


def test_opening_the_library_removes_thumbnails_no_photo_uses(qtbot, open_window,
                                                              library_copy):
    thumbs = library_copy / "thumbnails"
    kept = sorted(thumbs.rglob("*.jpg"))
    assert kept
    orphan = thumbs / "ab" / ("ab" + "0" * 30 + ".jpg")  # a photo deleted while the app was shut
    orphan.parent.mkdir(exist_ok=True)
    shutil.copyfile(kept[0], orphan)
    window = open_window(library_copy)
    wait_ready(qtbot, window)
    qtbot.waitUntil(lambda: not orphan.exists(), timeout=30_000)
    assert all(p.exists() for p in kept)
