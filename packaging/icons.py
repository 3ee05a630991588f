"""Every icon the installers need, drawn from the one SVG in resources/ (never edited by hand).

    python packaging/icons.py OUT_DIR

writes ``OUT_DIR/hicolor/NxN/apps/clipdesk.png`` (+ ``scalable/apps/clipdesk.svg``),
``clipdesk.ico`` (Windows) and ``clipdesk.icns`` (macOS). Qt's SVG renderer draws the PNGs
(PySide6 is already a dependency, so every build machine has it); Pillow packs .ico and .icns.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import buildinfo  # noqa: E402


def render_png(svg: Path, side: int, out: Path) -> Path:
    """One square PNG of the SVG at ``side`` pixels, transparent around the drawing."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer
    from PySide6.QtWidgets import QApplication

    # a QApplication (not just a QGuiApplication): in a process that later shows widgets,
    # as the test suite is, a bare QGuiApplication would make every widget abort
    _app = QApplication.instance() or QApplication([])  # noqa: F841 (fonts, painting)
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not a valid SVG")
    image = QImage(side, side, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not image.save(str(out), "PNG"):
        raise OSError(f"cannot write {out}")
    return out


def make_icons(out: Path, svg: Path = buildinfo.SVG) -> dict[str, Path]:
    """Write the whole set under ``out``; returns the main files by kind."""
    from PIL import Image

    out = Path(out)
    pngs = {}
    for side in sorted({*buildinfo.HICOLOR_SIZES, *buildinfo.ICO_SIZES, *buildinfo.ICNS_SIZES}):
        folder = "hicolor" if side in buildinfo.HICOLOR_SIZES else "extra"
        pngs[side] = render_png(svg, side, out / folder / f"{side}x{side}" / "apps" / "clipdesk.png")
    scalable = out / "hicolor" / "scalable" / "apps" / "clipdesk.svg"
    scalable.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(svg, scalable)

    largest = Image.open(pngs[256]).convert("RGBA")
    ico = out / "clipdesk.ico"
    # Pillow makes each frame from the largest image; drawn frames look sharper, so pass them
    largest.save(ico, format="ICO", sizes=[(s, s) for s in buildinfo.ICO_SIZES],
                 append_images=[Image.open(pngs[s]).convert("RGBA") for s in buildinfo.ICO_SIZES])
    icns = out / "clipdesk.icns"
    Image.open(pngs[1024]).convert("RGBA").save(
        icns, format="ICNS",
        append_images=[Image.open(pngs[s]).convert("RGBA") for s in buildinfo.ICNS_SIZES])
    return {"ico": ico, "icns": icns, "svg": scalable, "png256": pngs[256], "png512": pngs[512]}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python packaging/icons.py OUT_DIR")
    for kind, path in make_icons(Path(sys.argv[1])).items():
        print(f"{kind}: {path}")
