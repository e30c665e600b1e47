"""Errors the user reads.

Every failure a person can cause or fix (a bad path, a missing column, no network) is raised as a
``StudioError`` whose message is one readable sentence. The CLI prints it as one line and the GUI
shows it in a message box; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno


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


_OS_PROBLEMS = {
    errno.ENOSPC: "No space left on the disk: could not write {name}. Free some space and retry.",
    errno.EDQUOT: "The disk quota is exhausted: could not write {name}. Free some space and retry.",
    errno.EROFS: "{name} lies on a read-only disk; choose a folder that can be written.",
    errno.EACCES: "Permission denied: {name}.",
    errno.EPERM: "Not permitted: {name}.",
    errno.EIO: "The disk reported an input/output error on {name}.",
}


def readable(exc: BaseException) -> str | None:
    """The one sentence the user reads for ``exc``: a ``StudioError``'s message, or a description
    of a failure of the machine (full disk, read-only or unreachable file, not enough memory; the
    store turns database failures into ``ProjectError`` itself). None for anything else: a bug,
    which keeps its traceback."""
    if isinstance(exc, StudioError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno in _OS_PROBLEMS:
        name = exc.filename if exc.filename is not None else "a file"
        return _OS_PROBLEMS[exc.errno].format(name=name)
    if isinstance(exc, MemoryError):
        return "Not enough memory for this request; try a smaller batch or image size."
    return None


def require_range(name: str, value: float | None, low: float, high: float) -> None:
    """Raise ``StudioError`` unless ``low <= value <= high`` (None passes: the default applies;
    NaN never passes). ``name`` starts the sentence: "The learning rate", "--cf-size"."""
    if value is None:
        return
    if not low <= value <= high:
        raise StudioError(
            f"{name} must lie between {_number(low)} and {_number(high)} (got {_number(value)})."
        )


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
