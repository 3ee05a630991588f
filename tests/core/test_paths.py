"""One base folder (``--basedir``, ``CLIPDESK_HOME``) moves the library, settings, logs and
cache; the specific overrides still win; without any, the platform's user folders."""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs

from clipdesk.core import paths


def every_path() -> tuple[Path, Path, Path, Path]:
    return paths.library_dir(), paths.config_dir(), paths.log_dir(), paths.cache_dir()


def test_one_base_folder_moves_every_path(monkeypatch, tmp_path):
    base = tmp_path / "portable"
    monkeypatch.setenv("CLIPDESK_HOME", str(base))
    assert every_path() == (base / "data", base / "config", base / "logs", base / "cache")

    other = tmp_path / "other"
    paths.use_base_dir(other)  # --basedir, over CLIPDESK_HOME
    try:
        assert every_path() == (other / "data", other / "config", other / "logs",
                                other / "cache")
    finally:
        paths.use_base_dir(None)
    assert paths.library_dir() == base / "data"


def test_the_specific_overrides_still_win_over_the_base_folder(monkeypatch, tmp_path):
    base = tmp_path / "portable"
    paths.use_base_dir(base)
    try:
        monkeypatch.setenv("CLIPDESK_LIBRARY", str(tmp_path / "lib"))
        monkeypatch.setenv("CLIPDESK_CONFIG_DIR", str(tmp_path / "conf"))
        monkeypatch.setenv("CLIPDESK_LOG_DIR", str(tmp_path / "log"))
        assert every_path() == (tmp_path / "lib", tmp_path / "conf", tmp_path / "log",
                                base / "cache")
        assert paths.library_dir(tmp_path / "explicit") == tmp_path / "explicit"  # --library
    finally:
        paths.use_base_dir(None)


def test_relative_base_folders_are_made_absolute(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CLIPDESK_HOME", "here")
    assert paths.base_dir() == tmp_path / "here"
    assert paths.log_dir().is_absolute()


def test_without_a_base_folder_the_platform_folders(monkeypatch, tmp_path):
    monkeypatch.delenv("CLIPDESK_HOME")
    assert paths.base_dir() is None
    platform = (platformdirs.user_data_dir("ClipDesk", appauthor=False),
                platformdirs.user_config_dir("ClipDesk", appauthor=False),
                platformdirs.user_log_dir("ClipDesk", appauthor=False),
                platformdirs.user_cache_dir("ClipDesk", appauthor=False))
    assert every_path() == tuple(map(Path, platform))
    if sys.platform.startswith("linux"):  # where platformdirs follows the tests' XDG_* folders
        assert all(tmp_path in p.parents for p in every_path())
