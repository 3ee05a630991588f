"""`clipdesk watch` follows the folders while `clipdesk search` in another process answers,
and a second writer is turned away."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np

import tinyclip
from usercli import photo_class, run_cli


def test_watch_indexes_new_photos_that_another_process_finds(tmp_path, trained_model):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(21)
    for color, shape in [("blue", "square"), ("green", "triangle"), ("yellow", "circle")]:
        tinyclip.draw_shape(color, shape, rng, size=(300, 220)).save(photos / f"{color}-{shape}-0.jpg")
    lib = ["--library", str(tmp_path / "lib"), "--model", trained_model]
    assert run_cli("index", str(photos), *lib).returncode == 0

    watch = subprocess.Popen([sys.executable, "-m", "clipdesk", "watch", *lib],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        assert watch.poll() is None, watch.stderr.read()
        staging = tmp_path / "staging.jpg"
        tinyclip.draw_shape("red", "circle", rng, size=(300, 220)).save(staging)
        staging.rename(photos / "red-circle-new.jpg")  # dropped in while watching
        deadline = time.monotonic() + 90
        while True:
            res = run_cli("search", "a photo of a red circle", "-n", "1", "--json", *lib)
            assert res.returncode == 0, res.stderr
            hits = json.loads(res.stdout)
            if hits and photo_class(hits[0]["path"]) == "red-circle":
                break
            assert time.monotonic() < deadline, "the watched photo never became searchable"
        assert hits[0]["path"] == str(photos / "red-circle-new.jpg")
        # a second writer is turned away at once, with who is writing; the library is intact
        busy = run_cli("index", *lib)
        assert busy.returncode == 2
        assert f"is being updated by `clipdesk watch` (process {watch.pid}," in busy.stderr
    finally:
        watch.send_signal(signal.SIGINT)
        out, err = watch.communicate(timeout=60)
    assert watch.returncode == 0, err
    assert "Watching 1 folder" in out and "Stopped watching" in out
    status = json.loads(run_cli("status", "--json", *lib).stdout)
    assert (status["indexed"], status["pending"]) == (4, 0)
    after = run_cli("index", *lib)  # the watcher is gone: updating works again
    assert after.returncode == 0 and "0 embedded" in after.stdout, after.stderr
