"""Run records: the ``runs`` table of the project plus ``runs/<id>/`` with config.json,
metrics.json and safetensors checkpoints.

A checkpoint is one safetensors file holding the networks, the optimiser's tensors and the
method's state, with the epoch and history as its metadata; it is written to a temporary name and
renamed, so a run stopped at any moment (cancel, crash) still has a complete last checkpoint and
can be resumed from it.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from debias_studio.core.errors import StudioError
from debias_studio.core.store.project import Project
from debias_studio.core.train.config import TrainConfig

CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"
PREDICTIONS = "predictions.npy"
"""Predicted class index per image id of the finished run's kept model (-1: not predicted,
e.g. excluded); read by the export's manifest."""


@dataclass
class RunRecord:
    id: str
    folder: Path
    config: TrainConfig
    status: str = "running"


def create_run(project: Project, config: TrainConfig) -> RunRecord:
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
    folder = project.runs_dir / run_id
    folder.mkdir(parents=True)
    _write_json(folder / "config.json", config.to_dict())
    with project.transaction() as db:
        db.execute(
            "INSERT INTO runs(id, created, method, status, config, metrics) VALUES (?,?,?,?,?,?)",
            (run_id, time.time(), config.method, "running", json.dumps(config.to_dict()), "{}"),
        )
    return RunRecord(run_id, folder, config)


def open_run(project: Project, run_id: str) -> RunRecord:
    rows = project.query("SELECT config, status FROM runs WHERE id=?", (run_id,))
    if not rows:
        raise StudioError(f"There is no run '{run_id}' in this project.")
    config = TrainConfig.from_dict(json.loads(rows[0][0]))
    return RunRecord(run_id, project.runs_dir / run_id, config, rows[0][1])


def finish_run(project: Project, run_id: str, status: str, metrics: dict[str, Any]) -> None:
    """Store the outcome (done, cancelled or failed) in the table and in metrics.json."""
    _write_json(project.runs_dir / run_id / "metrics.json", metrics)
    with project.transaction() as db:
        db.execute(
            "UPDATE runs SET status=?, metrics=? WHERE id=?",
            (status, json.dumps(metrics), run_id),
        )


def mark_running(project: Project, run_id: str) -> None:
    with project.transaction() as db:
        db.execute("UPDATE runs SET status='running' WHERE id=?", (run_id,))


def list_runs(project: Project) -> list[dict[str, Any]]:
    """Every run, newest first, with its config and (summary) metrics."""
    rows = project.query(
        "SELECT id, created, method, status, config, metrics FROM runs ORDER BY created DESC"
    )
    return [
        {
            "id": r[0],
            "created": r[1],
            "method": r[2],
            "status": r[3],
            "config": json.loads(r[4]),
            "metrics": json.loads(r[5]),
        }
        for r in rows
    ]


# ---- per-image predictions ----------------------------------------------------------------------
def save_predictions(folder: Path, model: nn.Module, data: Any, device: str | None) -> None:
    """Predict every usable image with the run's kept model and store the classes."""
    import numpy as np

    from debias_studio.core.train.loop import predict, resolve_device

    ids = np.flatnonzero(data.split >= 0)
    predictions = np.full(len(data.labels), -1, dtype=np.int64)
    predictions[ids] = predict(model, data, ids, resolve_device(device))
    tmp = folder / (PREDICTIONS + ".tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, predictions, allow_pickle=False)
    os.replace(tmp, folder / PREDICTIONS)


def load_predictions(project: Project, run_id: str) -> Any:
    """The stored predictions of run ``run_id`` (int64 per image id), or None when the run has
    none or they belong to a different set of images."""
    import numpy as np

    path = project.runs_dir / run_id / PREDICTIONS
    try:
        predictions = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if predictions.ndim != 1 or len(predictions) != len(project.dataset):
        return None
    return predictions.astype(np.int64)


# ---- checkpoints --------------------------------------------------------------------------------
def save_checkpoint(
    folder: Path,
    nets: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer,
    method_state: dict[str, torch.Tensor],
    meta: dict[str, Any],
) -> None:
    tensors = {
        f"net/{name}/{k}": v for name, net in nets.items() for k, v in net.state_dict().items()
    }
    opt_state = optimizer.state_dict()
    plain: dict[str, dict[str, Any]] = {}
    for pid, entries in opt_state["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"opt/{pid}/{key}"] = value
            else:
                plain.setdefault(str(pid), {})[key] = value
    tensors.update({f"method/{k}": v for k, v in method_state.items()})
    metadata = {
        "meta": json.dumps(meta),
        "opt_groups": json.dumps(opt_state["param_groups"]),
        "opt_plain": json.dumps(plain),
    }
    _atomic_save(
        {k: v.detach().contiguous().cpu() for k, v in tensors.items()},
        folder / CHECKPOINT,
        metadata,
    )


def load_checkpoint(
    folder: Path,
    nets: dict[str, nn.Module],
    optimizer: torch.optim.Optimizer,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """Restore nets and optimiser from the last checkpoint; returns (method state, meta)."""
    path = folder / CHECKPOINT
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    tensors = load_file(str(path))
    for name, net in nets.items():
        prefix = f"net/{name}/"
        net.load_state_dict(
            {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        )
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("opt/"):
            _, pid, name = key.split("/", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, entries in json.loads(metadata["opt_plain"]).items():
        state.setdefault(int(pid), {}).update(entries)
    optimizer.load_state_dict({"state": state, "param_groups": json.loads(metadata["opt_groups"])})
    method_state = {k[len("method/") :]: v for k, v in tensors.items() if k.startswith("method/")}
    return method_state, json.loads(metadata["meta"])


def read_checkpoint_meta(folder: Path) -> dict[str, Any] | None:
    path = folder / CHECKPOINT
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return json.loads((handle.metadata() or {})["meta"])


def save_weights(path: Path, state: dict[str, torch.Tensor]) -> None:
    _atomic_save({k: v.detach().contiguous().cpu() for k, v in state.items()}, path, None)


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict | None) -> None:
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
