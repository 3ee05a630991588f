"""Starting the app: one window per library, logging, the crash handler, and a fast first paint.

``run_app`` shows the window before anything slow happens: once the window has painted, the
library opens and the model loads in worker threads. No runtime is imported before that.
A second launch on the same library finds the first through a local socket and brings its
window to the front instead of opening a second writer on the library.

``CLIPDESK_STARTUP_PROBE`` (for ``benchmarks/startup.py``): ``shown`` prints
``CLIPDESK-SHOWN <unix time>`` when the window is first on screen, then quits;
``search:TEXT`` also types TEXT at once and prints ``CLIPDESK-SEARCHED <unix time> <hits>``
when its results are on screen, then quits.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import os
import sys
import time
from pathlib import Path

from PySide6.QtCore import (
    QByteArray,
    QObject,
    Qt,
    QTimer,
    QtMsgType,
    Signal,
    qInstallMessageHandler,
)
from PySide6.QtGui import QColor, QPalette
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QApplication

from clipdesk.core.errors import ClipDeskError

log = logging.getLogger("clipdesk.ui")

CONNECT_TIMEOUT_MS = 500
# "dark" or "light": the scheme to show whatever the system says (screenshots, desktops that
# do not tell Qt theirs)
COLOR_SCHEME_ENV = "CLIPDESK_COLOR_SCHEME"


# ---------------------------------------------------------------------------- dark mode


def dark_palette() -> QPalette:
    """Fusion's roles in dark colours, for a dark desktop whose platform style stays light."""
    palette = QPalette()
    role, group = QPalette.ColorRole, QPalette.ColorGroup
    colours = {role.Window: "#2b2b2e", role.WindowText: "#e6e6e6", role.Base: "#1f1f22",
               role.AlternateBase: "#2b2b2e", role.ToolTipBase: "#3a3a3e",
               role.ToolTipText: "#e6e6e6", role.PlaceholderText: "#9a9a9a",
               role.Text: "#e6e6e6", role.Button: "#35353a", role.ButtonText: "#e6e6e6",
               role.BrightText: "#ff6b6b", role.Light: "#4a4a50", role.Midlight: "#3e3e44",
               role.Mid: "#5c5c63", role.Dark: "#18181a", role.Shadow: "#000000",
               role.Highlight: "#3d7bd9", role.HighlightedText: "#ffffff",
               role.Link: "#6ea8ff", role.LinkVisited: "#b18cff"}
    for r, colour in colours.items():
        palette.setColor(r, QColor(colour))
    for r in (role.WindowText, role.Text, role.ButtonText):
        palette.setColor(group.Disabled, r, QColor("#7a7a7a"))
    return palette


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


class ColorSchemeFollower(QObject):
    """Dark mode that follows the system. Qt says the system's scheme
    (``QStyleHints.colorScheme``, Qt 6.5+); where the platform style follows it (macOS,
    Windows 11, GNOME through the portal) there is nothing to do; where it stays light, the
    app turns to Fusion with ``dark_palette``, and back to the platform's style and palette
    when the system turns light. A new application palette repaints every widget; tiles and
    chips draw from the palette, so they follow."""

    def __init__(self, app: QApplication, override: str | None = None):
        super().__init__(app)
        self.app = app
        self.override = (override or "").strip().lower() or None
        self._saved: tuple[str, QPalette] | None = None  # the platform's, while dark is forced
        # after Qt has handled the change itself (the platform palette may turn dark too)
        app.styleHints().colorSchemeChanged.connect(lambda _s: QTimer.singleShot(0, self.follow))
        self.follow()

    @property
    def forced(self) -> bool:
        return self._saved is not None

    def scheme(self) -> Qt.ColorScheme:
        if self.override == "dark":
            return Qt.ColorScheme.Dark
        if self.override == "light":
            return Qt.ColorScheme.Light
        return self.app.styleHints().colorScheme()

    def follow(self, scheme: Qt.ColorScheme | None = None) -> None:
        """Show ``scheme`` (default: the system's now)."""
        scheme = scheme if scheme is not None else self.scheme()
        if scheme == Qt.ColorScheme.Dark and not self.forced and not is_dark(self.app.palette()):
            self._saved = (self.app.style().name(), QPalette(self.app.palette()))
            self.app.setStyle("Fusion")
            self.app.setPalette(dark_palette())
            log.info("dark mode: Fusion with a dark palette (the platform style stays light)")
        elif scheme != Qt.ColorScheme.Dark and self.forced:
            style, palette = self._saved
            self._saved = None
            self.app.setStyle(style)
            self.app.setPalette(palette)


