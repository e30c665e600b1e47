"""Progress of a job on stderr: a live bar on a terminal, log lines everywhere else.

A tqdm bar redraws one line with carriage returns, which is noise in a log file and nothing at all
when tqdm sees no terminal (it disables itself). Redirected output gets one plain line per
``STEP_PERCENT`` % of the work instead, plus one whenever the job moves to another phase
(``"decoding images"`` -> ``"epoch 1/30 loss 0.69"``), so a run in ``nohup``, CI or a pipe still
shows that it is alive and how far it has come.
"""

from __future__ import annotations

import re
import sys
import time
from typing import TextIO

from debias_studio.core.jobs import Progress

STEP_PERCENT = 10
_NUMBERS = re.compile(r"\d+(\.\d+)?")


def phase_of(message: str) -> str:
    """The message with its numbers blanked: ``epoch 3/30 loss 0.41`` -> ``epoch #/# loss #``."""
    return _NUMBERS.sub("#", message)


class LineProgress:
    """Writes ``description: 40% (1200/3000) message [12 s]`` lines to ``stream`` when the work
    crosses the next ``step`` percent, or when the phase of the message changes."""

    def __init__(self, description: str, stream: TextIO, step: int = STEP_PERCENT) -> None:
        self.description = description
        self.stream = stream
        self.step = step
        self.started = time.monotonic()
        self._next_percent = step
        self._phase: str | None = None

    def update(self, progress: Progress) -> None:
        phase = phase_of(progress.message)
        percent = self._percent(progress)
        if phase != self._phase:
            self._phase = phase
            self._log_line(progress, percent)
        elif progress.total > 0 and percent >= self._next_percent:
            self._log_line(progress, percent)
        if progress.total > 0:
            self._next_percent = self._crossed(progress) + self.step

    def _crossed(self, progress: Progress) -> int:
        """The last multiple of ``step`` the work has reached."""
        return self._percent(progress) // self.step * self.step

    @staticmethod
    def _percent(progress: Progress) -> int:
        if progress.total <= 0:
            return 0
        return min(100, int(100 * progress.done / progress.total))

    def _log_line(self, progress: Progress, percent: int) -> None:
        amount = f"{percent}% ({progress.done}/{progress.total})" if progress.total > 0 else "..."
        message = f" {progress.message}" if progress.message else ""
        elapsed = time.monotonic() - self.started
        self.stream.write(f"{self.description}: {amount}{message} [{elapsed:.0f} s]\n")
        self.stream.flush()


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False
