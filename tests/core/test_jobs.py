from __future__ import annotations

import pytest

from debias_studio.core.errors import JobCancelled
from debias_studio.core.jobs import CancelToken, Job, Progress, delegate, run_job


def counting_job(n: int, cancel: CancelToken) -> Job[int]:
    total = 0
    for i in range(n):
        cancel.raise_if_cancelled()
        total += i
        yield Progress(i + 1, n, f"step {i}")
    return total


def test_run_job_returns_the_result_and_reports_every_step() -> None:
    seen: list[Progress] = []
    assert run_job(counting_job(4, CancelToken()), seen.append) == 6
    assert [p.done for p in seen] == [1, 2, 3, 4]
    assert seen[-1].fraction == 1.0


def test_cancel_stops_at_the_next_yield() -> None:
    cancel = CancelToken()
    job = counting_job(10, cancel)
    next(job)
    cancel.cancel()
    with pytest.raises(JobCancelled):
        next(job)


def test_delegate_rescales_progress_into_the_parent_span() -> None:
    def parent() -> Job[int]:
        result = yield from delegate(counting_job(4, CancelToken()), 10, 80, 100)
        yield Progress(100, 100, "done")
        return result

    seen: list[Progress] = []
    assert run_job(parent(), seen.append) == 6
    assert [p.done for p in seen] == [30, 50, 70, 90, 100]
    assert all(p.total == 100 for p in seen)
