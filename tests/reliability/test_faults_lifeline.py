"""Issue 12, item 9 at its root: a process that ran ``core.embed.lifeline.die_with(app)`` ends
when the app ends, SIGKILL included, whether it watches through a pidfd or by polling."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.reliability.faults_fixtures import linux_only

WORKER = """
import sys, time
from debias_studio.core.embed import lifeline
app = int(sys.argv[1])
if sys.argv[2] == "poll":
    lifeline._poll(app)
else:
    lifeline.die_with(app, 0)
print("watching", flush=True)
time.sleep(120)
"""


@linux_only
@pytest.mark.parametrize("how", ["pidfd", "poll"])
def test_a_worker_ends_when_its_app_is_killed(how: str) -> None:
    app = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(app.pid), how], stdout=subprocess.PIPE, text=True
    )
    try:
        if how == "pidfd":
            assert worker.stdout is not None and worker.stdout.readline().strip() == "watching"
        else:
            time.sleep(1.0)  # the poll runs in the foreground: give it time to start
            assert worker.poll() is None
        app.kill()
        app.wait(timeout=10)
        assert worker.wait(timeout=10) == 1  # not the 120 s of its sleep
    finally:
        for process in (app, worker):
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


@linux_only
def test_a_worker_whose_app_is_already_gone_ends_at_once() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=30)
    worker = subprocess.run(
        [sys.executable, "-c", WORKER, str(gone.pid), "pidfd"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert worker.returncode == 1 and "watching" not in worker.stdout
