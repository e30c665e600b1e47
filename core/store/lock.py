"""Who may write a project: one app instance (process) at a time.

A writable project holds an exclusive advisory lock (``flock``; ``msvcrt.locking`` on Windows) on
``project.lock`` in its folder, with the holder's pid and host written inside for the message a
second instance shows. The operating system drops the lock when the holder exits, crashes or is
killed, so a stale lock file never blocks anybody. Within one process the lock is shared and
counted: a worker thread opening the project its window already has open is the same instance.

``hold``/``is_held`` lock single files the same way without sharing (a training run's
``run.lock``: core.store.runs), so a process can tell whether anyone, itself included, still
holds one.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import IO, Any

LOCK_NAME = "project.lock"

_HELD: dict[str, tuple[IO[str], int]] = {}
"""Resolved project folder -> (open lock file, how many Project objects of this process use it)."""
_GUARD = threading.Lock()


def acquire(folder: Path) -> bool:
    """Take (or share, within this process) the write lock of ``folder``; False if another process
    holds it."""
    key = str(folder.resolve())
    with _GUARD:
        if key in _HELD:
            handle, count = _HELD[key]
            _HELD[key] = (handle, count + 1)
            return True
        handle = open(folder / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 - kept open
        if not _try_lock(handle):
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
        handle.write(json.dumps(info))
        handle.flush()
        _HELD[key] = (handle, 1)
        return True


def release(folder: Path) -> None:
    """Give back one use of the lock; the last use unlocks and closes the file."""
    key = str(folder.resolve())
    with _GUARD:
        if key not in _HELD:
            return
        handle, count = _HELD.pop(key)
        if count > 1:
            _HELD[key] = (handle, count - 1)
            return
        with contextlib.suppress(OSError):
            handle.seek(0)
            handle.truncate()
            handle.flush()
        _unlock(handle)
        handle.close()


def hold(path: Path) -> IO[str] | None:
    """An exclusive lock on file ``path`` for as long as the returned handle stays open (give it
    back with ``let_go``); None when someone holds it, also another handle of this process."""
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open while held
    if not _try_lock(handle):
        handle.close()
        return None
    return handle


def let_go(handle: IO[str]) -> None:
    _unlock(handle)
    handle.close()


def is_held(path: Path) -> bool:
    """Whether a live process (this one included) holds the lock on file ``path``. A missing or
    unreadable file is not held: the lock lives only as long as its holder."""
    try:
        handle = open(path, encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError:
        return False
    try:
        if not _try_lock(handle):
            return True
        _unlock(handle)
        return False
    finally:
        handle.close()


def holder(folder: Path) -> dict[str, Any]:
    """What the lock file says about its holder (empty when unreadable)."""
    try:
        data = json.loads((folder / LOCK_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def describe_holder(folder: Path) -> str:
    info = holder(folder)
    if "pid" in info:
        return f"process {info['pid']} on {info.get('host', 'this computer')}"
    return "another program"


try:
    import fcntl

    def _try_lock(handle: IO[str]) -> bool:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

except ImportError:  # Windows
    import msvcrt

    def _try_lock(handle: IO[str]) -> bool:
        try:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        except OSError:
            return False
        return True

    def _unlock(handle: IO[str]) -> None:
        with contextlib.suppress(OSError):
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
