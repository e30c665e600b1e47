"""What panels share: the job runner, the browser, the settings, and signals that say what in the
open project changed, so each panel refreshes itself without knowing the others."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QObject, Signal

from debias_studio.gui import engine
from debias_studio.gui.settings import Settings
from debias_studio.gui.workers import JobRunner

if TYPE_CHECKING:
    from debias_studio.gui.browser.browser_widget import BrowserWidget
    from debias_studio.gui.browser.detail_pane import DetailPane
    from debias_studio.gui.session import Session


class Hub(QObject):
    session_changed = Signal(object)  # Session | None
    embeddings_changed = Signal()
    discovery_changed = Signal()
    confounders_changed = Signal()
    runs_changed = Signal()
    runs_listed = Signal(list)  # the project's runs as read by the runs table
    status_message = Signal(str)
    concept_bank_changed = Signal()

    def __init__(
        self,
        runner: JobRunner,
        settings: Settings,
        browser: BrowserWidget,
        detail: DetailPane,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.settings = settings
        self.browser = browser
        self.detail = detail
        self.session: Session | None = None
        self._scores: dict[tuple[str, str], np.ndarray] = {}
        """(model, concept) -> standardised scores of every image of the open project."""
        for change in (self.session_changed, self.embeddings_changed, self.concept_bank_changed):
            change.connect(self._scores.clear)

    def request_concept_scores(
        self,
        concept: str,
        on_done: Callable[[np.ndarray], None],
        on_error: Callable[[str, str], None],
        key: str,
    ) -> None:
        """One concept's score for every image, computed in a worker once per project, model and
        concept bank, and shared: the concepts table (grid sort) and the confounder threshold
        preview ask for the same concept one after the other."""
        session = self.session
        if session is None:
            return
        cache_key = (self.model_name, concept)
        cached = self._scores.get(cache_key)
        if cached is not None:
            on_done(cached)
            return
        project, model = session.project, self.model_name

        def keep(scores: np.ndarray) -> None:
            if self.session is session:
                self._scores[cache_key] = scores
            on_done(scores)

        self.runner.start(
            f"Scores of {concept}",
            lambda _t: engine.concept_scores(project, concept, model),
            key=key,
            quiet=True,
            on_done=keep,
            on_error=on_error,
        )

    @property
    def model_name(self) -> str:
        return self.settings.model_name

    @property
    def device(self) -> str | None:
        value = self.settings.device
        return None if value == "auto" else value
