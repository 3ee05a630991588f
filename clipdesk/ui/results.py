"""The results grid: a list model over search hits, a tile delegate and the view.

Browsing (an empty query) shows the library newest first in the same grid, with a header
band per month (per day for large tiles) painted by ``ResultsView``'s own layout; see there.

The model holds the hits as columns (``engine.ResultSet``) and an ``order`` array over them,
so sorting by date and the relevance cut-off cost milliseconds even for 100,000 results, and
no Python object per result exists for the garbage collector to walk. Tiles have one size
(``setUniformItemSizes``), so the view never measures items one by one. Thumbnails come from
``ThumbnailLoader``; a tile without one paints a placeholder and asks for it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QRect,
    QSize,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import QColor, QCursor, QFont, QFontMetrics, QPainter, QPalette, QRegion
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from clipdesk.core import pairs
from clipdesk.ui.engine import ResultSet
from clipdesk.ui.thumbnails import MAX_PENDING, ThumbnailLoader

if TYPE_CHECKING:
    from clipdesk.core.browse import Sections
    from clipdesk.core.search import Hit

HitRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
ScoreRole = Qt.ItemDataRole.UserRole + 3
DateRole = Qt.ItemDataRole.UserRole + 4
RawRole = Qt.ItemDataRole.UserRole + 5  # the RAW shown as one photo with this JPEG, or None
VideoRole = Qt.ItemDataRole.UserRole + 6  # a video's (best moment or None, length), or None

ZOOM_STEPS = (96, 128, 160, 192, 224, 256, 320)
MARGIN = 6
HEADER_PAD = 8  # above and below a section header's text
LAYOUT_BATCH = 2000  # rows laid out per event-loop turn: 100,000 results never freeze the GUI
WAITING_LIMIT = 2 * MAX_PENDING  # tiles remembered as waiting for a thumbnail, about

# Plain ints: the view asks for data thousands of times a second; enum lookups add up.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_DECORATION = int(Qt.ItemDataRole.DecorationRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_HIT, _PATH, _SCORE, _DATE, _RAW, _VIDEO = (HitRole, PathRole, ScoreRole, DateRole, RawRole,
                                           VideoRole)
_HIT_ROLES = frozenset((_DISPLAY, _TOOLTIP, _HIT))


def hit_key(hit: Hit) -> str:
    """The thumbnail cache's key: the content hash (a moved photo keeps its thumbnail); a
    video found at a moment, that frame's."""
    return tile_key(hit.path, hit.hash, getattr(hit, "time", None))


def tile_key(path: str, hash_: str | None, moment: float | None) -> str:
    if hash_ and moment is not None:
        return f"{hash_}@{round(moment * 1000)}"
    return hash_ or path


