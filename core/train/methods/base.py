"""What every method shares: the batch it sees, the networks it trains, the state it saves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from debias_studio.core.annotate.groups import group_ids as group_ids_of
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.data import TrainData


@dataclass
class Batch:
    """A training batch on the run's device. ``v`` is the confounder value (-1 unknown); ``ids``
    are image ids (on the CPU) so that methods can keep per-image state."""

    x: torch.Tensor
    y: torch.Tensor
    v: torch.Tensor
    ids: torch.Tensor


class Method:
    """ERM's skeleton; subclasses change ``loss`` and may add networks or sampling weights."""

    name = "method"

    def __init__(
        self, config: TrainConfig, data: TrainData, model: nn.Module, device: torch.device
    ) -> None:
        self.config = config
        self.data = data
        self.device = device
        self.nets: dict[str, nn.Module] = {"model": model}

    @property
    def model(self) -> nn.Module:
        return self.nets["model"]

    def param_groups(self) -> list[dict[str, Any]]:
        """Optimiser parameter groups: the classifier at the run's rate, plus any extra nets."""
        groups = [{"params": _trainable(self.nets["model"]), "lr": self.config.learning_rate}]
        for name, net in self.nets.items():
            if name != "model":
                lr = self.config.aux_lr or self.config.learning_rate
                groups.append({"params": _trainable(net), "lr": lr})
        return groups

    def loss(self, batch: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def logits(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """The model on the images it trains on, each shifted at random by up to the run's
        ``shift`` pixels (images only: frozen features pass unchanged)."""
        return self.model(random_shift(x, self.config.shift_pixels, gen))

    def start_epoch(self, epoch: int) -> None:
        """Called before each epoch's first step (a resumed run restarts at an epoch), so any
        state a method keeps between steps can be rebuilt the same way on resume."""

    def sample_weights(self) -> np.ndarray | None:
        """Sampling weight per image id for re-sampled epochs; None samples uniformly."""
        return None

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors besides network weights that a resumed run needs (e.g. GroupDRO's q)."""
        return {}

    def load_state(self, tensors: dict[str, torch.Tensor]) -> None:
        for key, value in tensors.items():
            getattr(self, key).copy_(value.to(getattr(self, key).device))


def random_shift(x: torch.Tensor, pixels: int, gen: torch.Generator) -> torch.Tensor:
    """Each image of a (B, C, H, W) batch translated by its own (dy, dx), drawn uniformly from
    [-pixels, pixels], with zeros shifted in; other shapes (features) are returned as they are."""
    if pixels <= 0 or x.dim() != 4:
        return x
    b, c, h, w = x.shape
    padded = F.pad(x, (pixels, pixels, pixels, pixels))
    dy, dx = torch.randint(0, 2 * pixels + 1, (2, b), generator=gen).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    images = torch.arange(b, device=x.device)[:, None, None, None]
    channels = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[images, channels, rows, cols]


def _trainable(net: nn.Module) -> list[nn.Parameter]:
    return [p for p in net.parameters() if p.requires_grad]


def cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample cross-entropy in float32 (autocast may hand us bf16 logits)."""
    return F.cross_entropy(logits.float(), y, reduction="none")


def group_ids(data: TrainData) -> np.ndarray:
    """Group per image (core.annotate.groups), or where the value is unknown a per-class
    'unknown' bucket C * V + class, so that re-weighting still sees those images."""
    known = group_ids_of(data.labels, data.values, data.n_values)
    unknown = data.n_classes * data.n_values + data.labels
    return np.where(known >= 0, known, unknown).astype(np.int64)


def n_groups(data: TrainData) -> int:
    return data.n_classes * data.n_values + data.n_classes
