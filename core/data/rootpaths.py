"""Keeping a dataset's files inside its root folder.

A manifest is data from someone else: a path such as ``../../etc/passwd``, an absolute path to
another disk, or a symbolic link that points out of the dataset must never be read. We check twice:
lexically when the path is read (``relative_to_root``), and on the real file system at the moment
a file is opened (``core.data.access.open_dataset_file``), which also catches links.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DatasetRoot:
    """The dataset folder, both as the user named it and with every link resolved."""

    given: str  # absolute, normalised, links kept
    real: str  # absolute, links resolved

    @classmethod
    def of(cls, folder: Path) -> DatasetRoot:
        return cls(os.path.abspath(folder), os.path.realpath(folder))

    def full_path(self, relative: str) -> str:
        return os.path.join(self.given, relative)


def is_within(path: str, folder: str) -> bool:
    """True when the absolute, normalised ``path`` is ``folder`` or lies below it."""
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives, or relative vs absolute
        return False


def relative_to_root(raw: str, root: DatasetRoot) -> str | None:
    """The POSIX path of ``raw`` relative to the root, or None when it leads outside.

    ``raw`` is a path as written in a manifest: relative to the root or absolute, with ``/`` or
    Windows ``\\`` separators (manifests travel between systems), possibly with ``.`` and ``..``.
    """
    text = raw.strip().replace("\\", "/")
    if not text:
        return None
    parts = text.split("/")
    if parts[0] and "" not in parts and "." not in parts and ".." not in parts:
        return text  # already plain and relative (the common case; 20x faster than normalising)
    if os.path.isabs(text):
        full = os.path.normpath(text)
        for base in (root.given, root.real):
            if is_within(full, base) and full != base:
                return _posix(os.path.relpath(full, base))
        # The absolute path may reach the root through a linked parent folder.
        real = os.path.realpath(full)
        if is_within(real, root.real) and real != root.real:
            return _posix(os.path.relpath(real, root.real))
        return None
    full = os.path.normpath(os.path.join(root.given, text))
    if not is_within(full, root.given) or full == root.given:
        return None
    return _posix(os.path.relpath(full, root.given))


def _posix(path: str) -> str:
    return path.replace(os.sep, "/")
