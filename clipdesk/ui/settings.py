"""The app's settings: typed values with defaults in an INI file, and the dialog that edits them.

The file is ``clipdesk.ini`` in ``clipdesk.core.paths.config_dir()`` (``CLIPDESK_CONFIG_DIR``
overrides it, which the tests use). ``VERSION`` and ``UPGRADES`` carry old files forward
(Picard's versioned settings).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from clipdesk.core.paths import config_dir

VERSION = 1
THUMB_SIZES = (96, 128, 160, 192, 224, 256, 320)
DEVICES = ("auto", "cpu", "cuda", "mps")


def settings_file() -> Path:
    return config_dir() / "clipdesk.ini"


@dataclass
class Settings:
    """What the user chose. ``model`` empty means: the library's model, else the default."""

    model: str = ""
    device: str = "auto"
    workers: int = 0  # decoding threads while indexing; 0 = automatic
    int8: bool = False  # int8 image model on the CPU (see export.quantized_visual)
    thumb_size: int = 160  # tile size in the grid, pixels
    show_scores: bool = True
    pair_raws: bool = True  # a RAW and the JPEG of its shot show as one photo (core.pairs)
    sort: str = "relevance"  # or "date"
    max_results: int = 2000
    cutoff: int = 0  # relevance cut-off slider, percent of the score range
    # the window's layout, remembered across runs (ui.sidebar.SidebarControl)
    window_geometry: str = ""  # QWidget.saveGeometry() as hex; empty: the default size
    sidebar_width: int = 220  # pixels
    sidebar_visible: bool = True

    @classmethod
    def load(cls, path: Path | None = None) -> Settings:
        store = _store(path)
        _upgrade(store)
        out = cls()
        for f in fields(cls):
            if store.contains(f.name):
                default = getattr(out, f.name)
                setattr(out, f.name, _typed(store.value(f.name), type(default), default))
        out.thumb_size = min(THUMB_SIZES, key=lambda s: abs(s - out.thumb_size))
        if out.device not in DEVICES:
            out.device = "auto"
        if out.sort not in ("relevance", "date"):
            out.sort = "relevance"
        out.workers = max(0, min(64, out.workers))
        out.cutoff = max(0, min(100, out.cutoff))
        out.sidebar_width = max(120, min(800, out.sidebar_width))
        return out

    def save(self, path: Path | None = None) -> None:
        store = _store(path)
        store.setValue("version", VERSION)
        for f in fields(self):
            store.setValue(f.name, getattr(self, f.name))
        store.sync()


def _store(path: Path | None) -> QSettings:
    path = path or settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    return QSettings(os.fspath(path), QSettings.Format.IniFormat)


def _typed(raw, kind: type, default):
    """QSettings gives strings back from INI files; turn them into the field's type."""
    try:
        if kind is bool:
            return raw if isinstance(raw, bool) else str(raw).lower() in ("true", "1", "yes")
        return kind(raw)
    except (TypeError, ValueError):
        return default


# Each function takes the store from version i + 1 to i + 2 (UPGRADES[0]: 1 -> 2, ...).
UPGRADES: list = []


def _upgrade(store: QSettings) -> None:
    version = _typed(store.value("version", VERSION), int, VERSION)
    for step in UPGRADES[max(0, version - 1):]:
        step(store)
    if version != VERSION:
        store.setValue("version", VERSION)


# ---------------------------------------------------------------------------- the dialog


CUSTOM = "Custom…"


