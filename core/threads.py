"""The engine's thread budget, decided in one place.

Why: a laptop is never idle, and thread pools that assume it is fight each other. Measured on
the project's 2-core machine (bench/contention.py): with OpenMP's default wait policy an idle
torch worker thread *spins* after every operator; beside other CPU-bound processes the spinning
threads and the descheduled ones stall every parallel region, and a small CNN's training step
became 7-10x slower with 2 threads than with 1. With passive waiting (idle threads sleep) the
same 2 threads are as fast as or faster than 1 under any load we measured.

The rules (every job asks ``job_budget`` here and holds it while it runs):

1. **Wait policy.** ``prepare_process()``, called by every entry point before torch, numpy or
   scikit-learn load their OpenMP runtimes, sets ``OMP_WAIT_POLICY=PASSIVE`` (GNU and LLVM/Intel
   OpenMP; Intel's ``KMP_BLOCKTIME=0`` follows from it) unless the user set it. Child processes
   (decode workers, torchrun ranks) inherit it.
2. **Cores** are the ones this process may run on (``os.sched_getaffinity``), capped by a cgroup
   CPU quota (containers), not ``os.cpu_count()``.
3. **Compute threads** of a job (torch intra-op, BLAS and OpenMP via threadpoolctl) = the cores
   that other processes leave free (at least 1), shared between our own compute jobs running at
   the same time; 1 for small work (below ``SMALL_WORK`` items: synchronising threads costs more
   than it saves). More threads than free cores only adds waiting: on the 2-core machine beside
   8 runnable threads a CNN step took 80 ms on 1 thread, 82-116 ms on 2 passive threads and
   840 ms on 2 spinning ones; on a quiet machine beside one busy loop, keeping 2 threads made a
   step 1.79x slower than alone, 1 thread 1.18x (bench/contention.py). Inter-op threads: 1
   (the engine runs no parallel graphs).
4. **Helper processes** (image decoding beside the model): on the CPU decoding costs ~8 % of
   an int8 ViT-B/32 forward, so one decoder per 8 cores keeps the model fed (at least 1); on a
   GPU decoding is the bottleneck and gets every core that other processes leave free but one.
5. **Load** is read when a job starts: the runnable threads of other processes
   (``/proc/stat`` ``procs_running`` minus our own running threads, median of a few samples).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ParamSpec, TypeVar

if TYPE_CHECKING:
    from debias_studio.core.jobs import Job

P = ParamSpec("P")
T = TypeVar("T")

SMALL_WORK = 2_000
"""Below this many items (images, rows) a job runs on one thread."""
PASSIVE_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}
LOAD_SAMPLES = 5
LOAD_SAMPLE_GAP_S = 0.002
DECODE_SHARE_CPU = 8
"""Cores per image-decoding helper process when the model runs on the CPU (rule 4)."""

_lock = threading.Lock()
_active: dict[int, tuple[int, ThreadBudget]] = {}
_state: dict[str, object] = {"passive": None, "blas_limiter": None}


@dataclass(frozen=True)
class ThreadBudget:
    """What one job may use: ``threads`` compute threads, ``workers`` helper processes."""

    work: str
    threads: int
    workers: int
    cores: int
    others: float
    passive: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "work": self.work,
            "threads": self.threads,
            "workers": self.workers,
            "cores": self.cores,
            "others_running": round(self.others, 2),
            "passive_wait": self.passive,
        }


# ---- process set-up ----------------------------------------------------------------------------
def prepare_process() -> bool:
    """Make OpenMP threads sleep when idle (rule 1); call before torch/numpy are imported.

    Returns whether idle threads of this process wait passively: False when an OpenMP runtime
    was loaded earlier without the setting (then rule 3 keeps jobs on one thread under load)."""
    if _state["passive"] is not None:
        return bool(_state["passive"])
    loaded = _openmp_loaded()
    preset = os.environ.get("OMP_WAIT_POLICY")
    for name, value in PASSIVE_ENV.items():
        os.environ.setdefault(name, value)
    # A runtime loaded already read whatever was set before we came (assumed set before it).
    policy = (preset if loaded else os.environ["OMP_WAIT_POLICY"]) or ""
    _state["passive"] = policy.strip().upper() == "PASSIVE"
    return bool(_state["passive"])


def waits_passively() -> bool:
    """Whether this process's OpenMP threads sleep when idle (see ``prepare_process``)."""
    return prepare_process()


def _openmp_loaded() -> bool:
    try:
        maps = Path("/proc/self/maps").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: judge by the modules that bring a runtime along
        return any(m in sys.modules for m in ("torch", "sklearn"))
    return any(lib in maps for lib in ("libgomp", "libiomp", "libomp"))


