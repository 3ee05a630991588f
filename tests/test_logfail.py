"""The tests' own guard (tests/logfail.py): a warning ClipDesk logs that the test did not declare
fails that test, from any thread; declared ones, other libraries' and INFO do not."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

TESTS = Path(__file__).resolve().parent

SAMPLE = '''
import logging
import threading

import pytest


def test_unexpected_warning():
    logging.getLogger("clipdesk.core.scan").warning("cannot read /photos")


def test_unexpected_error_from_a_thread():
    thread = threading.Thread(target=lambda: logging.getLogger("clipdesk.ui").error("boom"))
    thread.start()
    thread.join()


def test_unexpected_qt_warning():
    logging.getLogger("qt").warning("QPainter::begin: Paint device returned engine == 0")


@pytest.mark.allow_log("clipdesk.core.watcher", "limit")
def test_declared_warning():
    logging.getLogger("clipdesk.core.watcher.inotify").warning("over the watch limit")


@pytest.mark.allow_log("clipdesk.core.watcher", "limit")
def test_declared_logger_other_message():
    logging.getLogger("clipdesk.core.watcher").warning("something else")


def test_info_and_other_libraries_pass():
    logging.getLogger("clipdesk").info("a note")
    logging.getLogger("clipdesktop").warning("not ours")
    logging.getLogger("urllib3").warning("retrying")
'''


def test_unexpected_warnings_fail_the_test(tmp_path):
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    allow_log: expected logs\n")
    (tmp_path / "conftest.py").write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        from logfail import fail_on_unexpected_log  # noqa: F401
    """))
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider",
                          "test_sample.py"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    outcome = {}
    for line in res.stdout.splitlines():
        word, _, rest = line.partition(" test_sample.py::")
        if rest and word in ("PASSED", "ERROR", "FAILED"):
            name = rest.split()[0]
            outcome[name] = "ERROR" if "ERROR" in (word, outcome.get(name)) else word
    assert outcome == {
        "test_unexpected_warning": "ERROR",
        "test_unexpected_error_from_a_thread": "ERROR",
        "test_unexpected_qt_warning": "ERROR",
        "test_declared_warning": "PASSED",
        "test_declared_logger_other_message": "ERROR",
        "test_info_and_other_libraries_pass": "PASSED",
    }, res.stdout
    assert "clipdesk.core.scan WARNING: cannot read /photos" in res.stdout
    assert "@pytest.mark.allow_log" in res.stdout
