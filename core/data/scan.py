"""Finding the images of a class-folder dataset (``root/<class>/**/<image>``).

Listing is cheap and done here, in one thread; whether each file really decodes is checked
afterwards, in parallel (``core.data.validate``). Hidden files and OS clutter are skipped silently;
every other file we cannot use becomes an ``ImageProblem``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from debias_studio.core.data.natural import natural_key
from debias_studio.core.data.problems import ImageProblem
from debias_studio.core.data.rootpaths import DatasetRoot, is_within
from debias_studio.core.errors import DatasetError
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
"""File types we read, compared case-insensitively."""

IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx"})
"""Operating-system clutter that is never part of a dataset (compared case-insensitively)."""

PROGRESS_EVERY = 2000


@dataclass
class FolderScan:
    """Image files found (POSIX path relative to the root, class name) and files we skipped."""

    files: list[tuple[str, str]] = field(default_factory=list)
    problems: list[ImageProblem] = field(default_factory=list)


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def scan_class_folders(root: Path, cancel: CancelToken = NEVER_CANCELLED) -> Job[FolderScan]:
    """List every image below ``root``'s sub-folders; the sub-folder is the image's class.

    Images nested deeper inside a class folder belong to that class. Files lying directly in
    ``root`` have no class and are reported. Linked folders are followed only while they stay
    inside ``root`` (each real folder once, so link loops end)."""
    if not root.exists():
        raise DatasetError(f"The image folder {root} does not exist.")
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder; give a folder with one sub-folder per class.")
    base = DatasetRoot.of(root)
    scan = FolderScan()
    visited: set[str] = {base.real}
    yield Progress(0, 0, "listing files")
    try:
        with os.scandir(base.given) as entries:
            top = sorted(entries, key=lambda e: natural_key(e.name))
    except OSError as exc:
        raise DatasetError(f"Cannot list the image folder {root}: {exc.strerror or exc}.") from exc
    class_dirs: list[os.DirEntry[str]] = []
    for entry in top:
        if _ignored(entry.name):
            continue
        if _is_dir(entry):
            if _enter(entry, base, visited, scan):
                class_dirs.append(entry)
        else:
            scan.problems.append(
                ImageProblem(
                    entry.name,
                    "no_label",
                    "lies directly in the dataset folder, not inside a class folder",
                )
            )
    for class_dir in class_dirs:
        stack = [class_dir.name]
        while stack:
            cancel.raise_if_cancelled()
            folder = stack.pop()
            for entry in _list(base.full_path(folder), folder, scan):
                if _ignored(entry.name):
                    continue
                relative = f"{folder}/{entry.name}"
                if _is_dir(entry):
                    if _enter(entry, base, visited, scan, relative):
                        stack.append(relative)
                elif is_image_name(entry.name):
                    scan.files.append((relative, class_dir.name))
                    if len(scan.files) % PROGRESS_EVERY == 0:
                        yield Progress(len(scan.files), 0, f"found {len(scan.files):,} images")
                else:
                    ext = os.path.splitext(entry.name)[1] or "(none)"
                    scan.problems.append(
                        ImageProblem(
                            relative, "not_an_image", f"file type {ext} is not an image type"
                        )
                    )
    scan.files.sort(key=lambda item: natural_key(item[0]))
    yield Progress(len(scan.files), 0, f"found {len(scan.files):,} images")
    return scan


def _ignored(name: str) -> bool:
    return name.startswith(".") or name.casefold() in IGNORED_NAMES


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows links: a link to a folder counts as a folder
    except OSError:
        return False


def _enter(
    entry: os.DirEntry[str],
    base: DatasetRoot,
    visited: set[str],
    scan: FolderScan,
    relative: str | None = None,
) -> bool:
    """Whether to walk into a folder: not seen before, and (if a link) still inside the root."""
    real = os.path.realpath(entry.path)
    if not is_within(real, base.real):
        scan.problems.append(
            ImageProblem(
                relative or entry.name,
                "outside_root",
                f"is a link to {real}, outside the dataset folder; not followed",
            )
        )
        return False
    if real in visited:
        return False
    visited.add(real)
    return True


def _list(folder: str, relative: str, scan: FolderScan) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except OSError as exc:
        scan.problems.append(
            ImageProblem(relative, "unreadable", f"folder cannot be listed ({exc.strerror or exc})")
        )
        return []
