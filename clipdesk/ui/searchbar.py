"""The search bar: text (searched as you type, after a short pause, or on Enter), "like this"
and "not like this" image chips, and the filter chips (``filterbar``), each removable, that
combine with the text."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from clipdesk.core import query as query_mod
from clipdesk.core.query import Filters, Query
from clipdesk.ui.filterbar import FilterBar

DEBOUNCE_MS = 300
CHIP_THUMB = 28


# A "not like this" chip's border: red reads as "away from" on light and dark palettes alike.
NEGATIVE_BORDER = "#d0453a"


class ImageChip(QFrame):
    """A small "like this" tag: the image, the words, and a button that removes it. A negative
    chip ("not like", red border) pushes the results away from its image."""

    removeRequested = Signal(str)

    def __init__(self, path: str, parent: QWidget | None = None, negative: bool = False):
        super().__init__(parent)
        self.path = path
        self.negative = negative
        self.setObjectName("negativeChip" if negative else "imageChip")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        if negative:
            self.setStyleSheet(f"QFrame#negativeChip {{ border: 2px solid {NEGATIVE_BORDER};"
                               " border-radius: 4px; }")
        self.setToolTip(f"{'Not like' if negative else 'Like'} this image: {path}")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 2, 2)
        layout.setSpacing(4)
        self.thumb = QLabel()
        self.thumb.setFixedSize(CHIP_THUMB, CHIP_THUMB)
        self.thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.thumb)
        self.label = QLabel("not like" if negative else "like this")
        layout.addWidget(self.label)
        self.remove_button = QToolButton()
        self.remove_button.setText("×")
        self.remove_button.setAutoRaise(True)
        self.remove_button.setToolTip("Remove this image from the search")
        self.remove_button.setAccessibleName(f"Remove {self.label.text()} {Path(path).name}")
        self.remove_button.clicked.connect(lambda: self.removeRequested.emit(self.path))
        layout.addWidget(self.remove_button)

    def set_image(self, image: QImage) -> None:
        if not image.isNull():
            self.thumb.setPixmap(QPixmap.fromImage(image).scaled(
                QSize(CHIP_THUMB, CHIP_THUMB), Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation))


class SearchField(QLineEdit):
    """A line edit whose Paste takes an image from the clipboard as a "like this" chip, and
    whose Escape clears the search (text and image chips; the filters stay)."""

    imagePasted = Signal()
    clearRequested = Signal()

    def keyPressEvent(self, event) -> None:
        if event.matches(QKeySequence.StandardKey.Paste) and clipboard_has_image():
            self.imagePasted.emit()
            event.accept()
            return
        if event.key() == Qt.Key.Key_Escape and not event.modifiers():
            self.clearRequested.emit()
            event.accept()
            return
        super().keyPressEvent(event)


def clipboard_has_image() -> bool:
    mime = QApplication.clipboard().mimeData()
    if mime is None:
        return False
    if mime.hasImage():
        return True
    return any(is_image_file(u.toLocalFile()) for u in mime.urls() if u.isLocalFile())


def is_image_file(path: str) -> bool:
    """A file ClipDesk can search with: any format it indexes (HEIC with pi-heif)."""
    from clipdesk.core.scan import has_photo_suffix

    return bool(path) and has_photo_suffix(path) and os.path.isfile(path)


class SearchBar(QWidget):
    """Emits ``searchRequested(Query)`` after typing pauses, on Enter, and when chips or
    filters change."""

    searchRequested = Signal(object)
    imagePasted = Signal()
    filtersChanged = Signal(object)  # Filters: set by anyone (the sidebar, the chips)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self._chip_box = QHBoxLayout()
        self._chip_box.setSpacing(4)
        layout.addLayout(self._chip_box)
        self.field = SearchField()
        self.field.setPlaceholderText(
            "Describe a photo: “dog on a beach”; -word leaves out; paste or drop an image")
        self.field.setClearButtonEnabled(True)
        self.field.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.field.setMinimumHeight(30)
        self.field.imagePasted.connect(self.imagePasted)
        self.field.clearRequested.connect(self.clear)
        layout.addWidget(self.field, 1)
        self.filter_bar = FilterBar(self)
        self.filter_bar.filtersEdited.connect(self.set_filters)
        layout.addWidget(self.filter_bar)
        self.chips: list[ImageChip] = []
        self._excluded: set[str] = set()
        self._filters = Filters()
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit)
        self.field.textChanged.connect(lambda _t: self._debounce.start())
        self.field.returnPressed.connect(self._emit)

    # ---------------------------------------------------------------- state

    def query(self) -> Query:
        images = tuple(chip.path for chip in self.chips if not chip.negative)
        unlike = tuple(chip.path for chip in self.chips if chip.negative)
        return query_mod.parse(self.field.text(), images, tuple(sorted(self._excluded)),
                               filters=self._filters, negative_images=unlike)

    @property
    def filters(self) -> Filters:
        """The folder, date and media filters the query carries (the sidebar's folder, the
        filter chips)."""
        return self._filters

    def set_filters(self, filters: Filters, search: bool = True) -> None:
        changed = filters != self._filters
        self._filters = filters
        self.filter_bar.show_filters(filters)
        if changed:
            self.filtersChanged.emit(filters)
        if search:
            self._emit()

    def set_text(self, text: str) -> None:
        self.field.setText(text)

    def add_image(self, path: str, image: QImage | None = None, exclude: bool = True,
                  replace: bool = False, search: bool = True, negative: bool = False) -> None:
        """Add a "like this" image (``negative``: "not like this"); ``exclude`` leaves that
        very photo out of the results (a negative one always is). An image already there the
        other way round turns around."""
        path = str(Path(path))
        if replace:
            self.clear_images(search=False)
        existing = self.chip_for(path)
        if existing is not None and existing.negative == negative:
            return
        if existing is not None:
            self._drop_chip(existing)
        chip = ImageChip(path, self, negative=negative)
        if image is not None:
            chip.set_image(image)
        chip.removeRequested.connect(self.remove_image)
        self._chip_box.addWidget(chip)
        self.chips.append(chip)
        if exclude:
            self._excluded.add(path)
        if search:
            self._emit()

    def chip_for(self, path: str) -> ImageChip | None:
        return next((c for c in self.chips if c.path == str(Path(path))), None)

    def remove_image(self, path: str) -> None:
        chip = self.chip_for(path)
        if chip is None:
            return
        self._drop_chip(chip)
        self._emit()

    def _drop_chip(self, chip: ImageChip) -> None:
        self.chips.remove(chip)
        self._excluded.discard(chip.path)
        chip.hide()
        chip.deleteLater()

    def clear(self) -> None:
        """Escape in the field: no text, no image chips; the filters stay (they have their own
        ×). Searches at once (an empty query browses the library)."""
        if not self.field.text() and not self.chips:
            return
        self.field.blockSignals(True)
        self.field.clear()
        self.field.blockSignals(False)
        self.clear_images(search=False)
        self._emit()

    def clear_images(self, search: bool = True) -> None:
        for chip in self.chips:
            chip.hide()
            chip.deleteLater()
        self.chips.clear()
        self._excluded.clear()
        if search:
            self._emit()

    def _emit(self) -> None:
        self._debounce.stop()
        self.searchRequested.emit(self.query())
