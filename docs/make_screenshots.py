"""Make the docs' screenshots: the real window under Xvfb, on real photos.

    xvfb-run -a -s "-screen 0 1280x860x24" .venv/bin/python docs/make_screenshots.py

Writes, in docs/:

    timeline.png          the library with nothing typed (the README's first picture)
    folder.png            a folder chosen in the sidebar
    filtered-search.png   a search with a date filter chip
    album.png             a smart album
    duplicates.png        the Duplicates view
    dark.png              the timeline with the system in dark mode

The app runs in this process (the Engine and MainWindow that ``clipdesk`` opens, set up as
``clipdesk.ui.app`` does) and is driven through its own methods; every picture is taken from
the X server by ImageMagick's ``import``, so it shows the window as drawn. The photos are
scikit-image's samples and crops of them, dated over two years and sorted into folders, with a
few copies for the duplicates view; they are indexed with a ViT-B-32 with *random* weights
(no trained weights can be downloaded here), so which photos match a text is arbitrary.
Needs ImageMagick.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
DOCS = ROOT / "docs"
WIDTH, HEIGHT = 1280, 820

# folder -> (first date, samples); each sample also gives a crop and a detail photo
FOLDERS = {
    "2025 Summer/Coast": (datetime(2025, 7, 12, 10), ("astronaut", "rocket", "moon", "hubble_deep_field")),
    "2025 Summer/Farm": (datetime(2025, 8, 3, 9), ("horse", "grass", "gravel", "brick")),
    "Home": (datetime(2026, 10, 2, 18), ("cat", "chelsea", "coffee", "clock")),
    "Family/Christmas 2024": (datetime(2024, 12, 24, 17), ("camera", "coins", "colorwheel")),
    "Scans": (datetime(2024, 3, 5, 12), ("page", "retina", "immunohistochemistry")),
}
QUERY = "a cat sitting on a sofa"
ALBUM = "Cats at home"

sys.path.insert(0, str(ROOT / "benchmarks"))


def _save(image, path: Path, when: datetime) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = when.strftime("%Y:%m:%d %H:%M:%S")  # DateTimeOriginal
    image.save(path, quality=92, exif=exif)


def make_photos(root: Path) -> Path:
    """About 60 dated photos in five folders, an exact copy and a half-size copy."""
    from datetime import timedelta

    import numpy as np
    import skimage.data
    from PIL import Image

    if root.exists():
        shutil.rmtree(root)
    for folder, (first, names) in FOLDERS.items():
        target = root / folder
        target.mkdir(parents=True)
        for i, name in enumerate(names):
            arr = getattr(skimage.data, name)()
            if arr.dtype == bool:
                arr = arr.astype(np.uint8) * 255
            if arr.ndim == 2:
                arr = np.stack([arr] * 3, axis=-1)
            image = Image.fromarray(arr[..., :3])
            when = first + timedelta(days=3 * i)
            w, h = image.size
            _save(image, target / f"{name}.jpg", when)
            _save(image.crop((0, 0, w * 2 // 3, h * 2 // 3)), target / f"{name}-detail.jpg",
                  when + timedelta(minutes=5))
            _save(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop((w // 4, h // 6, w, h)),
                  target / f"{name}-crop.jpg", when + timedelta(days=1))
    home = root / "Home"
    shutil.copy2(home / "cat.jpg", home / "cat (copy).jpg")
    with Image.open(home / "chelsea.jpg") as im:
        exif = im.getexif()
        im.resize((im.width // 2, im.height // 2)).save(home / "chelsea-small.jpg", quality=80,
                                                        exif=exif)
    return root


def clipdesk(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "clipdesk", *args], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"clipdesk {args[0]} failed:\n{done.stderr}")


def prepare(base: Path) -> tuple[Path, Path]:
    from startup import make_model

    model = make_model(CACHE / "model-ViT-B-32-random", "ViT-B-32")
    photos = make_photos(base / "Photos")
    library = base / "library"
    if library.exists():
        shutil.rmtree(library)
    clipdesk("index", str(photos), "--library", str(library), "--model", f"local-dir:{model}")
    clipdesk("albums", "save", ALBUM, "a cat", "--folder", str(photos / "Home"),
             "--library", str(library))
    return photos, library


# ---------------------------------------------------------------------------- in the app


def wait_until(app, predicate, timeout: float = 30.0, what: str = "") -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what or predicate}")
        app.processEvents()
        time.sleep(0.02)


def settle(app, seconds: float = 1.5) -> None:
    """Let thumbnails arrive and the window repaint."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def shoot(app, widget, name: str) -> Path:
    settle(app)
    out = DOCS / name
    subprocess.run(["import", "-window", str(int(widget.winId())), str(out)], check=True)
    print(f"wrote {out}")
    return out


