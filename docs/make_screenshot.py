"""Make docs/screenshot.png: the real app under Xvfb, real photos, a query typed through X11.

    xvfb-run -a -s "-screen 0 1280x860x24" .venv/bin/python docs/make_screenshot.py

Needs xdotool and ImageMagick's ``import``. Works offline: the photos are scikit-image's
samples (and crops of them), indexed with a ViT-B-32 that has *random* weights, because no
trained weights can be downloaded here; the ranking in the picture is therefore arbitrary.
With a real model (``clipdesk models --download ...``) the same script shows real results.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
OUT = ROOT / "docs" / "screenshot.png"
QUERY = "a cat sitting on a sofa"
SAMPLES = ("astronaut", "brick", "camera", "cat", "chelsea", "clock", "coffee", "coins",
           "colorwheel", "grass", "gravel", "horse", "hubble_deep_field", "immunohistochemistry",
           "moon", "page", "retina", "rocket")

sys.path.insert(0, str(ROOT / "benchmarks"))


def make_photos(folder: Path) -> Path:
    """The samples, and two crops of each, as JPEGs (a folder of about 50 photos)."""
    import numpy as np
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        arr = getattr(skimage.data, name)()
        if arr.dtype == bool:
            arr = arr.astype(np.uint8) * 255
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        image = Image.fromarray(arr[..., :3])
        image.save(folder / f"{name}.jpg", quality=92)
        w, h = image.size
        image.crop((0, 0, w * 2 // 3, h * 2 // 3)).save(folder / f"{name}-detail.jpg", quality=92)
        image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop((w // 4, h // 6, w, h)).save(
            folder / f"{name}-crop.jpg", quality=92)
    return folder


def run(cmd: list[str], **kw) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def main() -> None:
    if not os.environ.get("DISPLAY"):
        raise SystemExit("run me under xvfb-run (see the docstring)")
    from startup import make_model

    model = make_model(CACHE / "model-ViT-B-32-random", "ViT-B-32")
    base = CACHE / "screenshot"
    photos = make_photos(base / "photos")
    library = base / "library"
    if not (library / "catalog.sqlite3").exists():
        run([sys.executable, "-m", "clipdesk", "index", str(photos), "--library", str(library),
             "--model", f"local-dir:{model}"], cwd=ROOT)
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb", "CLIPDESK_CONFIG_DIR": str(base / "config"),
           "CLIPDESK_LOG_DIR": str(base / "log")}
    env.pop("CLIPDESK_STARTUP_PROBE", None)
    app = subprocess.Popen([sys.executable, "-m", "clipdesk", "--library", str(library)],
                           cwd=ROOT, env=env)
    try:
        wid = run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "^ClipDesk$"]).split()[0]
        run(["xdotool", "windowmove", wid, "0", "0"])
        time.sleep(12)  # the model loads in the background; the library catches up
        run(["xdotool", "windowfocus", "--sync", wid])  # no window manager: focus, then click
        run(["xdotool", "mousemove", "--window", wid, "300", "48", "click", "1"])
        run(["xdotool", "type", "--delay", "60", QUERY])
        time.sleep(6)  # the answer, then the thumbnails
        OUT.parent.mkdir(exist_ok=True)
        run(["import", "-window", wid, str(OUT)])
        print(f"wrote {OUT}")
        subprocess.run(["xdotool", "key", "ctrl+q"], check=False)
        app.wait(timeout=60)
    finally:
        if app.poll() is None:
            app.terminate()


if __name__ == "__main__":
    main()
