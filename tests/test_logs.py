"""The log folder: clipdesk.log for everything, crash.log for what faulthandler can still say
when a process dies in native code; the app is told what is new in crash.log once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from clipdesk import logs
from clipdesk.core.paths import log_dir

ROOT = Path(__file__).resolve().parents[1]

# `clipdesk status`, whose command dies of a segfault, as a crash in Qt or a native library would
SEGFAULTING_STATUS = (
    "import faulthandler, sys\n"
    "import clipdesk.cli as cli\n"
    "def status_that_crashes(args):\n"
    "    faulthandler._sigsegv()\n"
    "cli.cmd_status = status_that_crashes\n"
    "sys.exit(cli.main(sys.argv[1:]))\n"
)


def run_crashing_status(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("PYTHONFAULTHANDLER", None)  # the program's own choice is what is under test
    return subprocess.run([sys.executable, "-c", SEGFAULTING_STATUS,
                           "status", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120)


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX signal death")
def test_a_segfault_leaves_a_python_traceback_in_crash_log(tmp_path):
    res = run_crashing_status()
    assert res.returncode == -signal.SIGSEGV, res.stderr
    crash_log = log_dir() / "crash.log"
    text = crash_log.read_text()
    assert "Fatal Python error: Segmentation fault" in text
    assert "in status_that_crashes" in text and "clipdesk/cli.py" in text  # the Python stack
    assert (log_dir() / "clipdesk.log").is_file()

    # told once; a second crash appends, and only it is new
    report = logs.new_crash_report(log_dir())
    assert report is not None and "in status_that_crashes" in report
    assert logs.new_crash_report(log_dir()) is None
    assert run_crashing_status().returncode == -signal.SIGSEGV
    report = logs.new_crash_report(log_dir())
    assert report is not None and report.count("Fatal Python error") == 1
    assert crash_log.read_text().count("Fatal Python error") == 2


def test_basedir_puts_the_crash_log_in_its_logs_folder(tmp_path):
    base = tmp_path / "portable"
    res = run_crashing_status("--basedir", str(base))
    assert res.returncode != 0
    assert "in status_that_crashes" in (base / "logs" / "crash.log").read_text()


def test_a_crash_log_emptied_or_removed_starts_over(tmp_path):
    (tmp_path / logs.CRASH_FILE).write_text("Fatal Python error: one\n")
    assert logs.new_crash_report(tmp_path) == "Fatal Python error: one"
    (tmp_path / logs.CRASH_FILE).write_text("two\n")  # shorter than what was seen
    assert logs.new_crash_report(tmp_path) == "two"
    (tmp_path / logs.CRASH_FILE).unlink()
    assert logs.new_crash_report(tmp_path) is None
    assert logs.new_crash_report(tmp_path / "no-such-folder") is None


def test_setup_logging_writes_the_log_and_can_run_again(tmp_path):
    import logging

    first = logs.setup_logging(folder=tmp_path / "one")
    second = logs.setup_logging(folder=tmp_path / "two")
    try:
        logging.getLogger("clipdesk.test").info("hello")
        assert first == tmp_path / "one" / "clipdesk.log"
        assert second == tmp_path / "two" / "clipdesk.log"
        for handler in logging.getLogger().handlers:
            handler.flush()
        assert "hello" in second.read_text() and "hello" not in first.read_text()
    finally:
        logs.setup_logging(folder=log_dir())
