"""The Duplicates view in the app: groups found off the GUI thread, kinds apart, the suggested
keeper and the user's choice, and Move to Trash: only confirmed photos move, into the real
trash (tmp_path), and the library forgets them at once; a cancelled confirmation, a photo
changed since, a folder without a usable trash or a read-only one move nothing."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import trashhelpers
from PIL import Image
from trashhelpers import trashed
from uihelpers import index_folder, shown_paths, type_query, wait_ready

real_trash = trashhelpers.real_trash  # fixtures
read_only_folder = trashhelpers.read_only_folder

ORIGINAL = "red-circle-0.jpg"
COPY = "backup/red-circle-0 copy.jpg"
RESIZED = "blue-square-0 small.png"


@pytest.fixture
def dup_library(tmp_path, shapes_folder, trained_model) -> tuple[Path, Path]:
    """(library, photos): three distinct shapes, an exact copy of one in backup/ and a smaller
    PNG re-save of another, indexed with the trained tiny CLIP."""

    photos = tmp_path / "photos"
    (photos / "backup").mkdir(parents=True)
    for name in (ORIGINAL, "blue-square-0.jpg", "green-triangle-0.jpg"):
        shutil.copy2(shapes_folder / name, photos / name)
    shutil.copy2(photos / ORIGINAL, photos / COPY)
    square = Image.open(photos / "blue-square-0.jpg")
    square.resize((square.width * 3 // 4, square.height * 3 // 4)).save(photos / RESIZED)
    report = index_folder(tmp_path / "library", photos, trained_model)
    assert report.embedded == 5 and not report.failed
    return tmp_path / "library", photos


def open_view(qtbot, open_window, library: Path, model: str):
    window = open_window(library, model)
    wait_ready(qtbot, window)
    window.show_duplicates()
    view = window.duplicates_view
    qtbot.waitSignal(view.found, timeout=30_000, raising=False)
    qtbot.waitUntil(lambda: not view.busy and view.tabs.tabText(0) != "Exact copies",
                    timeout=30_000)
    return window, view


def paths_of(view, kind: str) -> list[list[str]]:
    return [[m.path for m in box.group.members] for box in view.pages[kind].boxes]


def test_groups_by_kind_with_the_suggested_keeper(qtbot, open_window, dup_library,
                                                  trained_model):
    library, photos = dup_library
    window, view = open_view(qtbot, open_window, library, trained_model)
    original, copy = str(photos / ORIGINAL), str(photos / COPY)
    assert paths_of(view, "exact") == [[original, copy]]
    assert view.tabs.tabText(0) == "Exact copies (1)"
    box = view.pages["exact"].boxes[0]
    assert box.keep == original  # same pixels and format: the name without "copy"
    assert box.radios[original].text() == "Keep (suggested)"
    facts = box.findChildren(type(box.title))
    text = "\n".join(label.text() for label in facts)
    size = os.path.getsize(copy)
    with Image.open(copy) as im:
        dims = f"{im.width} × {im.height}"
    assert dims in text and str(photos / "backup") in text and "red-circle-0 copy.jpg" in text
    assert f"{size / 1024:,.0f} kB" in text
    # near: the PNG re-save of the square and the square, at a threshold the user sets
    with qtbot.waitSignal(view.found, timeout=30_000):  # after the debounce
        view.threshold.setValue(0.90)
    near = paths_of(view, "near")
    assert [str(photos / "blue-square-0.jpg"), str(photos / RESIZED)] in near
    assert all(str(photos / COPY) not in group for group in near)  # kinds never mixed
    # the summary counts the current tab's photos to move and what they free
    assert view.summary.text().startswith(f"Exact copies: 1 group, 1 photo to move, "
                                          f"{size / 1024:,.0f} kB to free")
    # a group left out moves nothing
    view.pages["exact"].boxes[0].include.setChecked(False)
    assert not view.trash_button.isEnabled()
    assert "0 photos to move" in view.summary.text()
    view.pages["exact"].boxes[0].include.setChecked(True)
    assert view.trash_button.isEnabled()
    # the thumbnails arrive through the loader
    box = view.pages["exact"].boxes[0]  # the groups were shown anew
    qtbot.waitUntil(lambda: all(label.pixmap() is not None and not label.pixmap().isNull()
                                for label in box.thumbs.values()), timeout=10_000)


def test_only_confirmed_photos_go_to_the_trash_and_leave_the_library(
        qtbot, open_window, dup_library, trained_model, real_trash):
    library, photos = dup_library
    window, view = open_view(qtbot, open_window, library, trained_model)
    original, copy = str(photos / ORIGINAL), str(photos / COPY)
    before = {p: Path(p).read_bytes() for p in (original, copy)}

    # cancelled: nothing moves
    view.trash_button.click()
    assert view.confirmation.paths() == [copy]
    view.confirmation.cancel_button.click()
    qtbot.wait(200)
    assert {p: Path(p).read_bytes() for p in (original, copy)} == before
    assert not real_trash.exists()

    # the user keeps the copy instead: the original is what moves, and only it
    view.pages["exact"].boxes[0].radios[copy].click()
    view.trash_button.click()
    assert view.confirmation.paths() == [original]
    assert view.confirmation.label.text().startswith("1 photo (")
    with qtbot.waitSignal(view.trashDone, timeout=30_000):
        view.confirmation.move_button.click()
    assert not os.path.lexists(original)
    assert Path(copy).read_bytes() == before[copy]
    (name, where), = trashed(real_trash).items()
    assert where == original
    assert (real_trash / "files" / name).read_bytes() == before[original]
    assert view.message_label.text().startswith("Moved 1 photo to the Trash")
    assert view.pages["exact"].boxes == [] and view.tabs.tabText(0) == "Exact copies (0)"

    # the library forgot it at once: catalog, index, and the results on screen
    engine = window.engine
    assert engine.library.catalog.file_by_path(original) is None
    assert engine.library.catalog.file_by_path(copy) is not None
    type_query(qtbot, window, "a photo of a red circle")
    shown = shown_paths(window)
    assert copy in shown and original not in shown
    assert len(engine.searcher.index) == 4


def test_a_photo_changed_since_it_was_found_stays(qtbot, open_window, dup_library,
                                                   trained_model, real_trash):
    library, photos = dup_library
    window, view = open_view(qtbot, open_window, library, trained_model)
    copy = photos / COPY
    view.trash_button.click()
    with open(copy, "ab") as fh:
        fh.write(b"edited since")  # the user changed it after looking
    with qtbot.waitSignal(view.trashDone, timeout=30_000):
        view.confirmation.move_button.click()
    assert copy.read_bytes().endswith(b"edited since")
    text = view.message_label.text()
    assert f"{copy}: it changed since the duplicates were found" in text
    assert "nothing was deleted" in text
    assert not real_trash.exists() or trashed(real_trash) == {}


def test_a_vanished_or_changed_photo_is_left_out_of_its_group(dup_library, trained_model):
    """The grouping job (what runs on the pool) leaves out a file changed since indexing and
    names it; the group of its copy then has one photo and goes."""
    from clipdesk.core.library import Library
    from clipdesk.core.models import ModelSpec
    from clipdesk.ui.duplicates import find_job

    library_dir, photos = dup_library
    library = Library(library_dir)
    row = library.model_row(ModelSpec.parse(trained_model))
    with open(photos / COPY, "ab") as fh:
        fh.write(b"x")
    (photos / RESIZED).unlink()

    class Job:  # find_job's worker argument: only checked for cancelling
        cancelled = False

        def check(self):
            pass

    found = find_job(Job(), library, row, 0.90)
    library.close()
    assert found.groups["exact"] == []
    assert all(str(photos / RESIZED) not in [m.path for m in g.members]
               for g in found.groups["near"])
    assert dict(found.left_out) == {str(photos / COPY): "changed since it was indexed",
                                    str(photos / RESIZED): "vanished"}


def test_without_a_usable_trash_nothing_moves_and_the_message_says_so(
        qtbot, open_window, dup_library, trained_model, real_trash):
    library, photos = dup_library
    real_trash.parent.mkdir(parents=True, exist_ok=True)
    real_trash.write_text("no trash can be made here")
    window, view = open_view(qtbot, open_window, library, trained_model)
    copy = photos / COPY
    view.trash_button.click()
    with qtbot.waitSignal(view.trashDone, timeout=30_000):
        view.confirmation.move_button.click()
    assert copy.is_file()
    text = view.message_label.text()
    assert "1 photo not moved (it is still where it was; nothing was deleted)" in text
    assert f"{copy}: there is no usable trash for it" in text
    assert window.engine.library.catalog.file_by_path(str(copy)) is not None
    assert paths_of(view, "exact") == [[str(photos / ORIGINAL), str(copy)]]


def test_a_read_only_folder_is_reported(qtbot, open_window, dup_library, trained_model,
                                        real_trash, read_only_folder):
    library, photos = dup_library
    window, view = open_view(qtbot, open_window, library, trained_model)
    read_only_folder(photos / "backup")
    view.trash_button.click()
    with qtbot.waitSignal(view.trashDone, timeout=30_000):
        view.confirmation.move_button.click()
    assert (photos / COPY).is_file()
    assert f"its folder {photos / 'backup'} is read-only" in view.message_label.text()


def test_thumbnails_load_for_the_groups_scrolled_to(qtbot, open_window, tmp_path,
                                                    trained_model, monkeypatch):
    """Thumbnails are asked for as groups come on screen (the loader drops old requests past
    its limit, so asking for every group at once would lose some); groups come in pages."""
    from clipdesk.ui import duplicates

    monkeypatch.setattr(duplicates, "GROUPS_SHOWN", 20)
    import tinyclip

    photos = tmp_path / "photos"
    (photos / "backup").mkdir(parents=True)
    rng = np.random.default_rng(5)
    for i in range(30):
        color, shape = tinyclip.CLASSES[i % len(tinyclip.CLASSES)]
        tinyclip.draw_shape(color, shape, rng, size=(160, 120)).save(photos / f"p{i:02}.jpg")
        shutil.copy2(photos / f"p{i:02}.jpg", photos / "backup" / f"p{i:02} copy.jpg")
    report = index_folder(tmp_path / "library", photos, trained_model)
    assert report.total == 60 and not report.failed
    window, view = open_view(qtbot, open_window, tmp_path / "library", trained_model)
    page = view.pages["exact"]
    assert len(page.boxes) == 20 and view.tabs.tabText(0) == "Exact copies (30)"
    assert view.summary.text().startswith("Exact copies: 20 groups, 20 photos to move")
    assert page.more_button.text() == "Show 10 more of 10 groups"
    page.more_button.click()
    assert len(page.boxes) == 30 and page.more_button.isHidden()
    assert view.summary.text().startswith("Exact copies: 30 groups, 30 photos to move")
    first, last = page.boxes[0], page.boxes[-1]
    qtbot.waitUntil(lambda: all(not label.pixmap().isNull()
                                for label in first.thumbs.values()), timeout=10_000)
    assert first.height() > duplicates.THUMB.height()  # scrolled, not squeezed to fit
    assert all(label.pixmap().isNull() and not view.loader.queued(path)
               for path, label in last.thumbs.items())  # not asked for: off screen
    qtbot.waitUntil(lambda: last.geometry().top() > first.geometry().bottom(), timeout=10_000)
    page.verticalScrollBar().setValue(page.verticalScrollBar().maximum())  # laid out: the end
    qtbot.waitUntil(lambda: all(not label.pixmap().isNull()
                                for label in last.thumbs.values()), timeout=10_000)
