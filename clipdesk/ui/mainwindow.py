"""The main window: search bar, results grid, status bar, menus and the context menu.

It only arranges widgets and forwards what the user does to the ``Engine``; the engine's
signals come back here on the GUI thread.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from PySide6.QtCore import QEvent, QPersistentModelIndex, QSize, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QActionGroup, QDesktopServices, QImage, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from clipdesk.core.query import Query
from clipdesk.core.status import LibraryStatus
from clipdesk.ui import desktop
from clipdesk.ui.engine import Engine, ModelState, SearchAnswer
from clipdesk.ui.filterbar import CutoffControl, EmptyState, empty_state_html
from clipdesk.ui.folders import FoldersDialog
from clipdesk.ui.images import load_frame, load_photo, read_photo
from clipdesk.ui.preview import PreviewDialog
from clipdesk.ui.results import ZOOM_STEPS, ResultsModel, ResultsView, hit_key
from clipdesk.ui.searchbar import SearchBar, is_image_file
from clipdesk.ui.settings import Settings, SettingsDialog
from clipdesk.ui.sidebar import Sidebar, SidebarControl
from clipdesk.ui.statusbar import IndexStatus
from clipdesk.ui.thumbnails import ThumbnailLoader
from clipdesk.ui.timeline import DateList
from clipdesk.ui.welcome import ModelPanel, WelcomeView
from clipdesk.ui.workers import JobError, Worker

log = logging.getLogger(__name__)

TITLE = "ClipDesk"
STATUS_REFRESH_MS = 3000
SIMILAR_MAX = 8  # "Find similar" with many photos selected uses the first few
COPY_MAX = 4096  # Copy image: longer sides are scaled down to this
DAY_HEADERS_FROM = 224  # browsing with tiles this large (or larger): a header per day


def _bytes_text(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n / 1024:,.0f} kB"


class TagsDialog(QDialog):
    """Image to text: the labels that describe a photo best, with their shares."""

    def __init__(self, path: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.path = path
        self.setWindowTitle(f"Tags — {Path(path).name}")
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"What ClipDesk sees in {Path(path).name}:"))
        self.list = QListWidget()
        self.list.addItem("Working…")
        layout.addWidget(self.list)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(380, 360)

    def set_tags(self, ranked: list[tuple[str, float]]) -> None:
        self.list.clear()
        for label, share in ranked:
            self.list.addItem(f"{label}  ({share:.0%})")

    def labels(self) -> list[str]:
        return [self.list.item(i).text().rsplit("  (", 1)[0] for i in range(self.list.count())]


class MainWindow(QMainWindow):
    firstShown = Signal()  # the window is on screen and painted: slow work may start now

    def __init__(self, engine: Engine, settings: Settings | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.engine = engine
        self.settings = settings or engine.settings
        self.setWindowTitle(TITLE)
        self.setAcceptDrops(True)
        self.resize(1180, 780)
        self._paste_dir: tempfile.TemporaryDirectory | None = None
        self.preview: PreviewDialog | None = None
        self.tags_dialog: TagsDialog | None = None
        self.folders_dialog: FoldersDialog | None = None
        self.context_menu: QMenu | None = None
        self._closed = False
        self._shown = False

        self.loader = ThumbnailLoader(parent=self)
        self.model = ResultsModel(self.loader, self)
        self._build_pages()
        self._build_status_bar()
        self._build_actions()
        self._apply_tile_size()
        self._tab_order()
        self._connect_engine()
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(STATUS_REFRESH_MS)
        self._status_timer.timeout.connect(engine.refresh_status)

    # ================================================================ building

    def _build_pages(self) -> None:
        self.pages = QStackedWidget()
        from clipdesk.core.catalog import upgrade_pending

        self.opening_page = QLabel(
            "Upgrading the library for this version of ClipDesk…\nThis happens once; a very "
            "large library takes a minute or two." if upgrade_pending(self.engine.folder)
            else "Opening the library…")
        self.opening_page.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.welcome = WelcomeView()
        self.welcome.foldersChosen.connect(self.add_folders)
        self._connect_model_panel(self.welcome.model_panel)

        self.browse_page = QWidget()
        layout = QVBoxLayout(self.browse_page)
        layout.setContentsMargins(10, 8, 10, 4)
        top = QHBoxLayout()
        self.search_bar = SearchBar()
        self.search_bar.searchRequested.connect(self.run_query)
        self.search_bar.imagePasted.connect(self.paste_image)
        top.addWidget(self.search_bar, 1)
        self.sort_combo = QComboBox()
        self.sort_combo.addItem("Best match", "relevance")
        self.sort_combo.addItem("Newest first", "date")
        self.sort_combo.setToolTip("Sort the results")
        self.sort_combo.currentIndexChanged.connect(
            lambda _i: self.set_sort(self.sort_combo.currentData()))
        top.addWidget(self.sort_combo)
        self.cutoff = CutoffControl()  # "Auto" (each answer's adaptive cut-off) or the slider
        self.cutoff_slider, self.cutoff_label = self.cutoff.slider, self.cutoff.value_label
        self.cutoff.percentMoved.connect(self.set_cutoff)
        self.cutoff.autoToggled.connect(self.set_auto_cutoff)
        top.addWidget(self.cutoff)
        layout.addLayout(top)

        self.model_banner = ModelPanel(banner=True)
        self.model_banner.hide()
        self._connect_model_panel(self.model_banner)
        layout.addWidget(self.model_banner)

        info = QHBoxLayout()
        self.count_label = QLabel()
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        info.addWidget(self.count_label)
        info.addStretch()
        info.addWidget(self.message_label)
        layout.addLayout(info)

        self.results_stack = QStackedWidget()
        self.hint = QLabel("Type what you are looking for: “birthday cake with candles”, "
                           "“snowy mountain at sunset”…\nOr paste or drop a photo to find "
                           "similar ones.")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.view = ResultsView()
        self.view.setModel(self.model)
        self.view.zoomRequested.connect(self.zoom)
        self.view.previewRequested.connect(self._preview_index)
        self.view.doubleClicked.connect(lambda index: self.open_preview(index.row()))
        self.view.activated.connect(lambda index: self.open_preview(index.row()))  # Enter
        self.view.customContextMenuRequested.connect(self.show_context_menu)
        self.view.installEventFilter(self)
        self.results_stack.addWidget(self.hint)
        self.results_stack.addWidget(self.view)
        self.empty_state = EmptyState()  # nothing to show: why, and a link that helps
        self.empty_state.showAllRequested.connect(self.show_all_results)
        self.empty_state.clearFiltersRequested.connect(self.search_bar.filter_bar.clear)
        self.results_stack.addWidget(self.empty_state)
        grid_row = QHBoxLayout()  # browsing: the grid, and the date jump beside it
        grid_row.addWidget(self.results_stack, 1)
        self.date_list = DateList()
        self.date_list.hide()
        self.date_list.rowChosen.connect(self._jump_to_row)
        self.view.sectionShown.connect(
            lambda s: self.date_list.show_row(int(self.view.sections.starts[s])))
        grid_row.addWidget(self.date_list)
        layout.addLayout(grid_row, 1)
        self.timeline = None  # the browse answer's months and days, while browsing
        self.model.countChanged.connect(self._update_count)

        for page in (self.opening_page, self.welcome, self.browse_page):
            self.pages.addWidget(page)
        # the sidebar (folders, albums, Duplicates) left of the pages; shown on the browse page
        self.sidebar = Sidebar(duplicates=hasattr(self, "show_duplicates"))
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(self.pages)
        self.splitter.setStretchFactor(1, 1)
        self.setCentralWidget(self.splitter)
        self.sidebar_control = SidebarControl(self)
        self.sidebar_control.restore_layout()

    def _connect_model_panel(self, panel: ModelPanel) -> None:
        panel.downloadRequested.connect(lambda: self.engine.load_model(download=True))
        panel.cancelRequested.connect(self.engine.cancel_download)
        panel.folderChosen.connect(self._use_model_folder)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.index_status = IndexStatus()
        self.index_status.pauseRequested.connect(self.engine.pause_indexing)
        self.index_status.resumeRequested.connect(self.engine.resume_indexing)
        bar.addWidget(self.index_status)
        self.model_label = QLabel("Model: …")
        self.library_label = QLabel()
        bar.addPermanentWidget(self.library_label)
        bar.addPermanentWidget(self.model_label)

    def _action(self, text: str, slot, shortcut=None, menu: QMenu | None = None,
                tip: str = "", view_only: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        if view_only:  # acts on the grid's photos: only while the grid has the focus
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            self.view.addAction(action)
        else:
            self.addAction(action)
        if menu is not None:
            menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        self._action("&Add folder…", self.pick_folder, "Ctrl+Shift+A", file_menu)
        self._action("&Folders…", self.show_folders, "Ctrl+Shift+L", file_menu,
                     "Library folders, counts and failed photos")
        self._action("&Duplicates…", self.show_duplicates, None, file_menu,
                     "Copies of the same photo: keep one, move the others to the Trash")
        self.save_album_action = self._action(
            "Save search as &album…", self.sidebar_control.ask_save, "Ctrl+Shift+S", file_menu,
            "Keep this search in the sidebar; it shows new matching photos as they come")
        file_menu.addSeparator()
        self._action("&Settings…", self.show_settings, QKeySequence.StandardKey.Preferences,
                     file_menu)
        file_menu.addSeparator()
        self._action("&Quit", self.close, QKeySequence.StandardKey.Quit, file_menu)

        edit_menu = menus.addMenu("&Edit")
        self._action("&Find…", self.focus_search, QKeySequence.StandardKey.Find, edit_menu)
        self.paste_action = self._action("&Paste image as query", self.paste_image,
                                         QKeySequence.StandardKey.Paste, edit_menu)
        self._action("&Clear search", self.clear_search, "Ctrl+Shift+X", edit_menu)

        view_menu = menus.addMenu("&View")
        self._action("Zoom &in", lambda: self.zoom(1), QKeySequence.StandardKey.ZoomIn, view_menu)
        self.addAction(self._extra_shortcut("Ctrl+=", lambda: self.zoom(1)))
        self._action("Zoom &out", lambda: self.zoom(-1), QKeySequence.StandardKey.ZoomOut,
                     view_menu)
        self._action("&Normal size", self.reset_zoom, "Ctrl+0", view_menu)
        view_menu.addSeparator()
        group = QActionGroup(self)
        self.sort_actions = {}
        for sort, text in (("relevance", "Sort by &relevance"), ("date", "Sort by &date")):
            action = QAction(text, self, checkable=True)
            action.triggered.connect(lambda _c=False, s=sort: self.set_sort(s))
            group.addAction(action)
            view_menu.addAction(action)
            self.sort_actions[sort] = action
        self.scores_action = QAction("Show &scores", self, checkable=True)
        self.scores_action.setChecked(self.settings.show_scores)
        self.scores_action.toggled.connect(self.set_show_scores)
        view_menu.addAction(self.scores_action)
        view_menu.addSeparator()
        self.sidebar_action = QAction("Show s&idebar", self, checkable=True)
        self.sidebar_action.setShortcut(QKeySequence("Ctrl+Alt+S"))
        self.sidebar_action.setChecked(self.settings.sidebar_visible)
        self.sidebar_action.toggled.connect(self.sidebar_control.set_visible)
        self.addAction(self.sidebar_action)
        view_menu.addAction(self.sidebar_action)
        self._action("&Go to sidebar", self.focus_sidebar, "F6", view_menu,
                     "Move the keyboard focus to the folders and albums")

        self.photo_menu = menus.addMenu("&Photo")
        m = self.photo_menu
        self.preview_action = self._action("&Preview", self.open_preview, "Space", m,
                                           view_only=True)
        self.similar_action = self._action("Find &similar", self.find_similar, "Ctrl+Shift+F", m,
                                           "Photos that look like this one", view_only=True)
        self.more_action = self._action("&More like these", lambda: self.refine(False),
                                        "Ctrl+Shift+M", m, "Add the selected photos to the "
                                        "search as “like this”", view_only=True)
        self.fewer_action = self._action("Fe&wer like these", lambda: self.refine(True),
                                         "Ctrl+Shift+N", m, "Push the search away from the "
                                         "selected photos, and hide them", view_only=True)
        self.open_action = self._action("&Open", self.open_selected, "Ctrl+O", m,
                                        "Open in the system's viewer", view_only=True)
        self.folder_action = self._action("Show in &folder", self.show_selected_in_folder,
                                          "Ctrl+Shift+O", m, view_only=True)
        self.copy_path_action = self._action("Copy &path", self.copy_selected_paths,
                                             "Ctrl+Shift+C", m, view_only=True)
        self.copy_image_action = self._action("&Copy image", self.copy_selected_image,
                                              QKeySequence.StandardKey.Copy, m, view_only=True)
        self.tags_action = self._action("&Tags", self.show_tags, "Ctrl+T", m,
                                        "Describe this photo with words", view_only=True)
        self.open_raw_action = self._action("Open the &RAW", self.open_selected_raw,
                                            "Ctrl+Alt+O", m, "Open the RAW file shown with this "
                                            "JPEG in the system's viewer", view_only=True)
        self.photo_actions = [self.preview_action, self.similar_action, self.more_action,
                              self.fewer_action, self.open_action,
                              self.folder_action, self.copy_path_action,
                              self.copy_image_action, self.tags_action]
        m.aboutToShow.connect(self._sync_photo_actions)

        help_menu = menus.addMenu("&Help")
        self._action("Open &log folder", self.open_log_folder, None, help_menu)
        self._action("&About ClipDesk", self.show_about, None, help_menu)

        self.sort_combo.setCurrentIndex(0 if self.settings.sort == "relevance" else 1)
        self.sort_actions[self.settings.sort].setChecked(True)
        self.model.set_sort(self.settings.sort)
        self.cutoff_slider.setValue(self.settings.cutoff)

    def _extra_shortcut(self, keys: str, slot) -> QAction:
        action = QAction(self)
        action.setShortcut(QKeySequence(keys))
        action.triggered.connect(lambda _c=False: slot())
        return action

    def _connect_engine(self) -> None:
        e = self.engine
        e.libraryOpened.connect(self._on_library_opened)
        e.libraryFailed.connect(self._on_library_failed)
        e.modelStateChanged.connect(self._on_model_state)
        e.downloadProgress.connect(self._on_download_progress)
        e.searchAnswered.connect(self._on_answer)
        e.searchWaiting.connect(self.message_label.setText)
        e.searchFailed.connect(self._on_search_failed)
        e.indexingStarted.connect(self._on_indexing_started)
        e.indexingProgress.connect(self._on_indexing_progress)
        e.indexingFinished.connect(self._on_indexing_finished)
        e.statusReady.connect(self._on_status)
        e.tagsReady.connect(self._on_tags)
        e.message.connect(lambda text: self.statusBar().showMessage(text, 8000))

    # ================================================================ engine -> window

    @Slot(int)
    def _on_library_opened(self, roots: int) -> None:
        self.model.thumbnail_path = self.engine.library.thumbnail_path
        self.model.frame_thumbnail_path = self.engine.library.frame_thumbnail_path
        # an empty query browses the library: the first thing on screen, no model needed
        self.engine.search_control.set_library(self.engine.library, self.search_bar.query())
        self.pages.setCurrentWidget(self.browse_page if roots else self.welcome)
        if roots:
            self.search_bar.field.setFocus()

    @Slot(str)
    def _on_library_failed(self, message: str) -> None:
        self.opening_page.setText(f"The library could not be opened:\n{message}")
        QMessageBox.critical(self, TITLE, f"The library could not be opened.\n\n{message}")

    @Slot(object, str)
    def _on_model_state(self, state: ModelState, message: str) -> None:
        for panel in (self.welcome.model_panel, self.model_banner):
            panel.set_state(state, message)
        self.model_banner.setVisible(state in (ModelState.MISSING, ModelState.FAILED,
                                               ModelState.DOWNLOADING))
        spec = self.engine.spec
        word = {ModelState.LOADING: "loading…", ModelState.DOWNLOADING: "downloading…",
                ModelState.READY: "ready", ModelState.MISSING: "not downloaded",
                ModelState.FAILED: "not usable"}.get(state, "")
        if spec is None:
            shown = "—"
        elif spec.kind == "local-dir" and spec.path is not None:
            shown = f"{spec.path.name} (model folder)"
        else:
            shown = spec.text
        self.model_label.setText(f"Model: {shown}, {word}" if word else f"Model: {shown}")
        self.model_label.setToolTip("\n".join(t for t in (spec.text if spec else "", message)
                                              if t))

    @Slot(str, int, int)
    def _on_download_progress(self, name: str, done: int, total: int) -> None:
        for panel in (self.welcome.model_panel, self.model_banner):
            panel.set_progress(name, done, total)

    @Slot(object)
    def _on_answer(self, answer: SearchAnswer) -> None:
        """New results. A new query starts at the top; a refresh of the same query (photos
        arrived or changed) keeps the scroll position, the selection and the current photo,
        and an open preview stays on its photo."""
        last = getattr(self, "last_answer", None)
        refresh = last is not None and last.query == answer.query and self.model.rowCount() > 0
        # the answer's adaptive cut-off: a new query starts on it ("Auto"), a refresh keeps
        # what the user chose
        self.model.set_auto_cutoff(answer.cutoff, auto=None if refresh else True)
        if not refresh:
            self.cutoff.set_auto(True)
        if refresh:
            current = self.view.currentIndex()
            current_path = self.model.path_at(current.row()) if current.isValid() else None
            selected = [self.model.path_at(i.row()) for i in self.view.selectedIndexes()]
            scroll = self.view.verticalScrollBar().value()
        self.model.set_results(answer.results, browsing=answer.timeline is not None)
        self._show_timeline(answer.timeline)
        browsing_nothing = answer.timeline is not None and not len(answer.results)
        self.results_stack.setCurrentWidget(self.hint if browsing_nothing else self.view)
        if refresh:
            self._restore_view(current_path, selected, scroll)
        else:
            self.view.scrollToTop()
            if self.model.rowCount():
                self.view.setCurrentIndex(self.model.index(0))
                self.view.clearSelection()
        self.last_answer = answer
        self.message_label.setText(
            "" if answer.timeline is not None else f"found in {answer.seconds:.2f} s")
        self._update_count(self.model.rowCount(), len(answer.results))

    def _show_timeline(self, timeline) -> None:
        """Browsing: section headers in the grid (months, days for large tiles) and the date
        list beside it; a search: neither."""
        self.timeline = timeline
        self.view.set_sections(self._timeline_sections())
        if timeline is not None:
            self.date_list.set_months(timeline.months)
        self.date_list.setVisible(timeline is not None and len(timeline.months) > 1)
        for control in (self.sort_combo, self.cutoff):  # the library has one order, no scores
            control.setEnabled(timeline is None)

    def _timeline_sections(self):
        if self.timeline is None:
            return None
        big = self.settings.thumb_size >= DAY_HEADERS_FROM
        return self.timeline.days if big else self.timeline.months

    def _jump_to_row(self, row: int) -> None:
        """The date list's choice: that month's header to the top of the grid."""
        sections = self.view.sections
        if sections is not None:
            self.view.scroll_to_section(sections.section_of(row))

    def _restore_view(self, current_path: str | None, selected: list[str], scroll: int) -> None:
        from PySide6.QtCore import QItemSelection, QItemSelectionModel

        flags = QItemSelectionModel.SelectionFlag
        row = self.model.row_of(current_path) if current_path else None
        if row is not None:
            self.view.selectionModel().setCurrentIndex(self.model.index(row), flags.NoUpdate)
        selection = QItemSelection()
        for path in selected:
            r = self.model.row_of(path)
            if r is not None:
                selection.select(self.model.index(r), self.model.index(r))
        self.view.selectionModel().select(selection, flags.ClearAndSelect)
        self.view.verticalScrollBar().setValue(scroll)

    @Slot(str)
    def _on_search_failed(self, message: str) -> None:
        self.message_label.setText(message)

    def _update_count(self, shown: int, total: int) -> None:
        self.cutoff.show_score(self.model.cutoff_score(), self.model.results.scores)
        self._show_empty_state(shown, total)
        answer = getattr(self, "last_answer", None)
        if answer is None or self.search_bar.query().empty:
            browsing = answer is not None and answer.timeline is not None and shown
            self.count_label.setText(f"{shown:,} photo{'s' if shown != 1 else ''}"
                                     if browsing else "")
            return
        what = answer.query.describe()
        if shown == total:
            self.count_label.setText(f"{shown:,} photo{'s' if shown != 1 else ''} · {what}")
        else:
            self.count_label.setText(f"{shown:,} of {total:,} photos · {what}")

    def _show_empty_state(self, shown: int, total: int) -> None:
        """Nothing to show: the empty state says why (no photos in the folder, all below the
        cut-off) in the grid's place; photos again: the grid."""
        answer = getattr(self, "last_answer", None)
        html = None if answer is None else empty_state_html(answer.query, shown, total)
        if html is not None:
            self.empty_state.setText(html)
            self.results_stack.setCurrentWidget(self.empty_state)
        elif self.results_stack.currentWidget() is self.empty_state:
            self.results_stack.setCurrentWidget(self.view)

    @Slot(str)
    def _on_indexing_started(self, what: str) -> None:
        self.index_status.started(what)
        self._status_timer.start()

    @Slot(int, int)
    def _on_indexing_progress(self, done: int, total: int) -> None:
        self.index_status.progress(done, total)

    @Slot(object)
    def _on_indexing_finished(self, report) -> None:
        interrupted = report is None or getattr(report, "interrupted", False)
        self.index_status.finished(paused=interrupted and self.engine.paused)
        if not self.engine.indexing:
            self._status_timer.stop()
        if report is not None and report.failed:
            self.statusBar().showMessage(f"{len(report.failed)} photos could not be read "
                                         "(File ▸ Folders… lists them).", 10000)
        if report is not None and (report.embedded or report.removed or report.reused):
            self.engine.search(self.search_bar.query())  # new photos may match, or show

    @Slot(object)
    def _on_status(self, status: LibraryStatus) -> None:
        self.library_status = status
        text = f"{status.indexed:,} photos"
        if status.pending:
            text += f" ({status.pending:,} to index)"
        if status.bytes_on_disk:
            text += f" · {_bytes_text(status.bytes_on_disk)}"
        states = [r.watching for r in status.roots if r.watching]
        if states:
            text += " · " + ", ".join(f"{states.count(s)} {s}" for s in ("live", "polling", "offline")
                                      if s in states)
        if status.busy:
            text += " · searching only"
        self.library_label.setText(text)
        tips = [f"Library: {status.folder}"] + ([status.busy] if status.busy else [])
        tips += [f"{r.path}: {r.watching}" for r in status.roots if r.watching]
        self.library_label.setToolTip("\n".join(tips))
        files = status.indexed + status.pending
        if self.timeline is not None and files != getattr(self, "_files_seen", files):
            self.engine.search(self.search_bar.query())  # browsing: a scan found photos
        self._files_seen = files

    # ================================================================ searching

    @Slot(object)
    def run_query(self, query: Query) -> None:
        self._tab_order()  # chips come and go: Tab keeps its path
        if query.empty:  # browsing: the library newest first, when the listing arrives
            self.message_label.setText("")
            self.engine.search(query)
            return
        self.message_label.setText("Searching…")
        self.engine.search(query)

    def focus_sidebar(self) -> None:
        if self.sidebar.isVisible():
            self.sidebar.tree.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def focus_search(self) -> None:
        self.search_bar.field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search_bar.field.selectAll()

    def clear_search(self) -> None:
        self.search_bar.clear_images(search=False)
        self.search_bar.set_text("")
        self.run_query(self.search_bar.query())

    def set_sort(self, sort: str) -> None:
        if sort not in ("relevance", "date"):
            return
        self.settings.sort = sort
        self.sort_actions[sort].setChecked(True)
        self.sort_combo.blockSignals(True)
        self.sort_combo.setCurrentIndex(0 if sort == "relevance" else 1)
        self.sort_combo.blockSignals(False)
        self.model.set_sort(sort)
        self._apply_tile_size()

    def set_cutoff(self, percent: int) -> None:
        """The slider moved: the user's cut-off overrides the automatic one for this query."""
        self.settings.cutoff = percent
        self.cutoff.set_auto(False)
        self.model.set_cutoff(percent)  # Auto off too: one reorder
        self.cutoff.show_score(self.model.cutoff_score())

    def set_auto_cutoff(self, on: bool) -> None:
        """Auto pressed: the answer's adaptive cut-off (on), or the slider's (off)."""
        self.model.set_auto(on)
        self.cutoff.show_score(self.model.cutoff_score(), self.model.results.scores)

    def show_all_results(self) -> None:
        """The empty state's "show all": no cut-off for this query."""
        self.cutoff.set_percent(0)
        self.set_cutoff(0)

    def _tab_order(self) -> None:
        """Tab goes search field → its chips → Filter and the filter chips → sort and cut-off
        → grid → sidebar, whatever chips were added since."""
        bar = self.search_bar
        chain = [bar.field, *(c.remove_button for c in bar.chips), bar.filter_bar.button,
                 *(c.remove_button for c in bar.filter_bar.chip_widgets()), self.sort_combo,
                 self.cutoff.auto_button, self.cutoff.slider, self.view]
        sidebar = getattr(self, "sidebar", None)
        if sidebar is not None and hasattr(sidebar, "tree"):
            chain.append(sidebar.tree)
        for first, second in zip(chain, chain[1:], strict=False):
            QWidget.setTabOrder(first, second)

    def set_show_scores(self, on: bool) -> None:
        self.settings.show_scores = on
        self._apply_tile_size()
        self.view.viewport().update()

    # ================================================================ zoom

    def zoom(self, step: int) -> None:
        steps = list(ZOOM_STEPS)
        at = min(range(len(steps)), key=lambda i: abs(steps[i] - self.settings.thumb_size))
        at = max(0, min(len(steps) - 1, at + step))
        if steps[at] != self.settings.thumb_size:
            self.settings.thumb_size = steps[at]
            self._apply_tile_size()

    def reset_zoom(self) -> None:
        self.settings.thumb_size = 160
        self._apply_tile_size()

    def _apply_tile_size(self) -> None:
        tile = self.settings.thumb_size
        dpr = self.devicePixelRatioF()
        self.loader.set_size(QSize(round(tile * dpr), round(tile * dpr)), dpr)
        self.view.set_tile(tile, self.settings.show_scores, self.model.sort)
        if self.timeline is not None and self.view.sections is not self._timeline_sections():
            self.view.set_sections(self._timeline_sections(), keep_top=True)  # months <-> days

    # ================================================================ photos

    def current_hits(self) -> list:
        """The selected photos, or the current one when nothing is selected."""
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        if not rows and self.view.currentIndex().isValid():
            rows = [self.view.currentIndex().row()]
        return [self.model.hit(r) for r in rows]

    def current_paths(self) -> list[str]:
        return [hit.path for hit in self.current_hits()]

    def current_raws(self) -> list[str]:
        """The RAWs shown as one photo with the selected (or current) JPEGs."""
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        if not rows and self.view.currentIndex().isValid():
            rows = [self.view.currentIndex().row()]
        return [raw for r in rows if (raw := self.model.raw_at(r)) is not None]

    def _sync_photo_actions(self) -> None:
        has = bool(self.current_paths())
        for action in self.photo_actions:
            action.setEnabled(has)
        self.open_raw_action.setEnabled(bool(self.current_raws()))

    def show_context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        if not self.view.selectionModel().isSelected(index):
            self.view.setCurrentIndex(index)  # a click outside the selection selects that photo
        menu = QMenu(self)
        for action in (self.similar_action, self.more_action, self.fewer_action, None,
                       self.preview_action, self.open_action,
                       self.folder_action, None, self.copy_path_action, self.copy_image_action,
                       None, self.tags_action):
            if action is None:
                menu.addSeparator()
            else:
                action.setEnabled(True)
                menu.addAction(action)
            if action is self.open_action and self.current_raws():  # a RAW+JPEG pair
                self.open_raw_action.setEnabled(True)
                menu.addAction(self.open_raw_action)
        self.context_menu = menu
        menu.popup(self.view.viewport().mapToGlobal(pos))

    def find_similar(self) -> None:
        """The selected photos become the query ("like this"), the text is cleared."""
        hits = self.current_hits()[:SIMILAR_MAX]
        if not hits:
            return
        self.search_bar.clear_images(search=False)
        self.search_bar.field.blockSignals(True)
        self.search_bar.set_text("")
        self.search_bar.field.blockSignals(False)
        for hit in hits:
            pixmap = self.loader.pixmap(hit_key(hit))
            image = pixmap.toImage() if pixmap is not None else None
            self.search_bar.add_image(hit.path, image, exclude=True, search=False)
        self.run_query(self.search_bar.query())

    def refine(self, negative: bool) -> None:
        """More or Fewer like these: the selected photos join the query as "like this" or
        "not like this" chips; the text and the other chips stay."""
        hits = self.current_hits()[:SIMILAR_MAX]
        if not hits:
            return
        if negative and self.search_bar.query().empty:  # nothing to push away from
            self.statusBar().showMessage("Fewer like these refines a search: type what you "
                                         "are looking for, or use More like these first.", 6000)
            return
        for hit in hits:
            pixmap = self.loader.pixmap(hit_key(hit))
            image = pixmap.toImage() if pixmap is not None else None
            self.search_bar.add_image(hit.path, image, exclude=True, search=False,
                                      negative=negative)
        self.run_query(self.search_bar.query())

    def open_selected(self) -> None:
        for path in self.current_paths()[:10]:
            desktop.open_file(path)

    def open_selected_raw(self) -> None:
        """The RAW of a RAW+JPEG pair, in the system's viewer (the tile is its JPEG)."""
        for path in self.current_raws()[:10]:
            desktop.open_file(path)

    def show_selected_in_folder(self) -> None:
        paths = self.current_paths()
        if paths:
            desktop.show_in_folder(paths[0])

    def copy_selected_paths(self) -> None:
        paths = self.current_paths()
        if paths:
            desktop.copy_paths(paths)
            self.statusBar().showMessage(
                "Copied the path" if len(paths) == 1 else f"Copied {len(paths)} paths", 3000)

    def copy_selected_image(self) -> None:
        """The photo, at up to COPY_MAX pixels; a video's frame at its moment (the one that
        matched, or the first sampled one while browsing)."""
        hits = self.current_hits()
        if not hits:
            return
        path, hit, fit = hits[0].path, hits[0], QSize(COPY_MAX, COPY_MAX)
        if hit.duration is not None:
            frames = self.video_frame_times(hit)
            moment = hit.time if hit.time is not None else (frames[0] if frames else 0.0)
            job = lambda _w: load_frame(path, moment, fit)  # noqa: E731
        else:
            job = lambda _w: load_photo(path, fit)  # noqa: E731
        worker = Worker(job, name="copy image")
        worker.signals.result.connect(lambda _g, image: self._copy_image_done(path, image))
        worker.signals.error.connect(lambda _g, error: self._copy_image_failed(path, error))
        self.engine.general.start(worker)

    def video_frame_times(self, hit) -> list[float]:
        """The times of a video's sampled frames (the model answering searches'), in order."""
        searcher = self.engine.searcher
        if searcher is None or not hit.hash:
            return []
        return searcher.catalog.frame_times(searcher.model, hit.hash)

    def _copy_image_failed(self, path: str, error: JobError) -> None:
        self.statusBar().showMessage(f"Could not copy {Path(path).name}: {error}", 5000)

    def _copy_image_done(self, path: str, image: QImage) -> None:
        desktop.copy_image(image, path)
        self.statusBar().showMessage("Copied the image", 3000)

    def show_tags(self) -> None:
        paths = self.current_paths()
        if not paths:
            return
        self.tags_dialog = TagsDialog(paths[0], self)
        self.tags_dialog.open()
        self.engine.tags(paths[0], n=10)

    @Slot(str, object)
    def _on_tags(self, path: str, ranked) -> None:
        if self.tags_dialog is not None and self.tags_dialog.path == path:
            self.tags_dialog.set_tags(ranked)

    def _preview_index(self, index: QPersistentModelIndex) -> None:
        if index.isValid():
            self.open_preview(index.row())

    def open_preview(self, row: int | None = None) -> None:
        if row is None:
            index = self.view.currentIndex()
            if not index.isValid():
                return
            row = index.row()
        if not 0 <= row < self.model.rowCount():
            return
        if self.preview is not None and self.preview.isVisible():
            self.preview.show_row(row)  # a double-click may also count as an activation
            return
        self.preview = PreviewDialog(self.engine, self.model, row, self)
        self.preview.rowChanged.connect(self._follow_preview)
        self.preview.open()

    def _follow_preview(self, row: int) -> None:
        index = self.model.index(row)
        self.view.setCurrentIndex(index)
        self.view.scrollTo(index)

    # ================================================================ images in: paste and drop

    def paste_image(self) -> None:
        mime = QApplication.clipboard().mimeData()
        if mime is None:
            return
        paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()]
        images = [p for p in paths if is_image_file(p)]
        if images:
            for path in images[:SIMILAR_MAX]:
                self._add_image_chip(path)
            return
        if mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                self._add_image_chip(self._save_pasted(image), image, exclude=False)
                return
        self.statusBar().showMessage("The clipboard holds no image.", 4000)

    def _save_pasted(self, image: QImage) -> str:
        """A pasted picture becomes a PNG in a temporary folder that lives as long as the app."""
        if self._paste_dir is None:
            self._paste_dir = tempfile.TemporaryDirectory(prefix="clipdesk-paste-")
        count = len(list(Path(self._paste_dir.name).iterdir()))
        path = str(Path(self._paste_dir.name) / f"pasted-{count + 1}.png")
        image.save(path, "PNG")
        return path

    def _add_image_chip(self, path: str, image: QImage | None = None,
                        exclude: bool = True) -> None:
        """A "like this" chip; the search starts at once. A file's picture is decoded in a
        worker, by ClipDesk's decoder (a HEIC too), and joins the chip when it is ready."""
        if self.pages.currentWidget() is not self.browse_page:
            return
        self.search_bar.add_image(path, image, exclude=exclude)
        if image is None:
            worker = Worker(lambda _w: read_photo(path, QSize(64, 64)), name="chip image")
            worker.signals.result.connect(lambda _g, picture: self._chip_image(path, picture))
            self.engine.general.start(worker)

    def _chip_image(self, path: str, image: QImage) -> None:
        chip = self.search_bar.chip_for(path)
        if chip is not None:  # not removed meanwhile
            chip.set_image(image)

    def dragEnterEvent(self, event) -> None:
        mime = event.mimeData()
        if mime.hasUrls() or mime.hasImage():
            event.acceptProposedAction()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        if event.source() is self.view:  # a tile dropped back on the window: nothing to do
            event.ignore()
            return
        mime = event.mimeData()
        paths = [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]
        folders = [p for p in paths if p.is_dir()]
        images = [str(p) for p in paths if is_image_file(str(p))]
        if folders:
            self.add_folders(folders)
        if images and self.pages.currentWidget() is self.browse_page:
            for path in images[:SIMILAR_MAX]:
                self._add_image_chip(path)
        elif not paths and mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                self._add_image_chip(self._save_pasted(image), image, exclude=False)
        event.acceptProposedAction()

    # ================================================================ folders, settings

    def pick_folder(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(self, "Add a photo folder")
        if folder:
            self.add_folders([Path(folder)])

    def add_folders(self, folders: list[Path]) -> None:
        folders = [Path(f) for f in folders if Path(f).is_dir()]
        if not folders:
            return
        self.engine.add_folders(folders)
        self.pages.setCurrentWidget(self.browse_page)
        self.statusBar().showMessage(
            "Adding " + ", ".join(str(f) for f in folders[:3]) + ("…" if len(folders) > 3 else ""),
            5000)

    def show_duplicates(self) -> None:
        """The Duplicates view (File ▸ Duplicates…, the sidebar's entry): one window, looked
        through again each time it is shown."""
        from clipdesk.ui.duplicates import DuplicatesView

        if getattr(self, "duplicates_view", None) is None:
            self.duplicates_view = DuplicatesView(self.engine, self)
        self.duplicates_view.show()
        self.duplicates_view.raise_()
        self.duplicates_view.activateWindow()
        self.duplicates_view.find()

    def show_folders(self) -> None:
        self.folders_dialog = FoldersDialog(self.engine, self)
        self.folders_dialog.open()

    def show_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self.engine.spec.text if self.engine.spec else "",
                                self)
        self._pairs_before = self.settings.pair_raws
        dialog.accepted.connect(lambda: self._settings_changed(dialog))
        self.settings_dialog = dialog
        dialog.open()

    def _settings_changed(self, dialog: SettingsDialog) -> None:
        self.settings.save()
        self._apply_tile_size()
        self.scores_action.setChecked(self.settings.show_scores)
        self.engine.set_model(self.settings.model, self.settings.device)
        if self.settings.pair_raws != self._pairs_before:  # RAW+JPEG: one photo, or both
            self._pairs_before = self.settings.pair_raws
            self.engine.search(self.search_bar.query())
            self.sidebar_control.refresh_now()  # its counts follow what browsing shows

    def _use_model_folder(self, spec: str) -> None:
        try:
            self.engine.set_model(spec)
        except Exception as exc:  # a bad spec: say so where the user clicked
            self.statusBar().showMessage(str(exc), 8000)
            return
        self.settings.save()

    def open_log_folder(self) -> None:
        from clipdesk.core.paths import log_dir

        folder = str(log_dir())
        QDesktopServices.openUrl(QUrl.fromLocalFile(folder))

    def show_about(self) -> None:
        from clipdesk import __version__

        QMessageBox.about(self, "About ClipDesk",
                          f"<b>ClipDesk {__version__}</b><p>Find your photos by what they show, "
                          "on your own computer.</p>")

    def bring_to_front(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    # ================================================================ events

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.DevicePixelRatioChange:  # moved to another screen
            self._apply_tile_size()  # thumbnails as sharp as that screen's pixels
        return super().event(event)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        handle = self.windowHandle()
        if not self._shown and handle is not None:
            handle.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        """Typing in the grid goes to the search bar; the first expose announces firstShown."""
        if (not self._shown and obj is self.windowHandle()
                and event.type() == QEvent.Type.Expose and obj.isExposed()):
            self._shown = True
            obj.removeEventFilter(self)
            QTimer.singleShot(0, self.firstShown.emit)  # after this expose has painted
            return False
        if obj is self.view and event.type() == QEvent.Type.KeyPress:
            text = event.text()
            mods = event.modifiers() & ~(Qt.KeyboardModifier.ShiftModifier
                                         | Qt.KeyboardModifier.KeypadModifier)
            if text and text.isprintable() and text != " " and not mods:
                self.search_bar.field.setFocus()
                self.search_bar.field.insert(text)
                return True
        return super().eventFilter(obj, event)

    def closeEvent(self, event) -> None:
        if not self._closed:
            self._closed = True
            self.sidebar_control.remember_layout()
            self.settings.save()
            self.hide()
            self._status_timer.stop()
            self.loader.wait(10_000)
            self.engine.shutdown()
            if self._paste_dir is not None:
                self._paste_dir.cleanup()
        super().closeEvent(event)
