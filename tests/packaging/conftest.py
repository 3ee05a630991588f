"""packaging/ is a folder of scripts, not a package: load them by path, under unique names."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def load(name: str):
    """Import ``packaging/<name>.py`` as ``clipdesk_packaging_<name>`` (once)."""
    key = f"clipdesk_packaging_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, PACKAGING / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module
        spec.loader.exec_module(module)
    return sys.modules[key]


@pytest.fixture(scope="session")
def buildinfo():
    return load("buildinfo")


@pytest.fixture(scope="session")
def build_script():
    return load("build")


@pytest.fixture(scope="session")
def icon_set(tmp_path_factory):
    """The whole icon set, drawn once from resources/clipdesk.svg."""
    folder = tmp_path_factory.mktemp("icons")
    load("icons").make_icons(folder)
    return folder


@pytest.fixture(scope="session")
def smoke_media():
    return load("smoke_media")


@pytest.fixture(scope="session")
def debuginfo():
    return load("debuginfo")
