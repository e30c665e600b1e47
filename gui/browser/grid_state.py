"""What the grid shows and which of it is selected: the model the browser observes.

Panels never touch the browser's widgets. The concepts panel filters to a class and sorts by a
concept, the confounder panel shows a group, the map selects what the lasso encloses: each sets
this state, and the browser (its filter bar, chips, grid and selection) follows the signals.
The browser's own filter bar and the user's clicks in the grid set the same state, so every
panel reads one truth (``selection``) instead of asking a widget.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PySide6.QtCore import QObject, Signal

from debias_studio.gui.browser.filters import Filters, Mask, Sort, apply_filters
from debias_studio.gui.session import Session

NO_IDS = np.zeros(0, dtype=np.int64)


class GridState(QObject):
    filters_changed = Signal(object)  # Filters
    shown_changed = Signal(object)  # int64 image ids in display order
    selection_changed = Signal(object)  # int64 image ids, ascending
    current_changed = Signal(object)  # image id, or None

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.filters = Filters()
        self.shown = NO_IDS
        self.selection = NO_IDS
        self.current: int | None = None

    def set_session(self, session: Session | None) -> None:
        self.session = session
        self.current = None
        self.current_changed.emit(None)
        self._apply(Filters())

    # ---- filters -----------------------------------------------------------------------------
    def set_label(self, label: int | None) -> None:
        self._apply(replace(self.filters, label=label))

    def set_split(self, split: int | None) -> None:
        self._apply(replace(self.filters, split=split))

    def set_attribute(self, attribute: tuple[str, int] | None) -> None:
        self._apply(replace(self.filters, attribute=attribute))

    def set_mask(self, key: str, mask: Mask | None) -> None:
        """Add (or with None remove) a filter set by a panel, shown as a removable chip."""
        masks = {k: m for k, m in self.filters.masks.items() if k != key}
        if mask is not None:
            masks[key] = mask
        self._apply(replace(self.filters, masks=masks))

    def set_sort(self, scores: np.ndarray | None, name: str = "", subtitles: bool = True) -> None:
        """Sort by a score per image, highest first (None: image order)."""
        sort = None if scores is None else Sort(np.asarray(scores), name, subtitles)
        self._apply(replace(self.filters, sort=sort))

    def refresh(self) -> None:
        """Recompute the shown ids with the same filters: a column they use changed (a
        confounder's values, the latest run)."""
        self._show()

    def _apply(self, filters: Filters) -> None:
        self.filters = filters
        self.filters_changed.emit(filters)
        self._show()

    def _show(self) -> None:
        session = self.session
        self.shown = NO_IDS if session is None else apply_filters(session, self.filters)
        self.shown_changed.emit(self.shown)
        self.select(NO_IDS)  # the grid was rebuilt: nothing of it is selected

    # ---- selection ---------------------------------------------------------------------------
    def select(self, image_ids: np.ndarray) -> None:
        """Select these images, those the grid shows (the rest cannot be selected)."""
        ids = np.asarray(image_ids, dtype=np.int64)
        ids = np.intersect1d(ids, self.shown) if len(ids) else NO_IDS
        if np.array_equal(ids, self.selection):
            return
        self.selection = ids
        self.selection_changed.emit(ids)

    def set_current(self, image_id: int | None) -> None:
        """The image the detail pane shows."""
        if image_id != self.current:
            self.current = image_id
            self.current_changed.emit(image_id)
