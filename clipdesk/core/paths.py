"""Where ClipDesk keeps its data: one place, with overrides.

Precedence: an explicit argument (``--library``), then ``CLIPDESK_LIBRARY``,
then the platform's user data folder (``~/.local/share/ClipDesk`` on Linux,
``~/Library/Application Support/ClipDesk`` on macOS, ``%LOCALAPPDATA%\\ClipDesk`` on
Windows). Model weights live in the standard Hugging Face cache, shared with
other tools.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "ClipDesk"
BUNDLED_MODEL_FOLDER = "model"  # inside a frozen build's data folder (packaging/clipdesk.spec)


def library_dir(explicit: str | os.PathLike | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("CLIPDESK_LIBRARY")
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    """Where the app keeps its settings: ``CLIPDESK_CONFIG_DIR``, else the user config folder."""
    env = os.environ.get("CLIPDESK_CONFIG_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def bundled_model_dir(base: str | os.PathLike | None = None) -> Path | None:
    """The model folder an offline installer ships (a ``local-dir`` model, ONNX layout), or None.

    A frozen build (PyInstaller) keeps it in its data folder, ``sys._MEIPASS``; ``base``
    names that folder explicitly (tests). Never written to: it may sit in a read-only install.
    """
    if base is None:
        if not getattr(sys, "frozen", False):
            return None
        base = getattr(sys, "_MEIPASS", None) or Path(sys.executable).parent
    folder = Path(base) / BUNDLED_MODEL_FOLDER
    onnx = (folder / "config.json").is_file() and (folder / "textual" / "model.onnx").is_file()
    return folder if onnx or (folder / "open_clip_config.json").is_file() else None
