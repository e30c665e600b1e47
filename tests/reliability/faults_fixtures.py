"""Shared by the fault and kill tests: a tiny embedded demo project, the CLI started as its own
process (in its own session, so that every process it leaves behind can be found), and reading
which processes of a session are still alive (Linux /proc)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from debias_studio.core.demo.project import create_demo_project
from debias_studio.core.embed.engine import embed_project
from debias_studio.core.jobs import run_job

LINUX = sys.platform.startswith("linux")
linux_only = pytest.mark.skipif(not LINUX, reason="reads processes from /proc")


_MADE: dict[int, Path] = {}
"""The demo project made once per test session, by images per class: the modules copy it."""


def make_demo_project(folder: Path, per_class: int = 10) -> Path:
    """A digits demo project of ``10 * per_class`` images, embedded with the demo CLIP, at
    ``folder`` (a copy of the session's first one when it still exists)."""
    made = _MADE.get(per_class)
    if made is not None and made.is_dir():
        return copy_project(made, folder)
    project = run_job(create_demo_project(folder, per_class=per_class))
    try:
        run_job(embed_project(project, "demo", num_workers=0))
    finally:
        project.close()
    _MADE[per_class] = folder
    return folder


def copy_project(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("project.lock"))
    return target


def start_cli(*args: str) -> subprocess.Popen[bytes]:
    """``debias-studio ARGS`` as a new process in a session of its own (its pid is the session
    id); stdout and stderr are pipes."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "debias_studio.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        env=env,
    )


def session_pids(session: int) -> list[int]:
    """Live processes whose session id is ``session`` (zombies excluded)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == session:
            pids.append(int(entry.name))
    return pids


def wait_for(condition, timeout: float, step: float = 0.1) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def kill_and_reap(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the command (not its children: they must go by themselves) and reap it."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def orphans_after(session: int, timeout: float = 60.0) -> list[int]:
    """The processes of ``session`` still alive after ``timeout`` seconds (killed by us then, so
    that a failing test leaves nothing running)."""
    wait_for(lambda: not session_pids(session), timeout, step=0.25)
    left = session_pids(session)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


_DIE_TRAINING = """
import os, signal, sys
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import create_run
from debias_studio.core.train.config import TrainConfig
project = Project.open(sys.argv[1], read_only=False)
config = TrainConfig(project=sys.argv[1], backbone=sys.argv[2], epochs=1, batch_size=8)
run_id = create_run(project, "erm", config.to_dict()).id
if sys.argv[3] == "live":
    project.close()  # the project is free; the run stays held by this live process
print(run_id, flush=True)
if sys.argv[3] == "die":
    os.kill(os.getpid(), signal.SIGKILL)
sys.stdin.read()
"""


def start_dying_run(folder: Path, backbone: str = "cnn", die: bool = True) -> tuple[str, Any]:
    """A process that records a training run of ``folder`` and is then SIGKILLed (``die``) or
    keeps it, waiting on its stdin; returns the run id and the process."""
    process = subprocess.Popen(
        [sys.executable, "-c", _DIE_TRAINING, str(folder), backbone, "die" if die else "live"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    run_id = process.stdout.readline().strip()
    if die:
        process.wait(timeout=60)
    return run_id, process
