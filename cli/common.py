"""Shared by every sub-command: a progress bar for jobs, opening projects, JSON output."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from debias_studio.core.jobs import CancelToken, Job, Progress
from debias_studio.core.store.project import Project

T = TypeVar("T")


def run_with_bar(job: Job[T], description: str, cancel: CancelToken | None = None) -> T:
    """Drive ``job`` with a tqdm bar on stderr. Ctrl-C sets ``cancel`` so the job stops at its
    next yield (a second Ctrl-C interrupts at once)."""
    previous = None
    if cancel is not None:

        def on_sigint(signum: int, frame: object) -> None:
            signal.signal(signal.SIGINT, previous or signal.default_int_handler)
            cancel.cancel()

        previous = signal.signal(signal.SIGINT, on_sigint)
    bar = tqdm(
        total=0,
        desc=description,
        unit="",
        file=sys.stderr,
        leave=False,
        disable=None,
        dynamic_ncols=True,
    )
    try:
        while True:
            try:
                progress: Progress = next(job)
            except StopIteration as stop:
                return stop.value
            if progress.total and bar.total != progress.total:
                bar.total = progress.total
            bar.n = progress.done
            if progress.message:
                bar.set_postfix_str(progress.message, refresh=False)
            bar.refresh()
    finally:
        bar.close()
        if cancel is not None:
            signal.signal(signal.SIGINT, previous or signal.default_int_handler)


def open_project(path: str | Path) -> Project:
    return Project.open(Path(path))


def write_json(data: Any, target: str | Path | None) -> None:
    """Write ``data`` as JSON to ``target``, or to stdout when ``target`` is None or '-'."""
    text = json.dumps(data, indent=2, default=_default)
    if target is None or str(target) == "-":
        print(text)
    else:
        Path(target).write_text(text + "\n", encoding="utf-8")


def _default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
