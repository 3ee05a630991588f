"""Filter chips beside the search field (dates, media kind and folder, each removable), the
relevance cut-off control and what the grid says when it has nothing to show.

The chips show ``Filters`` (the CLI's ``--folder``, ``--after``, ``--before``, plus the media
kind) and edit them: a "Filter" button's menu adds a date preset, a custom date range or a
media kind; each chip's × removes its filter. The bar holds no state of its own beyond what
it shows: ``show_filters`` paints the search bar's filters (the sidebar sets the folder), and
every user change is emitted as the whole new ``Filters`` (``filtersEdited``), which the
search bar makes the query's. Date ranges are local-time day boundaries computed by the
Qt-free ``clipdesk.core.query.date_preset`` / ``day_range``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from html import escape
from pathlib import Path

import numpy as np
from PySide6.QtCore import QDate, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QPainter, QPalette
from PySide6.QtWidgets import (
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMenu,
    QSlider,
    QStyle,
    QStyleOptionFocusRect,
    QStyleOptionToolButton,
    QStylePainter,
    QToolButton,
    QWidget,
)

from clipdesk.core.query import (
    DATE_PRESETS,
    Filters,
    Query,
    date_preset,
    day_range,
    describe_dates,
)

# What the media menu and chips call each kind of ``MEDIA_KINDS``.
MEDIA_NAMES = {"photo": "Photos", "raw": "RAW photos", "video": "Videos"}
CHIP_KINDS = ("folder", "date", "media")  # the order chips sit in


def folder_label(folder: Path) -> str:
    """The chip's words for a folder filter: its last two parts ("in Holidays/2024")."""
    parts = Path(folder).parts
    tail = "/".join(p for p in parts[-2:] if p not in ("/", "\\")) or str(folder)
    return f"in {tail}"


def chip_texts(filters: Filters, presets_now: datetime | None = None) -> dict[str, str]:
    """What each active filter's chip says, by kind; a date range that is exactly a preset
    seen from ``presets_now`` (default: the clock) is called by the preset's name."""
    texts: dict[str, str] = {}
    if filters.folder is not None:
        texts["folder"] = folder_label(filters.folder)
    if filters.after is not None or filters.before is not None:
        span = (filters.after, filters.before)
        named = next((label for name, label in DATE_PRESETS.items()
                      if date_preset(name, presets_now) == span), None)
        texts["date"] = named or describe_dates(filters.after, filters.before)
    if filters.media is not None:
        texts["media"] = MEDIA_NAMES.get(filters.media, filters.media)
    return texts


class FilterChip(QFrame):
    """One filter as a tag: its words and a × that removes it."""

    removeRequested = Signal(str)  # the chip's kind

    def __init__(self, kind: str, text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind = kind
        self.setObjectName("filterChip")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 1, 1, 1)
        layout.setSpacing(2)
        self.label = QLabel(text)
        layout.addWidget(self.label)
        self.remove_button = QToolButton()
        self.remove_button.setText("×")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setToolTip(f"Remove this filter ({text})")
        self.remove_button.setAccessibleName(f"Remove filter {text}")
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self.kind))
        layout.addWidget(self.remove_button)

    def set_text(self, text: str) -> None:
        self.label.setText(text)
        self.setToolTip(text)
        self.remove_button.setToolTip(f"Remove this filter ({text})")
        self.remove_button.setAccessibleName(f"Remove filter {text}")

    @property
    def text(self) -> str:
        return self.label.text()