def duration_text(seconds: float) -> str:
    """A video's length or a moment in it: "0:07", "1:23", "1:02:03"."""
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ResultsModel(QAbstractListModel):
    """Search hits, sorted by relevance or date, with a relevance cut-off."""

    countChanged = Signal(int, int)  # shown, total
    # Rows whose thumbnail just arrived. Not dataChanged: QListView answers every dataChanged
    # with a full relayout of its rows, batch by batch, which at 100,000 results restarts the
    # layout on each arriving thumbnail (the scrollbar's range collapses while scrolling).
    thumbnailsArrived = Signal(list)

    def __init__(self, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.loader = loader
        self.loader.ready.connect(self._on_thumbnails)
        self.thumbnail_path: Callable[[str], os.PathLike] | None = None
        # a video's sampled frame's thumbnail: (hash, seconds) -> path (Library's)
        self.frame_thumbnail_path: Callable[[str, float], os.PathLike] | None = None
        self._results = ResultSet.empty()
        self._order = np.zeros(0, dtype=np.int64)
        self._count = 0
        self._sort = "relevance"
        self._cutoff = 0  # percent of the score range
        self._auto = False  # the adaptive cut-off (set_auto_cutoff) rather than the percent
        self._auto_score: float | None = None
        self._browsing = False  # the library newest first: no sort, no cut-off, dates shown
        self._waiting: dict[str, set[int]] = {}
        self._rows: dict[str, int] | None = None  # path -> row, made when first asked

    # ---------------------------------------------------------------- contents

    def set_results(self, results: ResultSet, browsing: bool = False) -> None:
        """Show ``results``; ``browsing``: they are the library in its own order (newest
        first), which sorting and the cut-off leave alone."""
        self.beginResetModel()
        self._results = results
        self._browsing = browsing
        self._waiting.clear()
        self._rows = None
        self.loader.drop_pending()
        self._order = self._compute_order()
        self._count = len(self._order)
        self.endResetModel()
        self.countChanged.emit(self._count, len(results))

    def clear(self) -> None:
        self.set_results(ResultSet.empty())

    @property
    def results(self) -> ResultSet:
        return self._results

    @property
    def browsing(self) -> bool:
        return self._browsing

    @property
    def sort(self) -> str:
        """The order shown: browsing is always by date (the tiles' captions show it)."""
        return "date" if self._browsing else self._sort

    def set_sort(self, sort: str) -> None:
        if sort != self._sort:
            self._sort = sort
            if not self._browsing:
                self._reorder()

    @property
    def cutoff(self) -> int:
        return self._cutoff

    def set_cutoff(self, percent: int) -> None:
        """The user's cut-off, a percent of the score range; it replaces the adaptive one."""
        percent = max(0, min(100, int(percent)))
        if percent != self._cutoff or self._auto:
            self._cutoff = percent
            self._auto = False
            if not self._browsing:
                self._reorder()

    @property
    def auto_cutoff(self) -> bool:
        return self._auto

    def set_auto_cutoff(self, score: float | None, auto: bool | None = None) -> None:
        """The next results' adaptive cut-off (``core.cutoff``), and whether to use it rather
        than the percent; applied by the next ``set_results`` (no reorder now)."""
        self._auto_score = score
        if auto is not None:
            self._auto = auto

    def set_auto(self, on: bool) -> None:
        """Use the adaptive cut-off (True) or the percent (False) from now on."""
        if on != self._auto:
            self._auto = on
            self._reorder()

    def cutoff_score(self) -> float | None:
        """The lowest score shown, or None when the cut-off lets everything through."""
        scores = self._results.scores
        if self._auto:  # the adaptive cut-off; None: no group above the rest (or browsing)
            return self._auto_score if len(scores) else None
        if not len(scores) or self._cutoff == 0 or self._browsing:
            return None
        lo, hi = float(scores.min()), float(scores.max())
        return lo + (hi - lo) * self._cutoff / 100.0

    def _compute_order(self) -> np.ndarray:
        scores, dates = self._results.scores, self._results.dates
        keep = np.arange(len(scores))
        if self._browsing:
            return keep
        threshold = self.cutoff_score()
        if threshold is not None:
            keep = keep[scores >= threshold - 1e-7]
        if self._sort == "date":
            keep = keep[np.argsort(-dates[keep], kind="stable")]
        else:
            keep = keep[np.argsort(-scores[keep], kind="stable")]
        return keep

    def _reorder(self) -> None:
        self.beginResetModel()
        self._waiting.clear()
        self._rows = None
        self._order = self._compute_order()
        self._count = len(self._order)
        self.endResetModel()
        self.countChanged.emit(self._count, len(self._results))

    def hit(self, row: int) -> Hit:
        return self._results.hit(int(self._order[row]))

    def path_at(self, row: int) -> str:
        return self._results.paths[int(self._order[row])]

    def video_at(self, row: int) -> tuple[float | None, float] | None:
        """A video's (best moment in seconds, None when browsing; its length), else None."""
        return self._results.videos.get(int(self._order[row]))

    def raw_at(self, row: int) -> str | None:
        """The RAW shown as one photo with the JPEG at ``row`` (``core.pairs``), or None."""
        return self._results.raws.get(int(self._order[row]))

    def row_of(self, path: str) -> int | None:
        """The row showing ``path`` now, or None (built once per reset: O(n) then O(1))."""
        if self._rows is None:
            paths = self._results.paths
            if self._browsing:  # rows in the listing's order: no per-row lookups (100,000: 8 ms)
                self._rows = dict(zip(paths, range(len(paths)), strict=True))
            else:
                self._rows = {paths[int(at)]: row for row, at in enumerate(self._order)}
        return self._rows.get(path)

    # ---------------------------------------------------------------- Qt model

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._count

    def data(self, index, role=_DISPLAY):
        row = index.row()
        if row < 0 or row >= self._count:
            return None
        at = int(self._order[row])
        role = int(role)
        if role == _DECORATION:  # the hot path: no Hit object
            path, hash_ = self._results.paths[at], self._results.hashes[at]
            key = hash_ or path
            video = self._results.videos.get(at) if self._results.videos else None
            if video is not None and video[0] is not None and hash_:  # a video's moment
                key = tile_key(path, hash_, video[0])
            pixmap = self.loader.pixmap(key)
            if pixmap is None and not self.loader.failed(key):
                if len(self._waiting) > WAITING_LIMIT:  # forget requests the loader dropped
                    self._waiting = {k: v for k, v in self._waiting.items()
                                     if self.loader.queued(k)}
                self._waiting.setdefault(key, set()).add(row)
                thumb = str(self.thumbnail_path(hash_)) if hash_ and self.thumbnail_path else None
                if key != (hash_ or path) and self.frame_thumbnail_path is not None:
                    thumb = str(self.frame_thumbnail_path(hash_, video[0]))
                self.loader.request(key, path, thumb)
            return pixmap
        if role == _PATH:
            return self._results.paths[at]
        if role == _SCORE:
            return float(self._results.scores[at])
        if role == _DATE:
            date = float(self._results.dates[at])
            return date if np.isfinite(date) else None
        if role == _RAW:
            return self._results.raws.get(at)
        if role == _VIDEO:
            return self._results.videos.get(at)
        if role not in _HIT_ROLES:  # fonts, colours, check state...: asked per tile per paint
            return None
        hit = self._results.hit(at)
        if role == _DISPLAY:
            return os.path.basename(hit.path)
        if role == _TOOLTIP:
            when = _date_text(hit.taken_at)
            raw = self._results.raws.get(at)
            video = ""
            if hit.duration is not None:
                video = f"\nvideo, {duration_text(hit.duration)}" + (
                    f", best at {duration_text(hit.time)}" if hit.time is not None else "")
            return (f"{hit.path}" + (f"\nwith its RAW {os.path.basename(raw)}" if raw else "")
                    + video
                    + f"\nscore {hit.score:.3f}" + (f" · {when}" if when else ""))
        if role == _HIT:
            return hit
        return None

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
                | Qt.ItemFlag.ItemIsDragEnabled)

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list", "text/plain"]

    def supportedDragActions(self):
        return Qt.DropAction.CopyAction

    def mimeData(self, indexes) -> QMimeData:
        """Photos dragged out to other apps travel as file URLs."""
        paths = [index.data(PathRole) for index in sorted(indexes, key=lambda i: i.row())]
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
        mime.setText("\n".join(paths))
        return mime

    def _on_thumbnails(self, keys: list[str]) -> None:
        rows = [row for key in keys for row in self._waiting.pop(key, ()) if row < self._count]
        if rows:
            self.thumbnailsArrived.emit(rows)


