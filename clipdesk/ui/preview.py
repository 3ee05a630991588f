"""The large view: one photo at a time, arrow keys step through the results; with its path,
file size, date, dimensions and top tags. Pictures load off the GUI thread, through ClipDesk's
own decoder (any format it indexes, HEIC too); stepping fast drops the pictures of photos
already left behind."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from clipdesk.ui import desktop
from clipdesk.ui.engine import Engine, PhotoInfo
from clipdesk.ui.images import load_frame, load_photo
from clipdesk.ui.results import ResultsModel, duration_text, hit_key
from clipdesk.ui.thumbnails import read_thumbnail
from clipdesk.ui.workers import JobError, Worker

FRAME_TILE = 96  # a video's frames in the preview's strip, pixels
_TIME = Qt.ItemDataRole.UserRole + 1  # a strip item's time, seconds


def _size_text(n: int | None) -> str:
    if n is None:
        return "—"
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return str(n)


class ImageLabel(QLabel):
    """Shows a pixmap scaled to fit, keeping its proportions."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(200, 150)
        self._pixmap = QPixmap()

    def set_image(self, pixmap: QPixmap) -> None:
        self._pixmap = pixmap
        self._rescale()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap.isNull():
            self.setPixmap(QPixmap())
            return
        self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation))