class DateRangeDialog(QDialog):
    """Two date edits: the first and the last day a photo may be from, both included."""

    def __init__(self, first: date, last: date, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Photos taken between")
        form = QFormLayout(self)
        self.first_edit = QDateEdit(QDate(first.year, first.month, first.day))
        self.last_edit = QDateEdit(QDate(last.year, last.month, last.day))
        for edit in (self.first_edit, self.last_edit):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
        form.addRow("From:", self.first_edit)
        form.addRow("To:", self.last_edit)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form.addRow(self.buttons)

    def days(self) -> tuple[date, date]:
        """The chosen first and last day, in order whichever way they were entered."""
        a, b = self.first_edit.date().toPython(), self.last_edit.date().toPython()
        return (a, b) if a <= b else (b, a)

    def span(self) -> tuple[float, float]:
        """``Filters.after`` / ``before`` for the chosen days."""
        return day_range(*self.days())


class FilterBar(QWidget):
    """The "Filter" button and the chips of the active filters."""

    filtersEdited = Signal(object)  # the whole new Filters, after a user's change

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._filters = Filters()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.button = QToolButton()
        self.button.setText("Filter")
        self.button.setToolTip("Only photos from some dates, or of one kind")
        self.button.setAccessibleName("Filter")
        self.button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self.button)
        self.button.setMenu(self.menu)
        layout.addWidget(self.button)
        self._chip_box = QHBoxLayout()
        self._chip_box.setSpacing(4)
        layout.addLayout(self._chip_box)
        self.chips: dict[str, FilterChip] = {}
        self.dialog: DateRangeDialog | None = None
        self._build_menu()

    def _build_menu(self) -> None:
        self.date_actions: dict[str, QAction] = {}
        self.menu.addSection("Taken")
        for name, label in DATE_PRESETS.items():
            action = self.menu.addAction(label)
            action.triggered.connect(lambda _c=False, n=name: self.set_date_preset(n))
            self.date_actions[name] = action
        self.custom_action = self.menu.addAction("Between dates…")
        self.custom_action.triggered.connect(lambda _c=False: self.choose_date_range())
        self.menu.addSection("Kind")
        self.media_actions: dict[str, QAction] = {}
        for kind, label in MEDIA_NAMES.items():
            action = self.menu.addAction(label)
            action.setCheckable(True)
            action.triggered.connect(lambda _c=False, k=kind: self.set_media(k))
            self.media_actions[kind] = action
        self.menu.addSeparator()
        self.clear_action = self.menu.addAction("Clear filters")
        self.clear_action.triggered.connect(lambda _c=False: self.clear())

    # ---------------------------------------------------------------- showing

    @property
    def filters(self) -> Filters:
        return self._filters

    def show_filters(self, filters: Filters) -> None:
        """Show ``filters`` as chips (no signal: the caller already holds them)."""
        self._filters = filters
        texts = chip_texts(filters)
        for kind in CHIP_KINDS:
            chip = self.chips.get(kind)
            if kind not in texts:
                if chip is not None:
                    del self.chips[kind]
                    chip.hide()
                    chip.deleteLater()
                continue
            if chip is None:
                chip = FilterChip(kind, texts[kind], self)
                chip.removeRequested.connect(self.remove)
                self.chips[kind] = chip
                self._place(chip)
            chip.set_text(texts[kind])
        for kind, action in self.media_actions.items():
            action.setChecked(filters.media == kind)
        self.clear_action.setEnabled(bool(texts))

    def _place(self, chip: FilterChip) -> None:
        """Chips sit in ``CHIP_KINDS`` order whichever was added first."""
        at = sum(1 for kind in CHIP_KINDS[:CHIP_KINDS.index(chip.kind)] if kind in self.chips)
        self._chip_box.insertWidget(at, chip)
        chip.show()

    def chip_widgets(self) -> list[FilterChip]:
        """The chips in the order they are shown (for Tab order and tests)."""
        found = (self._chip_box.itemAt(i).widget() for i in range(self._chip_box.count()))
        return [w for w in found if isinstance(w, FilterChip)]

    # ---------------------------------------------------------------- editing

    def _edit(self, filters: Filters) -> None:
        if filters != self._filters:
            self.show_filters(filters)
            self.filtersEdited.emit(filters)

    def set_date_preset(self, name: str, now: datetime | None = None) -> None:
        after, before = date_preset(name, now)
        self._edit(replace(self._filters, after=after, before=before))

    def set_date_range(self, first: date, last: date) -> None:
        after, before = day_range(first, last)
        self._edit(replace(self._filters, after=after, before=before))

    def choose_date_range(self) -> DateRangeDialog:
        """The custom-range dialog, opened window-modal; it starts on the range shown, else
        on this month so far."""
        today = date.today()
        first = (datetime.fromtimestamp(self._filters.after).date()
                 if self._filters.after is not None else today.replace(day=1))
        last = (datetime.fromtimestamp(self._filters.before).date()
                if self._filters.before is not None else today)
        self.dialog = DateRangeDialog(first, last, self.window())
        self.dialog.accepted.connect(lambda d=self.dialog: self.set_date_range(*d.days()))
        self.dialog.open()
        return self.dialog

    def set_media(self, kind: str | None) -> None:
        """Only this kind of media (``MEDIA_KINDS``); choosing the shown kind again drops it."""
        if kind is not None and kind == self._filters.media:
            kind = None
        self._edit(replace(self._filters, media=kind))

    def remove(self, kind: str) -> None:
        """The chip's ×: drop that filter."""
        if kind == "folder":
            self._edit(replace(self._filters, folder=None))
        elif kind == "date":
            self._edit(replace(self._filters, after=None, before=None))
        elif kind == "media":
            self._edit(replace(self._filters, media=None))

    def clear(self) -> None:
        """Drop every filter the chips show (a minimum score, if any, stays)."""
        self._edit(Filters(min_score=self._filters.min_score))