def _date_text(stamp: float | None) -> str:
    if stamp is None or not np.isfinite(stamp):
        return ""
    try:
        return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return ""


class TileDelegate(QStyledItemDelegate):
    """A square thumbnail (or a placeholder while it loads) with the score or date below."""

    def __init__(self, view: ResultsView):
        super().__init__(view)
        self.view = view
        self.tile = 160
        self.show_scores = True

    def text_height(self) -> int:
        return QFontMetrics(self.view.font()).height() + 2

    def caption_shown(self, sort: str) -> bool:
        return self.show_scores or sort == "date"

    def cell_size(self, sort: str = "relevance") -> QSize:
        text = self.text_height() if self.caption_shown(sort) else 0
        return QSize(self.tile + 2 * MARGIN, self.tile + text + 2 * MARGIN)

    def sizeHint(self, option, index) -> QSize:
        grid = self.view.gridSize()  # the cell, widened to fill the row (see ResultsView)
        if grid.isValid():
            return grid
        return self.cell_size(getattr(index.model(), "sort", "relevance"))

    def paint(self, painter: QPainter, option, index) -> None:
        # No initStyleOption: the view has set the state (selected, hovered, focus) already,
        # and the model's text, icon, font and colour roles are not what a tile shows.
        style = option.widget.style() if option.widget else self.view.style()
        style.drawPrimitive(QStyle.PrimitiveElement.PE_PanelItemViewItem, option, painter,
                            option.widget)
        rect: QRect = option.rect
        square = QRect(rect.x() + (rect.width() - self.tile) // 2, rect.y() + MARGIN,
                       self.tile, self.tile)
        pixmap = index.data(Qt.ItemDataRole.DecorationRole)
        palette: QPalette = option.palette
        painter.save()
        if pixmap is not None and not pixmap.isNull():
            size = pixmap.deviceIndependentSize().toSize().scaled(
                square.size(), Qt.AspectRatioMode.KeepAspectRatio)
            target = QRect(0, 0, size.width(), size.height())
            target.moveCenter(square.center())
            target.moveBottom(square.bottom())  # pictures sit on their caption's line
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
            painter.drawPixmap(target, pixmap)
        else:
            target = square.adjusted(8, 8, -8, -8)
            base = palette.color(QPalette.ColorRole.Mid)  # a plain box: cheap to paint
            base.setAlpha(60)
            painter.fillRect(target, base)
        if index.data(RawRole) is not None or pairs.is_raw(index.data(PathRole) or ""):
            self.paint_badge(painter, target, "RAW", Qt.Corner.TopLeftCorner)
        video = index.data(VideoRole)
        if video is not None:
            self.paint_badge(painter, target, "▶ " + duration_text(video[1]),
                             Qt.Corner.BottomRightCorner)
        model = index.model()
        sort = getattr(model, "sort", "relevance")
        if self.caption_shown(sort):
            if sort == "date":
                caption = _date_text(index.data(DateRole)) or "no date"
            else:
                caption = f"{index.data(ScoreRole):.3f}"
                if video is not None and video[0] is not None:  # the moment that matched
                    caption += f" · at {duration_text(video[0])}"
            text_rect = QRect(rect.x(), square.bottom() + 2, rect.width(), self.text_height())
            selected = bool(option.state & QStyle.StateFlag.State_Selected)
            colour: QColor = palette.color(
                QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText)
            painter.setPen(colour)
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, caption)
        painter.restore()


    def badge_font(self) -> QFont:
        font = QFont(self.view.font())
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.75))
        font.setBold(True)
        return font

    def paint_badge(self, painter: QPainter, picture: QRect, text: str,
                    corner: Qt.Corner) -> QRect:
        """A small label on a corner of the picture ("RAW", a video's length): white on a dark
        rounded box, legible on any photo. Returns where it was painted."""
        font = self.badge_font()
        metrics = QFontMetrics(font)
        width, height = metrics.horizontalAdvance(text) + 8, metrics.height() + 2
        inset = 4
        x = (picture.left() + inset if corner in (Qt.Corner.TopLeftCorner,
                                                  Qt.Corner.BottomLeftCorner)
             else picture.right() - inset - width + 1)
        y = (picture.top() + inset if corner in (Qt.Corner.TopLeftCorner,
                                                 Qt.Corner.TopRightCorner)
             else picture.bottom() - inset - height + 1)
        box = QRect(x, y, width, height)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 170))
        painter.drawRoundedRect(box, 3, 3)
        painter.setFont(font)
        painter.setPen(QColor(255, 255, 255))
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()
        return box


