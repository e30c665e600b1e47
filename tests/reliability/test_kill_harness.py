"""The kill harness (issue 12): SIGKILL the CLI at random points of embed, train, export and
confounder edits, a few seeds each. Afterwards the project opens writable (the lock went with the
process), ``info`` counts the same images, no process of the killed command is left, and the
command resumes or redoes cleanly."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pandas as pd
import pytest

from debias_studio.cli.main import main
from debias_studio.core.annotate.confounders import list_confounders
from debias_studio.core.data.summary import summarize
from debias_studio.core.demo.files import MANIFEST_NAME
from debias_studio.core.demo.project import DATA_FOLDER
from debias_studio.core.embed.engine import embed_project, load_embeddings
from debias_studio.core.jobs import run_job
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import list_runs
from debias_studio.core.train.job import resume_run
from tests.reliability.faults_fixtures import (
    copy_project,
    kill_and_reap,
    linux_only,
    make_demo_project,
    orphans_after,
    start_cli,
    wait_for,
)

pytestmark = [linux_only, pytest.mark.slow]
SEEDS = (0, 1)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_project(tmp_path_factory.mktemp("kill") / "demo")


def _check_reopens(folder: Path) -> Project:
    """The project opens (no lock left behind) and still holds every image of its manifest."""
    assert main(["info", str(folder)]) == 0
    written = len(pd.read_csv(folder / DATA_FOLDER / MANIFEST_NAME))
    project = Project.open(folder, read_only=False)  # refused if a dead process kept the lock
    assert summarize(project.dataset)["n_images"] == written
    return project


def test_killed_embed_leaves_no_worker_and_releases_stdout(demo: Path, tmp_path: Path) -> None:
    folder = copy_project(demo, tmp_path / "p")
    for path in (folder / "embeddings").iterdir():
        if path.is_dir():
            for file in path.iterdir():
                file.unlink()
    process = start_cli("embed", str(folder), "--batch-size", "8")
    # Decoding workers start from the fork server: wait for them, then kill the command.
    assert wait_for(lambda: len(_descendants(process.pid)) >= 3, 120), "no workers started"
    time.sleep(random.Random(0).uniform(0.0, 1.0))
    kill_and_reap(process)
    stdout_closed = wait_for(lambda: process.stdout.read() == b"", 60)  # `embed | tail` ends
    assert stdout_closed
    assert orphans_after(process.pid) == []
    with _check_reopens(folder) as project:
        result = run_job(embed_project(project, "demo", num_workers=0))
        assert result.valid.all()
        assert load_embeddings(project, "demo") is not None


@pytest.mark.parametrize("seed", SEEDS)
def test_killed_train_is_interrupted_then_resumes(demo: Path, tmp_path: Path, seed: int) -> None:
    folder = copy_project(demo, tmp_path / "p")
    process = start_cli(
        "train", str(folder), "--epochs", "40", "--seed", str(seed), "--skip-feature-check"
    )
    checkpoints = lambda: list((folder / "runs").glob("*/checkpoint.safetensors"))  # noqa: E731
    assert wait_for(lambda: checkpoints() or process.poll() is not None, 120)
    time.sleep(random.Random(seed).uniform(0.0, 0.5))
    kill_and_reap(process)
    assert orphans_after(process.pid) == []
    with _check_reopens(folder) as project:
        (run,) = list_runs(project)
        assert run["status"] in ("interrupted", "done")
        if run["status"] == "interrupted":
            assert main(["runs", str(folder)]) == 0  # listed, not running for ever
            result = run_job(resume_run(project, run["id"]))
            assert result.status == "done"
        assert [r["status"] for r in list_runs(project)] == ["done"]


@pytest.mark.parametrize("seed", SEEDS)
def test_killed_export_leaves_the_project_and_redoes(demo: Path, tmp_path: Path, seed: int) -> None:
    folder = copy_project(demo, tmp_path / "p")
    out = tmp_path / "out"
    process = start_cli("export", str(folder), str(out), "--link", "copy")
    staging = lambda: list(tmp_path.glob(".out.partial-*"))  # noqa: E731
    assert wait_for(lambda: staging() or process.poll() is not None, 120)
    time.sleep(random.Random(seed).uniform(0.0, 0.3))
    kill_and_reap(process)
    assert orphans_after(process.pid) == []
    assert not out.exists() or (out / "report.html").is_file()  # nothing half written
    with _check_reopens(folder):
        pass
    args = ["export", str(folder), str(out), "--link", "copy"]
    assert main(args + (["--overwrite"] if out.exists() else [])) == 0
    assert (out / "report.html").is_file()
    assert staging() == []  # the killed export's staging folder is gone


@pytest.mark.parametrize("seed", SEEDS)
def test_killed_confounder_edit_is_whole_or_absent(demo: Path, tmp_path: Path, seed: int) -> None:
    folder = copy_project(demo, tmp_path / "p")
    process = start_cli("confounder", "add", str(folder), "--name", "shade", "--column", "color")
    time.sleep(random.Random(seed).uniform(1.0, 6.0))
    kill_and_reap(process)
    assert orphans_after(process.pid) == []
    with _check_reopens(folder) as project:
        names = [c.name for c in list_confounders(project)]
        assert names in ([], ["shade"])
    assert main(["confounder", "add", str(folder), "--name", "shade", "--column", "color"]) == 0
    assert main(["confounder", "set", str(folder), "shade", "--ids", "0,1", "--value", "red"]) == 0
    with Project.open(folder) as project:
        assert [c.name for c in list_confounders(project)] == ["shade"]


def _descendants(pid: int) -> list[int]:
    from tests.reliability.faults_fixtures import session_pids

    return [p for p in session_pids(pid) if p != pid]
