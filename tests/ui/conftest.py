"""UI test fixtures: every settings, data and cache path in tmp_path; real libraries indexed
with the tiny models; the window driven through its widgets as a user would.

Qt warnings fail a UI test (qutebrowser's habit), except the offscreen platform's notes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QStandardPaths
from PySide6.QtWidgets import QApplication

UI_DIR = Path(__file__).parent
QT_NOISE = [
    r"This plugin does not support",  # the offscreen platform has no window manager
    r"QFont::setPointSize",
]


def pytest_collection_modifyitems(items):
    for item in items:
        if UI_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
            item.add_marker(pytest.mark.qt_log_ignore(*QT_NOISE))


@pytest.fixture(autouse=True)
def ui_paths(tmp_path, isolated_paths):
    """Any default QSettings in tmp_path too (ours are there by ``isolated_paths``), Qt's
    standard paths in test mode."""
    for fmt in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(tmp_path / "qsettings"))
    QStandardPaths.setTestModeEnabled(True)
    yield tmp_path
    if QApplication.instance() is not None:
        QApplication.clipboard().clear()


@pytest.fixture(scope="session")
def shapes_library(tmp_path_factory, trained_model, shapes_folder) -> Path:
    """A library of the 24 shape photos, indexed once with the trained tiny CLIP."""
    from clipdesk.core import models
    from clipdesk.core.indexer import Indexer
    from clipdesk.core.library import Library

    folder = tmp_path_factory.mktemp("shapes-library")
    library = Library(folder)
    encoder = models.load(models.ModelSpec.parse(trained_model), device="cpu")
    report = Indexer(library, encoder, on_progress=lambda *_: None).run([shapes_folder])
    assert report.embedded == 24 and not report.failed
    library.close()
    return folder


@pytest.fixture
def library_copy(shapes_library, tmp_path) -> Path:
    """A private copy of the indexed shapes library for one test."""
    target = tmp_path / "library"
    shutil.copytree(shapes_library, target)
    return target


@pytest.fixture
def open_window(qtbot):
    """``open_window(library, model=None)``: a started engine and its shown main window; closed
    (and its threads finished) at the end of the test."""
    from clipdesk.ui.engine import Engine
    from clipdesk.ui.mainwindow import MainWindow
    from clipdesk.ui.settings import Settings

    windows = []

    def make(library: Path, model: str | None = None, settings: Settings | None = None,
             start: bool = True):
        settings = settings or Settings.load()
        engine = Engine(library, model, "cpu", settings)
        window = MainWindow(engine, settings)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        if start:
            engine.start()
        return window

    yield make
    for window in windows:
        window.close()


@pytest.fixture
def pools():
    """``pools(name)``: a one-thread pool (``clipdesk.ui.workers.Pool``), drained at the end of
    the test."""
    from clipdesk.ui.workers import Pool

    made: list[Pool] = []
    yield lambda name: made.append(Pool(name, 1)) or made[-1]
    for pool in made:
        pool.cancel_all()
        pool.wait(60_000)


@pytest.fixture
def url_catcher(monkeypatch):
    """Qt's file:// URLs (open, open with the player, show in folder) caught instead of
    opened: a ``uihelpers.UrlCatcher`` (its ``urls``), no file manager reached over D-Bus."""
    from PySide6.QtGui import QDesktopServices
    from uihelpers import UrlCatcher

    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "handle")
    yield catcher
    QDesktopServices.unsetUrlHandler("file")


@pytest.fixture
def shapes(library_copy, trained_model):
    """The indexed shapes library (a copy), its trained model loaded, and the model's row."""
    from clipdesk.core import models
    from clipdesk.core.library import Library

    library = Library(library_copy)
    encoder = models.load(models.ModelSpec.parse(trained_model), device="cpu")
    yield library, encoder, library.model_row(encoder.spec)
    library.close()
