"""The app icon, kept as SVG text so that it ships inside the package (``resources/clipdesk.svg``
is the same drawing, for installers and desktop entries; a test keeps the two equal)."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSize
from PySide6.QtGui import QIcon, QPixmap

SVG = """<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">
  <defs>
    <linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#4f8ff7"/>
      <stop offset="1" stop-color="#9cc4ff"/>
    </linearGradient>
  </defs>
  <rect x="16" y="16" width="224" height="224" rx="44" fill="#1f2a44"/>
  <rect x="40" y="48" width="152" height="120" rx="12" fill="url(#sky)"/>
  <circle cx="150" cy="84" r="16" fill="#ffd54a"/>
  <path d="M40 148 L86 100 L122 136 L146 116 L192 160 L192 156 Q192 168 180 168 L52 168
           Q40 168 40 156 Z" fill="#2e7d4f"/>
  <circle cx="160" cy="160" r="40" fill="none" stroke="#ffffff" stroke-width="14"/>
  <line x1="189" y1="189" x2="222" y2="222" stroke="#ffffff" stroke-width="18"
        stroke-linecap="round"/>
</svg>
"""


def app_icon() -> QIcon:
    icon = QIcon()
    for side in (16, 24, 32, 48, 64, 128, 256):
        pixmap = QPixmap(QSize(side, side))
        pixmap.loadFromData(QByteArray(SVG.encode()), "SVG")
        icon.addPixmap(pixmap.scaled(side, side) if pixmap.width() != side else pixmap)
    return icon
