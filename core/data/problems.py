"""What can be wrong with one file of a dataset.

Kept apart from ``core.data.dataset`` so that the modules that find problems (folder scan, path
checks, file access, image checks) can create them without importing the dataset loaders.
"""

from __future__ import annotations

from dataclasses import dataclass

from debias_studio.core.errors import StudioError

PROBLEM_KINDS: dict[str, str] = {
    "missing": "file not found",
    "empty": "file is empty (0 bytes)",
    "unreadable": "file cannot be read",
    "truncated": "image data is cut short or damaged",
    "not_an_image": "not an image file",
    "too_large": "image has too many pixels (decompression bomb guard)",
    "outside_root": "path leads outside the dataset folder",
    "duplicate": "path listed more than once",
    "unknown_label": "label is not one of the expected classes",
    "no_label": "no label",
    "bad_label": "label is a missing value or not a single value",
    "bad_row": "manifest row cannot be read",
    "mask_size": "mask does not have its image's size",
}
"""Every problem code, with the short phrase a summary shows for it (in this order)."""


@dataclass(frozen=True)
class ImageProblem:
    """One file we could not use, and why, in words a user understands."""

    path: str
    problem: str  # one of PROBLEM_KINDS
    detail: str


class ImageReadError(StudioError):
    """A dataset file we cannot use: ``problem`` is a key of ``PROBLEM_KINDS``, ``detail`` says
    why in words. A ``StudioError``, so that one that is not caught and reported per file still
    reaches the user as one line rather than a traceback."""

    def __init__(self, problem: str, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail
