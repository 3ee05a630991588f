"""Facts the spec, the build script and the tests share: names, version, icon sizes.

Kept free of PyInstaller and Qt so that the tests and the spec can both import it.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "ClipDesk"  # the window title, the .app bundle, the Start-menu entry
EXE_NAME = "clipdesk"  # the command on the PATH and the one-folder build's program
BUNDLE_ID = "org.clipdesk.ClipDesk"
SVG = ROOT / "resources" / "clipdesk.svg"  # the one drawing every icon is made from

# hicolor sizes a desktop entry may ask for, and the frames of the Windows .ico
HICOLOR_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def version(root: Path = ROOT) -> str:
    """The package's ``__version__``, read without importing the package."""
    text = (root / "clipdesk" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", text, re.M)
    if not match:
        raise RuntimeError("clipdesk/__init__.py has no __version__")
    return match.group(1)

