"""The results grid: a list model over search hits, a tile delegate and the view.

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
    QRect,
    QSize,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate

from clipdesk.ui.engine import ResultSet
from clipdesk.ui.thumbnails import MAX_PENDING, ThumbnailLoader

if TYPE_CHECKING:
    from clipdesk.core.search import Hit

HitRole = Qt.ItemDataRole.UserRole + 1
PathRole = Qt.ItemDataRole.UserRole + 2
ScoreRole = Qt.ItemDataRole.UserRole + 3
DateRole = Qt.ItemDataRole.UserRole + 4

ZOOM_STEPS = (96, 128, 160, 192, 224, 256, 320)
MARGIN = 6
LAYOUT_BATCH = 2000  # rows laid out per event-loop turn: 100,000 results never freeze the GUI
WAITING_LIMIT = 2 * MAX_PENDING  # tiles remembered as waiting for a thumbnail, about

# Plain ints: the view asks for data thousands of times a second; enum lookups add up.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole.value)
_DECORATION = int(Qt.ItemDataRole.DecorationRole.value)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole.value)
_HIT, _PATH, _SCORE, _DATE = HitRole, PathRole, ScoreRole, DateRole
_HIT_ROLES = frozenset((_DISPLAY, _TOOLTIP, _HIT))


def hit_key(hit: Hit) -> str:
    """The thumbnail cache's key: the content hash (a moved photo keeps its thumbnail)."""
    return hit.hash or hit.path


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
        self._results = ResultSet.empty()
        self._order = np.zeros(0, dtype=np.int64)
        self._count = 0
        self._sort = "relevance"
        self._cutoff = 0  # percent of the score range
        self._waiting: dict[str, set[int]] = {}
        self._rows: dict[str, int] | None = None  # path -> row, made when first asked

    # ---------------------------------------------------------------- contents

    def set_results(self, results: ResultSet) -> None:
        self.beginResetModel()
        self._results = results
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
    def sort(self) -> str:
        return self._sort

    def set_sort(self, sort: str) -> None:
        if sort != self._sort:
            self._sort = sort
            self._reorder()

    @property
    def cutoff(self) -> int:
        return self._cutoff

    def set_cutoff(self, percent: int) -> None:
        percent = max(0, min(100, int(percent)))
        if percent != self._cutoff:
            self._cutoff = percent
            self._reorder()

    def cutoff_score(self) -> float | None:
        """The lowest score shown, or None when the cut-off lets everything through."""
        scores = self._results.scores
        if not len(scores) or self._cutoff == 0:
            return None
        lo, hi = float(scores.min()), float(scores.max())
        return lo + (hi - lo) * self._cutoff / 100.0

    def _compute_order(self) -> np.ndarray:
        scores, dates = self._results.scores, self._results.dates
        keep = np.arange(len(scores))
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

    def row_of(self, path: str) -> int | None:
        """The row showing ``path`` now, or None (built once per reset: O(n) then O(1))."""
        if self._rows is None:
            paths = self._results.paths
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
            pixmap = self.loader.pixmap(key)
            if pixmap is None and not self.loader.failed(key):
                if len(self._waiting) > WAITING_LIMIT:  # forget requests the loader dropped
                    self._waiting = {k: v for k, v in self._waiting.items()
                                     if self.loader.queued(k)}
                self._waiting.setdefault(key, set()).add(row)
                thumb = str(self.thumbnail_path(hash_)) if hash_ and self.thumbnail_path else None
                self.loader.request(key, path, thumb)
            return pixmap
        if role == _PATH:
            return self._results.paths[at]
        if role == _SCORE:
            return float(self._results.scores[at])
        if role == _DATE:
            date = float(self._results.dates[at])
            return date if np.isfinite(date) else None
        if role not in _HIT_ROLES:  # fonts, colours, check state...: asked per tile per paint
            return None
        hit = self._results.hit(at)
        if role == _DISPLAY:
            return os.path.basename(hit.path)
        if role == _TOOLTIP:
            when = _date_text(hit.taken_at)
            return f"{hit.path}\nscore {hit.score:.3f}" + (f" · {when}" if when else "")
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
            base = palette.color(QPalette.ColorRole.Mid)  # a plain box: cheap to paint
            base.setAlpha(60)
            painter.fillRect(square.adjusted(8, 8, -8, -8), base)
        model = index.model()
        sort = getattr(model, "sort", "relevance")
        if self.caption_shown(sort):
            if sort == "date":
                caption = _date_text(index.data(DateRole)) or "no date"
            else:
                caption = f"{index.data(ScoreRole):.3f}"
            text_rect = QRect(rect.x(), square.bottom() + 2, rect.width(), self.text_height())
            selected = bool(option.state & QStyle.StateFlag.State_Selected)
            colour: QColor = palette.color(
                QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.PlaceholderText)
            painter.setPen(colour)
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignCenter, caption)
        painter.restore()


class ResultsView(QListView):
    """The grid. Ctrl+wheel zooms; Space asks for the preview."""

    zoomRequested = Signal(int)  # +1 bigger, -1 smaller
    previewRequested = Signal(QPersistentModelIndex)

    def __init__(self, parent=None):
        super().__init__(parent)
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

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_columns()

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
