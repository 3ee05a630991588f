"""Tests fail on warnings ClipDesk did not expect to log (qutebrowser's tests/helpers/logfail.py).

A record of WARNING or above from a ``clipdesk`` logger, or from Qt through the app's message
handler (logger ``qt``), fails the test at teardown unless the test declares it::

    @pytest.mark.allow_log("clipdesk.core.watcher", "limit")  # logger and below; message regex

``allow_log("clipdesk.core.scan")`` allows any message from that logger, ``allow_log()`` any
message at all. Records are collected rather than raised where they are logged, so a warning
from a worker thread fails the test as surely as one from the test's own thread. Warnings of a
child process (``python -m clipdesk``) are that process's business: tests read its output.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import pytest

WATCHED = ("clipdesk", "qt")


def _under(name: str, parent: str) -> bool:
    return not parent or name == parent or name.startswith(parent + ".")


@dataclass(frozen=True)
class Allowed:
    logger: str = ""
    pattern: str = ""

    def matches(self, record: logging.LogRecord) -> bool:
        return _under(record.name, self.logger) and re.search(self.pattern,
                                                              record.getMessage()) is not None


class LogFailHandler(logging.Handler):
    """Collects the watched loggers' unexpected records of WARNING and above."""

    def __init__(self, allowed: list[Allowed]):
        super().__init__(logging.WARNING)
        self.allowed = allowed
        self.unexpected: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not any(_under(record.name, name) for name in WATCHED):
            return
        if not any(allowed.matches(record) for allowed in self.allowed):
            self.unexpected.append(record)  # list.append is atomic: any thread may log


@pytest.fixture(autouse=True)
def fail_on_unexpected_log(request):
    """Autouse: the test fails if ClipDesk logs a warning the test did not declare."""
    allowed = [Allowed(*marker.args) for marker in request.node.iter_markers("allow_log")]
    handler = LogFailHandler(allowed)
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    if handler.unexpected:
        lines = "\n".join(f"  {r.name} {r.levelname}: {(r.getMessage().splitlines() or [''])[0]}"
                          for r in handler.unexpected)
        pytest.fail(f"ClipDesk logged warnings the test did not expect (declare them with "
                    f"@pytest.mark.allow_log(LOGGER, PATTERN)):\n{lines}", pytrace=False)
