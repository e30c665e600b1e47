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
from contextlib import AbstractContextManager
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
from debias_studio.core.train.methods.base import Batch, Method
from debias_studio.core.train.methods.disc import ConceptExemplars
from debias_studio.core.train.methods.registry import make_method
from debias_studio.core.train.metrics import group_metrics, selection_score
from debias_studio.core.train.runs import (
    BEST,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)

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
    setup = yield from _set_up(data, config, cancel, dist, concepts)
    standing = _resume(setup, run_folder)
    schedule = _Schedule.of(setup, config)
    steps = _StepRecord()
    for epoch in range(standing.start_epoch, config.epochs):
        epoch_loss = yield from _train_epoch(setup, schedule, epoch, steps, cancel, dist)
        entry, val = _close_epoch(
            setup, epoch, epoch_loss / schedule.steps, standing, run_folder, dist
        )
        if on_epoch is not None:
            on_epoch(entry)
        yield Progress(
            (epoch + 1) * schedule.steps,
            schedule.total,
            f"epoch {epoch + 1}: val worst-group {val['worst_group_acc']:.3f} "
            f"avg {val['avg_acc']:.3f}",
        )
    return _outcome(setup, standing, steps)


@dataclass
class _Setup:
    """What a fit trains: the run's data (as features when the tower is frozen), the model and
    its method, optimiser and precision on the chosen device."""

    config: TrainConfig
    data: TrainData
    device: torch.device
    model: nn.Module
    tower: nn.Module | None
    method: Method
    plain_nets: dict[str, nn.Module]
    """The method's networks before any DDP wrapping: what checkpoints save and load."""
    optimizer: torch.optim.Optimizer
    autocast: Callable[[], AbstractContextManager[Any]]
    scaler: Any
    """A torch.amp.GradScaler, typed Any as _precision returns it: torch's stubs leave
    ``Tensor.backward`` untyped, which strict mypy refuses to call on a typed tensor."""


@dataclass
class _Standing:
    """Where training stands: the next epoch, the history so far and the best epoch's weights."""

    start_epoch: int
    history: list[dict[str, Any]]
    best: dict[str, Any]
    best_state: dict[str, torch.Tensor]


