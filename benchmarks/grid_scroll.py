"""The results grid at 100,000 results: GUI-thread stalls while opening and scrolling end to
end, with the thumbnail cache cold and warm, and the memory it takes.

    python benchmarks/grid_scroll.py [--rows 100000] [--keys 4000] [--warm-keys 300] [--cache DIR]

Works offline, without a model. It makes (once, kept in the cache folder) ``--keys`` distinct
320-px JPEG thumbnails like the ones the indexer writes, then opens the real main window
(offscreen, 160-px tiles) on a fabricated answer of ``--rows`` results, the way a search
delivers one (``MainWindow._on_answer``), and drags the scrollbar from the first row to the
last in ``--steps`` even moves, one every 10 ms:

* cold: every result row points at one of ``--keys`` thumbnails, more than the pixmap LRU
  holds, so every screen misses and reads its thumbnails from disk;
* warm: the rows point at ``--warm-keys`` thumbnails, all in the LRU after one pass; the
  second pass is measured.

A 5 ms QTimer heartbeat measures the GUI thread: a tick that comes late by X ms means the
thread could not react for X ms. Printed: the worst and 99th-percentile lateness, the number
of ticks late by 50 ms or more (target: none, worst < 50 ms), the GUI thread's own CPU time
between two ticks (what lateness would be on an idle machine: the part this code controls), time to open and lay out the
results, the process's resident memory before and after, and the pixmap LRU's size.
The baseline is an empty grid measured the same way in the same run (what the machine's
load alone does to the heartbeat). The OS file cache is not dropped: "cold" is the app's
cache, not the disk's.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

TICK_MS = 5
STALL_MS = 50


def make_thumbnails(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:032x}.jpg" for i in range(n)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        print(f"making {len(missing)} thumbnails in {folder} ...", flush=True)
        yy, xx = np.mgrid[0:240, 0:320].astype(np.float32)
        for p in missing:
            i = int(p.stem, 16)
            rng = np.random.default_rng(i)
            a, b, c = rng.uniform(0, 255, 3), rng.uniform(-0.5, 0.5, 3), rng.uniform(-0.5, 0.5, 3)
            pix = a + b * xx[..., None] + c * yy[..., None] + rng.normal(0, 8, (240, 320, 3))
            tmp = p.with_suffix(".tmp")
            Image.fromarray(np.clip(pix, 0, 255).astype(np.uint8)).save(tmp, "JPEG", quality=85)
            os.replace(tmp, p)
    return paths


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Heartbeat:
    """Lateness of a 5 ms repeating timer on the GUI thread."""

    def __init__(self):
        from PySide6.QtCore import QElapsedTimer, QTimer

        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.clock = QElapsedTimer()
        self.late: list[float] = []
        self.busy: list[float] = []
        self.cpu = 0.0

    def start(self) -> None:
        self.late, self.busy = [], []
        self.cpu = time.thread_time()
        self.clock.start()
        self.timer.start()

    def stop(self) -> dict:
        self.timer.stop()
        late = np.array(self.late or [0.0])
        busy = np.array(self.busy or [0.0])
        return {"worst": float(late.max()), "p99": float(np.percentile(late, 99)),
                "over": int((late >= STALL_MS).sum()), "ticks": len(self.late),
                "cpu_worst": float(busy.max()), "cpu_over": int((busy >= STALL_MS).sum())}

    def _tick(self) -> None:
        self.late.append(max(0.0, self.clock.nsecsElapsed() / 1e6 - TICK_MS))
        self.clock.restart()
        cpu = time.thread_time()  # the GUI thread's own CPU time since the previous tick
        self.busy.append((cpu - self.cpu) * 1000)
        self.cpu = cpu


def spin(app, seconds: float, until=None) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        app.processEvents()
        if until is not None and until():
            break
        time.sleep(0.001)
    return time.perf_counter() - start


def fabricate(rows: int, keys: int, base: int):
    from clipdesk.ui.engine import ResultSet

    idx = np.arange(rows) % keys + base
    hashes = [f"{i:032x}" for i in idx]
    paths = [f"/nonexistent/photos/IMG_{r:06d}.jpg" for r in range(rows)]
    return ResultSet(paths, hashes, np.arange(1, rows + 1, dtype=np.int64),
                     np.linspace(1.0, 0.0, rows, dtype=np.float32),
                     1.6e9 + (np.arange(rows) * 7919 % rows).astype(np.float64))


def open_answer(app, window, results, beat: Heartbeat) -> dict:
    """Show ``results`` as a search answer would; wait for the batched layout to finish."""
    from clipdesk.core.query import Query
    from clipdesk.ui.engine import SearchAnswer

    bar = window.view.verticalScrollBar()
    beat.start()
    t0 = time.perf_counter()
    window._on_answer(SearchAnswer(0, Query(text="benchmark"), results, 0.0, "synthetic"))
    shown = time.perf_counter() - t0
    rows_per_line = max(1, window.view.viewport().width() // window.view.gridSize().width())
    full = (len(results) // rows_per_line - 10) * window.view.gridSize().height()
    laid = spin(app, 60, until=lambda: bar.maximum() >= full)
    spin(app, 0.5)
    out = beat.stop()
    out.update(call_ms=shown * 1000, layout_s=laid)
    return out


def scroll_end_to_end(app, window, beat: Heartbeat, steps: int, step_ms: int = 10) -> dict:
    """Drag the scrollbar from top to bottom in ``steps`` even moves, one every ``step_ms``."""
    bar = window.view.verticalScrollBar()
    bar.setValue(0)
    spin(app, 0.3)
    top = bar.maximum()
    beat.start()
    t0 = time.perf_counter()
    peak_rss = rss_mb()
    done = 0
    next_step = time.perf_counter()
    while done <= steps:
        app.processEvents()
        now = time.perf_counter()
        if now >= next_step:
            bar.setValue(bar.maximum() * done // steps)
            done += 1
            next_step = now + step_ms / 1000
            if done % 100 == 0:
                peak_rss = max(peak_rss, rss_mb())
        time.sleep(0.0005)
    spin(app, 0.5)  # the last screen's thumbnails arrive
    out = beat.stop()
    last = window.view.indexAt(window.view.viewport().rect().center()).row()
    out.update(steps=steps, seconds=time.perf_counter() - t0, peak_rss=max(peak_rss, rss_mb()),
               last_row=last)
    assert bar.maximum() == top, f"the layout changed while scrolling: {top} -> {bar.maximum()}, grid {window.view.gridSize()}"
    return out


def warm_up(app, window, keys: list[str], timeout: float = 60.0) -> None:
    """Page slowly through the top rows until every key's pixmap is in the LRU."""
    from PySide6.QtWidgets import QAbstractSlider

    bar = window.view.verticalScrollBar()
    bar.setValue(0)
    cache = window.loader.cache
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        spin(app, 0.15)
        if all(cache.contains(k) for k in keys):
            return
        if window.loader.pool.activeThreadCount() == 0:
            bar.triggerAction(QAbstractSlider.SliderAction.SliderPageStepAdd)
            if bar.value() >= bar.maximum():
                bar.setValue(0)


