"""Ctrl-C (SIGINT) and SIGTERM (``kill``, a logout, a service manager) close the window, keeping
finished work; a second one ends the process at once, as if no handler were there.

Python runs a signal handler only when the interpreter gets control, and under Qt's event loop
it may not for a long time. So, as qutebrowser's ``misc/crashsignal.py`` does, the C-level
handler writes to a socket (``signal.set_wakeup_fd``) that a ``QSocketNotifier`` watches: Qt
wakes up, and the Python handler runs at once, with no polling. Where that is not possible
(Windows, where qutebrowser polls too, or a failing ``set_wakeup_fd``) a 250 ms timer lets
the interpreter in now and then instead.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Callable

from PySide6.QtCore import QObject, QSocketNotifier, QTimer

log = logging.getLogger("clipdesk.ui")

SIGNALS = (signal.SIGINT, signal.SIGTERM)
FALLBACK_INTERVAL_MS = 250


class InterruptHandler(QObject):
    """``activate`` installs the handlers; ``deactivate`` puts back what was there."""

    def __init__(self, on_interrupt: Callable[[], None], parent: QObject | None = None):
        super().__init__(parent)
        self.on_interrupt = on_interrupt
        self.interrupted = False
        self._previous: dict[int, object] = {}
        self._previous_wakeup_fd: int | None = None
        self._sockets: tuple[socket.socket, socket.socket] | None = None
        self._notifier: QSocketNotifier | None = None
        self._timer: QTimer | None = None

    @property
    def polling(self) -> bool:
        """True where the fallback timer is in use."""
        return self._timer is not None

    def activate(self) -> bool:
        """Install the handlers; False when they cannot be (not the main thread)."""
        try:
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread (embedded use): leave signals alone
            self._restore_handlers()
            return False
        if os.name == "nt" or not self._wake_on_socket():
            self._timer = QTimer(self)
            self._timer.timeout.connect(lambda: None)
            self._timer.start(FALLBACK_INTERVAL_MS)
        return True

    def _wake_on_socket(self) -> bool:
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        try:
            self._previous_wakeup_fd = signal.set_wakeup_fd(writer.fileno(),
                                                            warn_on_full_buffer=False)
        except (ValueError, OSError) as exc:
            log.debug("signal.set_wakeup_fd: %s; polling for signals instead", exc)
            reader.close()
            writer.close()
            return False
        self._sockets = (reader, writer)
        self._notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        return True

    def _drain(self) -> None:
        """The wakeup: Python has run the handler by now; empty the socket for the next one."""
        assert self._sockets is not None
        try:
            while self._sockets[0].recv(64):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            log.debug("reading the signal wakeup socket failed", exc_info=True)

    def _handle(self, signum: int, _frame) -> None:
        if self.interrupted:  # a second one: do what the signal does by default, now
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
            return
        self.interrupted = True
        name = signal.Signals(signum).name
        QTimer.singleShot(0, lambda: self._interrupt(name))  # out of the signal handler

    def _interrupt(self, name: str) -> None:
        log.info("%s: closing the window (again to stop at once)", name)
        self.on_interrupt()

    def deactivate(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier = None
        if self._sockets is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd if self._previous_wakeup_fd is not None
                                 else -1)
            for sock in self._sockets:
                sock.close()
            self._sockets = None
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._restore_handlers()

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        self._previous.clear()
