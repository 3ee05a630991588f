"""One writer per library, across processes: the one turned away is told who holds the lock,
and the lock goes when its holder ends, however it ends."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hostile
from clipdesk.core.errors import LibraryBusy
from clipdesk.core.library import Library
from clipdesk.core.writerlock import HOLDER_NAME, WriterLock, busy_message, holder

HOLD = """
import sys
from pathlib import Path
from clipdesk.core.writerlock import WriterLock
lock = WriterLock(Path(sys.argv[1]), sys.argv[2])  # kept: a lock object's end releases it
lock.acquire()
print("holding", flush=True)
sys.stdin.read()  # until the test closes our stdin, or kills us
"""

CLAIM = """
import json, sys
from pathlib import Path
from clipdesk.core.errors import LibraryError
from clipdesk.core.writerlock import WriterLock
try:
    WriterLock(Path(sys.argv[1]), sys.argv[2]).acquire()
    print(json.dumps({"got": True}))
except LibraryError as exc:
    print(json.dumps({"got": False, "error": type(exc).__name__, "message": str(exc)}))
"""


def claim_elsewhere(folder: Path, role: str = "clipdesk index", prefix=()) -> dict:
    """Another process tries to become the writer (and exits, releasing what it got)."""
    res = subprocess.run([*prefix, sys.executable, "-c", CLAIM, str(folder), role],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture
def held_elsewhere(tmp_path):
    """A process holding the writer lock of tmp_path/lib as "clipdesk watch"."""
    folder = tmp_path / "lib"
    folder.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), "clipdesk watch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "holding\n"
        yield folder, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        proc.stdin.close()
        proc.stdout.close()


def test_a_second_process_is_turned_away_with_the_holders_name(tmp_path):
    lock = WriterLock(tmp_path, "the ClipDesk app")
    lock.acquire()
    out = claim_elsewhere(tmp_path)
    assert out["got"] is False and out["error"] == "LibraryBusy"
    message = out["message"]
    assert f"the library {tmp_path} is being updated by the ClipDesk app" in message
    since = time.strftime("%H:%M", time.localtime(holder(tmp_path)["since"]))
    assert f"(process {os.getpid()}, since {since})." in message
    assert " on " not in message  # the same machine
    assert "searching works meanwhile" in message
    lock.release()
    assert claim_elsewhere(tmp_path) == {"got": True}


@pytest.mark.parametrize("end", ["exits", "is killed"])
def test_the_lock_goes_when_its_holder_ends(held_elsewhere, end):
    folder, proc = held_elsewhere
    mine = WriterLock(folder, "the ClipDesk app")
    with pytest.raises(LibraryBusy) as err:
        mine.acquire()
    assert f"being updated by clipdesk watch (process {proc.pid}, since " in str(err.value)
    assert not mine.held
    if end == "exits":
        proc.stdin.close()  # it returns without releasing: the OS drops the lock
    else:
        proc.kill()  # SIGKILL: no chance to clean up
    proc.wait(timeout=30)
    mine.acquire()
    assert mine.held
    info = holder(folder)
    assert (info["pid"], info["role"]) == (os.getpid(), "the ClipDesk app")
    mine.release()


def test_claiming_again_in_the_same_process_is_fine_and_release_is_idempotent(tmp_path):
    lock = WriterLock(tmp_path, "clipdesk index")
    assert not lock.held and holder(tmp_path) is None
    before = time.time()
    lock.acquire()
    lock.acquire()
    assert lock.held
    info = holder(tmp_path)
    assert (info["pid"], info["role"], info["host"]) == (os.getpid(), "clipdesk index",
                                                         socket.gethostname())
    assert before - 1 <= info["since"] <= time.time() + 1
    lock.release()
    assert not lock.held and not (tmp_path / HOLDER_NAME).exists()
    lock.release()
    lock.acquire()  # and it can be taken again
    assert lock.held
    lock.release()


def test_one_writer_per_library_within_a_process_too(tmp_path):
    first, second = Library(tmp_path / "lib"), Library(tmp_path / "lib")
    first.claim_writer()
    assert first.is_writer
    with pytest.raises(LibraryBusy, match=f"process {os.getpid()}"):
        second.claim_writer()
    assert not second.is_writer
    first.close()  # closing the library releases its lock
    assert not first.is_writer
    second.claim_writer()
    assert second.is_writer
    second.close()


def test_a_turned_away_process_does_not_erase_the_holders_record(held_elsewhere):
    folder, proc = held_elsewhere
    mine = WriterLock(folder, "the ClipDesk app")
    with pytest.raises(LibraryBusy):
        mine.acquire()
    mine.release()  # it never held the lock: nothing to release, nothing removed
    assert holder(folder)["pid"] == proc.pid
    with pytest.raises(LibraryBusy):
        mine.acquire()


def test_holder_is_none_when_the_record_is_missing_or_garbage(tmp_path):
    assert holder(tmp_path) is None
    (tmp_path / HOLDER_NAME).write_text("{not json")
    assert holder(tmp_path) is None
    (tmp_path / HOLDER_NAME).write_text("[1, 2]")
    assert holder(tmp_path) is None
    (tmp_path / HOLDER_NAME).write_bytes(b"\xff\xfe")
    assert holder(tmp_path) is None


def test_busy_message_without_a_record_and_for_another_host(tmp_path):
    assert "being updated by another ClipDesk process." in busy_message(tmp_path)
    since = 1_700_000_000.0
    (tmp_path / HOLDER_NAME).write_text(json.dumps(
        {"pid": 4242, "role": "clipdesk watch", "host": "nas-" + socket.gethostname(),
         "since": since}))
    at = time.strftime("%H:%M", time.localtime(since))
    assert (f"being updated by clipdesk watch (process 4242, since {at}) on "
            f"nas-{socket.gethostname()}." in busy_message(tmp_path))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_a_read_only_library_folder_is_a_library_error_not_busy(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    os.chmod(folder, 0o555)
    try:
        out = claim_elsewhere(folder, prefix=hostile.drop_permissions())
    finally:
        os.chmod(folder, 0o755)
    assert out["got"] is False and out["error"] == "LibraryError"
    assert "it can be searched, but updating it needs a folder ClipDesk may write to" in (
        out["message"])
    assert not (folder / HOLDER_NAME).exists()
