"""The cut-off's "Auto" button: on and off told apart at a glance in the light and the dark
palette (its on-state was the style's pressed-in look, a few grey levels from the flat
off-state in dark mode), in the palette's highlight, rendered offscreen as painted."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPalette

CLEAR = 50  # mean luminance difference (0-255) between on and off that reads at a glance


@pytest.fixture
def follower(qapp):
    """The app's dark-mode follower on the test's QApplication, back to light at the end."""
    from clipdesk.ui.app import ColorSchemeFollower

    follower = ColorSchemeFollower(qapp)
    yield follower
    follower.follow(Qt.ColorScheme.Light)
    follower.setParent(None)


def pixels(image: QImage) -> np.ndarray:
    """The image as an (h, w, 3) RGB array."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(),
                                                              image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])


@pytest.mark.parametrize("scheme", [Qt.ColorScheme.Dark, Qt.ColorScheme.Light],
                         ids=["dark", "light"])
def test_auto_on_and_off_are_clearly_apart_in_the_highlight_colour(qtbot, qapp, follower,
                                                                     scheme):
    from clipdesk.ui.app import is_dark
    from clipdesk.ui.filterbar import CutoffControl

    follower.follow(scheme)
    assert is_dark(qapp.palette()) == (scheme == Qt.ColorScheme.Dark)
    control = CutoffControl()
    qtbot.addWidget(control)
    control.show()
    qtbot.waitExposed(control)
    button = control.auto_button
    assert button.isChecked()  # Auto is on to begin with
    on = pixels(button.grab().toImage())
    control.set_auto(False)
    off = pixels(button.grab().toImage())
    control.set_auto(True)
    assert on.shape == off.shape
    assert abs(luminance(on).mean() - luminance(off).mean()) > CLEAR

    # on: filled with the palette's highlight (the system's accent where it has one)
    palette = button.palette()
    fill = palette.color(QPalette.ColorRole.Highlight)
    h, w, _ = on.shape
    edge = on[h // 2, 3].astype(int)
    assert np.abs(edge - [fill.red(), fill.green(), fill.blue()]).max() <= 8
    # and its words in the highlight's text colour, which stands off the fill
    text = palette.color(QPalette.ColorRole.HighlightedText)
    near_text = np.abs(on.astype(int) - [text.red(), text.green(), text.blue()]).max(axis=2)
    assert (near_text <= 40).sum() >= 10
