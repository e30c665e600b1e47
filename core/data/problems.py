"""What can be wrong with one file of a dataset.

Kept apart from ``core.data.dataset`` so that the modules that find problems (folder scan, path
checks, image checks) can create them without importing the dataset loaders.
"""

from __future__ import annotations

from dataclasses import dataclass

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
}
"""Every problem code, with the short phrase a summary shows for it (in this order)."""


@dataclass(frozen=True)
class ImageProblem:
    """One file we could not use, and why, in words a user understands."""

    path: str
    problem: str  # missing | empty | unreadable | truncated | not_an_image | too_large |
    #               outside_root | duplicate | unknown_label | no_label
    detail: str
