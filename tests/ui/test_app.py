"""Launching: `clipdesk` opens the window (titled ClipDesk) without importing torch first; a
second launch brings the first window forward; errors go to a dialog that points at the log;
settings persist; a PySide6 that corrupts reference counts is refused up front."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QObject
from PySide6.QtWidgets import QApplication

from clipdesk.core.paths import config_dir, log_dir
from clipdesk.logs import new_crash_report
from clipdesk.ui import app as app_mod
from clipdesk.ui.crash import CrashHandler, previous_error
from clipdesk.ui.icon import SVG
from clipdesk.ui.settings import Settings, SettingsDialog

ROOT = Path(__file__).resolve().parents[2]


def launch(*args: str, probe: str = "shown", env: dict | None = None,
           timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "clipdesk", *args], capture_output=True, text=True, cwd=ROOT,
        timeout=timeout, env={**os.environ, "QT_QPA_PLATFORM": "offscreen",
                              "CLIPDESK_STARTUP_PROBE": probe, **(env or {})})


def test_clipdesk_without_a_command_opens_the_window(tmp_path):
    res = launch("--library", str(tmp_path / "lib"))
    assert res.returncode == 0, res.stderr
    assert "CLIPDESK-SHOWN" in res.stdout
    help_res = subprocess.run([sys.executable, "-m", "clipdesk", "--help"], capture_output=True,
                              text=True, cwd=ROOT, timeout=60)
    assert help_res.returncode == 0 and "index" in help_res.stdout  # --help is still help


def test_the_first_paint_does_not_import_torch(qtbot):
    code = (
        "import os, sys\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from clipdesk.ui.engine import Engine\n"
        "from clipdesk.ui.mainwindow import MainWindow\n"
        "w = MainWindow(Engine(sys.argv[1]))\n"
        "w.show(); app.processEvents()\n"
        "bad = [m for m in ('torch', 'open_clip', 'torchvision') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code, str(Path.cwd())], capture_output=True,
                         text=True, cwd=ROOT, timeout=60)
    assert res.returncode == 0, res.stderr


class Front(QObject):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def bring(self) -> None:
        self.calls += 1


def test_a_second_launch_brings_the_running_window_to_the_front(qtbot, tmp_path):
    library = tmp_path / "lib"
    single = app_mod.SingleInstance(app_mod.instance_key(library))
    assert single.listen()
    front = Front()
    single.activated.connect(front.bring)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "clipdesk", "--library", str(library)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            qtbot.wait(50)  # our event loop answers the second launch
        out, err = proc.communicate(timeout=5)
        assert proc.returncode == 0, err
        assert "already open" in out
        qtbot.waitUntil(lambda: front.calls == 1)
        assert not (library / "catalog.sqlite3").exists()  # it never opened the library
    finally:
        single.close()
    # a socket left behind by a crashed app does not block the next one
    stale = app_mod.SingleInstance(app_mod.instance_key(library))
    assert stale.listen()
    stale.close()


@pytest.mark.allow_log("clipdesk.crash", "unexpected error: ValueError: something broke")
def test_unexpected_errors_are_logged_and_shown_with_the_log_path(qtbot, tmp_path):
    import logging

    log_path = tmp_path / "logs" / "clipdesk.log"
    log_path.parent.mkdir(parents=True)
    handler = logging.FileHandler(log_path)
    logging.getLogger().addHandler(handler)
    crash = CrashHandler(log_path)
    try:
        try:
            raise ValueError("something broke")
        except ValueError:
            crash.excepthook(*sys.exc_info())
        qtbot.waitUntil(lambda: crash.dialog is not None and crash.dialog.isVisible())
        assert str(log_path) in crash.dialog.informativeText()
        assert "ValueError: something broke" in crash.dialog.informativeText()
        handler.flush()
        text = log_path.read_text()
        assert "Traceback" in text and "something broke" in text
        crash.dialog.close()
        # the next launch mentions it once
        assert previous_error(log_path) == "ValueError: something broke"
        assert previous_error(log_path) is None
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()


def test_the_running_app_routes_exceptions_to_the_crash_dialog(tmp_path):
    code = (
        "import os, sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "import clipdesk.ui.mainwindow as mw\n"
        "def boom(self): raise RuntimeError('boom in a slot')\n"
        "mw.MainWindow.show_about = boom\n"
        "orig = mw.MainWindow.__init__\n"
        "def init(self, *a, **k):\n"
        "    orig(self, *a, **k)\n"
        "    QTimer.singleShot(300, self.show_about)\n"
        "    def check():\n"
        "        from clipdesk.ui import crash\n"
        "        box = [w for w in QApplication.topLevelWidgets() if w.isVisible() and\n"
        "               w.windowTitle() == 'ClipDesk: unexpected error']\n"
        "        print('DIALOG', bool(box), box[0].informativeText() if box else '')\n"
        "        self.close()\n"
        "    QTimer.singleShot(1500, check)\n"
        "mw.MainWindow.__init__ = init\n"
        "from clipdesk.cli import main\n"
        "sys.exit(main(['--library', sys.argv[1]]))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("CLIPDESK_STARTUP_PROBE", None)
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lib")], capture_output=True,
                         text=True, cwd=ROOT, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    assert "DIALOG True" in res.stdout
    log = log_dir() / "clipdesk.log"
    assert str(log) in res.stdout
    assert "boom in a slot" in log.read_text()


def test_settings_persist_in_the_redirected_config_folder(qtbot, tmp_path, random_model):
    settings = Settings.load()
    assert settings.thumb_size == 160 and settings.model == ""
    dialog = SettingsDialog(settings, "ViT-B-32:laion2b_s34b_b79k")
    qtbot.addWidget(dialog)
    assert dialog.model_combo.currentData() == "ViT-B-32:laion2b_s34b_b79k"
    dialog.model_combo.setCurrentIndex(dialog.model_combo.findData("Custom…"))
    dialog.custom_edit.setText(random_model)
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.workers_spin.setValue(3)
    dialog.thumb_combo.setCurrentIndex(dialog.thumb_combo.findData(224))
    dialog.accept()
    settings.save()
    assert (config_dir() / "clipdesk.ini").is_file()
    again = Settings.load()
    assert (again.model, again.device, again.workers, again.thumb_size) == (
        random_model, "cpu", 3, 224)

    bad = SettingsDialog(again, again.model)
    qtbot.addWidget(bad)
    bad.custom_edit.setText("not a spec")
    bad.accept()
    assert bad.result() == 0 and "bad model spec" in bad.model_note.text()


def test_changing_the_model_reindexes_while_the_old_one_answers(qtbot, open_window,
                                                                 library_copy, random_model,
                                                                 trained_model):
    from uihelpers import type_query, wait_ready

    window = open_window(library_copy)
    wait_ready(qtbot, window)
    assert window.engine.search_spec == trained_model
    answered: list = []
    window.engine.searchAnswered.connect(answered.append)
    type_query(qtbot, window, "a photo of a red circle")
    with qtbot.waitSignal(window.engine.indexingFinished, timeout=60_000) as finished:
        window.engine.set_model(random_model)
        qtbot.waitUntil(lambda: window.engine.model_state.value == "ready", timeout=30_000)
    assert finished.args[0].embedded == 24
    qtbot.waitUntil(lambda: window.engine.search_spec == random_model, timeout=10_000)
    qtbot.waitUntil(lambda: answered[-1].model == random_model, timeout=10_000)
    assert window.engine.library.model_spec == random_model


def test_icon_svg_matches_the_resources_file():
    assert (ROOT / "resources" / "clipdesk.svg").read_text(encoding="utf-8") == SVG


def test_these_qt_bindings_keep_reference_counts():
    assert QApplication.instance() is not None
    assert app_mod.bindings_broken() is None


def test_instance_keys_differ_per_library(tmp_path):
    a = app_mod.instance_key(tmp_path / "one")
    b = app_mod.instance_key(tmp_path / "two")
    assert a != b and a.startswith("clipdesk-")


# ---------------------------------------------------------------------------- process plumbing


def wait_for_log(text: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    log = log_dir() / "clipdesk.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.is_file() and text in log.read_text():
            return
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never logged")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_close_the_running_app_cleanly(tmp_path, sig):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("CLIPDESK_STARTUP_PROBE", None)
    proc = subprocess.Popen([sys.executable, "-m", "clipdesk", "--library", str(tmp_path / "lib")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=env)
    try:
        wait_for_log("window shown", proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert f"{sig.name}: closing the window" in (log_dir() / "clipdesk.log").read_text()


@pytest.mark.parametrize("wakeup_fd", [True, False], ids=["wakeup-fd", "fallback-timer"])
def test_signals_wake_the_event_loop_without_polling(qtbot, monkeypatch, wakeup_fd):
    """A signal is handled while Qt's event loop runs only C++: woken by the wakeup socket, with
    no timer to let Python in; or, where that is not possible (Windows), by the timer."""
    from PySide6.QtCore import QEventLoop, QTimer

    from clipdesk.ui.interrupt import InterruptHandler

    if not wakeup_fd:
        monkeypatch.setattr(InterruptHandler, "_wake_on_socket", lambda self: False)
    loop = QEventLoop()
    closed: list[float] = []
    handler = InterruptHandler(lambda: (closed.append(time.monotonic()), loop.quit()))
    before = signal.getsignal(signal.SIGTERM)
    assert handler.activate()
    try:
        assert handler.polling is not wakeup_fd
        QTimer.singleShot(10_000, loop.quit)  # a safety net, not the wake-up
        sent = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        loop.exec()
    finally:
        handler.deactivate()
    assert closed and closed[0] - sent < 2
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.slow
def test_a_crash_last_time_is_offered_at_the_next_launch(tmp_path):
    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "crash.log").write_text("Fatal Python error: Segmentation fault\n\n"
                                      'Current thread 0x1 (most recent call first):\n'
                                      '  File "shiboken.py", line 1 in paint\n')
    code = (
        "import sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from PySide6.QtWidgets import QApplication\n"
        "import clipdesk.ui.mainwindow as mw\n"
        "orig = mw.MainWindow.__init__\n"
        "def init(self, *a, **k):\n"
        "    orig(self, *a, **k)\n"
        "    def check():\n"
        "        box = [w for w in QApplication.topLevelWidgets() if w.isVisible() and\n"
        "               w.windowTitle().startswith('ClipDesk: it stopped unexpectedly')]\n"
        "        print('CRASH', box[0].detailedText() if box else None, flush=True)\n"
        "        self.close()\n"
        "    QTimer.singleShot(500, check)\n"
        "mw.MainWindow.__init__ = init\n"
        "from clipdesk.cli import main\n"
        "sys.exit(main(['--library', sys.argv[1]]))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    env.pop("CLIPDESK_STARTUP_PROBE", None)
    res = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lib")],
                         capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
    assert res.returncode == 0, res.stderr
    assert "CRASH Fatal Python error: Segmentation fault" in res.stdout
    assert "in paint" in res.stdout
    assert new_crash_report(folder) is None  # offered once: the next launch says nothing


@pytest.mark.allow_log("qt", "a warning from Qt")
def test_qt_warnings_go_to_the_log(qtbot, caplog):
    from PySide6.QtCore import qInstallMessageHandler, qWarning

    previous = qInstallMessageHandler(app_mod._qt_message)
    try:
        qWarning("a warning from Qt")
    finally:
        qInstallMessageHandler(previous)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("qt", "WARNING", "a warning from Qt")]
