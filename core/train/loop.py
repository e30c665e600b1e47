"""The training loop: seeded, resumable, cancellable, the same on one process or under DDP.

Every epoch draws its order and its augmentation randomness from a generator seeded by (seed,
epoch), so a run resumed from an epoch checkpoint continues exactly as if it had never stopped.
The model kept is the one with the best *validation* worst-group accuracy; the test split is
evaluated once, at the end, on that model only. A frozen image tower is run once per image
(core.train.frozen) and the epochs train the head on its features.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress
from debias_studio.core.models.device import resolve_device
from debias_studio.core.train.backbones import build_classifier
from debias_studio.core.train.config import MIN_GROUP_SIZE, TrainConfig
from debias_studio.core.train.data import TrainData
from debias_studio.core.train.frozen import FrozenPipeline, freeze_run_data, is_frozen
from debias_studio.core.train.methods.base import Batch
from debias_studio.core.train.methods.disc import ConceptExemplars
from debias_studio.core.train.methods.registry import make_method
from debias_studio.core.train.metrics import group_metrics, selection_score
from debias_studio.core.train.runs import BEST, load_checkpoint, save_checkpoint, save_weights

EpochCallback = Callable[[dict[str, Any]], None]
HISTORY_KEYS = ("avg_acc", "worst_group_acc", "worst_group_acc_raw", "unbiased_acc")


@dataclass
class DistContext:
    """This process's place in a DDP run: each rank trains on its shard of every global batch."""

    rank: int
    world: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass
class FitOutcome:
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    step_losses: list[float] = field(default_factory=list)
    step_logs: list[dict[str, float]] = field(default_factory=list)
    model: nn.Module | None = None


def fit(
    data: TrainData,
    config: TrainConfig,
    *,
    cancel: CancelToken = NEVER_CANCELLED,
    run_folder: Path | None = None,
    on_epoch: EpochCallback | None = None,
    dist: DistContext | None = None,
    concepts: list[ConceptExemplars] | None = None,
) -> Job[FitOutcome]:
    """Train on ``data`` and return metrics of the best-on-validation model. With ``run_folder``,
    checkpoint every epoch there and resume from the checkpoint found there."""
    torch.manual_seed(config.seed)
    device = resolve_device(config.device)
    model = build_classifier(
        config.backbone,
        data.n_classes,
        in_dim=int(np.prod(data.inputs.shape[1:])),
        head_hidden=config.head_hidden,
        model_name=config.model,
        clip_blocks=config.tower_blocks,
    ).to(device)
    tower = None
    if is_frozen(model, data):
        tower = model.features
        data, concepts = yield from freeze_run_data(data, tower, config, concepts, device, cancel)
        model = build_classifier(
            "head", data.n_classes, in_dim=int(data.inputs.shape[1]), head_hidden=config.head_hidden
        ).to(device)
    method = make_method(config, data, model, device, concepts=concepts)
    plain_nets = dict(method.nets)
    if dist is not None:
        _wrap_ddp(method, device)
    optimizer = torch.optim.Adam(method.param_groups(), weight_decay=config.weight_decay)
    autocast, scaler = _precision(device)

    start_epoch, history = 0, []
    best: dict[str, Any] = {"score": None, "epoch": -1}
    best_state = copy.deepcopy(model.state_dict())
    resumed = load_checkpoint(run_folder, plain_nets, optimizer) if run_folder else None
    if resumed is not None and run_folder is not None:
        method_state, meta = resumed
        method.load_state(method_state)
        start_epoch, history, best = meta["epoch"] + 1, meta["history"], meta["best"]
        if (run_folder / BEST).is_file():
            from debias_studio.core.train.runs import load_weights

            best_state = load_weights(run_folder / BEST)

    train_ids = data.indices("train")
    weights = method.sample_weights()
    batch_size = config.batch_size
    steps = max(1, len(train_ids) // batch_size) if len(train_ids) >= batch_size else 1
    total = steps * config.epochs
    step_losses: list[float] = []
    step_logs: list[dict[str, float]] = []
    for epoch in range(start_epoch, config.epochs):
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        order = _epoch_order(train_ids, weights, gen)
        for net in method.nets.values():
            net.train()
        method.start_epoch(epoch)
        epoch_loss = 0.0
        for step in range(steps):
            cancel.raise_if_cancelled()
            ids = order[step * batch_size : (step + 1) * batch_size]
            if dist is not None:
                ids = ids[dist.rank :: dist.world]
            batch = make_batch(data, ids, device)
            with autocast():
                loss, logs = method.loss(batch, gen)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            value = _mean_over_ranks(float(loss.detach()), dist, device)
            step_losses.append(value)
            step_logs.append(logs)
            epoch_loss += value
            done = epoch * steps + step + 1
            yield Progress(done, total, f"epoch {epoch + 1}/{config.epochs} loss {value:.4f}")
        val = evaluate(model, data, "val", device, config.min_group_size)
        score = selection_score(val)
        entry = {
            "epoch": epoch,
            "loss": epoch_loss / steps,
            "val": {k: val[k] for k in HISTORY_KEYS},
            "val_per_group": {
                g: {"acc": r["acc"], "n": r["n"]} for g, r in val["per_group"].items()
            },
        }
        history.append(entry)
        if best["score"] is None or score > best["score"]:
            best = {"score": score, "epoch": epoch}
            best_state = copy.deepcopy(model.state_dict())
            if run_folder is not None and (dist is None or dist.is_main):
                save_weights(run_folder / BEST, best_state)
        if run_folder is not None and (dist is None or dist.is_main):
            meta = {"epoch": epoch, "history": history, "best": best}
            save_checkpoint(run_folder, plain_nets, optimizer, method.state(), meta)
        if on_epoch is not None:
            on_epoch(entry)
        yield Progress(
            (epoch + 1) * steps,
            total,
            f"epoch {epoch + 1}: val worst-group {val['worst_group_acc']:.3f} "
            f"avg {val['avg_acc']:.3f}",
        )
    model.load_state_dict(best_state)
    test = len(data.indices("test")) > 0
    metrics = {
        "val": evaluate(model, data, "val", device, config.min_group_size),
        "test": evaluate(model, data, "test", device, config.min_group_size) if test else None,
        "best_epoch": best["epoch"],
        "selection": (
            f"validation worst-group accuracy over groups of at least {config.min_group_size} "
            "images (all groups when none is that large), ties by average accuracy"
        ),
        "history": history,
    }
    final = model if tower is None else FrozenPipeline(tower, model)
    return FitOutcome(metrics, history, step_losses, step_logs, final)


def make_batch(data: TrainData, ids: np.ndarray, device: torch.device) -> Batch:
    index = torch.from_numpy(np.ascontiguousarray(ids))
    x = data.inputs[index].to(device)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return Batch(
        x=x,
        y=torch.from_numpy(data.labels[ids]).to(device),
        v=torch.from_numpy(data.values[ids]).to(device),
        ids=index,
    )


@torch.no_grad()
def predict(model: nn.Module, data: TrainData, ids: np.ndarray, device: torch.device) -> np.ndarray:
    model.eval()
    out = []
    for start in range(0, len(ids), 512):
        batch = make_batch(data, ids[start : start + 512], device)
        out.append(model(batch.x).argmax(dim=1).cpu())
    model.train()
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.int64)


