"""Errors the user reads.

Every failure a person can cause or fix (a bad path, a missing column, no network) is raised as a
``StudioError`` whose message is one readable sentence. The CLI prints it as one line and the GUI
shows it in a message box; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class StudioError(Exception):
    """A problem described for the user, in one sentence."""


class DatasetError(StudioError):
    """The dataset cannot be opened at all (as opposed to single bad images, which are reported)."""


class ProjectError(StudioError):
    """The project folder is missing, damaged, locked or from a newer version."""


class ModelUnavailableError(StudioError):
    """Model weights cannot be found locally and cannot be downloaded."""


class JobCancelled(StudioError):
    """A job stopped because the user cancelled it."""

    def __init__(self, message: str = "Cancelled by the user.") -> None:
        super().__init__(message)