class ResultsView(QListView):
    """The grid. Ctrl+wheel zooms; Space asks for the preview.

    Browsing (``set_sections``), the grid has section headers: a band across the grid's width
    above each month's (or day's) photos, and the band of the month at the top stays pinned
    there. The rows stay photos: headers are painted in gaps this view's own layout leaves,
    not model rows, so ``hit(row)``, the selection, drag, the preview and the keys keep
    meaning photos. The layout is arithmetic over the sections (a cumulative sum of their
    heights, a binary search to find one): 100,000 photos lay out in well under a millisecond,
    where header rows in a non-uniform QListView cost a Python ``sizeHint`` per row. Without
    sections it is the plain QListView grid, uniform and batched, as searches have it.
    """

    zoomRequested = Signal(int)  # +1 bigger, -1 smaller
    previewRequested = Signal(QPersistentModelIndex)
    sectionShown = Signal(int)  # browsing: the section now under the pinned header

    def __init__(self, parent=None):
        super().__init__(parent)
        # set first: Qt calls the overrides below from the setters that follow
        self._sections: Sections | None = None
        self._tops = np.zeros(1, np.int64)  # content y of each section's header, then the end
        self._columns = 1
        self._header = 0  # a header band's height
        self._header_font = QFont(self.font())
        self._shown_section = -1
        self._band_from: QPoint | None = None  # browsing: the rubber band's origin (content)
        self._band = QRect()
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(LAYOUT_BATCH)
        self.setMovement(QListView.Movement.Static)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setSelectionRectVisible(True)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setMouseTracking(True)
        self.tile_delegate = TileDelegate(self)
        self.setItemDelegate(self.tile_delegate)
        self.verticalScrollBar().setSingleStep(40)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)

    def setModel(self, model) -> None:
        old = self.model()
        if isinstance(old, ResultsModel):
            old.thumbnailsArrived.disconnect(self._repaint_rows)
        super().setModel(model)
        if isinstance(model, ResultsModel):
            model.thumbnailsArrived.connect(self._repaint_rows)

    def _repaint_rows(self, rows: list[int]) -> None:
        """Repaint the screen when tiles on it got their thumbnails. Which rows are on screen
        comes from the grid's arithmetic, without a QModelIndex per row."""
        grid, port = self.gridSize(), self.viewport()
        if not grid.isValid() or grid.width() <= 0 or grid.height() <= 0:
            port.update()
            return
        if self._sections is not None:
            first, last = self._visible_rows()
            if any(first <= row < last for row in rows):
                port.update()
            return
        columns = max(1, port.width() // grid.width())
        top = self.verticalScrollBar().value() // grid.height()
        first, last = top * columns, (top + port.height() // grid.height() + 2) * columns
        if any(first <= row < last for row in rows):
            port.update()  # one repaint for the batch; Qt clips it to what is exposed

    def set_tile(self, tile: int, show_scores: bool, sort: str) -> None:
        self.tile_delegate.tile = tile
        self.tile_delegate.show_scores = show_scores
        self._cell = self.tile_delegate.cell_size(sort)
        self._fit_columns()
        self.verticalScrollBar().setSingleStep(max(20, tile // 4))

    def _fit_columns(self) -> None:
        """Spread the spare width over the columns, so the grid fills the view edge to edge."""
        cell = getattr(self, "_cell", None)
        if cell is None:
            return
        width = self.viewport().width() - 1
        columns = max(1, width // cell.width())
        fitted = QSize(max(cell.width(), width // columns), cell.height())
        if fitted != self.gridSize():
            self.setGridSize(fitted)
            self._relayout()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_columns()
        self._relayout()

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            delta = event.angleDelta().y()
            if delta:
                self.zoomRequested.emit(1 if delta > 0 else -1)
            event.accept()
            return
        super().wheelEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            index = self.currentIndex()
            if index.isValid():
                self.previewRequested.emit(QPersistentModelIndex(index))
            event.accept()
            return
        super().keyPressEvent(event)

    def keyboardSearch(self, search: str) -> None:
        """Typing in the grid is not a file-name search; the window sends it to the search bar."""

    # ================================================================ sections (browsing)

    @property
    def sections(self) -> Sections | None:
        return self._sections

    def set_sections(self, sections: Sections | None, keep_top: bool = False) -> None:
        """Browse with these headers (their rows are the model's, in order), or None: the
        plain grid. Call after the model has its rows. ``keep_top``: the photo at the top
        stays there (months to days as the tiles grow)."""
        anchor, was_browsing = -1, self._sections is not None
        if keep_top and self._sections is not None and len(self._tops) > 1:
            anchor = self._nearest_row(0, self.verticalScrollBar().value() + self._header)
        self._sections = sections
        self._shown_section = -1
        self._tops = np.zeros(1, np.int64)
        self._relayout(keep_top=False)
        if anchor >= 0 and sections is not None:
            self.scrollTo(self.model().index(anchor, 0),
                          QAbstractItemView.ScrollHint.PositionAtTop)
        if sections is None and was_browsing:  # QListView's own layout, now
            self.doItemsLayout()
        self.viewport().update()

    def section_at_top(self) -> int:
        """The section under the pinned header, or -1 without sections."""
        if self._sections is None or not len(self._sections):
            return -1
        y = self.verticalScrollBar().value() + self._header
        return max(0, min(len(self._sections) - 1,
                          int(np.searchsorted(self._tops, y, side="right")) - 1))

    def scroll_to_section(self, section: int) -> None:
        """Put a section's header at the top of the grid."""
        if self._sections is not None and 0 <= section < len(self._sections):
            self.verticalScrollBar().setValue(int(self._tops[section]))

    def _cell_size(self) -> tuple[int, int]:
        grid = self.gridSize()
        if grid.isValid() and grid.width() > 0 and grid.height() > 0:
            return grid.width(), grid.height()
        cell = self.tile_delegate.cell_size("date")
        return max(1, cell.width()), max(1, cell.height())

    def _row_count(self) -> int:
        model = self.model()
        total = int(self._sections.counts.sum()) if self._sections is not None else 0
        return min(total, model.rowCount()) if model is not None else 0

    def _relayout(self, keep_top: bool = True) -> None:
        """Section tops for the current width and tile size; the photo at the top stays
        there (zoom, resize)."""
        sections = self._sections
        if sections is None:
            return
        anchor = self._nearest_row(0, self.verticalScrollBar().value() + self._header) \
            if keep_top and len(self._tops) > 1 else -1
        width, height = self._cell_size()
        self._columns = max(1, self.viewport().width() // width)
        self._header_font = QFont(self.font())
        self._header_font.setBold(True)
        self._header = QFontMetrics(self._header_font).height() + 2 * HEADER_PAD
        lines = (sections.counts + self._columns - 1) // self._columns
        self._tops = np.concatenate(([0], np.cumsum(self._header + lines * height)))
        self._update_scrollbar()
        if anchor >= 0 and self.model() is not None:
            self.scrollTo(self.model().index(anchor), QAbstractItemView.ScrollHint.PositionAtTop)

    def _update_scrollbar(self) -> None:
        bar, height = self.verticalScrollBar(), self.viewport().height()
        bar.setRange(0, max(0, int(self._tops[-1]) - height))
        bar.setPageStep(max(1, height))
        self.horizontalScrollBar().setRange(0, 0)

    def updateGeometries(self) -> None:
        if self._sections is None:
            super().updateGeometries()
            return
        QAbstractItemView.updateGeometries(self)  # not QListView's: its scroll range is not ours
        self._update_scrollbar()

    def _row_rect(self, row: int) -> QRect:
        """A row's cell in content coordinates (y from the top of the first header)."""
        sections = self._sections
        s = sections.section_of(row)
        line, column = divmod(row - int(sections.starts[s]), self._columns)
        width, height = self._cell_size()
        return QRect(column * width, int(self._tops[s]) + self._header + line * height,
                     width, height)

    def _section_at(self, y: int) -> int:
        return int(np.searchsorted(self._tops, y, side="right")) - 1

    def _row_at(self, x: int, y: int) -> int:
        """The row whose cell holds the content point, or -1 (a header, a gap, outside)."""
        sections = self._sections
        s = self._section_at(y)
        if x < 0 or s < 0 or s >= len(sections):
            return -1
        width, height = self._cell_size()
        column, inside = x // width, y - int(self._tops[s]) - self._header
        if column >= self._columns or inside < 0:
            return -1
        k = (inside // height) * self._columns + column
        row = int(sections.starts[s]) + k
        return row if k < int(sections.counts[s]) and row < self._row_count() else -1

    def _nearest_row(self, x: int, y: int) -> int:
        """The row nearest the content point (a header gives its section's first line)."""
        sections = self._sections
        if sections is None or not self._row_count():
            return -1
        s = max(0, min(len(sections) - 1, self._section_at(y)))
        width, height = self._cell_size()
        count = int(sections.counts[s])
        lines = (count + self._columns - 1) // self._columns
        line = max(0, min(lines - 1, (y - int(self._tops[s]) - self._header) // height))
        column = max(0, min(self._columns - 1, x // width))
        row = int(sections.starts[s]) + min(line * self._columns + column, count - 1)
        return min(row, self._row_count() - 1)

    def _visible_rows(self) -> tuple[int, int]:
        top, port = self.verticalScrollBar().value(), self.viewport()
        first = self._nearest_row(0, top)
        last = self._nearest_row(port.width(), top + port.height())
        return (first, last + 1) if first >= 0 else (0, 0)

    def visualRect(self, index) -> QRect:
        if self._sections is None:
            return super().visualRect(index)
        if not index.isValid() or index.row() >= self._row_count():
            return QRect()
        return self._row_rect(index.row()).translated(0, -self.verticalOffset())

    def indexAt(self, point) -> QModelIndex:
        if self._sections is None:
            return super().indexAt(point)
        if point.y() < self._pinned_height():  # the pinned header covers the tiles under it
            return QModelIndex()
        row = self._row_at(point.x(), point.y() + self.verticalOffset())
        return self.model().index(row, 0) if row >= 0 else QModelIndex()

    def _pinned_height(self) -> int:
        """How far down the viewport the pinned header reaches (0: none is pinned)."""
        pinned, offset = self.section_at_top(), self.verticalScrollBar().value()
        if pinned < 0 or self._tops[pinned] >= offset:
            return 0
        return max(0, min(self._header, int(self._tops[pinned + 1]) - offset))

    def verticalOffset(self) -> int:
        if self._sections is None:
            return super().verticalOffset()
        return self.verticalScrollBar().value()

    def horizontalOffset(self) -> int:
        return 0 if self._sections is not None else super().horizontalOffset()

    def scrollTo(self, index, hint=QAbstractItemView.ScrollHint.EnsureVisible) -> None:
        if self._sections is None:
            super().scrollTo(index, hint)
            return
        if not index.isValid() or index.row() >= self._row_count():
            return
        rect, bar = self._row_rect(index.row()), self.verticalScrollBar()
        height, value = self.viewport().height(), bar.value()
        top = rect.top() - self._header  # the pinned header covers the band above the photo
        hints = QAbstractItemView.ScrollHint
        if hint == hints.PositionAtTop:
            value = top
        elif hint == hints.PositionAtBottom:
            value = rect.bottom() + 1 - height
        elif hint == hints.PositionAtCenter:
            value = rect.center().y() - height // 2
        elif top < value:
            value = top
        elif rect.bottom() + 1 > value + height:
            value = rect.bottom() + 1 - height
        bar.setValue(value)

    def moveCursor(self, action, modifiers) -> QModelIndex:
        """Arrows walk the photos across section gaps: up and down keep the column where the
        next or previous line has one; Page keys move a screen; Home and End the ends."""
        if self._sections is None:
            return super().moveCursor(action, modifiers)
        model, rows = self.model(), self._row_count()
        if not rows:
            return QModelIndex()
        current = self.currentIndex()
        if not current.isValid():
            return model.index(0, 0)
        row, sections, columns = current.row(), self._sections, self._columns
        s = sections.section_of(row)
        start, count = int(sections.starts[s]), int(sections.counts[s])
        line, column = divmod(row - start, columns)
        last_line = (count - 1) // columns
        act = QAbstractItemView.CursorAction
        if action in (act.MoveLeft, act.MovePrevious):
            row -= 1
        elif action in (act.MoveRight, act.MoveNext):
            row += 1
        elif action == act.MoveHome:
            row = 0
        elif action == act.MoveEnd:
            row = rows - 1
        elif action == act.MoveUp:
            if line > 0:
                row -= columns
            elif s > 0:
                before = int(sections.counts[s - 1])
                row = int(sections.starts[s - 1]) + min(
                    ((before - 1) // columns) * columns + column, before - 1)
        elif action == act.MoveDown:
            if line < last_line:
                row = min(row + columns, start + count - 1)
            elif s + 1 < len(sections):
                row = int(sections.starts[s + 1]) + min(column, int(sections.counts[s + 1]) - 1)
        elif action in (act.MovePageUp, act.MovePageDown):
            rect = self._row_rect(row)
            step = self.viewport().height() - self._header
            step = -step if action == act.MovePageUp else step
            row = self._nearest_row(rect.center().x(), rect.center().y() + step)
        row = max(0, min(rows - 1, row))
        return model.index(row, 0)

    def setSelection(self, rect: QRect, command) -> None:
        """A click selects its photo; Shift+click and Shift+arrows the photos between the two
        ends in order (``rect`` runs from the anchor to the new end); a rubber band the
        photos it covers."""
        if self._sections is None:
            super().setSelection(rect, command)
            return
        from PySide6.QtCore import QItemSelection

        model, offset, selection = self.model(), self.verticalOffset(), QItemSelection()
        if self.state() == QAbstractItemView.State.DragSelectingState:
            for first, last in self._rows_in(rect.normalized().translated(0, offset)):
                selection.select(model.index(first, 0), model.index(last, 0))
        else:
            a = self._row_at(rect.left(), rect.top() + offset)
            if rect.width() == 1 and rect.height() == 1:
                b = a
            else:
                a = a if a >= 0 else self._nearest_row(rect.left(), rect.top() + offset)
                b = self._nearest_row(rect.right(), rect.bottom() + offset)
            if a >= 0 and b >= 0:
                selection.select(model.index(min(a, b), 0), model.index(max(a, b), 0))
        self.selectionModel().select(selection, command)

    def _rows_in(self, rect: QRect) -> list[tuple[int, int]]:
        """(first, last) row runs, one per grid line, of the cells a content rect touches."""
        sections, out = self._sections, []
        width, height = self._cell_size()
        c0 = max(0, rect.left() // width)
        c1 = min(self._columns - 1, rect.right() // width)
        if c1 < c0:
            return out
        s = max(0, self._section_at(rect.top()))
        while s < len(sections) and self._tops[s] <= rect.bottom():
            start, count = int(sections.starts[s]), int(sections.counts[s])
            body = int(self._tops[s]) + self._header
            l0 = max(0, (rect.top() - body) // height)
            l1 = min((count - 1) // self._columns, (rect.bottom() - body) // height)
            for line in range(l0, l1 + 1):
                first = line * self._columns + c0
                if first < count:
                    out.append((start + first, start + min(line * self._columns + c1, count - 1)))
            s += 1
        return out

    def visualRegionForSelection(self, selection) -> QRegion:
        if self._sections is None:
            return super().visualRegionForSelection(selection)
        return QRegion(self.viewport().rect())

    def scrollContentsBy(self, dx: int, dy: int) -> None:
        super().scrollContentsBy(dx, dy)
        if self._sections is not None:  # the pinned header moved with the pixels: repaint it
            self.viewport().update(QRect(0, 0, self.viewport().width(),
                                         self._header + max(0, dy)))

    def mousePressEvent(self, event) -> None:
        if self._sections is not None:
            self._band_from = event.position().toPoint() + QPoint(0, self.verticalOffset())
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        super().mouseMoveEvent(event)
        if (self._sections is not None and self._band_from is not None
                and self.state() == QAbstractItemView.State.DragSelectingState):
            origin = self._band_from - QPoint(0, self.verticalOffset())
            self._band = QRect(origin, event.position().toPoint()).normalized()
            self.viewport().update()  # QListView's own band is not drawn over our layout

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        self._band_from = None
        if not self._band.isNull():
            self._band = QRect()
            self.viewport().update()

    def _on_scrolled(self, _value: int) -> None:
        section = self.section_at_top()
        if section != self._shown_section and section >= 0:
            self._shown_section = section
            self.sectionShown.emit(section)

    def paintEvent(self, event) -> None:
        if self._sections is None:
            super().paintEvent(event)
            return
        sections, model = self._sections, self.model()
        port = self.viewport()
        painter = QPainter(port)
        offset, width = self.verticalOffset(), port.width()
        area = event.rect()
        y0, y1 = area.top() + offset, area.bottom() + offset
        cell_w, cell_h = self._cell_size()
        rows = self._row_count()
        base = QStyleOptionViewItem()
        self.initViewItemOption(base)
        flag = QStyle.StateFlag
        plain = base.state & ~(flag.State_Selected | flag.State_HasFocus | flag.State_MouseOver)
        chosen, current = self.selectionModel(), self.currentIndex()
        current_row = current.row() if current.isValid() and self.hasFocus() else -1
        hover = self.indexAt(port.mapFromGlobal(QCursor.pos())).row() if port.underMouse() else -1
        s = max(0, self._section_at(y0))
        while s < len(sections) and self._tops[s] <= y1:
            top = int(self._tops[s])
            self._paint_header(painter, s, QRect(0, top - offset, width, self._header))
            start, count = int(sections.starts[s]), int(sections.counts[s])
            body = top + self._header
            l0 = max(0, (y0 - body) // cell_h)
            l1 = min((count - 1) // self._columns, (y1 - body) // cell_h)
            for line in range(l0, l1 + 1):
                for column in range(self._columns):
                    k = line * self._columns + column
                    row = start + k
                    if k >= count or row >= rows:
                        break
                    index = model.index(row, 0)
                    option = QStyleOptionViewItem(base)
                    option.rect = QRect(column * cell_w, body + line * cell_h - offset,
                                        cell_w, cell_h)
                    state = plain
                    if chosen.isSelected(index):
                        state |= flag.State_Selected
                    if row == current_row:
                        state |= flag.State_HasFocus
                    if row == hover:
                        state |= flag.State_MouseOver
                    option.state = state
                    self.tile_delegate.paint(painter, option, index)
            s += 1
        pinned = self.section_at_top()
        if self._pinned_height():  # its own header has scrolled away
            following = int(self._tops[pinned + 1]) - offset
            self._paint_header(painter, pinned, QRect(0, min(0, following - self._header),
                                                      width, self._header))
        if not self._band.isNull():
            from PySide6.QtWidgets import QRubberBand, QStyleOptionRubberBand

            band = QStyleOptionRubberBand()
            band.initFrom(port)
            band.shape = QRubberBand.Shape.Rectangle
            band.opaque = False
            band.rect = self._band
            self.style().drawControl(QStyle.ControlElement.CE_RubberBand, band, painter, port)
        painter.end()

    def _paint_header(self, painter: QPainter, section: int, rect: QRect) -> None:
        """A band across the grid: "March 2026 · 214 photos", opaque (pinned, it covers
        the tiles scrolling under it)."""
        palette = self.palette()
        painter.save()
        painter.fillRect(rect, palette.color(QPalette.ColorRole.Base))
        painter.setFont(self._header_font)
        painter.setPen(palette.color(QPalette.ColorRole.Text))
        painter.drawText(rect.adjusted(MARGIN + 4, 0, -MARGIN, 0),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         self._sections.label(section))
        line = palette.color(QPalette.ColorRole.Mid)
        painter.fillRect(QRect(rect.left() + MARGIN, rect.bottom(), rect.width() - 2 * MARGIN, 1),
                         line)
        painter.restore()
