"""What panels share: the job runner, the settings, the thumbnails, the grid's state, the open
session and signals that carry what in it changed, so a panel updates itself from the payload
without knowing the other panels and without re-reading the project.

Signals, who emits them, who listens:

- ``session_changed(Session | None)``: ``set_session`` (the main window opens or closes a
  project); every panel, the browser and the detail pane.
- ``confounders_changed(Confounders)``: ``publish_confounders``, after the hub read them (a
  project opened, the confounder panel changed one); the confounder, training and map panels,
  the browser's attribute filter, the detail pane.
- ``runs_changed(Runs)``: ``publish_runs``, after the hub read them (a project opened, the
  training panel started or ended a run); the runs table, the training panel (Resume), the
  concepts panel ("against" a run), the map (correctness colours), the browser, the detail pane.
- ``discovery_changed(Discovery | None)``: ``publish_discovery`` (a project opened, the concepts
  panel ran discovery); the concepts panel, the detail pane.
- ``embeddings_changed(str)``: the map, after embedding with a model; the score cache.
- ``concept_bank_changed(dict)``: the concept bank dialog, after saving; the score cache.
- ``confounder_requested(str)``: the concepts panel's "Mark as confounder"; the confounder panel
  (adds it) and the main window (shows that panel).
- ``confounder_selected(str)``: the confounder panel's choice; the training panel.
- ``cleaning_changed(Cleaning)``: ``publish_cleaning``, after the hub read them (a project
  opened, the cleaning panel changed or undid something); the cleaning panel, the grid captions.
- ``status_message(str)``: any panel; the main window's status bar.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from debias_studio.gui import engine
from debias_studio.gui.browser.grid_state import GridState
from debias_studio.gui.session import Session
from debias_studio.gui.settings import Settings
from debias_studio.gui.state import (
    Cleaning,
    Confounders,
    Discovery,
    Runs,
    read_cleaning,
    read_confounders,
    read_discovery,
    read_runs,
)
from debias_studio.gui.thumbnails import ThumbnailLoader
from debias_studio.gui.workers import JobHandle, JobRunner

ScoresDone = Callable[[np.ndarray], None]
ErrorShown = Callable[[str, str], None]


class Hub(QObject):
    session_changed = Signal(object)
    confounders_changed = Signal(object)
    runs_changed = Signal(object)
    discovery_changed = Signal(object)
    embeddings_changed = Signal(str)
    concept_bank_changed = Signal(dict)
    confounder_requested = Signal(str)
    confounder_selected = Signal(str)
    cleaning_changed = Signal(object)
    status_message = Signal(str)

    def __init__(
        self,
        runner: JobRunner,
        settings: Settings,
        thumbnails: ThumbnailLoader,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.settings = settings
        self.thumbnails = thumbnails
        self.grid = GridState(self)
        self.session: Session | None = None
        self._scores: dict[tuple[str, str], np.ndarray] = {}
        """(model, concept) -> standardised scores of every image of the open project."""
        self.embeddings_changed.connect(self._forget_scores)
        self.concept_bank_changed.connect(self._forget_scores)

    # ---- the session and its state -----------------------------------------------------------
    def set_session(self, session: Session | None) -> None:
        """Show ``session`` (None: no project) and read its state in workers."""
        self.session = session
        self._forget_scores()
        self.grid.set_session(session)
        self.session_changed.emit(session)
        if session is not None:
            self.reload_confounders()
            self.reload_runs()
            self.reload_discovery()
            self.reload_cleaning()

    def reload_confounders(self) -> JobHandle | None:
        return self._reload(
            "confounders", lambda s: partial(read_confounders, s.project), self.publish_confounders
        )

    def reload_runs(self) -> JobHandle | None:
        return self._reload(
            "runs", lambda s: partial(read_runs, s.project, s.labels.codes), self.publish_runs
        )

    def reload_discovery(self) -> JobHandle | None:
        return self._reload(
            "discovery", lambda s: partial(read_discovery, s.project), self.publish_discovery
        )

    def reload_cleaning(self) -> JobHandle | None:
        return self._reload(
            "cleaning", lambda s: partial(read_cleaning, s.project), self.publish_cleaning,
            key="cleaning-state",
        )  # fmt: skip

    def _reload(
        self,
        what: str,
        reader: Callable[[Session], Callable[[], Any]],
        publish: Callable[[Session, Any], None],
        *,
        key: str | None = None,
    ) -> JobHandle | None:
        """Read one part of the project's state in a worker and publish it to the session that
        asked: the reader takes its plain inputs from the session here, on the GUI thread."""
        session = self.session
        if session is None:
            return None
        read = reader(session)
        return self.runner.start(
            f"Reading {what}",
            lambda _t: read(),
            key=key or what,
            quiet=True,
            on_done=partial(publish, session),
            on_error=self._report,
        )

    def publish_cleaning(self, session: Session, cleaning: Cleaning) -> None:
        if session is self.session:
            session.cleaning = cleaning  # no grid refresh: that would drop the selection
            self.cleaning_changed.emit(cleaning)

    def publish_confounders(self, session: Session, confounders: Confounders) -> None:
        """Store what was read for ``session`` and announce it (dropped if the project changed
        meanwhile)."""
        if session is self.session:
            session.confounders = confounders
            self.grid.refresh()
            self.confounders_changed.emit(confounders)

    def publish_runs(self, session: Session, runs: Runs) -> None:
        if session is self.session:
            session.runs = runs
            self.grid.refresh()
            self.runs_changed.emit(runs)

    def publish_discovery(self, session: Session, discovery: Discovery | None) -> None:
        if session is self.session:
            session.discovery = discovery
            self.discovery_changed.emit(discovery)

    def _report(self, message: str, _details: str) -> None:
        self.status_message.emit(message)

    # ---- concept scores ----------------------------------------------------------------------
    def request_concept_scores(
        self, concept: str, on_done: ScoresDone, on_error: ErrorShown, key: str
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
        self.runner.start(
            f"Scores of {concept}",
            lambda _t: engine.concept_scores(project, concept, model),
            key=key,
            quiet=True,
            on_done=partial(self._keep_scores, session, cache_key, on_done),
            on_error=on_error,
        )

    def _keep_scores(
        self,
        session: Session,
        cache_key: tuple[str, str],
        on_done: ScoresDone,
        scores: np.ndarray,
    ) -> None:
        if session is self.session:
            self._scores[cache_key] = scores
        on_done(scores)

    def _forget_scores(self, *_: object) -> None:
        self._scores.clear()

    # ---- settings ----------------------------------------------------------------------------
    @property
    def model_name(self) -> str:
        return self.settings.model_name

    @property
    def device(self) -> str | None:
        value = self.settings.device
        return None if value == "auto" else value
