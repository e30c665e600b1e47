"""What panels share: the job runner, the browser, the settings, and signals that say what in the
open project changed, so each panel refreshes itself without knowing the others."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from gui.settings import Settings
from gui.workers import JobRunner

if TYPE_CHECKING:
    from gui.browser.browser_widget import BrowserWidget
    from gui.browser.detail_pane import DetailPane
    from gui.session import Session


class Hub(QObject):
    session_changed = Signal(object)  # Session | None
    embeddings_changed = Signal()
    discovery_changed = Signal()
    confounders_changed = Signal()
    runs_changed = Signal()
    runs_listed = Signal(list)  # the project's runs as read by the runs table
    status_message = Signal(str)

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

    @property
    def model_name(self) -> str:
        return self.settings.model_name

    @property
    def device(self) -> str | None:
        value = self.settings.device
        return None if value == "auto" else value