class PreviewDialog(QDialog):
    """Left/Right (or Up/Down) step; Home/End jump; Space or Escape close."""

    rowChanged = Signal(int)

    def __init__(self, engine: Engine, model: ResultsModel, row: int,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.engine = engine
        self.model = model
        self.row = -1
        self.path = ""  # the photo at ``row``
        self.shown = ""  # the file on screen: ``path``, or its RAW (``toggle_raw``)
        self.setWindowTitle("Preview")
        self.resize(1100, 760)
        self._generation = 0

        self.image = ImageLabel()
        self.path_label = QLabel()
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.size_label = QLabel()
        self.date_label = QLabel()
        self.dims_label = QLabel()
        self.score_label = QLabel()
        self.tags_label = QLabel()
        self.tags_label.setWordWrap(True)
        self.position_label = QLabel()
        # a RAW+JPEG pair (core.pairs): the JPEG is shown, the RAW one click (or R) away
        self.raw = None  # the RAW of the photo shown, when it is a pair's JPEG
        self.showing_raw = False
        self.raw_label = QLabel()
        self.raw_button = QPushButton("Show the RAW")
        self.raw_button.setToolTip("Show this shot's RAW file instead of its JPEG (R)")
        self.raw_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the arrows stay the dialog's
        self.raw_button.clicked.connect(self.toggle_raw)
        self.raw_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        # a video: the moment shown, an Open button for the system's player, and a strip of
        # its other sampled frames (their thumbnails) below the picture; a click shows one
        self.video = None  # (best moment or None, length) of the video shown
        self.moment = None  # the time shown, seconds
        self.moment_label = QLabel()
        self.open_button = QPushButton("Open in player")
        self.open_button.setToolTip("Play the video in the system's player (Ctrl+O)")
        self.open_button.setShortcut(QKeySequence("Ctrl+O"))
        self.open_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.open_button.clicked.connect(self.open_video)
        self.open_button.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.frames = QListWidget()
        self.frames.setViewMode(QListWidget.ViewMode.IconMode)
        self.frames.setFlow(QListWidget.Flow.LeftToRight)
        self.frames.setWrapping(False)
        self.frames.setMovement(QListWidget.Movement.Static)
        self.frames.setIconSize(QSize(FRAME_TILE, FRAME_TILE * 3 // 4))
        self.frames.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.frames.setFixedHeight(FRAME_TILE * 3 // 4 + self.fontMetrics().height() + 20
                                   + self.frames.horizontalScrollBar().sizeHint().height())
        self.frames.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.frames.itemClicked.connect(lambda item: self.show_moment(item.data(_TIME)))
        self.frames.setToolTip("The video's sampled frames: click one, or step with , and .")
        self.frames.hide()
        self._frames_generation = 0
        form = QFormLayout()
        form.addRow("Path:", self.path_label)
        # rows of their own, not a box of two widgets: with a box in it, QFormLayout gave a
        # wrapped path one line
        form.addRow("RAW:", self.raw_label)
        form.addRow("", self.raw_button)
        form.addRow("Video:", self.moment_label)
        form.addRow("", self.open_button)
        form.addRow("Size:", self.size_label)
        form.addRow("Date:", self.date_label)
        form.addRow("Dimensions:", self.dims_label)
        form.addRow("Score:", self.score_label)
        form.addRow("Tags:", self.tags_label)
        self.form = form
        info = QWidget()
        info.setLayout(form)
        info.setFixedWidth(320)
        side = QVBoxLayout()
        side.addWidget(info)
        side.addStretch()
        side.addWidget(self.position_label)
        picture = QVBoxLayout()
        picture.addWidget(self.image, 1)
        picture.addWidget(self.frames)
        row_layout = QHBoxLayout(self)
        row_layout.addLayout(picture, 1)
        row_layout.addLayout(side)

        engine.tagsReady.connect(self._on_tags)
        engine.infoReady.connect(self._on_info)
        model.modelReset.connect(self._follow_photo)
        self.show_row(row)

    def _follow_photo(self) -> None:
        """The results changed (a refresh, a new sort): stay on the same photo."""
        row = self.model.row_of(self.path) if self.path else None
        self.row = -1 if row is None else row
        count = self.model.rowCount()
        self.position_label.setText(f"{row + 1:,} of {count:,}" if row is not None
                                    else "no longer among the results")

    # ---------------------------------------------------------------- navigation

    def show_row(self, row: int) -> None:
        count = self.model.rowCount()
        if count == 0:
            return
        row = max(0, min(count - 1, row))
        if row == self.row:
            return
        self.row = row
        hit = self.model.hit(row)
        self.path = self.shown = hit.path
        self.setWindowTitle(f"{Path(hit.path).name} — Preview")
        self.path_label.setText(hit.path)
        self.raw = self.model.raw_at(row)
        self.showing_raw = False
        for widget in (self.raw_label, self.raw_button):
            self.form.setRowVisible(widget, self.raw is not None)
        if self.raw is not None:
            self.raw_label.setText(Path(self.raw).name)
            self.raw_button.setText("Show the RAW")
        self.score_label.setText(f"{hit.score:.3f}")
        self.size_label.setText("…")
        self.dims_label.setText("…")
        self.date_label.setText(_date(hit.taken_at))
        self.tags_label.setText("…")
        self.position_label.setText(f"{row + 1:,} of {count:,}")
        thumb = self.model.loader.pixmap(hit_key(hit))
        self.image.set_image(thumb if thumb is not None else QPixmap())
        self.video = self.model.video_at(row)
        for widget in (self.moment_label, self.open_button):
            self.form.setRowVisible(widget, self.video is not None)
        self.frames.clear()
        self.frames.setVisible(self.video is not None)
        self.moment = None
        if self.video is not None:
            self._load_frames(hit)
            self.show_moment(hit.time if hit.time is not None else None)
        else:
            self._load(hit.path)
        self.engine.photo_info(hit.path)
        self.engine.tags(hit.path)
        self.rowChanged.emit(row)

    # ---------------------------------------------------------------- videos

    def show_moment(self, t: float | None) -> None:
        """Show the video's frame at ``t`` seconds (None: its first sampled frame, once the
        strip knows it), and mark it in the strip."""
        if self.video is None:
            return
        if t is None:
            if not self.frames.count():
                self.moment_label.setText(f"length {duration_text(self.video[1])}")
                return  # the strip's arrival shows the first frame
            t = self.frames.item(0).data(_TIME)
        self.moment = float(t)
        best = self.video[0]
        what = "best match" if best is not None and abs(best - self.moment) < 1e-3 else "frame"
        self.moment_label.setText(f"{what} at {duration_text(self.moment)} of "
                                  f"{duration_text(self.video[1])}")
        self._mark_moment()
        self._generation += 1
        screen = self.screen().availableGeometry().size() if self.screen() else QSize(1600, 1200)
        path, moment = self.path, self.moment
        worker = Worker(lambda _w: load_frame(path, moment, screen), generation=self._generation,
                        name="preview frame")
        worker.signals.result.connect(self._on_image)
        worker.signals.error.connect(self._on_image_failed)
        self.engine.general.start(worker)

    def step_frame(self, step: int) -> None:
        """The video's previous (, key) or next (. key) sampled frame."""
        row = self.frames.currentRow()
        row = max(0, min(self.frames.count() - 1, (row if row >= 0 else 0) + step))
        self.show_moment(self.frames.item(row).data(_TIME))

    def _mark_moment(self) -> None:
        for i in range(self.frames.count()):
            item = self.frames.item(i)
            if self.moment is not None and abs(item.data(_TIME) - self.moment) < 1e-3:
                self.frames.setCurrentItem(item)
                self.frames.scrollToItem(item)
                return

    def _load_frames(self, hit) -> None:
        """The strip: each sampled frame's thumbnail and time, read in a worker."""
        searcher = self.engine.searcher
        library = self.engine.library
        if searcher is None or library is None or not hit.hash:
            return
        self._frames_generation += 1
        catalog, model, hash_ = searcher.catalog, searcher.model, hit.hash

        def job(_w) -> list[tuple[float, QImage]]:
            times = catalog.frame_times(model, hash_)
            fit = QSize(FRAME_TILE, FRAME_TILE)
            return [(t, read_thumbnail(str(library.frame_thumbnail_path(hash_, t)), fit))
                    for t in times]

        worker = Worker(job, generation=self._frames_generation, name="video frames")
        worker.signals.result.connect(self._on_frames)
        self.engine.general.start(worker)

    @Slot(int, object)
    def _on_frames(self, generation: int, frames: list) -> None:
        if generation != self._frames_generation or self.video is None:
            return
        self.frames.clear()
        for t, image in frames:
            item = QListWidgetItem(duration_text(t))
            item.setData(_TIME, float(t))
            if not image.isNull():
                item.setIcon(QIcon(QPixmap.fromImage(image)))
            item.setToolTip(f"{duration_text(t)}: click to see this moment")
            self.frames.addItem(item)
        if self.moment is None and frames:
            self.show_moment(None)
        else:
            self._mark_moment()

    def open_video(self) -> None:
        """The video in the system's player."""
        if self.video is not None:
            desktop.open_file(self.path)

    def toggle_raw(self) -> None:
        """A RAW+JPEG pair: show the RAW (decoded as ClipDesk reads it), or the JPEG again."""
        if self.raw is None:
            return
        self.showing_raw = not self.showing_raw
        self.shown = self.raw if self.showing_raw else self.path
        self.raw_button.setText("Show the JPEG" if self.showing_raw else "Show the RAW")
        self.path_label.setText(self.shown)
        self.setWindowTitle(f"{Path(self.shown).name} — Preview")
        self.size_label.setText("…")
        self.dims_label.setText("…")
        self._load(self.shown)
        self.engine.photo_info(self.shown)

    def _load(self, path: str) -> None:
        self._generation += 1
        screen = self.screen().availableGeometry().size() if self.screen() else QSize(1600, 1200)
        worker = Worker(lambda _w: load_photo(path, screen), generation=self._generation,
                        name="preview image")
        worker.signals.result.connect(self._on_image)
        worker.signals.error.connect(self._on_image_failed)
        self.engine.general.start(worker)

    @Slot(int, object)
    def _on_image(self, generation: int, image: QImage) -> None:
        if generation == self._generation and not image.isNull():
            self.image.set_image(QPixmap.fromImage(image))
            self.loaded_size = image.size()

    @Slot(int, object)
    def _on_image_failed(self, generation: int, error: JobError) -> None:
        """The thumbnail stays up; the reason (damaged, deleted since...) goes in the window."""
        if generation == self._generation:
            self.setWindowTitle(f"{Path(self.shown).name} — cannot show it: {error}")

    @Slot(object)
    def _on_info(self, info: PhotoInfo) -> None:
        if info.path != self.shown:
            return
        self.size_label.setText(_size_text(info.size))
        self.dims_label.setText(f"{info.width:,} × {info.height:,}" if info.width else "—")
        if info.taken_at is not None:
            self.date_label.setText(_date(info.taken_at))

    @Slot(str, object)
    def _on_tags(self, path: str, ranked) -> None:
        if path == self.path:
            self.tags_label.setText(", ".join(label for label, _ in ranked))

    _KEYS = (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown, Qt.Key.Key_Left,
             Qt.Key.Key_Up, Qt.Key.Key_PageUp, Qt.Key.Key_Home, Qt.Key.Key_End, Qt.Key.Key_Space,
             Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter)

    def event(self, event) -> bool:
        """These keys are the dialog's own: no window shortcut (Space = Preview) takes them."""
        if (event.type() == QEvent.Type.ShortcutOverride and event.key() in self._KEYS
                and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_PageDown):
            self.show_row(self.row + 1)
        elif key in (Qt.Key.Key_Left, Qt.Key.Key_Up, Qt.Key.Key_PageUp):
            self.show_row(self.row - 1)
        elif key == Qt.Key.Key_Home:
            self.show_row(0)
        elif key == Qt.Key.Key_End:
            self.show_row(self.model.rowCount() - 1)
        elif key in (Qt.Key.Key_Space, Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.accept()
        elif key == Qt.Key.Key_R and self.raw is not None:
            self.toggle_raw()
        elif key in (Qt.Key.Key_Comma, Qt.Key.Key_Period) and self.frames.count():
            self.step_frame(-1 if key == Qt.Key.Key_Comma else 1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()


def _date(stamp: float | None) -> str:
    if stamp is None:
        return "—"
    try:
        return datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return "—"
