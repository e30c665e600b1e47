"""Issue 12, item 11 in the GUI: a failure of the machine inside a job (full disk, read-only
file) reaches the user as the same one sentence the CLI prints, with the traceback kept as
details; a bug still names its type."""

from __future__ import annotations

import errno

from debias_studio.core.errors import readable
from debias_studio.core.jobs import Progress
from debias_studio.gui.workers import JobRunner


def _failing_with(error: BaseException):
    def job(token):
        yield Progress(0, 1, "writing")
        raise error

    return job


def test_a_full_disk_in_a_job_is_one_sentence(qtbot) -> None:
    error = OSError(errno.ENOSPC, "No space left on device", "/data/out/cache.npy")
    runner = JobRunner()
    errors: list[tuple[str, str]] = []
    handle = runner.start(
        "embed", _failing_with(error), on_error=lambda m, d: errors.append((m, d))
    )
    with qtbot.waitSignal(handle.ended, timeout=5000):
        pass
    assert handle.state == "failed"
    assert errors[0][0] == readable(error)
    assert "No space left on the disk" in errors[0][0] and "/data/out/cache.npy" in errors[0][0]
    assert "Unexpected" not in errors[0][0] and "OSError" in errors[0][1]


def test_a_read_only_file_in_a_job_is_one_sentence(qtbot) -> None:
    error = PermissionError(errno.EACCES, "Permission denied", "/p/project.lock")
    runner = JobRunner()
    handle = runner.start("open", _failing_with(error))
    with qtbot.waitSignal(handle.ended, timeout=5000):
        pass
    assert handle.message == "Permission denied: /p/project.lock."