# ---------------------------------------------------------------------------- one per library


def instance_key(library: Path) -> str:
    """The local socket name for one user's app on one library."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name (some containers): the library path alone will do
        user = ""
    digest = hashlib.sha1(f"{user}\0{Path(library).resolve()}".encode()).hexdigest()[:16]
    return f"clipdesk-{digest}"


class SingleInstance(QObject):
    """The first app listens on the key; later launches connect, say "raise", and exit."""

    activated = Signal()

    def __init__(self, key: str, parent: QObject | None = None):
        super().__init__(parent)
        self.key = key
        self.server: QLocalServer | None = None

    def notify_running(self) -> bool:
        """True when another app holds this key (it has been asked to come to the front)."""
        socket = QLocalSocket()
        socket.connectToServer(self.key)
        if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
            return False
        socket.write(QByteArray(b"raise\n"))
        socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
        socket.disconnectFromServer()
        return True

    def listen(self) -> bool:
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.key):
            QLocalServer.removeServer(self.key)  # a socket file left by a crashed app
            if not server.listen(self.key):
                log.warning("single-instance socket %s: %s", self.key, server.errorString())
                return False
        server.newConnection.connect(self._on_connection)
        self.server = server
        return True

    def _on_connection(self) -> None:
        assert self.server is not None
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.readyRead.connect(lambda s=socket: self._read(s))
            socket.disconnected.connect(socket.deleteLater)
            if socket.bytesAvailable():
                self._read(socket)

    def _read(self, socket: QLocalSocket) -> None:
        if bytes(socket.readAll().data()).startswith(b"raise"):
            self.activated.emit()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None


# ---------------------------------------------------------------------------- Qt's own messages


_QT_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}


def _qt_message(mode, context, message: str) -> None:
    """Qt's own warnings into the log file, with where Qt said them (qutebrowser's qtlog)."""
    where = f" ({context.category})" if context.category not in (None, "", "default") else ""
    logging.getLogger("qt").log(_QT_LEVELS.get(mode, logging.WARNING), "%s%s", message, where)


# ---------------------------------------------------------------------------- a broken binding


def bindings_broken() -> str | None:
    """PySide6 6.12 on Python < 3.12 drops a reference to None on every call that returns
    nothing, and the app dies with "deallocating None" within seconds. Detect it up front."""
    if sys.version_info >= (3, 12):
        return None  # None is immortal there
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(64):
        probe.setObjectName("probe")
    if before - sys.getrefcount(None) >= 32:
        import PySide6

        return (f"PySide6 {PySide6.__version__} does not work with Python "
                f"{sys.version.split()[0]} (it corrupts Python's reference counts). "
                "Install PySide6-Essentials 6.11 (pip install 'PySide6-Essentials<6.12') or "
                "use Python 3.12 or newer.")
    return None


# ---------------------------------------------------------------------------- the probe


class StartupProbe(QObject):
    """Prints when the window is first on screen (and when the first search is answered)."""

    def __init__(self, spec: str, window, engine):
        super().__init__(window)
        self.window, self.engine = window, engine
        self.search = spec.split(":", 1)[1] if spec.startswith("search:") else None
        window.firstShown.connect(self._on_shown)
        if self.search:
            engine.searchAnswered.connect(self._answered)
            engine.modelStateChanged.connect(self._model_state)

    def _model_state(self, state, message: str) -> None:
        from clipdesk.ui.engine import ModelState

        if state in (ModelState.MISSING, ModelState.FAILED):  # no answer will come
            print(f"CLIPDESK-FAILED {message}", flush=True)
            QTimer.singleShot(0, self.window.close)

    def _on_shown(self) -> None:
        print(f"CLIPDESK-SHOWN {time.time():.6f}", flush=True)
        if self.search:
            self.window.search_bar.set_text(self.search)
            self.window.search_bar._emit()
        else:
            QTimer.singleShot(0, self.window.close)

    def _answered(self, answer) -> None:
        QTimer.singleShot(0, lambda: self._report(answer))

    def _report(self, answer) -> None:
        from clipdesk.core.models import STARTUP_MARKS

        QApplication.processEvents()  # the results are painted
        for name, (when, cpu) in sorted(STARTUP_MARKS.items(), key=lambda item: item[1]):
            print(f"CLIPDESK-MARK {when:.6f} {cpu:.3f} {name}", flush=True)
        print(f"CLIPDESK-MARK {time.time():.6f} {time.process_time():.3f} first search answered",
              flush=True)
        print(f"CLIPDESK-SEARCHED {time.time():.6f} {len(answer.results)}", flush=True)
        self.window.close()


# ---------------------------------------------------------------------------- runtime, early


def _mark(name: str) -> None:
    from clipdesk.core import models

    models._mark(name)


def _prefetch_runtime(device: str | None) -> None:
    """From the first moment, have the kernel read the runtime's libraries ahead, in a thread
    (no GIL held while the disk works; on a cold cache that read is most of the import).

    The import itself waits for the window (``Engine.start``, on first paint): it holds the
    GIL for long stretches, which made the first paint twice as slow when it ran alongside
    (``benchmarks/startup.py``).
    """
    import threading

    if os.environ.get("CLIPDESK_EARLY_IMPORT") == "0":  # the benchmark's baseline
        return

    def run() -> None:
        from clipdesk.core import models

        try:
            models.prefetch_runtime_libraries(device or "auto")
        except (OSError, ClipDeskError):  # only a hint to the kernel
            log.debug("prefetching the runtime's libraries failed", exc_info=True)

    threading.Thread(target=run, name="prefetch runtime", daemon=True).start()


# ---------------------------------------------------------------------------- run


def run_app(library: str | None = None, model: str | None = None, device: str | None = None,
            log_path: Path | None = None) -> int:
    """Open the main window on a library; returns the exit code."""
    previous_handler = qInstallMessageHandler(_qt_message)  # from the QApplication on
    try:
        return _run(library, model, device, log_path)
    finally:
        qInstallMessageHandler(previous_handler)


def _run(library: str | None, model: str | None, device: str | None,
         log_path: Path | None) -> int:
    from clipdesk.core.models import ModelSpec
    from clipdesk.core.paths import library_dir

    if model:
        ModelSpec.parse(model)  # a bad --model is a one-line error, before any window
    _mark("python and Qt imported")
    _prefetch_runtime(device)
    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "clipdesk"])
    broken = bindings_broken()
    if broken:
        print(f"clipdesk: error: {broken}", file=sys.stderr)
        return 2
    app.setApplicationName("ClipDesk")
    app.setOrganizationName("ClipDesk")
    app.setDesktopFileName("clipdesk")
    color_scheme = ColorSchemeFollower(app, os.environ.get(COLOR_SCHEME_ENV))  # noqa: F841
    folder = library_dir(library)

    single = SingleInstance(instance_key(folder))
    if single.notify_running():
        print(f"ClipDesk is already open on the library {folder}; brought its window to the "
              "front.")
        return 0
    single.listen()

    from clipdesk.ui.crash import CrashHandler, previous_crash, previous_error

    crash = CrashHandler(log_path)
    crash.install()
    last_error = previous_error(log_path)
    last_crash = previous_crash(log_path)

    from clipdesk.ui.engine import Engine
    from clipdesk.ui.icon import app_icon
    from clipdesk.ui.interrupt import InterruptHandler
    from clipdesk.ui.mainwindow import MainWindow
    from clipdesk.ui.settings import Settings

    app.setWindowIcon(app_icon())
    settings = Settings.load()
    engine = Engine(folder, model, device if device not in (None, "auto") else None, settings)
    engine.unexpectedError.connect(lambda error: crash.report(str(error), error.traceback))
    window = MainWindow(engine, settings)
    crash.window = window
    single.activated.connect(window.bring_to_front)
    probe_spec = os.environ.get("CLIPDESK_STARTUP_PROBE")
    if probe_spec:
        StartupProbe(probe_spec, window, engine)
    window.firstShown.connect(engine.start)  # the library and the model after the first paint
    QTimer.singleShot(2000, engine.start)  # in case no expose ever comes (started minimised)
    window.show()
    interrupt = InterruptHandler(window.close, window)  # Ctrl-C, SIGTERM
    interrupt.activate()
    if last_crash:
        crash.show_previous_crash(last_crash)
    if last_error:
        window.statusBar().showMessage(
            f"ClipDesk met an unexpected error last time ({last_error}); details are in "
            f"{log_path}", 15000)
    log.info("window shown; library %s", folder)
    try:
        return app.exec()
    finally:
        interrupt.deactivate()
        engine.shutdown()  # already done by closing the window; here for other ways out
        single.close()
        crash.uninstall()
