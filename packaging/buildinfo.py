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



def version_numbers(text: str) -> tuple[int, int, int, int]:
    """``0.1.0`` (or ``1.2.3rc1``) as the four numbers of a Windows version resource."""
    release = re.match(r"\d+(\.\d+)*", text)
    numbers = [int(n) for n in release.group(0).split(".")][:4] if release else []
    return tuple(numbers + [0] * (4 - len(numbers)))  # type: ignore[return-value]


def windows_version_info(text: str):
    """The version resource Explorer shows in ClipDesk.exe's properties (PyInstaller object;
    its module needs pefile, which PyInstaller installs only on Windows)."""
    from PyInstaller.utils.win32 import versioninfo as vi

    numbers = version_numbers(text)
    strings = [vi.StringStruct(key, value) for key, value in (
        ("CompanyName", APP_NAME), ("FileDescription", f"{APP_NAME} photo search"),
        ("FileVersion", text), ("InternalName", APP_NAME), ("LegalCopyright", "MIT licence"),
        ("OriginalFilename", f"{APP_NAME}.exe"), ("ProductName", APP_NAME),
        ("ProductVersion", text))]
    return vi.VSVersionInfo(
        ffi=vi.FixedFileInfo(filevers=numbers, prodvers=numbers),
        kids=[vi.StringFileInfo([vi.StringTable("040904B0", strings)]),
              vi.VarFileInfo([vi.VarStruct("Translation", [0x0409, 1200])])],
    )
