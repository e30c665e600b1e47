"""The GUI suite's CPU-bound neighbours (tests/gui/conftest.py) really run beside it."""

from __future__ import annotations

import os
import subprocess
import time


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_requested_neighbours_burn_cpu(cpu_bound_neighbours: list[subprocess.Popen[bytes]]) -> None:
    assert len(cpu_bound_neighbours) == int(os.environ.get("DEBIAS_STUDIO_TEST_BUSY", "0") or 0)
    before = [_cpu_ticks(loop.pid) for loop in cpu_bound_neighbours]
    time.sleep(0.5)
    for loop, ticks in zip(cpu_bound_neighbours, before, strict=True):
        assert loop.poll() is None
        assert _cpu_ticks(loop.pid) > ticks
