"""Launch speed of the desktop app: time to the window on screen, and to the first search answered.

    python benchmarks/startup.py [--runs N] [--cache DIR] [--no-vit]

Every figure is wall-clock time from just before the process is started to the moment the
app reports the event (``CLIPDESK_STARTUP_PROBE``, see ``clipdesk/ui/app.py``), the median of
N runs, interleaved. Measured in the same run, as baselines:

* ``python -c "import PySide6.QtWidgets"``: the floor for any PySide6 app;
* a bare PySide6 window (QApplication + empty QWidget) to its first expose.

Then ``clipdesk --library LIB`` to the window shown, and to the first search answered
(``search:TEXT`` types TEXT as soon as the window shows; the model loads in the background)
for a tiny local-dir CLIP and, unless ``--no-vit``, a ViT-B-32 with random weights in the
``local-dir`` layout (the real model's size and compute). Works offline. Runs under
``QT_QPA_PLATFORM=offscreen`` unless a display is set. Targets: window shown in under 1 s;
first search answered with ViT-B-32 in under 6 s. For the search cases it also prints
the steps the app reached on the way (``CLIPDESK-MARK`` lines: Python and Qt imported, torch
imported, open_clip imported, model built, weights loaded, first text encoded).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
QUERY = "a photo of a cat"
SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat", "hubble_deep_field",
           "immunohistochemistry")
TINY_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 48, "patch_size": 8, "layers": 2, "width": 64, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}

BARE_WINDOW = """
import sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget
app = QApplication(sys.argv[:1])
w = QWidget(); w.setWindowTitle("bare"); w.resize(1180, 780); w.show()
class F(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Expose and obj.isExposed():
            QTimer.singleShot(0, lambda: (print(f"CLIPDESK-SHOWN {time.time():.6f}", flush=True),
                                          app.quit()))
        return False
f = F(); w.windowHandle().installEventFilter(f)
app.exec()
"""


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.update(extra)
    return env


def timed(cmd: list[str], env: dict[str, str], mark: str | None,
          steps: dict[str, list[float]] | None = None) -> float:
    """Seconds from just before the process starts to ``mark`` on its stdout (or its exit).
    ``steps`` collects the app's ``CLIPDESK-MARK`` lines (seconds from the start, per step)."""
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    end = time.time()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    if mark is None:
        return end - start
    for line in proc.stdout.splitlines():
        if steps is not None and line.startswith("CLIPDESK-MARK "):
            _, when, cpu, name = line.split(" ", 3)
            steps.setdefault(name, []).append(float(when) - start)
            steps.setdefault(f"{name} (cpu)", []).append(float(cpu))
    for line in proc.stdout.splitlines():
        if line.startswith(mark):
            return float(line.split()[1]) - start
    raise SystemExit(f"{' '.join(cmd)} never printed {mark}:\n{proc.stdout}\n{proc.stderr[-3000:]}")


# ----------------------------------------------------------------------------- fixtures


def make_photos(folder: Path) -> Path:
    import numpy as np
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        path = folder / f"{name}.jpg"
        if not path.exists():
            arr = getattr(skimage.data, name)()
            if arr.ndim == 2:
                arr = np.stack([arr] * 3, axis=-1)
            Image.fromarray(arr[..., :3]).save(path, quality=92)
    return folder


def make_model(folder: Path, arch: str | None) -> Path:
    """A local-dir model: the tiny CLIP (arch None) or ``arch`` with random weights."""
    from clipdesk.core.models import CONFIG_NAME, WEIGHT_NAMES, save_local_dir

    if (folder / CONFIG_NAME).is_file() and (folder / WEIGHT_NAMES[0]).is_file():
        return folder
    import open_clip
    import torch

    torch.manual_seed(0)
    if arch is None:
        model, cfg = open_clip.model.CLIP(**TINY_CFG), TINY_CFG
    else:
        model, cfg = open_clip.create_model(arch, pretrained=None), open_clip.get_model_config(arch)
    print(f"saving a random-weight {arch or 'tiny CLIP'} in {folder} ...", flush=True)
    save_local_dir(model, cfg, folder)
    return folder


def make_library(folder: Path, photos: Path, model: Path) -> Path:
    marker = folder / "built-with.txt"  # rebuilt when the model folder moved
    if marker.exists() and marker.read_text() != str(model):
        shutil.rmtree(folder)
    if not (folder / "catalog.sqlite3").exists():
        cmd = [PY, "-m", "clipdesk", "index", str(photos), "--library", str(folder),
               "--model", f"local-dir:{model}"]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
        if res.returncode != 0:
            raise SystemExit(f"indexing failed:\n{res.stderr[-3000:]}")
        marker.write_text(str(model))
    return folder


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each measurement (default 7)")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache",
                        help="where the photos and models are kept between runs")
    parser.add_argument("--no-vit", action="store_true", help="skip the ViT-B-32 search figure")
    args = parser.parse_args()

    cache = args.cache / "startup"
    photos = make_photos(cache / "photos")
    models = {"tiny CLIP": make_model(cache / "tiny-clip", None)}
    if not args.no_vit:
        models["ViT-B-32 (random weights)"] = make_model(args.cache / "model-ViT-B-32-random", "ViT-B-32")
    libraries = {name: make_library(cache / f"library-{i}", photos, path)
                 for i, (name, path) in enumerate(models.items())}

    with tempfile.TemporaryDirectory(prefix="clipdesk-startup-") as tmp:
        tmp = Path(tmp)
        common = {"CLIPDESK_CONFIG_DIR": str(tmp / "config"), "CLIPDESK_LOG_DIR": str(tmp / "log")}
        cases: dict[str, tuple[list[str], dict, str | None]] = {
            'baseline: python -c "import PySide6.QtWidgets"':
                ([PY, "-c", "import PySide6.QtWidgets"], _env(), None),
            "baseline: bare PySide6 window shown":
                ([PY, "-c", BARE_WINDOW], _env(), "CLIPDESK-SHOWN"),
            "clipdesk: window shown (empty library)":
                ([PY, "-m", "clipdesk", "--library", str(tmp / "empty")],
                 _env(CLIPDESK_STARTUP_PROBE="shown", **common), "CLIPDESK-SHOWN"),
        }
        for name, library in libraries.items():
            cases[f"clipdesk: window shown ({name} library)"] = (
                [PY, "-m", "clipdesk", "--library", str(library)],
                _env(CLIPDESK_STARTUP_PROBE="shown", **common), "CLIPDESK-SHOWN")
            cases[f"clipdesk: first search answered ({name})"] = (
                [PY, "-m", "clipdesk", "--library", str(library)],
                _env(CLIPDESK_STARTUP_PROBE=f"search:{QUERY}", **common), "CLIPDESK-SEARCHED")
        for name, library in list(libraries.items())[-1:]:  # torch imported after the paint
            cases[f"baseline: window shown, no early import ({name} library)"] = (
                [PY, "-m", "clipdesk", "--library", str(library)],
                _env(CLIPDESK_STARTUP_PROBE="shown", CLIPDESK_EARLY_IMPORT="0", **common),
                "CLIPDESK-SHOWN")
            cases[f"baseline: first search answered, no early import ({name})"] = (
                [PY, "-m", "clipdesk", "--library", str(library)],
                _env(CLIPDESK_STARTUP_PROBE=f"search:{QUERY}", CLIPDESK_EARLY_IMPORT="0",
                     **common), "CLIPDESK-SEARCHED")

        timed(*cases["clipdesk: window shown (empty library)"])  # warm the file cache
        results: dict[str, list[float]] = {name: [] for name in cases}
        steps: dict[str, dict[str, list[float]]] = {name: {} for name in cases}
        for run in range(args.runs):
            for name, case in cases.items():
                results[name].append(timed(*case, steps=steps[name]))
            print(f"run {run + 1}/{args.runs} done", flush=True)

    print(f"\nClipDesk start-up, median of {args.runs} runs ({platform.python_version()}, "
          f"{os.cpu_count()} cores, QT_QPA_PLATFORM={_env().get('QT_QPA_PLATFORM', 'native')}, "
          f"load average {os.getloadavg()[0]:.1f})")
    width = max(len(name) for name in results)
    for name, values in results.items():
        print(f"  {name:{width}s}  {statistics.median(values) * 1000:7.0f} ms"
              f"   (min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f})")
    for name, marks in steps.items():
        if not marks:
            continue
        print(f"\n  steps of \"{name}\" (medians: wall time since the process started, and"
              " the CPU time the process had used by then, all threads)")
        shown_name = (name.replace("first search answered", "window shown")[:-1]
                      + " library)")
        rows = {k: v for k, v in marks.items() if not k.endswith(" (cpu)")}
        rows["window shown (separate runs)"] = results.get(shown_name, [])
        previous = 0.0
        for step, values in sorted(((k, v) for k, v in rows.items() if v),
                                   key=lambda kv: statistics.median(kv[1])):
            at = statistics.median(values)
            cpu = marks.get(f"{step} (cpu)")
            cpu_text = f"cpu {statistics.median(cpu) * 1000:6.0f} ms" if cpu else ""
            print(f"    {step:34s} {at * 1000:7.0f} ms   (+{(at - previous) * 1000:5.0f})   {cpu_text}")
            previous = at
    vit = [v for k, v in results.items() if k.startswith("clipdesk: first search") and "ViT" in k]
    base = [v for k, v in results.items() if k.startswith("baseline: first search")]
    if vit and base:
        print(f"\nfirst search with ViT-B-32, early import vs none: "
              f"{statistics.median(base[0]) / statistics.median(vit[0]):.2f}x sooner")
    if vit:
        first = statistics.median(vit[0])
        print(f"\nfirst search answered with ViT-B-32 in {first:.2f} s: "
              f"{'under' if first < 6.0 else 'OVER'} the 6 s target")
    shown = statistics.median(results["clipdesk: window shown (empty library)"])
    print(f"\nwindow shown in {shown * 1000:.0f} ms: "
          f"{'under' if shown < 1.0 else 'OVER'} the 1 s target")


if __name__ == "__main__":
    main()
