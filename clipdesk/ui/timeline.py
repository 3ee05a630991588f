"""The date jump beside the browsing grid: years and their months, newest first.

A compact list rather than a scrubber: the months are words a user looks for ("July 2019"),
a few hundred rows even for twenty years of photos, and a list is keyboard-reachable and
read by screen readers for free. Choosing a month scrolls the grid to that month's header;
scrolling the grid marks the month at its top here.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QListWidget, QListWidgetItem

from clipdesk.core.browse import Sections

FirstRowRole = Qt.ItemDataRole.UserRole + 1  # the grid row of the month's (or year's) first photo


class DateList(QListWidget):
    """Years in bold, each followed by its months with their photo counts."""

    rowChosen = Signal(int)  # the first grid row of the month or year chosen

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setToolTip("Jump to a date")
        self.setAccessibleName("Dates")
        self.setUniformItemSizes(True)
        self._months = Sections.empty()
        self._month_items: list[QListWidgetItem] = []
        self.itemClicked.connect(self._chosen)
        self.itemActivated.connect(self._chosen)
        self.currentItemChanged.connect(
            lambda item, _old: self._chosen(item) if self._user_moving else None)
        self._user_moving = False

    @property
    def months(self) -> Sections:
        return self._months

    def set_months(self, months: Sections) -> None:
        """List these months (of the browsing grid's rows), grouped under their years."""
        self._months = months
        self._month_items = []
        self.blockSignals(True)
        self.clear()
        bold = QFont(self.font())
        bold.setBold(True)
        year = None
        for i in range(len(months)):
            title = months.title(i)  # "March 2026"
            name, this_year = title.rsplit(" ", 1)
            first = int(months.starts[i])
            if this_year != year:
                year = this_year
                heading = QListWidgetItem(year)
                heading.setFont(bold)
                heading.setData(FirstRowRole, first)
                self.addItem(heading)
            item = QListWidgetItem(f"   {name}")
            item.setData(FirstRowRole, first)
            item.setToolTip(months.label(i))
            self.addItem(item)
            self._month_items.append(item)
        self.blockSignals(False)
        width = self.sizeHintForColumn(0) + 2 * self.frameWidth() + 24
        self.setFixedWidth(max(110, min(width, 200)))

    def show_row(self, row: int) -> None:
        """Mark the month holding grid row ``row`` (the grid scrolled), without jumping."""
        if not self._month_items:
            return
        i = max(0, int(np.searchsorted(self._months.starts, row, side="right")) - 1)
        item = self._month_items[min(i, len(self._month_items) - 1)]
        if item is not self.currentItem():
            self.blockSignals(True)
            self.setCurrentItem(item)
            self.blockSignals(False)
            self.scrollToItem(item)

    def keyPressEvent(self, event) -> None:
        self._user_moving = True  # arrows in the list jump the grid too
        try:
            super().keyPressEvent(event)
        finally:
            self._user_moving = False

    def _chosen(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.rowChosen.emit(int(item.data(FirstRowRole)))
