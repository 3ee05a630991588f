"""Running ClipDesk's command line as a user would, from tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def photo_class(path: str) -> str:
    """'red-circle' from '/x/red-circle-0.jpg'."""
    return "-".join(Path(path).stem.split("-")[:2])


def run_cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `clipdesk ARGS` in a fresh process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "clipdesk", *args],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})},
    )
