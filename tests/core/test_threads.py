"""The thread budget (core.threads): one place decides, every job holds it while it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
import torch

from debias_studio.core import threads
from debias_studio.core.jobs import Progress, run_quiet
from debias_studio.core.threads import budgeted, job_budget, plan


def test_compute_threads_are_the_cores_other_processes_leave_free() -> None:
    assert plan("train", cores=8, others=0.0, passive=True, concurrent=0).threads == 8
    assert plan("train", cores=8, others=6.0, passive=True, concurrent=0).threads == 2
    assert plan("train", cores=8, others=6.5, passive=True, concurrent=0).threads == 1
    busy = plan("train", cores=2, others=9.0, passive=True, concurrent=0)
    assert (busy.threads, busy.workers) == (1, 1)


def test_small_work_runs_on_one_thread() -> None:
    assert plan("discover", items=100, cores=8, others=0, passive=True, concurrent=0).threads == 1
    big = plan("discover", items=1_000_000, cores=8, others=0, passive=True, concurrent=0)
    assert big.threads == 8


def test_our_concurrent_jobs_and_torchrun_ranks_share_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert plan("embed", cores=8, others=0, passive=True, concurrent=1).threads == 4
    assert plan("embed", cores=8, others=4, passive=True, concurrent=1).threads == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert plan("embed", cores=8, others=0, passive=True, concurrent=0).threads == 2


def test_decode_workers_fill_free_cores_on_a_gpu_and_stay_few_on_the_cpu() -> None:
    def workers(device: str, cores: int, others: float) -> int:
        return plan("embed", device=device, cores=cores, others=others, passive=True).workers

    assert workers("cuda", 16, 0) == 15
    assert workers("cuda", 16, 3) == 12
    assert workers("cuda", 2, 9) == 1
    assert workers("cpu", 16, 0) == 2  # one decoder per 8 cores keeps an int8 ViT fed
    assert workers("cpu", 2, 5) == 1


def test_budget_sizes_torch_in_the_driving_thread_and_restores_it() -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with job_budget("embed", items=10_000) as budget:
            assert torch.get_num_threads() == budget.threads
            assert threads.active_budgets() == [budget]
        assert torch.get_num_threads() == 1
        assert threads.active_budgets() == []
    finally:
        torch.set_num_threads(before)


def test_a_job_nested_in_the_same_thread_is_not_its_own_competitor() -> None:
    with job_budget("discover"), job_budget("embed") as inner:
        assert inner.threads == plan("embed", concurrent=0).threads


def test_a_job_in_another_thread_halves_the_share(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 4)
    monkeypatch.setattr(threads, "others_running", lambda: 0.0)
    monkeypatch.setattr(threads, "waits_passively", lambda: True)
    seen: list[int] = []
    entered, leave = threading.Event(), threading.Event()

    def other() -> None:
        with job_budget("train"):
            entered.set()
            leave.wait(10)

    worker = threading.Thread(target=other)
    worker.start()
    try:
        assert entered.wait(10)
        seen.append(plan("embed").threads)
    finally:
        leave.set()
        worker.join(10)
    seen.append(plan("embed").threads)
    assert seen == [2, 4]


def test_budgeted_job_holds_the_budget_while_it_runs_and_after_a_cancel() -> None:
    @budgeted("export")
    def job(steps: int):  # type: ignore[no-untyped-def]
        for i in range(steps):
            assert [b.work for b in threads.active_budgets()] == ["export"]
            yield Progress(i, steps)
        return "done"

    assert run_quiet(job(3)) == "done"
    assert threads.active_budgets() == []
    started = job(5)
    next(started)
    started.close()  # a cancelled job gives its budget back
    assert threads.active_budgets() == []


def test_usable_cores_follow_the_cpu_affinity() -> None:
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this platform")
    code = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))});"
        "from debias_studio.core.threads import usable_cores; print(usable_cores())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


@pytest.mark.parametrize(("torch_first", "passive"), [(False, True), (True, False)])
def test_prepare_process_makes_openmp_passive_only_before_it_is_loaded(
    torch_first: bool, passive: bool
) -> None:
    code = (
        ("import torch; torch.ones(2).sum();" if torch_first else "")
        + "import json, os; from debias_studio.core.threads import prepare_process;"
        "p = prepare_process(); import torch;"
        "print(json.dumps([p, os.environ.get('OMP_WAIT_POLICY')]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [passive, "PASSIVE"]
