"""Long work as jobs (ARCHITECTURE.md, rule 2).

A job is a generator that yields ``Progress`` at least once per batch or epoch and *returns* its
result. It receives a ``CancelToken`` and checks it between batches, so it stops cleanly at the next
yield. The GUI drives jobs with superqt workers, the CLI with a tqdm bar; both through this module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TypeVar

from debias_studio.core.errors import JobCancelled

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """How far a job has come. ``total == 0`` means the amount of work is not known yet."""

    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total > 0 else 0.0


Job = Generator[Progress, None, T]


class CancelToken:
    """Shared flag a caller sets and a job polls; thread-safe."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise JobCancelled()


NEVER_CANCELLED = CancelToken()


def run_job(job: Job[T], on_progress: Callable[[Progress], None] | None = None) -> T:
    """Drive a job to completion and return its result (StopIteration's value)."""
    while True:
        try:
            progress = next(job)
        except StopIteration as stop:
            return stop.value
        if on_progress is not None:
            on_progress(progress)


def run_quiet(job: Job[T]) -> T:
    """Drive a job ignoring its progress (tests, small inner steps)."""
    return run_job(job)


def delegate(job: Job[T], start: int, span: int, total: int) -> Job[T]:
    """Run a sub-job, re-scaling its progress into ``[start, start + span]`` of ``total``.

    Use as ``result = yield from delegate(sub_job, ...)`` inside a parent job.
    """
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value
        inner = p.fraction if p.total > 0 else 0.0
        yield Progress(start + int(inner * span), total, p.message)
