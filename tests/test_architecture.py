"""The shape of the code: a Qt-free core, and a CLI that keeps torch off light paths."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import clipdesk.core


def test_core_imports_no_qt():
    modules = [f"clipdesk.core.{m.name}" for m in pkgutil.iter_modules(clipdesk.core.__path__)]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = [m for m in sys.modules if m.startswith(('PySide6', 'PyQt', 'shiboken'))]\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert len(modules) >= 8


def test_core_modules_import_without_torch():
    """Library, catalog and search code load without torch: the app's first paint needs them."""
    code = (
        "import sys\n"
        "import clipdesk.core.library, clipdesk.core.search, clipdesk.core.catalog\n"
        "import clipdesk.cli\n"
        "assert 'torch' not in sys.modules and 'open_clip' not in sys.modules\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