def line(name: str, m: dict, extra: str = "") -> None:
    verdict = "PASS" if m["worst"] < STALL_MS else "MISS"
    print(f"  {name:<30s} worst {m['worst']:6.1f} ms  p99 {m['p99']:5.1f} ms  "
          f">= {STALL_MS} ms: {m['over']:3d} of {m['ticks']:5d} ticks  {verdict}; "
          f"GUI CPU between ticks worst {m['cpu_worst']:5.1f} ms ({m['cpu_over']} >= {STALL_MS})"
          f"{extra}", flush=True)


def open_window(cache: Path, keys: int, name: str):
    """(app, window, its folder): the real main window offscreen on a throwaway library (in
    that folder) that is never started (no model, no disk), its tiles read from ``keys`` made-up thumbnails in ``cache``;
    prints the load average (a busy machine delays the GUI thread)."""
    thumbs_dir = cache.resolve() / "grid-thumbs"
    make_thumbnails(thumbs_dir, keys)
    tmp = Path(tempfile.mkdtemp(prefix=f"clipdesk-bench-{name}-"))
    for var, sub in (("CLIPDESK_CONFIG_DIR", "config"), ("CLIPDESK_LOG_DIR", "logs"),
                     ("CLIPDESK_LIBRARY", "library")):
        os.environ[var] = str(tmp / sub)

    from PySide6.QtWidgets import QApplication

    from clipdesk.ui.engine import Engine
    from clipdesk.ui.mainwindow import MainWindow
    from clipdesk.ui.settings import Settings

    app = QApplication.instance() or QApplication([])
    settings = Settings()
    engine = Engine(tmp / "library", None, "cpu", settings)
    window = MainWindow(engine, settings)
    window.show()
    window.pages.setCurrentWidget(window.browse_page)
    window.model.thumbnail_path = lambda h: thumbs_dir / f"{h}.jpg"
    spin(app, 0.5)
    load = os.getloadavg()[0]
    print(f"load average {load:.2f} on {os.cpu_count()} cores"
          f"{'  (BUSY: other processes compete with the GUI thread)' if load > 1 else ''}")
    return app, window, tmp


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keys", type=int, default=4000, help="distinct thumbnails, cold pass")
    parser.add_argument("--warm-keys", type=int, default=300, help="distinct thumbnails, warm")
    parser.add_argument("--steps", type=int, default=1000, help="scrollbar moves, top to bottom")
    parser.add_argument("--cache", type=Path, default=ROOT / "benchmarks" / ".cache")
    args = parser.parse_args()

    app, window, _ = open_window(args.cache, args.keys, "grid")
    beat = Heartbeat()

    beat.start()
    spin(app, 3.0)
    idle = beat.stop()
    rss0 = rss_mb()
    cache = window.loader.cache
    print(f"tile {window.view.tile_delegate.tile} px, pixmap LRU limit {cache.max_bytes / 2**20:.0f} MiB, RSS {rss0:.0f} MiB")
    line("baseline: idle window, 3 s", idle)

    cold = fabricate(args.rows, args.keys, 0)
    m = open_answer(app, window, cold, beat)
    line(f"open {args.rows:,} results", m,
         f"  (_on_answer {m['call_ms']:.0f} ms, layout done in {m['layout_s']:.1f} s; grid "
         f"{window.view.viewport().width()}x{window.view.viewport().height()})")
    m = scroll_end_to_end(app, window, beat, args.steps)
    line("scroll end to end, cold", m, f"  ({m['steps']} scrollbar moves in {m['seconds']:.1f} s, "
                                       f"ended at row {m['last_row']:,})")
    print(f"    pixmap LRU {len(cache)} pixmaps, {cache.bytes / 2**20:.0f} MiB; RSS "
          f"{rss0:.0f} -> peak {m['peak_rss']:.0f} MiB (+{m['peak_rss'] - rss0:.0f}); "
          f"tiles remembered as waiting {sum(map(len, window.model._waiting.values()))}")
    cold_rss = m["peak_rss"]

    warm = fabricate(args.rows, args.warm_keys, 0)
    open_answer(app, window, warm, beat)
    keys = [f"{i:032x}" for i in range(args.warm_keys)]
    warm_up(app, window, keys)
    missing = sum(not cache.contains(k) for k in keys)
    m = scroll_end_to_end(app, window, beat, args.steps)
    line("scroll end to end, warm", m, f"  ({m['steps']} scrollbar moves in {m['seconds']:.1f} s; "
                                       f"{missing} of {args.warm_keys} keys not in the LRU, "
                                       f"ended at row {m['last_row']:,})")
    print(f"    pixmap LRU {len(cache)} pixmaps, {cache.bytes / 2**20:.0f} MiB; "
          f"RSS peak {m['peak_rss']:.0f} MiB")

    from clipdesk.ui.engine import ResultSet

    window.model.set_results(ResultSet.empty())
    spin(app, 0.5)
    print(f"memory: RSS {rss0:.0f} MiB before, peak {max(cold_rss, m['peak_rss']):.0f} MiB, "
          f"{rss_mb():.0f} MiB after clearing; the LRU is bounded by bytes "
          f"({cache.max_bytes / 2**20:.0f} MiB), not by results")
    window.loader.wait(5000)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
