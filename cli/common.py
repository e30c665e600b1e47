"""Shared by every sub-command: declaring a command with its help, driving a job with progress,
opening projects, JSON output.

Nothing here imports the engine's heavy parts (torch, pandas) at import time: every command
module registers its arguments through this module, and ``debias-studio --help`` must not pay
for the engine.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from debias_studio.cli.progress import LineProgress, stderr_is_terminal
from debias_studio.core.errors import ProjectError
from debias_studio.core.jobs import CancelToken, Job, Progress
from debias_studio.core.store.folder import is_project_folder

if TYPE_CHECKING:
    from debias_studio.core.store.project import Project

T = TypeVar("T")


def add_command(
    subparsers: Any, name: str, summary: str, description: str, examples: Sequence[str] = ()
) -> argparse.ArgumentParser:
    """A sub-command whose ``--help`` starts with ``description`` (kept as written) and ends
    with ``examples``; ``summary`` is its line in the main ``--help``."""
    epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples) if examples else None
    return subparsers.add_parser(  # type: ignore[no-any-return]
        name,
        help=summary,
        description=textwrap.dedent(description).strip(),
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def run_with_bar(job: Job[T], description: str, cancel: CancelToken | None = None) -> T:
    """Drive ``job``, showing its progress on stderr: a tqdm bar on a terminal, else log lines
    (cli.progress). Ctrl-C sets ``cancel`` so the job stops at its next yield (a second Ctrl-C
    interrupts at once)."""
    previous = None
    if cancel is not None:

        def on_sigint(signum: int, frame: object) -> None:
            signal.signal(signal.SIGINT, previous or signal.default_int_handler)
            cancel.cancel()

        previous = signal.signal(signal.SIGINT, on_sigint)
    show = _bar(description) if stderr_is_terminal() else _lines(description)
    next(show)
    try:
        while True:
            try:
                progress: Progress = next(job)
            except StopIteration as stop:
                return stop.value
            show.send(progress)
    finally:
        show.close()
        if cancel is not None:
            signal.signal(signal.SIGINT, previous or signal.default_int_handler)


def _bar(description: str) -> Any:
    """A coroutine that redraws a tqdm bar for every Progress sent to it."""
    from tqdm import tqdm

    bar = tqdm(total=0, desc=description, unit="", file=sys.stderr, leave=False, dynamic_ncols=True)
    try:
        while True:
            progress: Progress = yield
            if progress.total and bar.total != progress.total:
                bar.total = progress.total
            bar.n = progress.done
            if progress.message:
                bar.set_postfix_str(progress.message, refresh=False)
            bar.refresh()
    finally:
        bar.close()


def _lines(description: str) -> Any:
    """A coroutine that logs the Progress sent to it as lines (cli.progress.LineProgress)."""
    log = LineProgress(description, sys.stderr)
    while True:
        log.update((yield))


def check_project_folder(path: str | Path) -> Path:
    """``path`` when it holds a project; else a one-line error that says how to make one. Costs
    a stat, so every command can call it before it loads anything."""
    folder = Path(path)
    if is_project_folder(folder):
        return folder
    if not folder.exists():
        raise ProjectError(
            f"{folder} does not exist; to make a project there from a folder with one "
            f"sub-folder per class, run: debias-studio new {folder} --images IMAGE_FOLDER"
        )
    if folder.is_dir():
        raise ProjectError(
            f"{folder} is not a Debias Studio project; to make one from its images, run: "
            f"debias-studio new {_sibling(folder)} --images {folder}"
        )
    raise ProjectError(
        f"{folder} is a file, not a project folder; to make a project from a manifest, run: "
        f"debias-studio new {_sibling(folder)} --manifest {folder}"
    )


def _sibling(source: Path) -> Path:
    return source.parent / f"{source.stem or source.name}-project"


def open_project(path: str | Path, *, read_only: bool | None = None) -> Project:
    """Open the project at ``path``; when its folder cannot be written, say on stderr that it is
    open read-only (a command that writes then stops with the same sentence)."""
    from debias_studio.core.store.project import Project

    project = Project.open(check_project_folder(path), read_only=read_only)
    if not project.folder_writable:
        print(
            f"debias-studio: note: {project.folder} cannot be written; the project is open "
            "read-only.",
            file=sys.stderr,
        )
    return project


def undo_last(args: argparse.Namespace) -> int:
    """``clean undo`` and ``confounder undo``: both undo the project's last action (one history
    for cleaning and confounders)."""
    from debias_studio.core.annotate.history import undo

    with open_project(args.project) as project:
        message = undo(project)
    print(f"Undid: {message}." if message else "Nothing to undo.")
    return 0


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
