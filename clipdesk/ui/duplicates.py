"""The Duplicates view: groups of copies side by side, the photo to keep, and Move to Trash.

The grouping (``clipdesk.core.duplicates.find_groups``) runs on the engine's ``general`` pool
and returns plain data; a photo that vanished or changed since it was indexed is left out of
its group (the core checks each one on disk) and named under the groups. Each kind, exact
copies, near duplicates and burst shots, has its own tab; the near duplicates' similarity
threshold can be set (burst shots keep the core's). Thumbnails come through the grid's
``ThumbnailLoader`` (a loader of the view's own), for the groups on screen.

For each group the suggested photo to keep (``suggest_keep``: highest resolution, original
format, earliest date) is ticked; the user can tick another, or leave a group out. **Move to
Trash** asks first, listing exactly the photos that will move; only after that does the
writer move them to the system trash (``clipdesk.ui.trash``; undone from there) and forget
them. This is the only action in ClipDesk that changes a photo folder.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QImageIOHandler
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QListWidget,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from clipdesk.core.duplicates import KINDS, NEAR_THRESHOLD, suggest_keep, thresholds
from clipdesk.ui.thumbnails import ThumbnailLoader
from clipdesk.ui.trash import KEPT, TrashRequest
from clipdesk.ui.workers import JobError, Worker

if TYPE_CHECKING:
    from clipdesk.core.catalog import ModelRow
    from clipdesk.core.duplicates import Group, Member
    from clipdesk.core.library import Library
    from clipdesk.ui.engine import Engine
    from clipdesk.ui.librarywriter import Trashed

KIND_TITLES = {"exact": "Exact copies", "near": "Near duplicates", "shots": "Burst shots"}
GROUPS_SHOWN = 50  # groups added at a time (most space freed first): widgets, not a model
THUMB = QSize(160, 160)  # the grid's tile: the stored 320-px thumbnails need no extra pass

# PySide6 makes a Qt enum's Python class on first use, and two threads doing that at once
# crashed (a segfault in the loader's threads, in ``thumbnails._swaps_sides``): make the one
# the loader needs here, on the GUI thread, before any loader thread can.
_ = QImageIOHandler.Transformation.TransformationRotate90
THRESHOLD_DEBOUNCE_MS = 400
FAILURES_SHOWN = 20  # photos not moved, named one by one under the groups


def bytes_text(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:,.2f} GB"
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n / 1024:,.0f} kB"


def count(n: int, what: str) -> str:
    """``1 photo``, ``3 photos``."""
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def member_facts(member: Member) -> str:
    """Size, dimensions, date and folder of one photo, a line each."""
    dims = f"{member.width} × {member.height}" if member.width and member.height else "size unknown"
    when = member.taken_at if member.taken_at is not None else member.mtime
    date = datetime.datetime.fromtimestamp(when).strftime("%Y-%m-%d %H:%M")
    source = "taken" if member.taken_at is not None else "file date"
    return "\n".join([os.path.basename(member.path), bytes_text(member.size), dims,
                      f"{date} ({source})", os.path.dirname(member.path)])


# ==================================================================== the grouping job


@dataclass
class Found:
    """What the grouping job returns: groups per kind (largest saving first) and the photos
    left out because they vanished or changed since they were indexed."""

    groups: dict[str, list[Group]]
    left_out: list[tuple[str, str]] = field(default_factory=list)  # path, why
    with_model: bool = True  # False: no model index yet, exact copies only


def find_job(worker: Worker, library: Library, model: ModelRow | None,
             threshold: float | None) -> Found:
    """Every group of the library; near duplicates and shots need the model (None: exact
    copies only). The core checks each file on disk and lists those it left out."""
    from clipdesk.core.duplicates import find_groups

    kinds = KINDS if model is not None else ("exact",)
    stale: list[tuple[str, str]] = []
    groups = find_groups(library, model, kinds=kinds, threshold=threshold, stale=stale)
    by_kind: dict[str, list[Group]] = {kind: [] for kind in KINDS}
    for group in groups:  # most wasted space first, as the core sorts them
        by_kind[group.kind].append(group)
    return Found(by_kind, stale, model is not None)


# ==================================================================== widgets


class GroupBox(QFrame):
    """One group: its photos side by side, a Keep choice under each, and whether to clean it."""

    changed = Signal()

    def __init__(self, group: Group, parent: QWidget | None = None):
        super().__init__(parent)
        self.group = group
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        self.include = QCheckBox()
        self.include.setChecked(True)
        self.include.setToolTip("Leave this group out of Move to Trash")
        self.include.toggled.connect(self.changed)
        head.addWidget(self.include)
        self.title = QLabel()
        head.addWidget(self.title, 1)
        layout.addLayout(head)
        row = QHBoxLayout()
        self.keep_buttons = QButtonGroup(self)
        suggested = suggest_keep(group.members).path
        self.thumbs: dict[str, QLabel] = {}
        self.radios: dict[str, QRadioButton] = {}
        for member in group.members:
            card = QVBoxLayout()
            thumb = QLabel()
            thumb.setFixedSize(THUMB)
            thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
            thumb.setToolTip(member.path)
            self.thumbs[member.path] = thumb
            card.addWidget(thumb)
            radio = QRadioButton("Keep (suggested)" if member.path == suggested else "Keep")
            radio.setChecked(member.path == group.keep)
            radio.toggled.connect(self._on_keep)
            self.keep_buttons.addButton(radio)
            self.radios[member.path] = radio
            card.addWidget(radio)
            facts = QLabel(member_facts(member))
            facts.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            facts.setWordWrap(True)
            facts.setMaximumWidth(THUMB.width() + 60)
            card.addWidget(facts)
            card.addStretch()
            row.addLayout(card)
        row.addStretch()
        layout.addLayout(row)
        self._update_title()

    @property
    def key(self) -> tuple:
        return (self.group.kind, *sorted(m.path for m in self.group.members))

    @property
    def keep(self) -> str:
        return next(path for path, radio in self.radios.items() if radio.isChecked())

    def set_keep(self, path: str) -> None:
        self.radios[path].setChecked(True)

    @property
    def included(self) -> bool:
        return self.include.isChecked()

    def to_move(self) -> list[Member]:
        """The photos that go to the trash when this group is cleaned: all but the kept one."""
        keep = self.keep
        return [m for m in self.group.members if m.path != keep]

    def _on_keep(self, on: bool) -> None:
        if on:
            self.group.keep = self.keep  # the user's choice survives the page being rebuilt
            self._update_title()
            self.changed.emit()

    def _update_title(self) -> None:
        freed = sum(m.size for m in self.to_move())
        self.title.setText(f"{len(self.group.members)} photos · {bytes_text(freed)} to free")


class KindPage(QScrollArea):
    """The groups of one kind, largest saving first, ``GROUPS_SHOWN`` at a time: each group is
    widgets, so a "Show more" button adds the next ones (benchmarks/duplicates_view.py)."""

    changed = Signal()  # the photos to move changed (a keeper, a group ticked, more shown)
    moreShown = Signal()  # groups were added: their thumbnails are to be asked for

    def __init__(self, kind: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind = kind
        self.setWidgetResizable(True)
        self.boxes: list[GroupBox] = []
        self.groups: list[Group] = []
        self._left_alone: set[tuple] = set()
        self.show_groups([], set())

    def show_groups(self, groups: list[Group], left_alone: set[tuple]) -> None:
        """Show ``groups``; those whose key is in ``left_alone`` start unticked, and ticking
        one in or out updates that set (so a choice survives a Move to Trash elsewhere)."""
        self.groups, self._left_alone, self.boxes = groups, left_alone, []
        body = QWidget()
        self._layout = QVBoxLayout(body)
        # the body never shrinks below its boxes (QScrollArea would squeeze boxes added after
        # it took the body, a title's height each, rather than scroll)
        self._layout.setSizeConstraint(QLayout.SizeConstraint.SetMinimumSize)
        self.note = QLabel(f"No {KIND_TITLES[self.kind].lower()} found." if not groups else "")
        self._layout.addWidget(self.note)
        self.more_button = QPushButton()
        self.more_button.clicked.connect(self.show_more)
        self._layout.addWidget(self.more_button, 0, Qt.AlignmentFlag.AlignLeft)
        self._layout.addStretch()
        self.setWidget(body)  # the old body and its boxes go
        self.show_more()

    def show_more(self) -> None:
        """Add the next ``GROUPS_SHOWN`` groups below those shown."""
        start = len(self.boxes)
        for group in self.groups[start:start + GROUPS_SHOWN]:
            box = GroupBox(group)
            box.include.setChecked(box.key not in self._left_alone)
            box.include.toggled.connect(
                lambda on, k=box.key, s=self._left_alone: s.discard(k) if on else s.add(k))
            box.changed.connect(self.changed)
            self._layout.insertWidget(1 + len(self.boxes), box)
            self.boxes.append(box)
        left = len(self.groups) - len(self.boxes)
        self.more_button.setText(f"Show {min(left, GROUPS_SHOWN)} more of {left} groups")
        self.more_button.setVisible(left > 0)
        if start:
            self.changed.emit()
            self.moreShown.emit()

    def layout_spacing(self) -> int:
        return self._layout.spacing()

    def to_move(self) -> list[Member]:
        """The photos Move to Trash takes from this page: those of the groups shown."""
        return [m for box in self.boxes if box.included for m in box.to_move()]


class TrashConfirmation(QDialog):
    """Lists exactly the photos that Move to Trash will move; nothing moves unless accepted."""

    def __init__(self, members: list[Member], parent: QWidget | None = None):
        super().__init__(parent)
        self.members = members
        self.setWindowTitle("Move to Trash")
        self.resize(640, 420)
        layout = QVBoxLayout(self)
        total = sum(m.size for m in members)
        self.label = QLabel(
            f"{count(len(members), 'photo')} ({bytes_text(total)}) will be moved to the Trash. "
            "You can put them back from there. The photo kept in each group stays where it is.")
        self.label.setWordWrap(True)
        layout.addWidget(self.label)
        self.list = QListWidget()
        self.list.addItems([m.path for m in members])
        layout.addWidget(self.list, 1)
        buttons = QDialogButtonBox()
        self.move_button = buttons.addButton(f"Move {len(members)} to Trash",
                                             QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setDefault(True)  # Enter does not move photos
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def paths(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]


class DuplicatesView(QDialog):
    """A window of its own (File ▸ Duplicates…, or the sidebar's entry): find, choose, clean."""

    found = Signal()  # a grouping arrived and is on screen
    trashDone = Signal()  # a Move to Trash finished and its outcome is on screen

    def __init__(self, engine: Engine, parent: QWidget | None = None):
        super().__init__(parent)
        self.engine = engine
        self.setWindowTitle("Duplicates")
        self.resize(1000, 720)
        self.groups: dict[str, list[Group]] = {kind: [] for kind in KINDS}
        self.left_out: list[tuple[str, str]] = []
        self.confirmation: TrashConfirmation | None = None
        self._left_alone: set[tuple] = set()  # groups the user left out (kind, their paths)
        self._generation = 0
        self._default_threshold = NEAR_THRESHOLD
        self._finding: Worker | None = None
        self._threshold_set = False
        self._searching = False
        self._moving = False
        self.loader = ThumbnailLoader(parent=self)
        self.loader.set_size(THUMB, self.devicePixelRatioF())
        self.loader.ready.connect(self._on_thumbnails)

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Near duplicates: similarity at least"))
        self.threshold = QDoubleSpinBox()
        self.threshold.setRange(0.80, 1.0)
        self.threshold.setSingleStep(0.01)
        self.threshold.setDecimals(2)
        self.threshold.setValue(NEAR_THRESHOLD)
        self.threshold.setToolTip("Higher: only the same picture re-saved or resized; lower: "
                                  "crops and edits too")
        self.threshold.valueChanged.connect(lambda _v: self._debounce.start())
        top.addWidget(self.threshold)
        self.find_button = QPushButton("Look again")
        self.find_button.clicked.connect(self.find)
        top.addWidget(self.find_button)
        top.addStretch()
        layout.addLayout(top)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(THRESHOLD_DEBOUNCE_MS)
        self._debounce.timeout.connect(self.find)

        self.tabs = QTabWidget()
        self.pages: dict[str, KindPage] = {}
        for kind in KINDS:
            page = KindPage(kind)
            page.changed.connect(self._update_summary)
            self.pages[kind] = page
            self.tabs.addTab(page, KIND_TITLES[kind])
        self.tabs.currentChanged.connect(self._update_summary)
        self.tabs.currentChanged.connect(lambda _i: self._request_visible())
        for page in self.pages.values():
            page.verticalScrollBar().valueChanged.connect(lambda _v: self._request_visible())
            page.verticalScrollBar().rangeChanged.connect(  # the boxes were laid out
                lambda _lo, _hi: self._request_visible())
            page.moreShown.connect(lambda: QTimer.singleShot(0, self._request_visible))
        layout.addWidget(self.tabs, 1)

        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message_label)
        bottom = QHBoxLayout()
        self.summary = QLabel()
        bottom.addWidget(self.summary, 1)
        self.trash_button = QPushButton("Move to Trash…")
        self.trash_button.clicked.connect(self.confirm_trash)
        bottom.addWidget(self.trash_button)
        layout.addLayout(bottom)
        engine.photosTrashed.connect(self._on_trashed)
        self._update_summary()

    # ================================================================ finding

    @property
    def busy(self) -> bool:
        return self._searching or self._moving

    @property
    def current_threshold(self) -> float | None:
        """The near threshold; None (the model's own default) while it is the default."""
        value = round(self.threshold.value(), 2)
        return None if value == round(self._default_threshold, 2) else value

    def find(self) -> None:
        """Group the library's photos in the background; a newer look replaces an older one."""
        library = self.engine.library
        if library is None:
            self.message_label.setText("The library is not open yet.")
            return
        searcher = self.engine.searcher
        model = searcher.model if searcher is not None else None
        self._generation += 1
        self._searching = True
        self.message_label.setText("Looking for duplicates…")
        self._update_summary()
        if model is not None and not self._threshold_set:  # the model's own default
            self._default_threshold = thresholds(model)[0]
            self._threshold_set = True
            self.threshold.blockSignals(True)
            self.threshold.setMinimum(min(self.threshold.minimum(), self._default_threshold))
            self.threshold.setValue(self._default_threshold)
            self.threshold.blockSignals(False)
        if self._finding is not None:  # a look not started yet never runs
            self.engine.general.cancel(self._finding)
        worker = Worker(find_job, library, model, self.current_threshold,
                        generation=self._generation, name="duplicates")
        worker.signals.result.connect(self._on_found)
        worker.signals.error.connect(self._on_find_failed)
        self._finding = worker
        self.engine.general.start(worker)

    @Slot(int, object)
    def _on_found(self, gen: int, found: Found) -> None:
        if gen != self._generation:
            return
        self._searching = False
        self.groups = {kind: found.groups.get(kind, []) for kind in KINDS}
        self.left_out = found.left_out
        self._show_groups()
        text = "" if found.with_model else (
            "Near duplicates and burst shots need the model's index; it is not ready yet.")
        if found.left_out:
            text += (" " if text else "") + (
                f"{count(len(found.left_out), 'photo')} left out: changed or vanished since "
                "indexed: " + "; ".join(
                        f"{path}: {why}" for path, why in found.left_out[:5]))
        self.message_label.setText(text)
        self.found.emit()

    @Slot(int, object)
    def _on_find_failed(self, gen: int, error: JobError) -> None:
        from clipdesk.core.errors import ClipDeskError

        if gen != self._generation:
            return
        self._searching = False
        self.message_label.setText(f"Could not look for duplicates: {error}")
        self._update_summary()
        if not isinstance(error.exc, ClipDeskError):
            self.engine.unexpectedError.emit(error)
        self.found.emit()

    def _show_groups(self) -> None:
        for kind, page in self.pages.items():
            page.show_groups(self.groups[kind], self._left_alone)
            self.tabs.setTabText(self.tabs.indexOf(page),
                                 f"{KIND_TITLES[kind]} ({len(self.groups[kind])})")
        self._request_visible()
        QTimer.singleShot(0, self._request_visible)  # again once the boxes are laid out
        self._update_summary()

    def _request_visible(self) -> None:
        """Ask for the thumbnails of the groups on screen in the current tab, as the grid does:
        the loader serves the newest request first and drops old ones past its limit, so the
        groups scrolled to ask again (``verticalScrollBar().valueChanged``)."""
        library = self.engine.library
        page = self.current_page()
        top = page.verticalScrollBar().value()
        bottom = top + page.viewport().height()
        keys: list[str] = []
        spacing = max(0, page.layout_spacing())
        y = page.note.sizeHint().height() + spacing
        for box in page.boxes:
            if box.testAttribute(Qt.WidgetAttribute.WA_Resized):  # laid out: where it is
                where = box.geometry()  # in the page's body
                box_top, height = where.top(), where.height()
            else:  # not laid out yet (its geometry is Qt's 640x480 default): its size hint
                box_top, height = y, box.sizeHint().height()
            y = box_top + height + spacing
            if box_top + height < top or box_top > bottom:
                continue
            for member in box.group.members:
                thumb = (str(library.thumbnail_path(member.hash))
                         if library is not None and member.hash else None)
                self.loader.request(member.path, member.path, thumb)
                keys.append(member.path)
        self._on_thumbnails(keys)  # those already in the loader's cache

    @Slot(list)
    def _on_thumbnails(self, keys: list[str]) -> None:
        wanted = set(keys)
        for page in self.pages.values():
            for box in page.boxes:
                for path, label in box.thumbs.items():
                    if path in wanted and (pixmap := self.loader.pixmap(path)) is not None:
                        label.setPixmap(pixmap)

    # ================================================================ what the current tab frees

    def current_page(self) -> KindPage:
        return self.tabs.currentWidget()

    def _update_summary(self) -> None:
        page = self.current_page()
        members = page.to_move()
        freed = sum(m.size for m in members)
        total = sum(g.wasted for groups in self.groups.values() for g in groups)
        self.summary.setText(
            f"{KIND_TITLES[page.kind]}: {count(len(page.boxes), 'group')}, "
            f"{count(len(members), 'photo')} to "
            f"move, {bytes_text(freed)} to free · all kinds: {bytes_text(total)} reclaimable")
        self.trash_button.setEnabled(bool(members) and not self.busy)
        self.trash_button.setText(f"Move {len(members)} to Trash…" if members
                                  else "Move to Trash…")

    # ================================================================ Move to Trash

    def confirm_trash(self) -> None:
        """Ask first, listing exactly what will move; the move starts only when accepted."""
        members = self.current_page().to_move()
        if not members or self.busy:
            return
        self.confirmation = TrashConfirmation(members, self)
        self.confirmation.accepted.connect(lambda m=members: self._move(m))
        self.confirmation.open()

    def _move(self, members: list[Member]) -> None:
        self._moving = True
        self.message_label.setText(f"Moving {count(len(members), 'photo')} to the Trash…")
        self._update_summary()
        self.engine.trash([TrashRequest(m.path, m.size, m.mtime) for m in members])

    @Slot(object)
    def _on_trashed(self, trashed: Trashed | None) -> None:
        if not self._moving:
            return
        self._moving = False
        if trashed is None:
            self.message_label.setText("Move to Trash failed unexpectedly; the log has the "
                                       "details. Nothing was deleted.")
            self._update_summary()
            self.trashDone.emit()
            return
        result = trashed.result
        lines = []
        if result.moved:
            lines.append(f"Moved {count(len(result.moved), 'photo')} to the Trash; restore "
                         "from there if needed.")
        if result.failed:
            lines.append(f"{count(len(result.failed), 'photo')} not moved ({KEPT}):")
            lines += [f"  {path}: {why}" for path, why in result.failed[:FAILURES_SHOWN]]
            if len(result.failed) > FAILURES_SHOWN:
                lines.append(f"  and {len(result.failed) - FAILURES_SHOWN} more (the log has "
                             "every one)")
        if trashed.not_forgotten:
            lines.append(f"The library still lists the moved photos: {trashed.not_forgotten}")
        self.message_label.setText("\n".join(lines))
        self.engine.message.emit(lines[0] if lines else "")
        self._forget(set(result.moved_paths))
        self.trashDone.emit()

    def _forget(self, moved: set[str]) -> None:
        """Take the moved photos out of every group on screen (a group of one goes)."""
        if not moved:
            self._update_summary()
            return
        for kind, groups in self.groups.items():
            remaining = []
            for group in groups:
                members = [m for m in group.members if m.path not in moved]
                if len(members) < 2:
                    continue
                if len(members) < len(group.members):
                    group.members = members
                    if group.keep in moved:
                        group.keep = suggest_keep(members).path
                remaining.append(group)
            self.groups[kind] = remaining
        self._show_groups()

    def closeEvent(self, event) -> None:
        self._generation += 1  # a grouping still running is dropped when it answers
        self.loader.wait(2000)
        super().closeEvent(event)
