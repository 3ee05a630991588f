"""The first run: add photo folders (picker or drag and drop) and get the model, with a
progress bar, Cancel, and what to do offline. ``ModelPanel`` is also the banner the main
view shows while the model is missing or downloading."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from clipdesk.ui.engine import ModelState

OFFLINE_TEXT = (
    "<b>No internet here?</b> Copy a model folder (an ONNX model: <tt>config.json</tt>, "
    "<tt>visual/</tt> and <tt>textual/</tt>) onto this computer and choose it with "
    "<i>Use a model folder…</i>, or start ClipDesk with <tt>--model local-dir:PATH</tt>. "
    "Once downloaded, a model works offline for good."
)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n / 1024:,.0f} kB"


class ModelPanel(QFrame):
    """The model's state, with Download / Cancel / Use a model folder…"""

    downloadRequested = Signal()
    cancelRequested = Signal()
    folderChosen = Signal(str)  # a local-dir: spec

    def __init__(self, parent: QWidget | None = None, banner: bool = False):
        super().__init__(parent)
        self.setObjectName("modelPanel")
        if banner:
            self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QVBoxLayout(self)
        self.state_label = QLabel()
        self.state_label.setWordWrap(True)
        self.state_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.state_label)
        row = QHBoxLayout()
        self.download_button = QPushButton("Download the model")
        self.download_button.clicked.connect(self.downloadRequested)
        self.folder_button = QPushButton("Use a model folder…")
        self.folder_button.clicked.connect(self._choose_folder)
        self.progress = QProgressBar()
        self.progress.setMinimumWidth(200)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancelRequested)
        row.addWidget(self.download_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        row.addWidget(self.folder_button)
        row.addStretch()
        layout.addLayout(row)
        self.offline_label = QLabel(OFFLINE_TEXT)
        self.offline_label.setWordWrap(True)
        layout.addWidget(self.offline_label)
        self.set_state(ModelState.UNKNOWN, "")

    def set_state(self, state: ModelState, message: str) -> None:
        downloading = state is ModelState.DOWNLOADING
        missing = state in (ModelState.MISSING, ModelState.FAILED)
        self.state_label.setText(message or {
            ModelState.UNKNOWN: "Opening the library…",
            ModelState.LOADING: "Loading the model…",
            ModelState.READY: "The model is ready.",
        }.get(state, ""))
        self.download_button.setVisible(missing)
        self.folder_button.setVisible(missing)
        self.offline_label.setVisible(missing)
        self.progress.setVisible(downloading or state is ModelState.LOADING)
        self.cancel_button.setVisible(downloading)
        if state is ModelState.LOADING:
            self.progress.setRange(0, 0)
        elif downloading:
            self.progress.setRange(0, 0)  # until the first bytes tell the size

    def set_progress(self, name: str, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.state_label.setText(f"Downloading {name}: {_mib(done)} of {_mib(total)}")
        else:
            self.state_label.setText(f"Downloading {name}: {_mib(done)}")

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder")
        if folder:
            self.folderChosen.emit(f"local-dir:{folder}")


class WelcomeView(QWidget):
    """Shown while the library has no folders."""

    foldersChosen = Signal(list)  # [Path]

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        box = QWidget()
        box.setMaximumWidth(720)
        layout = QVBoxLayout(box)
        title = QLabel("<h1>Welcome to ClipDesk</h1>")
        intro = QLabel("Find your photos by what they show: type what you remember, or show "
                       "ClipDesk a photo and ask for similar ones. Everything stays on this "
                       "computer; ClipDesk only reads your photos.")
        intro.setWordWrap(True)
        step1 = QLabel("<h3>1. Add your photo folders</h3>")
        self.add_button = QPushButton("Add a folder…")
        self.add_button.setDefault(True)
        self.add_button.clicked.connect(self._pick)
        drop = QLabel("…or drag folders onto this window.")
        step1_row = QHBoxLayout()
        step1_row.addWidget(self.add_button)
        step1_row.addWidget(drop)
        step1_row.addStretch()
        step2 = QLabel("<h3>2. The model</h3>")
        self.model_panel = ModelPanel(self)
        for widget in (title, intro, step1):
            layout.addWidget(widget)
        layout.addLayout(step1_row)
        layout.addWidget(step2)
        layout.addWidget(self.model_panel)
        centre = QHBoxLayout()
        centre.addStretch(1)
        centre.addWidget(box, 3)
        centre.addStretch(1)
        outer.addLayout(centre)
        outer.addStretch(2)

    def _pick(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a photo folder")
        if folder:
            self.foldersChosen.emit([Path(folder)])
