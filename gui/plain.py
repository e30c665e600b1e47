"""User-supplied strings shown as data, never as markup (issue 12.4).

A ``QLabel``, a ``QMessageBox`` and a tooltip guess: text that looks like HTML is rendered as rich
text, so a folder, class or confounder named ``<img src=…>`` or ``<a href=…>`` would draw an image
or a link where its name should be. Labels and message boxes here are plain text; tooltips, which
have no plain mode, get the text escaped inside a rich-text wrapper; a rich-text view (a plot
legend) gets ``escape``.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

if TYPE_CHECKING:  # superqt is imported on first use: the window's frame paints without it
    from superqt import QElidingLabel

PLAIN = Qt.TextFormat.PlainText


def plain_label(text: str = "", parent: QWidget | None = None) -> QLabel:
    label = QLabel(parent)
    label.setTextFormat(PLAIN)
    label.setText(text)
    return label


def plain_eliding_label(text: str = "", parent: QWidget | None = None) -> QElidingLabel:
    from superqt import QElidingLabel

    label = QElidingLabel(parent)
    label.setTextFormat(PLAIN)
    label.setText(text)
    return label


def escape(text: str) -> str:
    """``text`` as HTML that shows it literally."""
    return html.escape(str(text), quote=False)


def tooltip(text: str) -> str:
    """A tooltip that shows ``text`` literally, line breaks kept (a tooltip has no plain mode:
    markup-looking text would be rendered)."""
    return f"<p style='white-space:pre-wrap'>{escape(text)}</p>"


def warning_box(parent: QWidget, title: str, message: str, details: str = "") -> QMessageBox:
    """A non-modal warning that shows ``message`` as plain text and deletes itself when closed."""
    box = QMessageBox(parent)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setTextFormat(PLAIN)
    box.setWindowTitle(title)
    box.setText(message)
    if details:
        box.setDetailedText(details)
    return box
