"""Issue 12, items 11 and 13, from the user's side: each fault ends the command with one readable
line on stderr and exit code 1 (never a traceback), and nothing of the project is lost or written
where it should not be."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from debias_studio.cli.main import main
from debias_studio.core.annotate.confounders import list_confounders
from debias_studio.core.data import memory
from debias_studio.core.store import project as project_module
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import list_runs
from tests.reliability.faults_fixtures import copy_project, make_demo_project
from tests.reliability.forged_project import damage, filling_up
from tests.reliability.user_side import one_line_error, run_cli


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("faults")
    folder = copy_project(make_demo_project(base / "demo"), base / "annotated")  # others copy demo
    assert main(["confounder", "add", str(folder), "--name", "shade", "--column", "color"]) == 0
    return folder


@pytest.fixture
def project(demo: Path, tmp_path: Path) -> Path:
    return copy_project(demo, tmp_path / "p")


def error_line(capsys: pytest.CaptureFixture[str], argv: list[str], *words: str) -> str:
    """Run ``debias-studio ARGV``; its one error line (exit 1, no traceback), holding ``words``."""
    line = one_line_error(run_cli(capsys, *argv))
    for word in words:
        assert word in line, line
    return line


# ---- a partly damaged database ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("damaged", "command", "table"),
    [
        ("no confounders table", ["confounder", "list"], "confounders"),
        ("no runs table", ["runs"], "runs"),
        ("no confounders table", ["export"], "confounders"),
    ],
)
def test_a_missing_table_is_one_line(
    project: Path, tmp_path: Path, capsys, damaged: str, command: list[str], table: str
) -> None:
    damage(project, damaged)
    args = [*command, str(project)] + ([str(tmp_path / "out")] if command == ["export"] else [])
    error_line(capsys, args, "damaged", table)
    assert not (tmp_path / "out").exists()


def test_overwritten_pages_are_one_line(project: Path, tmp_path: Path, capsys) -> None:
    path = project / "project.sqlite"
    size = path.stat().st_size
    with open(path, "r+b") as handle:  # the schema page stays, every table's pages are garbage
        handle.seek(4096)
        handle.write(b"\xff" * (size - 4096))
    out = tmp_path / "out"
    for args in (["confounder", "list", str(project)], ["export", str(project), str(out)]):
        error_line(capsys, args, "damaged", "malformed")
    assert not out.exists()


# ---- damaged stored metadata --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("damaged", "command", "words"),
    [
        ("dataset description not JSON", "info", ("dataset_spec",)),
        ("dataset description with an unknown key", "info", ("dataset description", "bogus")),
        ("classes not JSON", "info", ("classes",)),
        ("confounder not JSON", "confounder list", ("confounder 'shade'",)),
    ],
)
def test_damaged_metadata_is_one_line(project: Path, capsys, damaged, command, words) -> None:
    damage(project, damaged)
    error_line(capsys, [*command.split(), str(project)], "damaged", *words)


def test_a_run_with_an_unknown_setting_is_one_line(project: Path, capsys) -> None:
    # a head on the demo CLIP is near chance on digits: the feature check would refuse it
    assert main(["train", str(project), "--epochs", "1", "--skip-feature-check"]) == 0
    with Project.open(project) as opened:
        run_id = list_runs(opened)[0]["id"]
    damage(project, "run setting unknown, run failed")
    capsys.readouterr()
    error_line(capsys, ["train", str(project), "--resume", run_id], "bogus")
    damage(project, "run metrics not JSON")
    error_line(capsys, ["runs", str(project)], "damaged", run_id)


# ---- a full disk --------------------------------------------------------------------------------
def test_a_full_database_disk_is_one_line(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(project_module, "_connect", filling_up(project_module._connect))
    args = ["confounder", "set", str(project), "shade", "--ids", ",".join(map(str, range(99)))]
    error_line(capsys, [*args, "--value", "red" * 2000], "full")  # needs new pages
    monkeypatch.undo()
    with Project.open(project) as opened:  # nothing half written
        (shade,) = list_confounders(opened)
        assert "red" * 2000 not in shade.values


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_writing_to_a_full_disk_is_one_line(project: Path, capsys) -> None:
    error_line(capsys, ["train", str(project), "--write-config", "/dev/full"], "No space left")


# ---- weights that are numpy arrays --------------------------------------------------------------
@pytest.mark.parametrize("name", ["w.npy", "w.npz", "damaged.npz"])
def test_numpy_weights_that_do_not_fit_are_one_line(project: Path, capsys, name: str) -> None:
    path = project.parent / name
    if name == "w.npy":
        np.save(path, np.zeros(3))
    elif name == "w.npz":
        np.savez(path, a=np.zeros(3))
    else:
        path.write_bytes(b"not a zip archive")
    error_line(capsys, ["embed", str(project), "--model", f"ViT-B-32@{path}"], name)


# ---- numeric options (item 13) ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["train", "{p}", "--epochs", "0"], ("Epochs", "between 1 and 10000", "got 0")),
        (["train", "{p}", "--lr", "nan"], ("learning rate", "got nan")),
        (["train", "{p}", "--lr", "-1"], ("learning rate", "got -1")),
        (["train", "{p}", "--batch-size", "0"], ("batch size", "got 0")),
        (["train", "{p}", "--backbone", "cnn", "--image-size", "-3"], ("image size", "8 and")),
        (["train", "{p}", "--backbone", "mlp", "--shift", "-1"], ("random shift", "got -1")),
        (["train", "{p}", "--device", "tpu"], ("tpu", "cpu")),
        (["embed", "{p}", "--batch-size", "0"], ("batch size", "between 1 and")),
        (["export", "{p}", "{out}", "--cf-size", "-4"], ("--cf-size", "between 8 and")),
        (["export", "{p}", "{out}", "--cf-size", "30000"], ("--cf-size", "got 30000")),
    ],
)
def test_numeric_options_are_checked_at_the_boundary(
    project: Path, tmp_path: Path, capsys, args: list[str], words: tuple[str, ...]
) -> None:
    argv = [a.format(p=project, out=tmp_path / "out") for a in args]
    error_line(capsys, argv, *words)
    with Project.open(project) as opened:
        assert list_runs(opened) == []  # refused before a run record exists
    assert not (tmp_path / "out").exists()


def test_a_request_larger_than_the_memory_is_refused(project: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_bytes", lambda: 50 * 1024**2)
    argv = ["train", str(project), "--backbone", "cnn", "--image-size", "512"]
    error_line(capsys, argv, "GB of memory", "smaller image size")


# ---- a read-only project folder -----------------------------------------------------------------
def _without_write_override() -> None:
    """In the child, as root: drop the capabilities that let root write anywhere."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP: gone after exec


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux permissions")
def test_a_read_only_project_opens_read_only_and_says_so(project: Path, tmp_path: Path) -> None:
    for path in (project, *project.rglob("*")):
        path.chmod(path.stat().st_mode & ~0o222)
    before = sorted(p.relative_to(project) for p in project.rglob("*"))

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "debias_studio.cli", *args],
            capture_output=True,
            text=True,
            preexec_fn=_without_write_override if os.geteuid() == 0 else None,
            env=dict(os.environ, HF_HUB_OFFLINE="1"),
            timeout=300,
        )

    try:
        for args in (["info", str(project)], ["export", str(project), str(tmp_path / "out")]):
            done = run(*args)
            assert done.returncode == 0, done.stderr
            assert "open read-only" in done.stderr and "damaged" not in done.stderr
        assert (tmp_path / "out" / "report.html").is_file()
        done = run("confounder", "add", str(project), "--name", "x", "--manual")
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert "read-only; changes cannot be saved" in done.stderr.splitlines()[-1]
        assert sorted(p.relative_to(project) for p in project.rglob("*")) == before
    finally:
        for path in (project, *project.rglob("*")):
            path.chmod(path.stat().st_mode | 0o200)