@dataclass
class _Schedule:
    """The training ids, their sampling weights and how many steps an epoch and the run take."""

    train_ids: np.ndarray
    weights: np.ndarray | None
    steps: int
    total: int

    @classmethod
    def of(cls, setup: _Setup, config: TrainConfig) -> _Schedule:
        train_ids = setup.data.indices("train")
        weights = setup.method.sample_weights()
        batch_size = config.batch_size
        steps = max(1, len(train_ids) // batch_size) if len(train_ids) >= batch_size else 1
        return cls(train_ids, weights, steps, steps * config.epochs)


@dataclass
class _StepRecord:
    """Every optimiser step's loss (averaged over ranks) and the method's logged terms."""

    losses: list[float] = field(default_factory=list)
    logs: list[dict[str, float]] = field(default_factory=list)


def _set_up(
    data: TrainData,
    config: TrainConfig,
    cancel: CancelToken,
    dist: DistContext | None,
    concepts: list[ConceptExemplars] | None,
) -> Job[_Setup]:
    """Build the classifier on the configured device; with a frozen tower, run it once over the
    images and train a head on its features instead. Then the method, DDP and the optimiser."""
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
    return _Setup(
        config, data, device, model, tower, method, plain_nets, optimizer, autocast, scaler
    )


def _resume(setup: _Setup, run_folder: Path | None) -> _Standing:
    """A fresh start, or the epoch, history and best weights of the checkpoint in ``run_folder``
    (loading the networks', optimiser's and method's state on the way)."""
    best_state = copy.deepcopy(setup.model.state_dict())
    standing = _Standing(0, [], {"score": None, "epoch": -1}, best_state)
    if run_folder is None:
        return standing
    resumed = load_checkpoint(run_folder, setup.plain_nets, setup.optimizer)
    if resumed is None:
        return standing
    method_state, meta = resumed
    setup.method.load_state(method_state)
    standing.start_epoch = meta["epoch"] + 1
    standing.history, standing.best = meta["history"], meta["best"]
    if (run_folder / BEST).is_file():
        standing.best_state = load_weights(run_folder / BEST)
    return standing


def _train_epoch(
    setup: _Setup,
    schedule: _Schedule,
    epoch: int,
    record: _StepRecord,
    cancel: CancelToken,
    dist: DistContext | None,
) -> Job[float]:
    """One epoch of steps, in the order seeded by (seed, epoch); returns its summed loss."""
    config = setup.config
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
    order = _epoch_order(schedule.train_ids, schedule.weights, gen)
    for net in setup.method.nets.values():
        net.train()
    setup.method.start_epoch(epoch)
    epoch_loss = 0.0
    for step in range(schedule.steps):
        cancel.raise_if_cancelled()
        ids = order[step * config.batch_size : (step + 1) * config.batch_size]
        if dist is not None:
            ids = ids[dist.rank :: dist.world]
        value, logs = _train_step(setup, ids, gen, dist)
        record.losses.append(value)
        record.logs.append(logs)
        epoch_loss += value
        done = epoch * schedule.steps + step + 1
        yield Progress(done, schedule.total, f"epoch {epoch + 1}/{config.epochs} loss {value:.4f}")
    return epoch_loss


def _train_step(
    setup: _Setup, ids: np.ndarray, gen: torch.Generator, dist: DistContext | None
) -> tuple[float, dict[str, float]]:
    """One optimiser step on the batch ``ids``: its loss averaged over ranks, and its logs."""
    batch = make_batch(setup.data, ids, setup.device)
    with setup.autocast():
        loss, logs = setup.method.loss(batch, gen)
    setup.optimizer.zero_grad(set_to_none=True)
    setup.scaler.scale(loss).backward()
    setup.scaler.step(setup.optimizer)
    setup.scaler.update()
    return _mean_over_ranks(float(loss.detach()), dist, setup.device), logs


def _close_epoch(
    setup: _Setup,
    epoch: int,
    mean_loss: float,
    standing: _Standing,
    run_folder: Path | None,
    dist: DistContext | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate, keep the weights when the epoch is the best so far, and checkpoint (on the main
    rank); returns the epoch's history entry and its validation metrics."""
    config = setup.config
    val = evaluate(setup.model, setup.data, "val", setup.device, config.min_group_size)
    score = selection_score(val)
    entry = {
        "epoch": epoch,
        "loss": mean_loss,
        "val": {k: val[k] for k in HISTORY_KEYS},
        "val_per_group": {g: {"acc": r["acc"], "n": r["n"]} for g, r in val["per_group"].items()},
    }
    standing.history.append(entry)
    folder = run_folder if dist is None or dist.is_main else None  # only the main rank writes
    if standing.best["score"] is None or score > standing.best["score"]:
        standing.best = {"score": score, "epoch": epoch}
        standing.best_state = copy.deepcopy(setup.model.state_dict())
        if folder is not None:
            save_weights(folder / BEST, standing.best_state)
    if folder is not None:
        meta = {"epoch": epoch, "history": standing.history, "best": standing.best}
        save_checkpoint(folder, setup.plain_nets, setup.optimizer, setup.method.state(), meta)
    return entry, val


def _outcome(setup: _Setup, standing: _Standing, record: _StepRecord) -> FitOutcome:
    """Load the best epoch's weights and measure them on validation and (once) on test."""
    config, model, data, device = setup.config, setup.model, setup.data, setup.device
    model.load_state_dict(standing.best_state)
    test = len(data.indices("test")) > 0
    metrics = {
        "val": evaluate(model, data, "val", device, config.min_group_size),
        "test": evaluate(model, data, "test", device, config.min_group_size) if test else None,
        "best_epoch": standing.best["epoch"],
        "selection": (
            f"validation worst-group accuracy over groups of at least {config.min_group_size} "
            "images (all groups when none is that large), ties by average accuracy"
        ),
        "history": standing.history,
    }
    final = model if setup.tower is None else FrozenPipeline(setup.tower, model)
    return FitOutcome(metrics, standing.history, record.losses, record.logs, final)


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