class SettingsDialog(QDialog):
    """Model (a good choice from a list, or any spec), device, threads, thumbnail size."""

    def __init__(self, settings: Settings, current_model: str, parent: QWidget | None = None):
        from clipdesk.core.models import KNOWN_SPECS

        super().__init__(parent)
        self.setWindowTitle("ClipDesk settings")
        self.settings = settings
        form = QFormLayout()

        self.model_combo = QComboBox()
        for spec, note in KNOWN_SPECS:
            self.model_combo.addItem(f"{spec} — {note}", spec)
        self.model_combo.addItem(CUSTOM, CUSTOM)
        self.custom_edit = QLineEdit()
        self.custom_edit.setPlaceholderText("ARCH:PRETRAINED, hf-hub:ORG/REPO or local-dir:PATH")
        browse = QPushButton("Model folder…")
        browse.setToolTip("Use a model folder on this computer (works offline)")
        browse.clicked.connect(self._browse)
        custom_row = QHBoxLayout()
        custom_row.addWidget(self.custom_edit, 1)
        custom_row.addWidget(browse)
        self.model_note = QLabel("Changing the model re-indexes your photos in the background; "
                                 "searches keep using the current model until it is done.")
        self.model_note.setWordWrap(True)
        form.addRow("Model:", self.model_combo)
        form.addRow("", custom_row)
        form.addRow("", self.model_note)

        self.device_combo = QComboBox()
        for dev in DEVICES:
            label = {"auto": "Automatic (ONNX Runtime; an accelerator it supports, else the CPU)",
                     "cpu": "CPU (ONNX Runtime)", "cuda": "cuda (NVIDIA GPU, needs PyTorch)",
                     "mps": "mps (Apple GPU, needs PyTorch)"}.get(dev, dev)
            self.device_combo.addItem(label, dev)
        self.device_combo.setCurrentIndex(max(0, DEVICES.index(settings.device)))
        form.addRow("Processor:", self.device_combo)

        self.workers_spin = QSpinBox()
        self.workers_spin.setRange(0, 64)
        self.workers_spin.setSpecialValueText("Automatic")
        self.workers_spin.setValue(settings.workers)
        form.addRow("Reading threads:", self.workers_spin)

        self.int8_check = QCheckBox("Faster indexing on the processor (int8; from the next start)")
        self.int8_check.setToolTip("Runs the image model in 8-bit integers on the CPU (ONNX "
                                   "Runtime's quantization): less work per photo; results stay "
                                   "almost the same")
        self.int8_check.setChecked(settings.int8)
        form.addRow("", self.int8_check)

        self.thumb_combo = QComboBox()
        for size in THUMB_SIZES:
            self.thumb_combo.addItem(f"{size} px", size)
        self.thumb_combo.setCurrentIndex(THUMB_SIZES.index(settings.thumb_size))
        form.addRow("Thumbnail size:", self.thumb_combo)

        self.scores_check = QCheckBox("Show the score under each photo")
        self.scores_check.setChecked(settings.show_scores)
        form.addRow("", self.scores_check)

        self.pairs_check = QCheckBox("Show a RAW and the JPEG of the same shot as one photo")
        self.pairs_check.setToolTip("IMG_0001.CR2 and IMG_0001.JPG in one folder show as the "
                                    "JPEG with a RAW badge; untick to see both files")
        self.pairs_check.setChecked(settings.pair_raws)
        form.addRow("", self.pairs_check)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)

        chosen = settings.model or current_model
        at = self.model_combo.findData(chosen)
        if at >= 0:
            self.model_combo.setCurrentIndex(at)
        else:
            self.model_combo.setCurrentIndex(self.model_combo.findData(CUSTOM))
            self.custom_edit.setText(chosen)
        self.model_combo.currentIndexChanged.connect(self._sync_custom)
        self._sync_custom()

    def _sync_custom(self) -> None:
        self.custom_edit.setEnabled(self.model_combo.currentData() == CUSTOM)

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model folder")
        if folder:
            self.model_combo.setCurrentIndex(self.model_combo.findData(CUSTOM))
            self.custom_edit.setText(f"local-dir:{folder}")

    def chosen_model(self) -> str:
        data = self.model_combo.currentData()
        return self.custom_edit.text().strip() if data == CUSTOM else data

    def accept(self) -> None:
        from clipdesk.core.errors import ClipDeskError
        from clipdesk.core.models import ModelSpec

        spec = self.chosen_model()
        try:
            spec = ModelSpec.parse(spec).text
        except ClipDeskError as exc:
            self.model_note.setText(str(exc))
            self.model_note.setStyleSheet("color: palette(highlight);")
            self.custom_edit.setFocus(Qt.FocusReason.OtherFocusReason)
            return
        self.settings.model = spec
        self.settings.device = self.device_combo.currentData()
        self.settings.workers = self.workers_spin.value()
        self.settings.int8 = self.int8_check.isChecked()
        self.settings.thumb_size = self.thumb_combo.currentData()
        self.settings.show_scores = self.scores_check.isChecked()
        self.settings.pair_raws = self.pairs_check.isChecked()
        super().accept()
