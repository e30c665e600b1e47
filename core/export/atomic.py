"""All or nothing: an export is built in a hidden folder beside its target and renamed at the end.

The staging folder ``.<name>.partial-<pid>-<token>`` lies in the target's parent, so the final
``os.replace`` is a rename on one file system: the target either does not exist, holds the
previous export, or holds the complete new one - never half of it. A cancelled or failed export
removes its staging folder; one killed outright leaves it behind, and the next export to the same
target removes it once its process is gone. Files are flushed to disk (fsync) before the rename so
that a power cut cannot leave a complete-looking folder of empty files.

Every committed export carries a marker file (``MARKER``) listing the entries it wrote. With
``overwrite``, a non-empty folder is replaced only when it is recognisably an earlier export of
ours: it has the marker, holds nothing the marker does not list and no project; and an export
never goes into, around or inside a dataset or a project folder (``check_not_inside``).
``overwrite_preview`` says what an overwrite would remove, for the GUI to show first.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from debias_studio.core.errors import StudioError

PARTIAL = ".partial-"
OLD = ".replaced-"
MARKER = ".debias-studio-export"
MARKER_FORMAT = "debias-studio-export"
PROJECT_FILE = "project.sqlite"


class ExportTarget:
    """The staging folder of one export into ``target``; ``commit`` makes it the target."""

    def __init__(self, target: Path, *, overwrite: bool = False) -> None:
        self.target = Path(target).absolute()
        self.overwrite = overwrite
        check_target(self.target, overwrite)
        remove_stale_partials(self.target)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        token = secrets.token_hex(4)
        self.staging = self.target.parent / f".{self.target.name}{PARTIAL}{os.getpid()}-{token}"
        self.staging.mkdir()
        self._written: list[Path] = []

    def path(self, relative: str | Path) -> Path:
        """Where ``relative`` goes inside the staging folder (its parent folder is created)."""
        path = self.staging / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def written(self, path: Path) -> None:
        """Note a file written by a writer of its own (pandas, PIL) for the final fsync."""
        self._written.append(path)

    def write_bytes(self, relative: str | Path, data: bytes) -> Path:
        path = self.path(relative)
        with open(path, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        return path

    def write_text(self, relative: str | Path, text: str) -> Path:
        return self.write_bytes(relative, text.encode("utf-8"))

    def commit(self) -> Path:
        """Flush everything and put the staging folder in the target's place."""
        entries = sorted(os.listdir(self.staging))
        self.write_text(MARKER, json.dumps({"format": MARKER_FORMAT, "entries": entries}))
        for path in self._written:
            _fsync_file(path)
        for folder in _folders(self.staging):
            _fsync_dir(folder)
        old: Path | None = None
        if self.target.exists() or self.target.is_symlink():
            if _non_empty(self.target):
                if not self.overwrite:
                    raise StudioError(
                        f"{self.target} was filled while exporting; nothing was replaced."
                    )
                check_replaceable(self.target)
            old = self.target.parent / f".{self.target.name}{OLD}{secrets.token_hex(4)}"
            os.replace(self.target, old)
        try:
            os.replace(self.staging, self.target)
        except OSError:
            if old is not None:
                os.replace(old, self.target)
            raise
        _fsync_dir(self.target.parent)
        if old is not None:
            _remove(old)
        return self.target

    def abort(self) -> None:
        """Remove everything this export wrote (the target is untouched)."""
        _remove(self.staging)


@dataclass
class OverwritePreview:
    """What replacing an earlier export would remove."""

    folder: Path
    entries: list[str]
    files: int
    bytes: int

    def sentence(self) -> str:
        shown = ", ".join(self.entries[:8]) + (", ..." if len(self.entries) > 8 else "")
        return (
            f"Replacing {self.folder} removes the earlier export there: {self.files} files "
            f"({self.bytes / 1e6:.1f} MB) in {shown}."
        )


def check_target(target: Path, overwrite: bool) -> None:
    """Refuse a target that is a file, a non-empty folder without ``overwrite``, or with it one
    that is not an earlier export of ours."""
    if target.is_file() or (target.is_symlink() and not target.is_dir()):
        raise StudioError(f"The export target {target} is a file; choose a folder.")
    if target.is_dir() and _non_empty(target):
        if not overwrite:
            raise StudioError(
                f"The export folder {target} is not empty; choose an empty folder or allow "
                "overwriting (--overwrite)."
            )
        check_replaceable(target)


def check_replaceable(folder: Path) -> list[str]:
    """The entries of an earlier export in ``folder``; refuses anything else."""
    entries = _marker_entries(folder)
    if entries is None:
        raise StudioError(
            f"The folder {folder} is not an earlier export of Debias Studio (it has no "
            f"{MARKER} file), so it is never replaced; choose an empty or new folder."
        )
    foreign = sorted(set(os.listdir(folder)) - set(entries) - {MARKER})
    if foreign:
        raise StudioError(
            f"The earlier export in {folder} now also holds {', '.join(foreign[:5])}, which the "
            "export did not write; nothing was replaced (move them, or choose another folder)."
        )
    for dirpath, _dirs, files in os.walk(folder):
        if PROJECT_FILE in files:
            raise StudioError(
                f"The folder {folder} holds a project ({dirpath}); it is never replaced."
            )
    return entries


def overwrite_preview(target: Path) -> OverwritePreview | None:
    """What an overwrite of ``target`` would remove (None: nothing there); raises
    ``StudioError`` when the folder may not be replaced at all."""
    target = Path(target)
    if not target.is_dir() or not _non_empty(target):
        return None
    entries = check_replaceable(target)
    files, size = 0, 0
    for dirpath, _dirs, names in os.walk(target):
        for name in names:
            files += 1
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(dirpath, name)).st_size
    return OverwritePreview(target, entries, files, size)


def check_not_inside(target: Path, keep: dict[str, Path]) -> None:
    """Refuse a target that is, contains or lies inside a folder the export must not touch
    (the project folder and its dataset), or lies inside any other project folder."""
    resolved = target.resolve()
    for what, folder in keep.items():
        folder = folder.resolve()
        if resolved == folder or resolved in folder.parents or folder in resolved.parents:
            raise StudioError(
                f"The export folder {target} is inside or around the {what} ({folder}); an "
                "export there could overwrite it. Choose a folder outside it."
            )
    for parent in resolved.parents:
        if (parent / PROJECT_FILE).is_file():
            raise StudioError(
                f"The export folder {target} lies inside the project folder {parent}; "
                "choose a folder outside it."
            )


def remove_stale_partials(target: Path) -> None:
    """Delete staging folders of earlier exports to ``target`` whose process is gone."""
    parent = target.parent
    if not parent.is_dir():
        return
    for path in parent.glob(f".{target.name}{PARTIAL}*"):
        pid_text = path.name.rsplit(PARTIAL, 1)[1].split("-", 1)[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            _remove(path)
    for path in parent.glob(f".{target.name}{OLD}*"):
        _remove(path)


def disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _marker_entries(folder: Path) -> list[str] | None:
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != MARKER_FORMAT:
        return None
    entries = data.get("entries")
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        return None
    return entries


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _non_empty(folder: Path) -> bool:
    try:
        return any(folder.iterdir())
    except NotADirectoryError:
        return True


def _folders(root: Path) -> Iterator[Path]:
    for dirpath, _dirnames, _files in os.walk(root):
        yield Path(dirpath)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync there
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_symlink() or path.is_file():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)
