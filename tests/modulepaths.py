"""Isolated paths for module-scoped fixtures, which run before the autouse ``isolated_paths``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def module_paths(base: Path, onnx_cache: Path) -> Iterator[pytest.MonkeyPatch]:
    """ClipDesk's home and the Hugging Face cache under ``base``, the run's shared ONNX cache,
    the default runtime; undone on leaving."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CLIPDESK_ONNX_CACHE", str(onnx_cache))
        mp.setenv("CLIPDESK_HOME", str(base / "clipdesk-home"))
        mp.setenv("HF_HOME", str(base / "hf"))
        mp.delenv("CLIPDESK_RUNTIME", raising=False)
        yield mp
