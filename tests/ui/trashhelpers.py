"""A real system trash inside tmp_path, and a folder that refuses to let files go.

Qt's trash on Linux is the freedesktop.org one: ``$XDG_DATA_HOME/Trash/files`` and
``info/*.trashinfo`` for a file on the home folder's drive. QStandardPaths' test mode (on in
UI tests) would put it under ``~/.qttest``, so ``real_trash`` turns test mode off for the
test, with HOME and XDG_DATA_HOME in tmp_path (the photos there are on the home's drive).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest
from PySide6.QtCore import QStandardPaths


@pytest.fixture
def real_trash(tmp_path, monkeypatch) -> Path:
    """The Trash folder the app's Move to Trash uses in this test (made on first use)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    data = tmp_path / "xdg-data"
    data.mkdir(exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    QStandardPaths.setTestModeEnabled(False)
    yield data / "Trash"
    QStandardPaths.setTestModeEnabled(True)


def trashed(trash: Path) -> dict[str, str]:
    """{name in the trash: the original path its .trashinfo records}."""
    out = {}
    for info in sorted((trash / "info").glob("*.trashinfo")):
        lines = info.read_text().splitlines()
        assert lines[0] == "[Trash Info]"
        path = next(line.split("=", 1)[1] for line in lines if line.startswith("Path="))
        out[info.name.removesuffix(".trashinfo")] = unquote(path)  # the spec %-encodes it
    return out


def _writable(folder: Path) -> bool:
    probe = folder / ".probe"
    try:
        probe.touch()
    except OSError:
        return False
    probe.unlink()
    return True


@pytest.fixture
def read_only_folder():
    """``make(folder)``: the folder refuses new and removed files, for root too (chmod, and
    ``chattr +i`` when root ignores the mode); undone at the end."""
    made: list[tuple[Path, bool]] = []

    def make(folder: Path) -> None:
        folder.chmod(0o555)
        immutable = False
        if _writable(folder):  # root: the mode does not stop it
            res = subprocess.run([shutil.which("chattr") or "chattr", "+i", str(folder)],
                                 capture_output=True, text=True)
            immutable = res.returncode == 0
        made.append((folder, immutable))
        if _writable(folder):
            pytest.fail(f"cannot make {folder} read-only here (chattr: {res.stderr.strip()})")

    yield make
    for folder, immutable in made:
        if immutable:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        os.chmod(folder, 0o755)
