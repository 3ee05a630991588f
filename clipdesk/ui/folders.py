"""The library's folders: add and remove them, see indexed / pending / failed counts, the
files that failed with their reasons, and retry them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from clipdesk.core.status import LibraryStatus
from clipdesk.ui.engine import Engine


class FoldersDialog(QDialog):
    def __init__(self, engine: Engine, parent: QWidget | None = None):
        super().__init__(parent)
        self.engine = engine
        self.setWindowTitle("Library folders")
        self.resize(780, 520)
        layout = QVBoxLayout(self)

        self.roots = QTreeWidget()
        self.roots.setRootIsDecorated(False)
        self.roots.setHeaderLabels(["Folder", "Indexed", "Pending", "Failed", "Watching"])
        self.roots.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.roots.itemSelectionChanged.connect(self._sync_buttons)
        layout.addWidget(self.roots, 2)

        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add folder…")
        self.add_button.clicked.connect(self._add)
        self.remove_button = QPushButton("Remove folder")
        self.remove_button.setToolTip("Stop searching this folder (the photos are not touched)")
        self.remove_button.clicked.connect(self._remove)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch()
        layout.addLayout(buttons)

        self.failed_label = QLabel()
        layout.addWidget(self.failed_label)
        self.failures = QTreeWidget()
        self.failures.setRootIsDecorated(False)
        self.failures.setHeaderLabels(["Photo", "Why it could not be read"])
        self.failures.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.failures, 1)
        retry_row = QHBoxLayout()
        self.retry_button = QPushButton("Retry failed photos")
        self.retry_button.clicked.connect(self._retry)
        retry_row.addWidget(self.retry_button)
        retry_row.addStretch()
        layout.addLayout(retry_row)

        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)

        engine.statusReady.connect(self.show_status)
        self.status: LibraryStatus | None = None
        self._sync_buttons()
        engine.refresh_status()

    def show_status(self, status: LibraryStatus) -> None:
        self.status = status
        selected = self.selected_folder()
        self.roots.clear()
        for root in status.roots:
            name = root.path if root.online else f"{root.path}  (not found)"
            item = QTreeWidgetItem([name, f"{root.indexed:,}", f"{root.pending:,}",
                                    f"{root.failed:,}", root.watching or "-"])
            item.setData(0, Qt.ItemDataRole.UserRole, root.path)
            for col in (1, 2, 3):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight
                                      | Qt.AlignmentFlag.AlignVCenter)
            self.roots.addTopLevelItem(item)
            if root.path == selected:
                item.setSelected(True)
        for col in (1, 2, 3):
            self.roots.resizeColumnToContents(col)
        self.failures.clear()
        for path, reason in status.failures:
            self.failures.addTopLevelItem(QTreeWidgetItem([path, reason]))
        count = len(status.failures)
        self.failed_label.setText(f"{count:,} photo{'s' if count != 1 else ''} could not be read"
                                  if count else "Every photo could be read.")
        self._sync_buttons()

    def selected_folder(self) -> str | None:
        items = self.roots.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def _sync_buttons(self) -> None:
        self.remove_button.setEnabled(self.selected_folder() is not None)
        self.retry_button.setEnabled(bool(self.status and self.status.failures))

    def _add(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a photo folder")
        if folder:
            self.engine.add_folders([Path(folder)])

    def _remove(self, confirm: bool = True) -> None:
        folder = self.selected_folder()
        if folder is None:
            return
        if confirm:
            answer = QMessageBox.question(
                self, "Remove folder",
                f"Stop searching {folder}?\n\nThe photos themselves are not touched; their "
                "entries in the library are forgotten.")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.engine.remove_folder(Path(folder))

    def _retry(self) -> None:
        self.engine.retry_failed()
        self.retry_button.setEnabled(False)
