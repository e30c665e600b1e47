"""Decoding workers die with the process that started them, however it ends (SIGKILL too).

The loader's workers start from multiprocessing's fork server, so their parent is the fork
server, not the app; and every worker holds the pipe whose closing tells the fork server to exit.
When the app is killed, PyTorch's own watchdog (it polls the parent's pid) sees a live parent and
the fork server sees a live pipe: both would wait for ever, holding memory and the dead command's
stdout. ``die_with(pid)`` runs first in every worker and ties it to the app itself:

* Linux: ``PR_SET_PDEATHSIG`` kills the worker when the fork server goes, and a daemon thread
  blocks on a pidfd of the app (readable the moment the app exits) and ends the worker at once;
* other POSIX systems (or an old kernel without pidfds): the thread polls the app's pid twice a
  second. On Windows workers are the app's own children and PyTorch's watchdog suffices.

Once the workers are gone the fork server sees its pipe close and exits too.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.5


def die_with(app_pid: int, worker_id: int = 0) -> None:
    """Worker initializer: end this process when process ``app_pid`` ends."""
    if sys.platform == "win32":
        return
    _kill_me_with_my_parent()
    watch = _pidfd_watch(app_pid)
    if watch is None:
        return  # the app is already gone (we have exited) or it is us
    threading.Thread(target=watch, name="lifeline", daemon=True).start()


def _kill_me_with_my_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _pidfd_watch(app_pid: int) -> Callable[[], None] | None:
    if app_pid == os.getpid():
        return None
    try:
        fd = os.pidfd_open(app_pid)  # Linux 5.3+; AttributeError elsewhere
    except ProcessLookupError:
        _end()
        return None
    except (OSError, AttributeError):
        return lambda: _poll(app_pid)

    def watch() -> None:
        select.select([fd], [], [])
        _end()

    return watch


def _poll(app_pid: int) -> None:
    while _alive(app_pid):
        time.sleep(POLL_SECONDS)
    _end()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _end() -> None:
    os._exit(1)