# ---------------------------------------------------------------------- the relevance cut-off


class OnOffButton(QToolButton):
    """A flat checkable tool button whose on-state is filled with the palette's highlight and
    written in its highlighted text: Fusion's own pressed-in look was 15 grey levels of mean
    luminance from the flat off-state in the dark palette (24 in the light), now 80 (110).
    Painted from the palette at each paint, so it follows light and dark mode and the
    system's accent."""

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setText(text)
        self.setCheckable(True)
        self.setAutoRaise(True)

    def paintEvent(self, event) -> None:
        if not self.isChecked():
            super().paintEvent(event)
            return
        painter = QStylePainter(self)
        option = QStyleOptionToolButton()
        self.initStyleOption(option)
        palette = option.palette
        fill = palette.color(QPalette.ColorRole.Highlight)
        text = palette.color(QPalette.ColorRole.HighlightedText)
        if not self.isEnabled():  # on, but not for now (browsing has no scores): faded
            fill.setAlphaF(0.35)
            text.setAlphaF(0.6)
        elif self.underMouse():
            fill = fill.lighter(112)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 3, 3)
        for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive,
                      QPalette.ColorGroup.Disabled):
            palette.setColor(group, QPalette.ColorRole.ButtonText, text)
        option.palette = palette
        state = QStyle.StateFlag
        option.state &= ~(state.State_Sunken | state.State_On | state.State_MouseOver)
        painter.drawControl(QStyle.ControlElement.CE_ToolButtonLabel, option)
        if option.state & state.State_HasFocus:  # keyboard focus, as the style shows it
            focus = QStyleOptionFocusRect()
            focus.initFrom(self)
            focus.rect = self.rect().adjusted(2, 2, -2, -2)
            focus.backgroundColor = fill
            painter.drawPrimitive(QStyle.PrimitiveElement.PE_FrameFocusRect, focus)


