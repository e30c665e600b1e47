"""A training run's files beyond its record: safetensors checkpoints, the kept weights and the
predictions of the kept model. The record itself (the ``runs`` table) is core.store.runs's.

A checkpoint is one safetensors file holding the networks, the optimiser's tensors and the
method's state, with the epoch and history as its metadata; it is written to a temporary name and
renamed, so a run stopped at any moment (cancel, crash) still has a complete last checkpoint and
can be resumed from it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from debias_studio.core.store import runs as records
from debias_studio.core.store.project import Project
from debias_studio.core.train.config import TrainConfig

CHECKPOINT = "checkpoint.safetensors"
BEST = "best.safetensors"


@dataclass
class RunRecord:
    id: str
    folder: Path
    config: TrainConfig
    status: str = "running"


def create_run(project: Project, config: TrainConfig) -> RunRecord:
    stored = records.create_run(project, config.method, config.to_dict())
    return RunRecord(stored.id, stored.folder, config)


def open_run(project: Project, run_id: str) -> RunRecord:
    stored = records.open_run(project, run_id)
    return RunRecord(stored.id, stored.folder, TrainConfig.from_dict(stored.config), stored.status)


# ---- per-image predictions ----------------------------------------------------------------------
def save_predictions(folder: Path, model: nn.Module, data: Any, device: str | None) -> None:
    """Predict every usable image with the run's kept model and store the classes."""
    from debias_studio.core.models.device import resolve_device
    from debias_studio.core.train.loop import predict

    ids = np.flatnonzero(data.split >= 0)
    predictions = np.full(len(data.labels), -1, dtype=np.int64)
    predictions[ids] = predict(model, data, ids, resolve_device(device))
    records.save_predicted_classes(folder, predictions)


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


def _atomic_save(
    tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None
) -> None:
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