def click(app, tree, item) -> None:
    """Click a sidebar entry as the user would."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    tree.scrollToItem(item)
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=tree.visualItemRect(item).center())
    app.processEvents()


def drive(photos: Path, library: Path, dark: bool) -> None:
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    from PySide6.QtWidgets import QApplication

    from clipdesk.ui.app import ColorSchemeFollower
    from clipdesk.ui.engine import Engine
    from clipdesk.ui.icon import app_icon
    from clipdesk.ui.mainwindow import MainWindow
    from clipdesk.ui.settings import Settings

    app = QApplication([sys.argv[0]])
    app.setApplicationName("ClipDesk")
    app.setOrganizationName("ClipDesk")
    follower = ColorSchemeFollower(app, "dark" if dark else "light")  # noqa: F841
    app.setWindowIcon(app_icon())
    settings = Settings.load()
    engine = Engine(library, None, "cpu", settings)
    window = MainWindow(engine, settings)
    window.resize(WIDTH, HEIGHT)
    window.move(0, 0)
    window.show()
    engine.start()
    wait_until(app, lambda: window.model.rowCount() > 0, 60, "the timeline")
    wait_until(app, lambda: window.sidebar.folder_item(photos / "Home") is not None, 120,
               "the folder tree")
    for key in list(FOLDERS):
        item = window.sidebar.folder_item(photos / key)
        while item is not None:
            item.setExpanded(True)
            item = item.parent()
    if dark:
        shoot(app, window, "dark.png")
        window.close()
        return
    shoot(app, window, "timeline.png")

    click(app, window.sidebar.tree, window.sidebar.folder_item(photos / "2025 Summer"))
    wait_until(app, lambda: 0 < window.model.rowCount() < 60, 30, "the folder's photos")
    shoot(app, window, "folder.png")

    click(app, window.sidebar.tree, window.sidebar.all_item)
    window.search_bar.filter_bar.set_date_preset("last-year", now=datetime(2026, 12, 1))
    window.search_bar.set_text(QUERY)
    window.search_bar._emit()
    wait_until(app, lambda: getattr(window, "last_answer", None) is not None
               and window.last_answer.query.text == QUERY, 60, "the search")
    shoot(app, window, "filtered-search.png")

    window.search_bar.filter_bar.clear()
    click(app, window.sidebar.tree, window.sidebar.album_item(ALBUM))
    wait_until(app, lambda: getattr(window, "last_answer", None) is not None
               and window.last_answer.query.text == "a cat", 60, "the album")
    shoot(app, window, "album.png")

    window.show_duplicates()
    view = window.duplicates_view
    view.resize(1100, 700)
    view.move(60, 40)
    settle(app, 6)
    shoot(app, view, "duplicates.png")
    view.close()
    window.close()


def main() -> None:
    if not os.environ.get("DISPLAY"):
        raise SystemExit("run me under xvfb-run (see the docstring)")
    base = CACHE.resolve() / "screenshots"  # the library keeps folders resolved
    if "--drive" in sys.argv:  # a child: one app, one colour scheme
        drive(base / "Photos", base / "library", dark="--dark" in sys.argv)
        return
    photos, library = prepare(base)
    env = {**os.environ, "CLIPDESK_HOME": str(base / "home")}
    shutil.rmtree(base / "home", ignore_errors=True)
    for extra in ([], ["--dark"]):
        subprocess.run([sys.executable, __file__, "--drive", *extra], env=env, check=True)


if __name__ == "__main__":
    main()
