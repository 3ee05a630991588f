"""Where ClipDesk keeps its data, settings, logs and cache: one place, with overrides.

Each folder is, in order of precedence: its own variable, then the base folder, then the
platform's user folder.

| folder  | its own                                  | under the base folder | else                          |
|---------|------------------------------------------|-----------------------|-------------------------------|
| library | ``--library DIR``, ``CLIPDESK_LIBRARY``  | ``BASE/data``         | ``user_data_dir`` (1)         |
| config  | ``CLIPDESK_CONFIG_DIR``                  | ``BASE/config``       | ``user_config_dir``           |
| logs    | ``CLIPDESK_LOG_DIR``                     | ``BASE/logs``         | ``user_log_dir``              |
| cache   |                                          | ``BASE/cache``        | ``user_cache_dir``            |

The base folder is ``--basedir DIR`` (every command and the app; ``use_base_dir``), else
``CLIPDESK_HOME``: one setting moves everything, for a portable copy next to the program and
for tests (qutebrowser's ``--basedir``, vimiv's ``--temp-basedir``).

(1) ``~/.local/share/ClipDesk`` on Linux, ``~/Library/Application Support/ClipDesk`` on macOS,
``%LOCALAPPDATA%\\ClipDesk`` on Windows (platformdirs).

Model weights are not ClipDesk's: they stay in the standard Hugging Face cache, shared with
other tools, unless the user sets ``HF_HOME``; ONNX conversions live beside it
(``clipdesk.core.export.cache_root``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs

APP_NAME = "ClipDesk"
BUNDLED_MODEL_FOLDER = "model"  # inside a frozen build's data folder (packaging/clipdesk.spec)

_base_override: Path | None = None  # --basedir, for this process


def _folder(value: str | os.PathLike) -> Path:
    return Path(value).expanduser().resolve()


def use_base_dir(folder: str | os.PathLike | None) -> None:
    """Set (or, with None, clear) the command line's ``--basedir`` for this process."""
    global _base_override
    _base_override = _folder(folder) if folder else None


def base_dir() -> Path | None:
    """The one folder everything lives under: ``--basedir``, else ``CLIPDESK_HOME``, else None."""
    if _base_override is not None:
        return _base_override
    env = os.environ.get("CLIPDESK_HOME")
    return _folder(env) if env else None


def _choose(variable: str | None, sub: str, platform_dir) -> Path:
    env = os.environ.get(variable) if variable else None
    if env:
        return _folder(env)
    base = base_dir()
    if base is not None:
        return base / sub
    return Path(platform_dir(APP_NAME, appauthor=False))


def library_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The library: ``explicit`` (``--library``), ``CLIPDESK_LIBRARY``, ``BASE/data``, the
    user data folder."""
    if explicit:
        return _folder(explicit)
    return _choose("CLIPDESK_LIBRARY", "data", platformdirs.user_data_dir)


def config_dir() -> Path:
    """The app's settings: ``CLIPDESK_CONFIG_DIR``, ``BASE/config``, the user config folder."""
    return _choose("CLIPDESK_CONFIG_DIR", "config", platformdirs.user_config_dir)


def log_dir() -> Path:
    """``clipdesk.log`` and ``crash.log``: ``CLIPDESK_LOG_DIR``, ``BASE/logs``, the user log
    folder."""
    return _choose("CLIPDESK_LOG_DIR", "logs", platformdirs.user_log_dir)


def cache_dir() -> Path:
    """What ClipDesk can always make again: ``BASE/cache``, else the user cache folder. (Not
    the model cache: that is Hugging Face's, see the module docstring.)"""
    return _choose(None, "cache", platformdirs.user_cache_dir)


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
