"""Start-up speed: a cold `clipdesk search` from a terminal, and the app's first search answered,
ONNX Runtime (ClipDesk's default) against the torch path.

    python benchmarks/startup.py [--runs N] [--cache DIR] [--no-vit] [--no-app] [--no-cli]

Every case is a fresh process, run N times, all cases interleaved (the order reversed every
other run); medians are reported with min and max, and for each process its peak resident
memory and CPU time (from ``/usr/bin/time``: that process alone).

Terminal (``--no-cli`` skips): ``clipdesk search "a cat" --library LIB --model local-dir:VIT``
on a small indexed library (8 photos), wall time from just before the process starts to its
exit, ONNX (the default) against ``CLIPDESK_RUNTIME=torch``. Baseline: ``clipdesk --version``.
Targets: ONNX <= 1.5 s and <= 500 MB.

App (``--no-app`` skips): time from just before the process starts to the moment the app
reports the event (``CLIPDESK_STARTUP_PROBE``, see ``clipdesk/ui/app.py``): the window on
screen, and the first search answered (``search:TEXT`` types TEXT as soon as the window
shows; the model loads in the background), for a tiny local-dir CLIP and, unless
``--no-vit``, a ViT-B-32 with random weights in the ``local-dir`` layout (the real model's
size and compute), ONNX and torch. Baselines: ``python -c "import PySide6.QtWidgets"``, a
bare PySide6 window to its first expose, and the app with ``CLIPDESK_EARLY_IMPORT=0`` (no
read-ahead of the runtime's libraries). Targets: window shown in under 1 s; first search
answered with ViT-B-32 (ONNX) in under 1.5 s. For the search cases it also prints the steps
the app reached on the way (``CLIPDESK-MARK`` lines).

Before anything is timed: the ONNX export of each model is made (``CLIPDESK_ONNX_CACHE``, by
default ``DIR/onnx-cache``), the libraries are indexed with ONNX, and every case runs once
untimed (file cache warm). The catalog keys rows by model identity, and an export that agrees
with torch has its source's identity, so the torch and ONNX runs search the same index (the
script checks). Works offline. Runs under ``QT_QPA_PLATFORM=offscreen`` unless a display is
set.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PY = sys.executable
QUERY = "a photo of a cat"
CLI_QUERY = "a cat"
SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "cat", "hubble_deep_field",
           "immunohistochemistry")
TINY_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 48, "patch_size": 8, "layers": 2, "width": 64, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
TARGET_CLI_S = 1.5
TARGET_CLI_MB = 500
TARGET_APP_SEARCH_S = 1.5
TARGET_SHOWN_S = 1.0

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


def clipdesk_command() -> list[str]:
    """``clipdesk`` as a terminal runs it: the console script beside this Python, if any."""
    script = Path(PY).parent / "clipdesk"
    return [str(script)] if script.is_file() else [PY, "-m", "clipdesk"]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("CLIPDESK_RUNTIME", None)  # each case says which runtime it wants
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.update(extra)
    return env


@dataclass
class Case:
    cmd: list[str]
    env: dict[str, str]
    mark: str | None  # stdout line that ends the measurement; None: the process's exit


@dataclass
class Run:
    seconds: float
    peak_mb: float
    cpu_s: float


TIME = "/usr/bin/time"  # GNU time: the peak RSS of that process alone


def timed(case: Case, steps: dict[str, list[float]] | None = None, timeout: float = 300) -> Run:
    """One fresh process: seconds from just before it starts to ``case.mark`` on its stdout
    (or its exit), its peak RSS and CPU time. ``steps`` collects the app's ``CLIPDESK-MARK``
    lines (seconds from the start, per step).

    Peak RSS comes from GNU time, which forks the command itself: a process forked from this
    one would report this process's RSS at the fork as its own peak (Linux carries
    ``maxrss`` across ``exec``), so ``wait4`` here would overstate every figure."""
    with tempfile.TemporaryDirectory(prefix="clipdesk-timed-") as tmp:
        usage_file = Path(tmp) / "usage"
        prefix = ([TIME, "-f", "%M %U %S", "-o", str(usage_file)]
                  if os.access(TIME, os.X_OK) else [])
        with open(Path(tmp) / "out", "w+") as out, open(Path(tmp) / "err", "w+") as err:
            start_unix, start = time.time(), time.perf_counter()
            proc = subprocess.Popen([*prefix, *case.cmd], stdout=out, stderr=err, env=case.env,
                                    cwd=ROOT)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            end = time.perf_counter()
            out.seek(0)
            err.seek(0)
            stdout, stderr = out.read(), err.read()
        name = " ".join(case.cmd)[:200]
        if proc.returncode != 0:
            raise SystemExit(f"{name} failed ({proc.returncode}):\n{stderr[-3000:]}")
        if prefix:
            kb, user, system = usage_file.read_text().split()[-3:]
            run = Run(end - start, int(kb) / 1024, float(user) + float(system))
        else:
            run = Run(end - start, float("nan"), float("nan"))
    if case.mark is None:
        return run
    for line in stdout.splitlines():
        if steps is not None and line.startswith("CLIPDESK-MARK "):
            _, when, cpu, step = line.split(" ", 3)
            steps.setdefault(step, []).append(float(when) - start_unix)
            steps.setdefault(f"{step} (cpu)", []).append(float(cpu))
    for line in stdout.splitlines():
        if line.startswith(case.mark):
            run.seconds = float(line.split()[1]) - start_unix
            return run
    raise SystemExit(f"{name} never printed {case.mark}:\n{stdout}\n{stderr[-3000:]}")


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
    """A library of ``photos`` indexed with ``model`` on ONNX (which makes the export)."""
    marker = folder / "built-with.txt"  # rebuilt when the model folder moved
    if marker.exists() and marker.read_text() != str(model):
        shutil.rmtree(folder)
    if not (folder / "catalog.sqlite3").exists():
        cmd = [*clipdesk_command(), "index", str(photos), "--library", str(folder),
               "--model", f"local-dir:{model}"]
        res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900,
                             env=_env(CLIPDESK_RUNTIME="onnx"))
        if res.returncode != 0:
            raise SystemExit(f"indexing failed ({res.returncode}):\n{res.stderr[-3000:]}")
        marker.write_text(str(model))
    return folder


def check_shared_index(library: Path, model: Path) -> str:
    """The ONNX export and the torch model must be one model in the catalog: say which row
    each runtime would search, and stop if they differ."""
    from clipdesk.core import models
    from clipdesk.core.catalog import Catalog

    spec = models.ModelSpec.parse(f"local-dir:{model}")
    onnx = models.onnx_model(spec, download=False)  # the export, made now if not cached
    info_path = onnx.root / "clipdesk_export.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    onnx_identity = onnx.identity
    catalog = Catalog(library)
    try:
        rows = catalog.db.execute("SELECT spec FROM models").fetchall()
    finally:
        catalog.close()
    if onnx_identity != spec.identity or (spec.identity,) not in rows:
        raise SystemExit(f"torch ({spec.identity}) and ONNX ({onnx_identity}) would search "
                         f"different catalog rows ({rows}): not one index")
    cos = info.get("min_cosine_to_torch", {})
    return (f"one catalog row for both runtimes ({len(rows)} row(s)); export's lowest cosine "
            f"to torch: image {cos.get('image', float('nan')):.6f}, "
            f"text {cos.get('text', float('nan')):.6f}")


# ----------------------------------------------------------------------------- report


def _ms(x: float) -> str:
    return f"{x * 1000:7.0f} ms"


def _per_run(a: list[Run], b: list[Run], attr: str) -> str:
    return ", ".join(f"{getattr(x, attr) / getattr(y, attr):.2f}" for x, y in zip(a, b, strict=True))


def report(results: dict[str, list[Run]], steps: dict[str, dict[str, list[float]]],
           runs: int, loads: list[float]) -> None:
    print(f"\nClipDesk start-up, median of {runs} runs ({platform.python_version()}, "
          f"{os.cpu_count()} cores, QT_QPA_PLATFORM={_env().get('QT_QPA_PLATFORM', 'native')}; "
          f"load average during the runs: {', '.join(f'{x:.1f}' for x in loads)})")
    width = max(len(name) for name in results)
    print(f"  {'case':{width}s}  {'wall (median)':>13s}   {'min':>5s} {'max':>5s}  "
          f"{'peak RSS':>9s}  {'CPU':>7s}")
    med = {}
    for name, values in results.items():
        wall = statistics.median(v.seconds for v in values)
        peak = statistics.median(v.peak_mb for v in values)
        cpu = statistics.median(v.cpu_s for v in values)
        med[name] = (wall, peak, cpu)
        print(f"  {name:{width}s}  {_ms(wall):>13s}   {min(v.seconds for v in values) * 1000:5.0f} "
              f"{max(v.seconds for v in values) * 1000:5.0f}  {peak:6.0f} MB  {cpu:6.2f}s")

    for name, marks in steps.items():
        if not marks:
            continue
        print(f"\n  steps of \"{name}\" (medians: wall time since the process started, and"
              " the CPU time the process had used by then, all threads)")
        rows = {k: v for k, v in marks.items() if not k.endswith(" (cpu)")}
        previous = 0.0
        for step, values in sorted(((k, v) for k, v in rows.items() if v),
                                   key=lambda kv: statistics.median(kv[1])):
            at = statistics.median(values)
            cpu = marks.get(f"{step} (cpu)")
            cpu_text = f"cpu {statistics.median(cpu) * 1000:6.0f} ms" if cpu else ""
            print(f"    {step:34s} {at * 1000:7.0f} ms   (+{(at - previous) * 1000:5.0f})   {cpu_text}")
            previous = at

    print("\ntargets and same-run ratios (per-run ratios in brackets)")
    cli_onnx, cli_torch = "terminal: clipdesk search, ONNX", "terminal: clipdesk search, torch"
    if cli_onnx in med:
        wall, peak, _ = med[cli_onnx]
        print(f"  clipdesk search, ONNX: {wall:.2f} s (target <= {TARGET_CLI_S} s: "
              f"{'PASS' if wall <= TARGET_CLI_S else 'MISS'}), peak {peak:.0f} MB (target <= "
              f"{TARGET_CLI_MB} MB: {'PASS' if peak <= TARGET_CLI_MB else 'MISS'})")
        if cli_torch in med:
            tw, tp, _ = med[cli_torch]
            print(f"  clipdesk search, torch / ONNX: {tw / wall:.2f}x the wall time "
                  f"[{_per_run(results[cli_torch], results[cli_onnx], 'seconds')}], "
                  f"{tp / peak:.2f}x the memory ({tp:.0f} MB vs {peak:.0f} MB)")
    for label in ("ViT-B-32", "tiny CLIP"):
        onnx = next((k for k in med if k.startswith("app: first search") and label in k
                     and k.endswith(", ONNX")), None)
        torch_ = next((k for k in med if k.startswith("app: first search") and label in k
                       and k.endswith(", torch")), None)
        if onnx is None:
            continue
        wall = med[onnx][0]
        verdict = (f" (target < {TARGET_APP_SEARCH_S} s: "
                   f"{'PASS' if wall < TARGET_APP_SEARCH_S else 'MISS'})" if label == "ViT-B-32" else "")
        print(f"  app first search answered, {label}, ONNX: {wall:.2f} s{verdict}, "
              f"peak {med[onnx][1]:.0f} MB")
        if torch_ is not None:
            print(f"  app first search answered, {label}, torch / ONNX: "
                  f"{med[torch_][0] / wall:.2f}x [{_per_run(results[torch_], results[onnx], 'seconds')}]"
                  f"; torch {med[torch_][0]:.2f} s, peak {med[torch_][1]:.0f} MB")
    base = next((k for k in med if k.startswith("baseline: app first search")), None)
    vit = next((k for k in med if k.startswith("app: first search") and "ViT" in k
                and k.endswith(", ONNX")), None)
    if base and vit:
        print(f"  app first search, ViT-B-32 ONNX, without the runtime read-ahead / with: "
              f"{med[base][0] / med[vit][0]:.2f}x")
    shown = "app: window shown (empty library)"
    if shown in med:
        print(f"  window shown {med[shown][0] * 1000:.0f} ms (target < {TARGET_SHOWN_S:g} s: "
              f"{'PASS' if med[shown][0] < TARGET_SHOWN_S else 'MISS'})")


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs of each measurement (default 7)")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache",
                        help="where the photos and models are kept between runs")
    parser.add_argument("--no-vit", action="store_true", help="skip the ViT-B-32 cases")
    parser.add_argument("--no-app", action="store_true", help="skip the app (window) cases")
    parser.add_argument("--no-cli", action="store_true", help="skip the terminal cases")
    args = parser.parse_args()

    cache = args.cache.resolve()
    os.environ.setdefault("CLIPDESK_ONNX_CACHE", str(cache / "onnx-cache"))
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"ONNX cache {os.environ['CLIPDESK_ONNX_CACHE']}", flush=True)
    clipdesk = clipdesk_command()
    work = cache / "startup"
    photos = make_photos(work / "photos")
    models = {"tiny CLIP": make_model(work / "tiny-clip", None)}
    if not args.no_vit:
        models["ViT-B-32 (random weights)"] = make_model(cache / "model-ViT-B-32-random", "ViT-B-32")
    libraries = {name: make_library(work / f"library-{i}", photos, path)
                 for i, (name, path) in enumerate(models.items())}
    for name, library in libraries.items():
        print(f"{name}: {check_shared_index(library, models[name])}", flush=True)

    with tempfile.TemporaryDirectory(prefix="clipdesk-startup-") as tmp:
        tmp = Path(tmp)
        common = {"CLIPDESK_CONFIG_DIR": str(tmp / "config"), "CLIPDESK_LOG_DIR": str(tmp / "log")}
        cases: dict[str, Case] = {}
        if not args.no_cli:
            vit_name = list(models)[-1]
            lib, model = libraries[vit_name], models[vit_name]
            search = [*clipdesk, "search", CLI_QUERY, "--library", str(lib), "--model",
                      f"local-dir:{model}"]
            cases["baseline: clipdesk --version"] = Case([*clipdesk, "--version"], _env(**common), None)
            for runtime in ("onnx", "torch"):
                cases[f"terminal: clipdesk search, {'ONNX' if runtime == 'onnx' else 'torch'}"] = (
                    Case(search, _env(CLIPDESK_RUNTIME=runtime, **common), None))
        if not args.no_app:
            app = [PY, "-m", "clipdesk", "--library"]
            cases['baseline: python -c "import PySide6.QtWidgets"'] = Case(
                [PY, "-c", "import PySide6.QtWidgets"], _env(), None)
            cases["baseline: bare PySide6 window shown"] = Case(
                [PY, "-c", BARE_WINDOW], _env(), "CLIPDESK-SHOWN")
            cases["app: window shown (empty library)"] = Case(
                [*app, str(tmp / "empty")], _env(CLIPDESK_STARTUP_PROBE="shown", **common),
                "CLIPDESK-SHOWN")
            for name, library in libraries.items():
                cases[f"app: window shown ({name} library)"] = Case(
                    [*app, str(library)], _env(CLIPDESK_STARTUP_PROBE="shown", **common),
                    "CLIPDESK-SHOWN")
                for runtime in ("onnx", "torch"):
                    if runtime == "torch" and name == "tiny CLIP" and not args.no_vit:
                        continue  # torch's import dominates; ViT-B-32 shows it
                    cases[f"app: first search answered ({name}), "
                          f"{'ONNX' if runtime == 'onnx' else 'torch'}"] = Case(
                        [*app, str(library)],
                        _env(CLIPDESK_STARTUP_PROBE=f"search:{QUERY}", CLIPDESK_RUNTIME=runtime,
                             **common), "CLIPDESK-SEARCHED")
            name, library = list(libraries.items())[-1]
            cases[f"baseline: app first search, no runtime read-ahead ({name}), ONNX"] = Case(
                [*app, str(library)],
                _env(CLIPDESK_STARTUP_PROBE=f"search:{QUERY}", CLIPDESK_EARLY_IMPORT="0",
                     CLIPDESK_RUNTIME="onnx", **common), "CLIPDESK-SEARCHED")

        print(f"{len(cases)} cases; one untimed run of each first (file cache, exports)", flush=True)
        for case in cases.values():
            timed(case)
        results: dict[str, list[Run]] = {name: [] for name in cases}
        steps: dict[str, dict[str, list[float]]] = {name: {} for name in cases}
        loads = []
        for run in range(args.runs):
            order = list(cases.items())
            for name, case in (order if run % 2 == 0 else order[::-1]):
                results[name].append(timed(case, steps=steps[name]))
            loads.append(os.getloadavg()[0])
            print(f"run {run + 1}/{args.runs} done, load average {loads[-1]:.2f}", flush=True)

    report(results, steps, args.runs, loads)
    if not os.access(TIME, os.X_OK):
        print(f"\n{TIME} not found: no peak RSS figures")


if __name__ == "__main__":
    main()
