"""`clipdesk index` on a folder of hostile files: each bad one is recorded with a reason and
skipped, the good ones are indexed, nothing crashes or hangs, memory stays bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import hostile
from usercli import run_cli

pytestmark = pytest.mark.skipif(os.name != "posix", reason="FIFOs, symlink loops, mode 000")
MAX_RSS_MB = 2000  # torch ~0.8 GB, plus one huge image at a time (<= 150 MP by the bomb guard)


def run_measured(args: list[str], out_dir) -> tuple[int, str, str, float, float]:
    """Run a command; its exit code, output, wall seconds and peak memory in MB (its own
    high-water mark, VmHWM, which exec resets - unlike ru_maxrss, which keeps the forking
    test process's size)."""
    out, err = out_dir / "stdout.txt", out_dir / "stderr.txt"
    peak_kb = 0
    with open(out, "w") as fo, open(err, "w") as fe:
        start = time.monotonic()
        proc = subprocess.Popen(args, stdout=fo, stderr=fe)
        while proc.poll() is None:
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                peak_kb = max(peak_kb, int(status.split("VmHWM:")[1].split()[0]))
            except (OSError, IndexError, ValueError):
                pass
            time.sleep(0.05)
        seconds = time.monotonic() - start
    return proc.returncode, out.read_text(), err.read_text(errors="replace"), seconds, peak_kb / 1024


@pytest.mark.slow
def test_hostile_corpus_is_skipped_with_reasons_and_the_rest_indexed(tmp_path, random_model):
    photos = tmp_path / "photos"
    expect = hostile.make_corpus(photos)
    library = tmp_path / "lib"
    lib = ["--library", str(library), "--model", random_model]
    # the slow photo takes over a second to decode here; a 0.3 s limit turns it away
    code, out, err, seconds, rss_mb = run_measured(
        [*hostile.drop_permissions(), sys.executable, "-m", "clipdesk", "index", str(photos),
         *lib, "--time-limit", "0.3"], tmp_path)
    assert code == 0, err
    print(f"index of the hostile corpus: {seconds:.1f} s, peak memory {rss_mb:.0f} MB")
    if Path("/proc/self/status").exists():  # Linux: the peak was measured
        assert 100 < rss_mb < MAX_RSS_MB, f"peak memory {rss_mb:.0f} MB"
    assert seconds < 120

    status = json.loads(run_cli("status", "--json", *lib).stdout)
    failed = {os.path.relpath(f["path"], photos): f["reason"] for f in status["failed"]}
    skipped = dict(line.removeprefix("skipped: ").split(": ", 1)
                   for line in err.splitlines() if line.startswith("skipped: "))
    for name, outcome in expect.items():
        path = str(photos / name)
        if outcome == "ok":
            assert name not in failed, (name, failed.get(name))
        elif outcome == "failed":
            # recorded in the catalog with its reason; a name SQLite cannot hold is reported
            shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            assert name in failed or shown in skipped, name
            assert (failed.get(name) or skipped[shown]).strip()
        else:
            assert name not in failed and path not in skipped, name
    ok = len([o for o in expect.values() if o == "ok"])
    assert status["indexed"] == ok
    assert "decompression bomb" in failed["bomb.png"]
    assert "Permission denied" in failed["no-permission.jpg"]
    assert "took longer than 0.3 s" in failed["slow.png"]
    assert "empty file" in failed["zero.jpg"]

    # nothing bad is read again until it changes; the good ones are not embedded again
    again = run_cli("index", *lib)
    assert again.returncode == 0, again.stderr
    assert "0 embedded" in again.stdout
    search = run_cli("search", "a red circle", "-n", "50", "--json", *lib)
    assert search.returncode == 0, search.stderr
    assert len(json.loads(search.stdout)) == status["indexed"]