class CutoffControl(QWidget):
    """The relevance cut-off beside the filters: "Auto" uses each answer's adaptive cut-off
    (``clipdesk.core.cutoff``); moving the slider overrides it for this query (the window
    turns Auto back on for a new query). The slider is a percent of the answer's score range,
    0 showing everything."""

    autoToggled = Signal(bool)  # the user pressed Auto
    percentMoved = Signal(int)  # the user moved the slider

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(QLabel("Cut-off:"))
        self.auto_button = OnOffButton("Auto")  # flat when off, the highlight's colour when on
        self.auto_button.setChecked(True)
        self.auto_button.setToolTip("Show the photos that stand out for this query; the slider "
                                    "overrides it until the next search")
        self.auto_button.toggled.connect(self.autoToggled)
        layout.addWidget(self.auto_button)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setFixedWidth(120)
        self.slider.setToolTip("Hide weaker matches")
        self.slider.setAccessibleName("Cut-off")
        self.slider.valueChanged.connect(self.percentMoved)
        layout.addWidget(self.slider)
        self.value_label = QLabel("all")
        self.value_label.setMinimumWidth(90)
        layout.addWidget(self.value_label)

    @property
    def auto(self) -> bool:
        return self.auto_button.isChecked()

    def set_auto(self, on: bool) -> None:
        """Show Auto on or off without telling anyone (the window decided it)."""
        self.auto_button.blockSignals(True)
        self.auto_button.setChecked(on)
        self.auto_button.blockSignals(False)

    def set_percent(self, percent: int) -> None:
        """Move the slider without telling anyone."""
        self.slider.blockSignals(True)
        self.slider.setValue(percent)
        self.slider.blockSignals(False)

    def show_score(self, score: float | None, scores: np.ndarray | None = None) -> None:
        """The lowest score shown: "auto ≥ 0.23", "auto: all", "≥ 0.23" or "all". On Auto the
        slider moves to where that score sits in ``scores``' range, so that dragging it starts
        from what is shown."""
        if self.auto and scores is not None and len(scores):
            lo, hi = float(scores.min()), float(scores.max())
            at = 0 if score is None or hi <= lo else (score - lo) / (hi - lo) * 100
            self.set_percent(max(0, min(100, int(at))))
        shown = "all" if score is None else f"≥ {score:.2f}"
        self.value_label.setText(("auto: " if score is None else "auto ") + shown
                                 if self.auto else shown)


# ---------------------------------------------------------------------- empty states

# one suffix per format, asked of the scanner (HEIC, AVIF and RAW only with their extras)
_FORMAT_NAMES = {".jpg": "JPEG", ".png": "PNG", ".webp": "WebP", ".gif": "GIF", ".bmp": "BMP",
                 ".tif": "TIFF", ".heic": "HEIC", ".avif": "AVIF", ".dng": "camera RAW",
                 ".mp4": "video (MP4, MOV, MKV, WebM, AVI…)"}


def readable_formats() -> str:
    """The formats ClipDesk indexes, in words ("JPEG, PNG, WebP, GIF, BMP and TIFF"), from
    the scanner's own test of a name."""
    from clipdesk.core.scan import has_photo_suffix

    names = [name for suffix, name in _FORMAT_NAMES.items() if has_photo_suffix("x" + suffix)]
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def empty_state_html(query: Query, shown: int, total: int) -> str | None:
    """What the grid says instead of showing nothing, or None when it shows photos. Nothing
    found at all: which folder (or filters) had no photos and what ClipDesk reads; results all
    below the cut-off: a link (``#show-all``) that lowers it."""
    if total and not shown:
        noun = "result" if total == 1 else "results"
        return (f"Nothing scores above the cut-off — <a href='#show-all'>show all {total:,} "
                f"{noun}</a>")
    if total or (query.empty and not query.filters.active):
        return None  # photos, or browsing an empty library: the window's hint says what to do
    reads = f"ClipDesk reads {readable_formats()} files."
    folder = query.filters.folder
    where = f"No photos in {escape(folder_label(folder)[3:])} yet" if folder is not None else (
        "No photos match these filters" if query.filters.active else "No photos here yet")
    more = (" — <a href='#clear-filters'>clear the filters</a>"
            if query.filters.active and folder is None else "")
    return f"{where}{more}.<br>{reads}"


class EmptyState(QLabel):
    """The grid's place when there is nothing to show: says why, with a link that helps."""

    showAllRequested = Signal()
    clearFiltersRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("emptyState")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.linkActivated.connect(self._on_link)

    def _on_link(self, link: str) -> None:
        if link == "#show-all":
            self.showAllRequested.emit()
        elif link == "#clear-filters":
            self.clearFiltersRequested.emit()