def evaluate(
    model: nn.Module,
    data: TrainData,
    split: str,
    device: torch.device,
    min_group_size: int = MIN_GROUP_SIZE,
) -> dict[str, Any]:
    ids = data.indices(split)
    predictions = predict(model, data, ids, device)
    if data.n_values:
        train_counts = data.group_counts("train")
    else:
        train_counts = np.bincount(data.labels[data.indices("train")], minlength=data.n_classes)
    return group_metrics(
        predictions,
        data.labels[ids],
        data.values[ids],
        data.classes,
        data.value_names,
        train_counts=train_counts,
        aligned_values=data.aligned_values() if data.n_values else None,
        min_group_size=min_group_size,
    )


def _epoch_order(
    train_ids: np.ndarray, weights: np.ndarray | None, gen: torch.Generator
) -> np.ndarray:
    if weights is None:
        return train_ids[torch.randperm(len(train_ids), generator=gen).numpy()]
    w = torch.from_numpy(np.asarray(weights, dtype=np.float64)[train_ids])
    picks = torch.multinomial(w, len(train_ids), replacement=True, generator=gen)
    return train_ids[picks.numpy()]


def _precision(device: torch.device):  # type: ignore[no-untyped-def]
    """bf16 autocast on CUDA (fp16 + loss scaling where bf16 is missing); plain fp32 on the CPU,
    where autocast re-casts weights every call and is slower (PERFORMANCE.md)."""
    import contextlib
    import functools

    if device.type != "cuda":
        return contextlib.nullcontext, torch.amp.GradScaler("cpu", enabled=False)
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
    return functools.partial(torch.autocast, "cuda", dtype=dtype), scaler


def _wrap_ddp(method: Any, device: torch.device) -> None:
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    for name, net in list(method.nets.items()):
        if any(p.requires_grad for p in net.parameters()):
            method.nets[name] = DistributedDataParallel(net, device_ids=ids)


def _mean_over_ranks(value: float, dist: DistContext | None, device: torch.device) -> float:
    if dist is None or dist.world == 1:
        return value
    import torch.distributed as tdist

    t = torch.tensor([value], dtype=torch.float64, device=device)
    tdist.all_reduce(t)
    return float(t.item()) / dist.world
