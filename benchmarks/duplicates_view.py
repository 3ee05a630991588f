"""The Duplicates view's GUI-thread cost of showing groups, and why it shows them
``GROUPS_SHOWN`` (50) at a time, with a "Show more" button: each group is real widgets (a
card per photo), not a model.

    python benchmarks/duplicates_view.py [--groups 2000] [--members 3] [--repeats 5]

Works offline, without a model or a library: it fabricates ``--groups`` exact-copy groups of
``--members`` photos each (paths that do not exist, so no thumbnail is read: the widgets
alone are measured) and hands them to the real view as a finished grouping would
(``DuplicatesView._on_found``), offscreen, then lets Qt lay them out. Printed, as medians of
``--repeats`` runs: GUI-thread CPU time to show the first page (what the app does) and, as
the baseline in the same run, every group at once.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QObject, Signal  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from clipdesk.core.duplicates import Group, Member  # noqa: E402
from clipdesk.ui import duplicates  # noqa: E402


class FakeEngine(QObject):
    """What the view reads from the engine: no library (so no thumbnail paths), the signals."""

    photosTrashed = Signal(object)
    message = Signal(str)
    unexpectedError = Signal(object)
    library = None
    searcher = None


def fabricate(groups: int, members: int) -> list[Group]:
    out = []
    for g in range(groups):
        ms = [Member(g * members + i, f"/nowhere/{g:05}/photo-{i}.jpg", 2_000_000 + i,
                     4000, 3000, 1.7e9 + g, 1.7e9 + g, f"{g:032x}") for i in range(members)]
        out.append(Group("exact", ms, ms[0].path))
    return out


def show_cpu_s(app: QApplication, groups: list[Group], cap: int) -> float:
    duplicates.GROUPS_SHOWN = cap
    view = duplicates.DuplicatesView(FakeEngine())
    view.show()
    app.processEvents()
    start = time.thread_time()
    view._on_found(0, duplicates.Found({"exact": groups, "near": [], "shots": []}))
    app.processEvents()  # layout and the first paint
    spent = time.thread_time() - start
    assert len(view.pages["exact"].boxes) == min(cap, len(groups))
    view.close()
    view.deleteLater()
    app.processEvents()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=2000)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    groups = fabricate(args.groups, args.members)
    cap = duplicates.GROUPS_SHOWN
    capped = [show_cpu_s(app, groups, cap) for _ in range(args.repeats)]
    uncapped = [show_cpu_s(app, groups, len(groups)) for _ in range(args.repeats)]
    print(f"{args.groups} groups of {args.members} photos, GUI-thread CPU time to show them "
          f"(median of {args.repeats}):")
    print(f"  the view (the first {cap} groups):  {statistics.median(capped) * 1000:8.0f} ms")
    print(f"  baseline, every group at once: {statistics.median(uncapped) * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
