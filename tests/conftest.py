"""Shared fixtures: every path ClipDesk writes points into tmp_path; real tiny models."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The property tests draw the same examples on every run (the README's test command, CI): a
# failure comes back with the same example, and a new machine cannot fail on a draw no one has
# seen. `pytest --hypothesis-profile=explore` draws afresh; what it finds becomes an @example.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile("repeatable")

# A run started in the background (nohup, or `&` without job control) inherits Ctrl-C
# ignored, and so would every clipdesk the tests start; the tests that press Ctrl-C need it.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

sys.path.insert(0, str(Path(__file__).parent))  # for tinyclip

from logfail import fail_on_unexpected_log  # noqa: E402,F401  (autouse)

import tinyclip  # noqa: E402


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory) -> Path:
    """ONNX exports of the test models, made on first use and shared by the whole run (the
    export cache is keyed by the model's weights, so every test still gets the right one)."""
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path, monkeypatch, onnx_cache):
    """Library, settings, logs and cache under one folder in tmp_path (``CLIPDESK_HOME``, as a
    portable copy would have it; returned); no real model cache; HOME-like variables point
    into tmp_path too, so nothing can touch the real home folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("CLIPDESK_ONNX_CACHE", str(onnx_cache))
    monkeypatch.delenv("CLIPDESK_RUNTIME", raising=False)
    monkeypatch.setenv("CLIPDESK_HOME", str(tmp_path / "clipdesk-home"))
    monkeypatch.setattr("clipdesk.core.paths._base_override", None)  # an in-process --basedir
    for var in ("CLIPDESK_LIBRARY", "CLIPDESK_CONFIG_DIR", "CLIPDESK_LOG_DIR"):
        monkeypatch.delenv(var, raising=False)  # a developer's own settings must not leak in
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    for var in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.delenv("CLIPDESK_MODEL", raising=False)
    return tmp_path / "clipdesk-home"


@pytest.fixture(scope="session")
def random_model(tmp_path_factory) -> str:
    """Spec of a tiny CLIP with random weights (plumbing tests)."""
    folder = tinyclip.random_model_dir(tmp_path_factory.mktemp("random-model"), seed=0)
    return f"local-dir:{folder}"


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory) -> str:
    """Spec of a tiny CLIP trained on coloured shapes (search-quality tests)."""
    folder = tinyclip.train_tiny_clip(tmp_path_factory.mktemp("trained-model"), seed=0)
    return f"local-dir:{folder}"


@pytest.fixture(scope="session")
def shapes_folder(tmp_path_factory) -> Path:
    """A photo folder: two images of each colour x shape class, as JPEG and PNG, with
    sizes from 200 to 640 px; names say the class (e.g. red-circle-0.jpg)."""
    folder = tmp_path_factory.mktemp("shapes")
    rng = np.random.default_rng(1234)
    for color, shape in tinyclip.CLASSES:
        for i in range(2):
            size = (int(rng.integers(200, 641)), int(rng.integers(200, 481)))
            im = tinyclip.draw_shape(color, shape, rng, size=size)
            if i == 0:
                im.save(folder / f"{color}-{shape}-{i}.jpg", quality=90)
            else:
                (folder / "more").mkdir(exist_ok=True)
                im.save(folder / "more" / f"{color}-{shape}-{i}.png")
    return folder


class CliResult:
    def __init__(self, code: int, out: str, err: str):
        self.code, self.out, self.err = code, out, err

    def json(self):
        import json

        return json.loads(self.out)


@pytest.fixture
def cli(capsys):
    """Call `clipdesk ARGS` in this process (fast); returns exit code, stdout, stderr."""
    from clipdesk.cli import main

    def call(*args: str) -> CliResult:
        capsys.readouterr()
        code = main([str(a) for a in args])
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return call