# ---- what the machine offers -------------------------------------------------------------------
def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def _cgroup_quota() -> float | None:
    """CPUs allowed by the cgroup (v2 ``cpu.max`` or v1 ``cfs_quota_us``); None: no limit."""
    candidates = [
        (Path("/sys/fs/cgroup/cpu.max"), None),
        (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")),
    ]
    for quota_file, period_file in candidates:
        try:
            text = quota_file.read_text(encoding="utf-8").split()
            if period_file is None:
                quota, period = text[0], text[1]
            else:
                quota, period = text[0], period_file.read_text(encoding="utf-8").strip()
        except (OSError, IndexError):
            continue
        if quota in ("max", "-1"):
            return None
        with contextlib.suppress(ValueError, ZeroDivisionError):
            return int(quota) / int(period)
    return None


def others_running() -> float:
    """Runnable threads of other processes right now (median of a few samples; 0 if unknown)."""
    samples = []
    for i in range(LOAD_SAMPLES):
        total = _procs_running()
        if total is None:
            return 0.0
        samples.append(max(0, total - _own_running()))
        if i + 1 < LOAD_SAMPLES:
            time.sleep(LOAD_SAMPLE_GAP_S)
    samples.sort()
    return float(samples[len(samples) // 2])


def _procs_running() -> int | None:
    try:
        with open("/proc/stat", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("procs_running"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _own_running() -> int:
    """Threads of this process that are running or runnable (the sampling thread included)."""
    running = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat", encoding="ascii", errors="replace") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        running += state == "R"
    return max(1, running)


# ---- the decision ------------------------------------------------------------------------------
def plan(
    work: str,
    *,
    items: int | None = None,
    device: str = "cpu",
    cores: int | None = None,
    others: float | None = None,
    passive: bool | None = None,
    concurrent: int | None = None,
) -> ThreadBudget:
    """The budget for one job of kind ``work`` (rules 3-5); arguments left out are measured.

    ``concurrent``: our own other jobs computing at the same time (default: those holding a
    budget in other threads); the ranks torchrun starts on this node share its cores too."""
    cores = usable_cores() if cores is None else cores
    others = others_running() if others is None else others
    passive = waits_passively() if passive is None else passive
    if concurrent is None:
        concurrent = _other_threads_computing()
    share = max(1, cores // max(1, _int_env("LOCAL_WORLD_SIZE", 1)))
    free = max(1, math.floor(share - others))
    threads = 1 if items is not None and items < SMALL_WORK else max(1, free // (concurrent + 1))
    workers = free - 1 if device.startswith("cuda") else share // DECODE_SHARE_CPU
    return ThreadBudget(work, threads, max(1, workers), cores, others, passive)


@contextlib.contextmanager
def job_budget(
    work: str, *, items: int | None = None, device: str = "cpu"
) -> Iterator[ThreadBudget]:
    """Hold the budget of one job: torch and BLAS/OpenMP pools are sized to it while it runs
    (in the calling thread, which must be the one that drives the job) and restored after.
    A job started inside another in the same thread (discovery embedding first) plans anew
    without counting its parent as a competitor."""
    budget = plan(work, items=items, device=device)
    key = object()
    previous = _torch_threads()
    with _lock:
        _active[id(key)] = (threading.get_ident(), budget)
        _limit_blas_locked()
    _set_torch_threads(budget.threads)
    try:
        yield budget
    finally:
        with _lock:
            _active.pop(id(key), None)
            _limit_blas_locked()
        if previous is not None:
            _set_torch_threads(previous)


def budgeted(work: str) -> Callable[[Callable[P, Job[T]]], Callable[P, Job[T]]]:
    """Run a job function (a generator function) inside ``job_budget(work)``.

    The budget is taken when the job starts running (its first ``next``), in the thread that
    drives it, and given back when it ends, fails or is cancelled."""

    def wrap(function: Callable[P, Job[T]]) -> Callable[P, Job[T]]:
        @functools.wraps(function)
        def job(*args: P.args, **kwargs: P.kwargs) -> Job[T]:
            device = kwargs.get("device")
            with job_budget(work, device=str(device) if device else "cpu"):
                return (yield from function(*args, **kwargs))

        return job

    return wrap


def active_budgets() -> list[ThreadBudget]:
    """Budgets held by running jobs of this process (for the jobs panel and tests)."""
    with _lock:
        return [budget for _, budget in _active.values()]


def _other_threads_computing() -> int:
    me = threading.get_ident()
    with _lock:
        return len({thread for thread, _ in _active.values() if thread != me})


def _int_env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    return None if torch is None else int(torch.get_num_threads())


def _set_torch_threads(threads: int) -> None:
    torch = sys.modules.get("torch")
    if torch is None:
        return
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # settable once, before any inter-op work
        torch.set_num_interop_threads(1)


def _limit_blas_locked() -> None:
    """numpy/scikit-learn BLAS and OpenMP pools: the smallest active budget, none when idle."""
    limiter = _state["blas_limiter"]
    if limiter is not None:
        limiter.restore_original_limits()  # type: ignore[attr-defined]
        _state["blas_limiter"] = None
    if not _active:
        return
    from threadpoolctl import threadpool_limits

    threads = min(budget.threads for _, budget in _active.values())
    _state["blas_limiter"] = threadpool_limits(limits=threads)
