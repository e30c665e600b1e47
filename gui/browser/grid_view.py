"""The thumbnail grid: ``QListView`` in icon mode with uniform items and batched layout, and a
delegate that paints a cached pixmap (or a placeholder) and the class name under it."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from debias_studio.gui.browser.grid_model import GridModel

PAD = 6
TEXT_HEIGHT = 18


class ThumbnailDelegate(QStyledItemDelegate):
    def __init__(self, thumb_size: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.thumb_size = thumb_size
        self._placeholder = QColor("#e6e6e6")
        self._elided: dict[tuple[str, int], str] = {}

    def cell_size(self) -> QSize:
        return QSize(self.thumb_size + 2 * PAD, self.thumb_size + 2 * PAD + TEXT_HEIGHT)

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return self.cell_size()

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        """Kept lean: it runs once per visible cell per frame, in Python. The grid model is
        asked directly (no QVariant round trip) and elided captions are cached."""
        rect: QRect = option.rect  # type: ignore[attr-defined]
        palette = option.palette  # type: ignore[attr-defined]
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
        model = index.model()
        row = index.row()
        if isinstance(model, GridModel):
            pixmap, text = model.cell(row)
        else:
            pixmap = index.data(Qt.ItemDataRole.DecorationRole)
            text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        if selected:
            painter.fillRect(rect.adjusted(1, 1, -1, -1), palette.highlight().color().lighter(160))
        box = QRect(rect.x() + PAD, rect.y() + PAD, self.thumb_size, self.thumb_size)
        if pixmap is not None and not pixmap.isNull():
            width, height = pixmap.width(), pixmap.height()
            if width == height == self.thumb_size:
                painter.drawPixmap(box.topLeft(), pixmap)
            else:
                scaled = pixmap.size().scaled(box.size(), Qt.AspectRatioMode.KeepAspectRatio)
                target = QRect(0, 0, scaled.width(), scaled.height())
                target.moveCenter(box.center())
                painter.drawPixmap(target, pixmap)
        else:
            painter.fillRect(box, self._placeholder)
        if selected:
            painter.setPen(QPen(palette.highlight().color(), 2))
            painter.drawRect(rect.adjusted(1, 1, -2, -2))
        text_rect = QRect(rect.x() + 2, box.bottom() + 2, rect.width() - 4, TEXT_HEIGHT)
        key = (text, text_rect.width())
        elided = self._elided.get(key)
        if elided is None:
            elided = option.fontMetrics.elidedText(  # type: ignore[attr-defined]
                text, Qt.TextElideMode.ElideRight, text_rect.width()
            )
            if len(self._elided) > 4096:
                self._elided.clear()
            self._elided[key] = elided
        painter.setPen(palette.text().color())
        painter.drawText(text_rect, _CENTRE_TOP, elided)


_CENTRE_TOP = Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop


class GridView(QListView):
    """Virtualised: only visible cells are painted, only painted cells request thumbnails."""

    def __init__(self, thumb_size: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.delegate = ThumbnailDelegate(thumb_size, self)
        self.setItemDelegate(self.delegate)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setUniformItemSizes(True)
        self.setLayoutMode(QListView.LayoutMode.Batched)
        self.setBatchSize(2048)
        self.setMovement(QListView.Movement.Static)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setWrapping(True)
        self.setGridSize(self.delegate.cell_size())
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setDragEnabled(False)
        self.setAcceptDrops(False)
        self.setMinimumSize(2 * thumb_size, 2 * thumb_size)

    def setModel(self, model) -> None:
        super().setModel(model)
        if hasattr(model, "decorations_changed"):
            model.decorations_changed.connect(self.viewport().update)
