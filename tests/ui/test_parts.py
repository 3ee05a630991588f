"""The small parts under the window: query parsing, the rate meter, the thumbnail loader's
newest-first order and its pixmap LRU, stale-result dropping in workers."""

from __future__ import annotations

import threading

from PIL import Image
from PySide6.QtCore import QRunnable, QSize
from PySide6.QtGui import QPixmap

from clipdesk.core.query import parse
from clipdesk.ui.statusbar import RateMeter, duration_text
from clipdesk.ui.thumbnails import PixmapCache, ThumbnailLoader
from clipdesk.ui.workers import Generations, Pool, Worker


def test_minus_words_and_phrases_are_negatives():
    q = parse('red car -night -"parking lot" -\'rain\' on a-road')
    assert q.text == "red car on a-road"
    assert q.negatives == ("night", "parking lot", "rain")
    assert parse("   ").empty and not parse("-only").text
    assert parse("", images=("/x.jpg",)).describe() == "like this image"


def test_rate_and_time_left():
    now = [0.0]
    meter = RateMeter(window=20, clock=lambda: now[0])
    for done in (0, 32, 64, 96):
        meter.add(done)
        now[0] += 2.0
    assert meter.rate == 16.0
    assert meter.eta(416) == 20.0
    assert duration_text(20) == "20 s" and duration_text(5400) == "1 h 30 min"
    meter.add(10)  # a new run: starts over
    assert meter.rate is None


def test_loader_serves_the_newest_request_first(qtbot, tmp_path):
    paths = []
    for i in range(5):
        path = tmp_path / f"{i}.jpg"
        Image.new("RGB", (300, 200), (i * 50, 0, 0)).save(path)
        paths.append(str(path))
    loader = ThumbnailLoader(threads=1)
    loader.set_size(QSize(100, 100))
    gate = threading.Event()
    loader.pool.start(QRunnable.create(gate.wait))  # the only thread is busy
    order: list[str] = []
    loader.ready.connect(order.extend)
    for i, path in enumerate(paths):
        loader.request(f"k{i}", path)
    gate.set()
    qtbot.waitUntil(lambda: len(order) == 5)
    assert order == ["k4", "k3", "k2", "k1", "k0"]
    pixmap = loader.pixmap("k0")
    assert pixmap.width() == 100 and 66 <= pixmap.height() <= 67  # 300x200 fitted into 100
    loader.wait()


def test_pixmap_cache_drops_the_least_recently_used():
    one = 100 * 100 * 4
    cache = PixmapCache(max_bytes=3 * one)
    for key in "abc":
        cache.put(key, QPixmap(100, 100))
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("d", QPixmap(100, 100))
    assert not cache.contains("b") and cache.contains("a") and len(cache) == 3
    assert cache.bytes == 3 * one


def test_workers_report_results_errors_and_cancellation(qtbot):
    pool = Pool("test", 1)
    gens = Generations()
    got = []
    ok = Worker(lambda w, x: x * 2, 21, generation=gens.next("t"))
    ok.signals.result.connect(lambda g, v: got.append(("result", g, v)))
    with qtbot.waitSignal(ok.signals.finished):
        pool.start(ok)
    bad = Worker(lambda w: 1 / 0, generation=gens.next("t"))
    bad.signals.error.connect(lambda g, e: got.append(("error", g, type(e.exc).__name__)))
    with qtbot.waitSignal(bad.signals.finished):
        pool.start(bad)
    assert got == [("result", 1, 42), ("error", 2, "ZeroDivisionError")]
    assert not gens.is_current("t", 1) and gens.is_current("t", 2)

    gate = threading.Event()
    blocker = Worker(lambda w: gate.wait(5))
    pool.start(blocker)
    queued = Worker(lambda w: got.append("ran"))
    cancelled = []
    queued.signals.cancelled.connect(lambda g: cancelled.append(g))
    pool.start(queued)
    pool.cancel(queued)  # never starts
    gate.set()
    pool.wait()
    assert cancelled == [0] and "ran" not in got
