"""The one door to a dataset's files.

A dataset, a manifest or a project folder may come from someone else, and the files below a
dataset folder may change after it was scanned (an image replaced by a link to ``~/.ssh``). So
every read of a dataset file - decoding for thumbnails, embedding, training, counterfactuals and
report figures, copying and linking for an export, reading masks - opens it here, and here only:

1. the stored path must be plain and relative (no absolute path, no ``..``, no NUL byte);
2. its real path (links resolved) must lie inside the dataset folder's real path - so a link out
   is refused without its target ever being opened;
3. the file is opened (without blocking: a FIFO planted in a dataset must not hang us);
4. the path of what was *really* opened - read back from the open descriptor, so a link swapped
   in between steps 2 and 3 cannot slip through - must again lie inside the dataset folder, and
   it must be a regular file.

Links that stay inside the dataset folder are fine (datasets are often assembled from links);
anything that leads out is refused with ``ImageReadError("outside_root", ...)``, which names the
place it leads to. Loaders report such a file as one problem; exports refuse to run.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from debias_studio.core.data.problems import ImageProblem, ImageReadError
from debias_studio.core.data.rootpaths import DatasetRoot, is_within

RootLike = DatasetRoot | str | os.PathLike[str]

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_NOCTTY", 0)
)
_PROC_FD = "/proc/self/fd"
_HAS_PROC_FD = os.path.isdir(_PROC_FD)
COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class DatasetPath:
    """A file named by its dataset folder and its path relative to it (what a placement or a
    worker process carries instead of a bare path, so that opening it cannot skip the check)."""

    root: DatasetRoot
    relative: str

    def __str__(self) -> str:
        return self.root.full_path(self.relative)


@dataclass
class DatasetFile:
    """A dataset file opened through ``open_dataset_file``: a binary handle on exactly the file
    that was checked, with that file's real path and fingerprint."""

    handle: BinaryIO
    real_path: str
    size: int
    mtime_ns: int

    def close(self) -> None:
        self.handle.close()

    def __enter__(self) -> DatasetFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def as_root(root: RootLike) -> DatasetRoot:
    return root if isinstance(root, DatasetRoot) else DatasetRoot.of(Path(root))


def plain_relative(relative: object) -> str | None:
    """``relative`` when it is a plain path below a folder (what the loaders store), else None:
    empty, absolute, with a ``..`` step or a NUL byte."""
    return relative if path_refusal(relative) is None else None  # type: ignore[return-value]


def path_refusal(relative: object) -> ImageReadError | None:
    """Why a stored path is never opened, or None when it is plain and relative."""
    if not isinstance(relative, str) or not relative:
        return ImageReadError("missing", "no path given")
    if "\x00" in relative:
        return ImageReadError("unreadable", "the path holds a NUL byte")
    parts = relative.replace("\\", "/").split("/")
    drive = os.name == "nt" and len(parts[0]) == 2 and parts[0][1] == ":"  # C:relative
    if relative.startswith(("/", "\\")) or os.path.isabs(relative) or drive:
        return ImageReadError(
            "outside_root",
            f"the path {relative!r} is absolute; only files inside the dataset folder are read",
        )
    if ".." in parts:
        return ImageReadError(
            "outside_root", f"the path {relative!r} leads outside the dataset folder"
        )
    return None


def open_dataset_file(root: RootLike, relative: str) -> DatasetFile:
    """Open ``relative`` below ``root`` for reading, refusing anything outside the root.

    Raises ``ImageReadError`` (``missing``, ``unreadable``, ``outside_root``, ``not_an_image``)."""
    base = as_root(root)
    refusal = path_refusal(relative)
    if refusal is not None:
        raise refusal
    if os.path.dirname(base.real) == base.real:
        raise ImageReadError(
            "outside_root",
            f"the dataset folder is the whole file system ({base.real}); it must be a folder "
            "of its own",
        )
    full = base.full_path(relative)
    _check_inside(os.path.realpath(full), base)  # a link out is refused before it is opened
    fd = _open_descriptor(full)
    try:
        real = _opened_real_path(fd, full)
        _check_inside(real, base)  # ... and so is one swapped in since
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            what = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ImageReadError("not_an_image", f"is {what}, not an image file")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return DatasetFile(handle, real, int(info.st_size), int(info.st_mtime_ns))


def place_dataset_file(source: DatasetPath, dest: str | os.PathLike[str], mode: str) -> None:
    """Put the dataset file ``source`` at ``dest`` as a copy, a hard link or a symbolic link to
    its real path, after the same checks as any read. ``OSError`` from ``dest``'s side passes
    through (the caller words disk-full, cross-device and the like)."""
    with open_dataset_file(source.root, source.relative) as opened:
        if mode == "copy":
            with open(dest, "xb") as out:
                shutil.copyfileobj(opened.handle, out, COPY_CHUNK)
        elif mode == "hardlink":
            os.link(opened.real_path, dest, follow_symlinks=False)
            _same_file_or_undo(dest, opened)
        elif mode == "symlink":
            os.symlink(opened.real_path, dest)
        else:
            raise ValueError(f"unknown placement mode {mode!r}")


def stored_path_problems(table: pd.DataFrame) -> list[ImageProblem]:
    """One problem per image or mask path of a stored dataset table that is not plain and
    relative. A project folder may come from someone else; such rows stay in the table (image
    ids are row positions) but ``open_dataset_file`` never opens them."""
    problems = []
    for column, what in (("path", "image"), ("mask", "mask")):
        if column not in table.columns:
            continue
        for value in table[column].tolist():
            if column == "mask" and (value is None or value == "" or value != value):
                continue  # no mask (NaN != NaN)
            refusal = path_refusal(value)
            if refusal is not None:
                detail = f"the project lists this {what} but {refusal.detail}; it is never read"
                problems.append(ImageProblem(str(value), refusal.problem, detail))
    return problems


def _check_inside(real: str, base: DatasetRoot) -> None:
    if not is_within(real, base.real):
        raise ImageReadError("outside_root", f"is a link to {real}, outside the dataset folder")


def _open_descriptor(full: str) -> int:
    try:
        return os.open(full, _OPEN_FLAGS)
    except FileNotFoundError as exc:
        broken = os.path.islink(full)
        raise ImageReadError("missing", "is a broken link" if broken else "file not found") from exc
    except PermissionError as exc:
        raise ImageReadError("unreadable", "permission denied") from exc
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ImageReadError("unreadable", f"cannot open ({reason})") from exc


def _opened_real_path(fd: int, full: str) -> str:
    """Where the descriptor really points (the kernel's answer, not a second path lookup)."""
    if _HAS_PROC_FD:
        try:
            return os.readlink(f"{_PROC_FD}/{fd}")
        except OSError:
            pass
    try:
        import fcntl

        if hasattr(fcntl, "F_GETPATH"):  # macOS
            raw = fcntl.fcntl(fd, fcntl.F_GETPATH, bytes(1024))
            return os.fsdecode(raw.rstrip(b"\x00"))
    except (ImportError, OSError):
        pass
    return os.path.realpath(full)


def _same_file_or_undo(dest: str | os.PathLike[str], opened: DatasetFile) -> None:
    """A hard link made by name must be the file that was checked; undo it if the name was
    swapped in between."""
    linked = os.lstat(dest)
    checked = os.fstat(opened.handle.fileno())
    if (linked.st_dev, linked.st_ino) != (checked.st_dev, checked.st_ino):
        os.unlink(dest)
        raise ImageReadError("outside_root", "changed while it was being linked; not exported")
