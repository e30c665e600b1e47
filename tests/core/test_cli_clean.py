"""``debias-studio clean``: actions by ids, cell, tag; history and undo; bad input is one line
on stderr with exit code 1 and changes nothing; a finder prints its review queue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from debias_studio.cli.main import main
from debias_studio.core.annotate.confounders import add_confounder
from debias_studio.core.demo.project import create_demo_project
from debias_studio.core.jobs import run_quiet
from debias_studio.core.store.exclusions import reasons
from debias_studio.core.store.project import Project
from debias_studio.core.store.relabels import relabel_map
from tests.core.test_cleaning import small_dataset


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    Project.create(folder, small_dataset(folder / "data")).close()
    return folder


def test_actions_history_and_undo(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clean", "exclude", str(folder), "--ids", "0,3", "--reason", "blurry"]) == 0
    assert main(["clean", "tag", str(folder), "--ids", "2", "--tag", "odd"]) == 0
    assert main(["clean", "relabel", str(folder), "--tagged", "odd", "--label", "c"]) == 0
    assert main(["clean", "history", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Excluded 2 image(s): blurry." in out and "relabel" in out and "tag 'odd'" in out
    assert main(["clean", "undo", str(folder)]) == 0
    assert "Undid: relabel of 1 image(s)." in capsys.readouterr().out
    with Project.open(folder) as project:
        assert reasons(project) == {0: "blurry", 3: "blurry"} and relabel_map(project) == {}


def test_bad_input_is_one_line_and_changes_nothing(
    folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["clean", "exclude", str(folder), "--ids", "6", "--reason", "x"]) == 1
    assert "'c' without training images" in capsys.readouterr().err
    assert main(["clean", "relabel", str(folder), "--ids", "0", "--label", "new"]) == 1
    assert "not a class" in capsys.readouterr().err
    assert main(["clean", "exclude", str(folder), "--ids", "a,b", "--reason", "x"]) == 1
    assert main(["clean", "undo", str(folder)]) == 0
    assert "Nothing to undo." in capsys.readouterr().out


@pytest.mark.slow
def test_cell_selection_and_a_finder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "digits"
    with run_quiet(create_demo_project(folder, "digits", per_class=12)) as project:
        add_confounder(project, "color", column="color")
    assert main(["clean", "tag", str(folder), "--cell", "color:1:green", "--tag", "g"]) == 0
    assert "Tagged 'g' on " in capsys.readouterr().out
    out = tmp_path / "outliers.json"
    assert main(["clean", "outliers", str(folder), "--top", "5", "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 5 and {"image_id", "label", "score"} <= set(rows[0])


def test_cleaning_a_project_another_instance_writes_is_refused_and_loses_nothing(
    folder: Path,
) -> None:
    command = [sys.executable, "-m", "debias_studio.cli", "clean", "exclude", str(folder)]
    command += ["--ids", "1", "--reason", "x"]
    with Project.open(folder) as writer:  # e.g. the app, or a training run, holds the project
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "read-only" in done.stderr
        assert reasons(writer) == {}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
