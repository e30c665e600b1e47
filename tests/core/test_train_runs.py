"""Run records: a run is stored, a cancelled run is consistent and resumes to the same result,
and the CLI writes config and per-group metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from debias_studio.cli.main import main
from debias_studio.core.errors import JobCancelled
from debias_studio.core.jobs import CancelToken, run_quiet
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import list_runs
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.job import resume_run, train_run
from tests.core.train_fixtures import shapes_project


@pytest.fixture(scope="module")
def project_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("train")
    shapes_project(folder, n_train=96, n_eval=24).close()
    return folder / "project"


def _config(folder: Path, **kw: object) -> TrainConfig:
    options = {
        "method": "counterfactual",
        "confounder": "color",
        "backbone": "cnn",
        "epochs": 3,
        "batch_size": 32,
        "seed": 3,
    }
    options.update(kw)
    return TrainConfig(project=str(folder), **options)  # type: ignore[arg-type]


def test_a_cancelled_run_is_recorded_and_resumes_to_the_same_result(project_folder) -> None:
    with Project.open(project_folder) as project:
        straight = run_quiet(train_run(project, _config(project_folder)))
        cancel = CancelToken()

        def stop_after_first_epoch(entry: dict) -> None:
            if entry["epoch"] == 0:
                cancel.cancel()

        with pytest.raises(JobCancelled):
            run_quiet(
                train_run(
                    project, _config(project_folder), cancel=cancel, on_epoch=stop_after_first_epoch
                )
            )
        cancelled = next(r for r in list_runs(project) if r["status"] == "cancelled")
        assert cancelled["metrics"]["completed_epochs"] == 1
        assert len(cancelled["metrics"]["history"]) == 1
        folder = project.runs_dir / cancelled["id"]
        assert {"config.json", "metrics.json", "checkpoint.safetensors"} <= {
            p.name for p in folder.iterdir()
        }
        resumed = run_quiet(resume_run(project, cancelled["id"]))
        assert resumed.status == "done"
        assert [h["loss"] for h in resumed.metrics["history"]] == pytest.approx(
            [h["loss"] for h in straight.metrics["history"]], rel=1e-5
        )
        assert resumed.metrics["test"]["per_group"] == straight.metrics["test"]["per_group"]
        statuses = {r["id"]: r["status"] for r in list_runs(project)}
        assert statuses[cancelled["id"]] == "done"


def test_cli_train_writes_config_and_group_metrics(project_folder, tmp_path, capsys) -> None:
    out = tmp_path / "run.json"
    code = main(
        [
            "train",
            str(project_folder),
            "--method",
            "selecmix",
            "--confounder",
            "color",
            "--backbone",
            "cnn",
            "--epochs",
            "1",
            "--batch-size",
            "32",
            "--min-group-size",
            "3",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["config"]["method"] == "selecmix"
    assert result["config"]["min_group_size"] == 3
    for split in ("val", "test"):
        metrics = result["metrics"][split]
        assert {"avg_acc", "worst_group_acc", "worst_group_acc_raw", "unbiased_acc"} <= set(metrics)
        assert metrics["min_group_size"] == 3
        group = metrics["per_group"]["c0/red"]
        assert {"acc", "n", "ci"} <= set(group) and group["n"] > 0
        assert group["ci"][0] <= group["acc"] <= group["ci"][1]
    test = result["metrics"]["test"]
    worst = test["per_group"][test["worst_group"]]
    assert f"n={worst['n']}" in printed and f"[{worst['ci'][0]:.2f}, " in printed
    assert main(["runs", str(project_folder)]) == 0
    listed = capsys.readouterr().out
    assert result["run_id"] in listed and f"n={worst['n']}" in listed
    assert main(["runs", str(project_folder), "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)
    assert runs[0]["metrics"]["test"]["per_group"]["c0/red"]["ci"] == group["ci"] or len(runs) > 1


def test_cli_write_config_round_trips(project_folder, tmp_path) -> None:
    target = tmp_path / "config.json"
    code = main(
        [
            "train",
            str(project_folder),
            "--method",
            "balanced",
            "--confounder",
            "color",
            "--backbone",
            "cnn",
            "--write-config",
            str(target),
        ]
    )
    assert code == 0
    config = TrainConfig.from_dict(json.loads(target.read_text()))
    assert config.method == "balanced" and Path(config.project) == project_folder.resolve()
    assert (config.epochs, config.batch_size) == (30, 32)  # the CNN's suggested defaults


def test_unknown_confounder_is_one_clear_error(project_folder, capsys) -> None:
    code = main(
        [
            "train",
            str(project_folder),
            "--method",
            "balanced",
            "--confounder",
            "nope",
            "--backbone",
            "cnn",
            "--epochs",
            "1",
        ]
    )
    assert code == 1
    assert "no confounder or attribute column named 'nope'" in capsys.readouterr().err
