"""The sidebar beside the grid: All photos, the library's folders as a tree with photo counts
(an unmounted root greyed and marked offline), the smart albums, and Duplicates.

Choosing a folder sets the query's folder filter (``SearchBar.set_filters``), so browsing and
searching keep to it and its subfolders; choosing an album puts its saved query back in the
search bar, where it runs against the library as it is now. Clicking an entry or pressing
Enter on it chooses it; the arrows only move.

``Sidebar`` is the widget; ``SidebarControl`` connects it to the window and the engine: the
tree and the album list are read on the ``general`` pool (``read_sidebar``, plain data) and
read again when the library changes; album writes go through the library's one writer. It
also remembers the window's geometry, the splitter and whether the sidebar is shown.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QObject, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QInputDialog,
    QLineEdit,
    QMenu,
    QMessageBox,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from clipdesk.core.foldertree import FolderNode, build_tree, folder_rows
from clipdesk.core.query import Query
from clipdesk.ui.workers import Generations, JobError, Worker

if TYPE_CHECKING:
    from clipdesk.core.library import Library
    from clipdesk.ui.mainwindow import MainWindow

log = logging.getLogger(__name__)

KEY = Qt.ItemDataRole.UserRole  # an entry's (kind, value): ("all", None), ("folder", "/a/b")…
REFRESH_DELAY_MS = 250  # library changes come in bursts (index started, finished, status)
SIDEBAR_MIN, SIDEBAR_MAX = 120, 800  # remembered sidebar widths are kept within these


# ==================================================================== what the job reads


@dataclass
class AlbumEntry:
    name: str
    query: Query | None  # None: the stored query cannot be read (``problem`` says why)
    problem: str = ""


@dataclass
class SidebarData:
    folders: list[FolderNode]
    albums: list[AlbumEntry]


def read_sidebar(worker: Worker, library: Library, pair_raws: bool = False) -> SidebarData:
    """The folder tree (roots checked on disk: a missing one is offline) and the albums.
    ``pair_raws``: the counts count a RAW+JPEG pair once, as browsing shows it."""
    from clipdesk.core.errors import ClipDeskError

    catalog = library.catalog
    roots = [(path, path.is_dir()) for _, path in catalog.roots()]
    tree = build_tree(roots, folder_rows(catalog, pair_raws))
    albums = []
    for row in catalog.albums():
        try:
            albums.append(AlbumEntry(row.name, row.query))
        except ClipDeskError as exc:
            albums.append(AlbumEntry(row.name, None, str(exc)))
    return SidebarData(tree, albums)


def field_text(query: Query) -> str:
    """What the search field shows for ``query``: its text and its negatives as ``-word`` or
    ``-"a phrase"`` (``query.parse`` reads it back to the same query)."""
    parts = [query.text] if query.text else []
    for neg in query.negatives:
        if not any(c.isspace() for c in neg) and '"' not in neg and "'" not in neg:
            parts.append(f"-{neg}")
        else:
            parts.append(f"-'{neg}'" if '"' in neg else f'-"{neg}"')
    return " ".join(parts)


# ==================================================================== the widget


class SidebarTree(QTreeWidget):
    """The tree; Enter chooses the current entry (a click chooses too, see ``Sidebar``)."""

    entryActivated = Signal(object)  # QTreeWidgetItem

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.currentItem():
            self.entryActivated.emit(self.currentItem())
            event.accept()
            return
        super().keyPressEvent(event)


class Sidebar(QWidget):
    """Entries to choose; it only shows and reports, ``SidebarControl`` acts."""

    folderChosen = Signal(object)  # Path, or None for All photos
    albumChosen = Signal(str)
    duplicatesChosen = Signal()
    renameRequested = Signal(str)  # the album's name
    deleteRequested = Signal(str)

    def __init__(self, duplicates: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("sidebar")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tree = SidebarTree()
        self.tree.setColumnCount(2)
        self.tree.setHeaderHidden(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.setAccessibleName("Library sidebar")
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.tree)
        self.tree.itemClicked.connect(lambda item, _col: self._choose(item))
        self.tree.entryActivated.connect(self._choose)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        self.context_menu: QMenu | None = None
        self.chosen: tuple[str, str | None] = ("all", None)
        self._expanded: set[tuple[str, str | None]] | None = None  # None: not built yet
        self.data = SidebarData([], [])

        bold = QFont(self.font())
        bold.setBold(True)
        self._bold = bold
        self.all_item = self._entry(None, "All photos", ("all", None))
        self.folders_item = self._section("Folders")
        self.albums_item = self._section("Albums")
        self.duplicates_item = (self._entry(None, "Duplicates", ("duplicates", None))
                                if duplicates else None)
        if self.duplicates_item is not None:
            self.duplicates_item.setToolTip(0, "Photos that are the same or nearly so")
        self.folders_item.setExpanded(True)
        self.albums_item.setExpanded(True)
        self._fill_albums()
        self._select(self.chosen)

    def sizeHint(self) -> QSize:
        return QSize(220, 400)

    # ---------------------------------------------------------------- building

    def _entry(self, parent: QTreeWidgetItem | None, text: str, key: tuple,
               count: int | None = None) -> QTreeWidgetItem:
        item = QTreeWidgetItem([text, f"{count:,}" if count is not None else ""])
        item.setData(0, KEY, key)
        item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if parent is None:
            self.tree.addTopLevelItem(item)
        else:
            parent.addChild(item)
        return item

    def _section(self, text: str) -> QTreeWidgetItem:
        """A heading: not choosable, folds its entries away."""
        item = self._entry(None, text, ("section", text))
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        item.setFont(0, self._bold)
        return item

    def set_data(self, data: SidebarData) -> None:
        """Show a fresh read, keeping what was expanded and what is chosen (the same read
        again changes nothing)."""
        if self._expanded is None or data != self.data:
            self._show(data)

    def _show(self, data: SidebarData) -> None:
        self.data = data
        self._expanded = self.expanded_keys() if self._expanded is not None else set()
        first = not self._expanded and not self.folders_item.childCount()
        self.tree.setUpdatesEnabled(False)
        self.folders_item.takeChildren()
        for top in data.folders:
            self._add_folder(self.folders_item, top)
        self.all_item.setText(1, f"{sum(t.count for t in data.folders):,}")
        self._fill_albums()
        for item in self._items():
            key = item.data(0, KEY)
            if key[0] == "folder":
                item.setExpanded(key in self._expanded or (first and item.parent()
                                                           is self.folders_item))
        self.tree.setUpdatesEnabled(True)
        self._select(self.chosen)

    def _add_folder(self, parent: QTreeWidgetItem, node: FolderNode) -> None:
        text = node.name if node.online else f"{node.name} (offline)"
        item = self._entry(parent, text, ("folder", str(node.path)), node.count)
        item.setToolTip(0, str(node.path) if node.online else
                        f"{node.path}\nOffline: the folder is missing or its drive is not "
                        "connected. Its photos stay in the library.")
        if not node.online:
            grey = self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
            item.setForeground(0, grey)
            item.setForeground(1, grey)
        for child in node.children:
            self._add_folder(item, child)

    def _fill_albums(self) -> None:
        self.albums_item.takeChildren()
        for album in self.data.albums:
            item = self._entry(self.albums_item, album.name, ("album", album.name))
            item.setToolTip(0, album.problem or (album.query.describe() if album.query
                                                 else ""))
        if not self.data.albums:
            hint = self._entry(self.albums_item, "Save a search to make one", ("hint", None))
            hint.setFlags(Qt.ItemFlag.NoItemFlags)

    def set_offline(self, offline: set[str]) -> None:
        """Mark roots offline (or back) as the status reports them, without a new read."""
        changed = False
        for top in self.data.folders:
            online = str(top.path) not in offline
            if top.online != online:
                top.online, changed = online, True
        if changed:
            self._show(self.data)

    # ---------------------------------------------------------------- reading it back

    def _items(self) -> list[QTreeWidgetItem]:
        out, stack = [], [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        while stack:
            item = stack.pop(0)
            out.append(item)
            stack[0:0] = [item.child(i) for i in range(item.childCount())]
        return out

    def item_for(self, key: tuple) -> QTreeWidgetItem | None:
        return next((i for i in self._items() if i.data(0, KEY) == key), None)

    def folder_item(self, path: Path | str) -> QTreeWidgetItem | None:
        return self.item_for(("folder", str(path)))

    def album_item(self, name: str) -> QTreeWidgetItem | None:
        return self.item_for(("album", name))

    def album_names(self) -> list[str]:
        return [a.name for a in self.data.albums]

    def expanded_keys(self) -> set[tuple]:
        return {i.data(0, KEY) for i in self._items() if i.isExpanded()}

    # ---------------------------------------------------------------- choosing

    def _choose(self, item: QTreeWidgetItem) -> None:
        key = item.data(0, KEY)
        if key is None or not item.flags() & Qt.ItemFlag.ItemIsSelectable:
            return
        kind, value = key
        if kind == "duplicates":
            self._select(self.chosen)  # a separate view: the grid's choice stays
            self.duplicatesChosen.emit()
            return
        self.chosen = key
        self._select(key)
        if kind == "all":
            self.folderChosen.emit(None)
        elif kind == "folder":
            self.folderChosen.emit(Path(value))
        elif kind == "album":
            self.albumChosen.emit(value)

    def show_chosen(self, key: tuple) -> None:
        """Mark ``key`` chosen without announcing it (the query changed elsewhere)."""
        self.chosen = key
        self._select(key)

    def _select(self, key: tuple) -> None:
        item = self.item_for(key)
        self.tree.blockSignals(True)
        self.tree.clearSelection()
        if item is not None:
            self.tree.setCurrentItem(item)
            item.setSelected(True)
        self.tree.blockSignals(False)

    # ---------------------------------------------------------------- albums' menu

    def _context_menu(self, pos) -> None:
        item = self.tree.itemAt(pos)
        key = item.data(0, KEY) if item is not None else None
        if key is None or key[0] != "album":
            return
        menu = QMenu(self)
        menu.addAction("&Rename…", lambda: self.renameRequested.emit(key[1]))
        menu.addAction("&Delete…", lambda: self.deleteRequested.emit(key[1]))
        self.context_menu = menu
        menu.popup(self.tree.viewport().mapToGlobal(pos))


# ==================================================================== the controller


class SidebarControl(QObject):
    """Connects the sidebar to the window's search bar and to the engine, asks for album
    names and confirmations, and remembers the layout."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.engine = window.engine
        self.settings = window.settings
        self.sidebar: Sidebar = window.sidebar
        self.splitter = window.splitter
        self.gens = Generations()
        self.dialog: QInputDialog | QMessageBox | None = None  # the open question, for tests
        self._refresh = QTimer(self)
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(REFRESH_DELAY_MS)
        self._refresh.timeout.connect(self.refresh_now)

        s = self.sidebar
        s.folderChosen.connect(self.choose_folder)
        s.albumChosen.connect(self.choose_album)
        s.duplicatesChosen.connect(self.show_duplicates)
        s.renameRequested.connect(self.ask_rename)
        s.deleteRequested.connect(self.ask_delete)
        e = self.engine
        e.libraryOpened.connect(lambda _roots: self.refresh_now())
        e.libraryChanged.connect(self.refresh)
        e.indexingFinished.connect(lambda _report: self.refresh())
        e.statusReady.connect(self._on_status)
        e.albumsChanged.connect(self._on_albums_changed)
        window.search_bar.searchRequested.connect(self._follow_query)
        window.pages.currentChanged.connect(lambda _i: self._sync_visible())

    # ---------------------------------------------------------------- reading

    def refresh(self) -> None:
        """Read the tree and the albums again soon (changes come in bursts)."""
        self._refresh.start()

    def refresh_now(self) -> None:
        library = self.engine.library
        if library is None:
            return
        gen = self.gens.next("sidebar")
        worker = Worker(read_sidebar, library, self.settings.pair_raws, generation=gen,
                        name="sidebar")
        worker.signals.result.connect(self._on_read)
        worker.signals.error.connect(self._on_read_failed)
        self.engine.general.start(worker)

    @Slot(int, object)
    def _on_read(self, gen: int, data: SidebarData) -> None:
        if self.gens.is_current("sidebar", gen):
            self.sidebar.set_data(data)

    @Slot(int, object)
    def _on_read_failed(self, _gen: int, error: JobError) -> None:
        log.error("cannot read the sidebar's folders and albums:\n%s", error.traceback)

    def _on_status(self, status) -> None:
        self.sidebar.set_offline({r.path for r in status.roots
                                  if not r.online or r.watching == "offline"})

    # ---------------------------------------------------------------- choosing

    def choose_folder(self, folder: Path | None) -> None:
        """Browse and search in ``folder`` and below (None: everywhere). An album's score
        floor goes with the album."""
        bar = self.window.search_bar
        bar.set_filters(dataclasses.replace(bar.filters, folder=folder, min_score=None))

    def choose_album(self, name: str) -> None:
        album = next((a for a in self.sidebar.data.albums if a.name == name), None)
        if album is None:
            return
        if album.query is None:
            self.window.statusBar().showMessage(album.problem, 8000)
            return
        self.restore_query(album.query)

    def restore_query(self, query: Query) -> None:
        """Put ``query`` in the search bar (text, image chips, filters) and run it."""
        from clipdesk.ui.images import read_photo

        bar = self.window.search_bar
        bar.clear_images(search=False)
        bar.field.blockSignals(True)  # no search per keystroke: one search at the end
        bar.set_text(field_text(query))
        bar.field.blockSignals(False)
        chips = [(p, False) for p in query.images] + [(p, True) for p in query.negative_images]
        for path, negative in chips:
            if negative:
                bar.add_image(path, search=False, negative=True)
            else:
                bar.add_image(path, exclude=path in query.exclude, search=False)
            worker = Worker(lambda _w, p=path: read_photo(p, QSize(64, 64)), name="chip image")
            worker.signals.result.connect(lambda _g, image, p=path: self._chip_image(p, image))
            self.engine.general.start(worker)
        bar.set_filters(query.filters, search=True)

    def _chip_image(self, path: str, image) -> None:
        chip = self.window.search_bar.chip_for(path)
        if chip is not None:
            chip.set_image(image)

    def _follow_query(self, query: Query) -> None:
        """The folder filter changed elsewhere (a filter chip, an album): mark it here. An
        album stays marked while the search bar holds its query."""
        kind, value = self.sidebar.chosen
        if kind == "album":
            album = next((a for a in self.sidebar.data.albums if a.name == value), None)
            if album is None or album.query == query:
                return
        elif kind not in ("all", "folder"):
            return
        folder = query.filters.folder
        key = ("all", None) if folder is None else ("folder", str(folder))
        if key != (kind, value):
            self.sidebar.show_chosen(key)

    def show_duplicates(self) -> None:
        show = getattr(self.window, "show_duplicates", None)
        if show is not None:
            show()

    # ---------------------------------------------------------------- albums

    def current_query(self) -> Query:
        """The search bar's query; the cut-off, when the user moved the slider (not the
        automatic one, which each run finds afresh), as the score floor."""
        query = self.window.search_bar.query()
        model = self.window.model
        moved = self.settings.cutoff > 0 and not getattr(model, "auto_cutoff", False)
        score = model.cutoff_score() if moved else None
        if score is not None:
            query = dataclasses.replace(
                query, filters=dataclasses.replace(query.filters, min_score=score))
        return query

    def ask_save(self) -> None:
        """Save search as album…: ask a name (a name in use asks before replacing)."""
        query = self.current_query()
        if query.empty and not query.filters.active:
            self.window.statusBar().showMessage(
                "Search for something (or choose a folder) first, then save it as an album.",
                6000)
            return
        dialog = self._ask_text("Save search as album", "Album name:",
                                query.describe() or self._folder_name(query))
        dialog.textValueSelected.connect(lambda name: self._save(name, query))

    def _save(self, name: str, query: Query, replace: bool = False) -> None:
        taken = next((n for n in self.sidebar.album_names()
                      if n.casefold() == " ".join(name.split()).casefold()), None)
        if taken is not None and not replace:
            box = self._confirm(f"An album named “{taken}” exists. Replace its search with "
                                "this one?", "Replace")
            box.accepted.connect(lambda: self._save(name, query, replace=True))
            return
        self.engine.save_album(name, query, replace)

    def ask_rename(self, name: str) -> None:
        dialog = self._ask_text("Rename album", f"New name for “{name}”:", name)
        dialog.textValueSelected.connect(lambda new: self.engine.rename_album(name, new))

    def ask_delete(self, name: str) -> None:
        box = self._confirm(f"Delete the album “{name}”?\n\nYour photos are not touched: an "
                            "album is a saved search.", "Delete")
        box.accepted.connect(lambda: self.engine.delete_album(name))

    def _on_albums_changed(self, before: str, after: str) -> None:
        """An album was saved ("", name), renamed (old, new) or deleted (name, "")."""
        chosen = self.sidebar.chosen
        if after and (not before or chosen == ("album", before)):
            self.sidebar.show_chosen(("album", after))  # what the search bar holds
        elif not after and chosen == ("album", before):
            folder = self.window.search_bar.filters.folder
            self.sidebar.show_chosen(("all", None) if folder is None
                                     else ("folder", str(folder)))
        self.refresh_now()

    def _folder_name(self, query: Query) -> str:
        return query.filters.folder.name if query.filters.folder is not None else ""

    def _ask_text(self, title: str, label: str, text: str) -> QInputDialog:
        dialog = QInputDialog(self.window)
        dialog.setWindowTitle(title)
        dialog.setLabelText(label)
        dialog.setTextEchoMode(QLineEdit.EchoMode.Normal)
        dialog.setTextValue(text)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _confirm(self, text: str, verb: str) -> QMessageBox:
        box = QMessageBox(QMessageBox.Icon.Question, "ClipDesk", text,
                          QMessageBox.StandardButton.Cancel, self.window)
        box.addButton(verb, QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.dialog = box
        box.open()
        return box

    # ---------------------------------------------------------------- layout

    def restore_layout(self) -> None:
        """The window's geometry, the sidebar's width and visibility of the last run."""
        s = self.settings
        if s.window_geometry:
            self.window.restoreGeometry(QByteArray.fromHex(s.window_geometry.encode()))
        self.sidebar.hide()  # until the browse page shows; then at its remembered width
        self._sync_visible()

    def remember_layout(self) -> None:
        s = self.settings
        s.window_geometry = bytes(self.window.saveGeometry().toHex()).decode()
        width = self.splitter.sizes()[0]
        if not self.sidebar.isHidden() and width > 0:
            s.sidebar_width = width

    def set_visible(self, on: bool) -> None:
        """View ▸ Show sidebar."""
        self.settings.sidebar_visible = on
        self._sync_visible()

    def _sync_visible(self) -> None:
        """Shown on the browse page only (the welcome page has no folders yet), at the width
        it had when it was last shown."""
        show = (self.settings.sidebar_visible
                and self.window.pages.currentWidget() is self.window.browse_page)
        if show == (not self.sidebar.isHidden()):
            return
        if not show:
            self.remember_layout()
            self.sidebar.hide()
            return
        self.sidebar.show()
        width = max(SIDEBAR_MIN, min(SIDEBAR_MAX, self.settings.sidebar_width))
        total = sum(self.splitter.sizes()) or self.window.width()
        self.splitter.setSizes([width, max(1, total - width)])
