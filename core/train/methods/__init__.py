"""Training methods (ALGORITHMS.md section 3): each turns a batch into a loss.

``make_method`` is the one place that maps a config's method name to its class.
"""

from __future__ import annotations

import torch

from core.train.config import TrainConfig
from core.train.data import TrainData
from core.train.methods.balanced import Balanced
from core.train.methods.base import Batch, Method
from core.train.methods.counterfactual import CounterfactualAugmentation
from core.train.methods.disc import ConceptExemplars, DiscCure
from core.train.methods.erm import ERM
from core.train.methods.selecmix import SelecMix

__all__ = ["Batch", "ConceptExemplars", "Method", "make_method"]


def make_method(
    config: TrainConfig,
    data: TrainData,
    model: torch.nn.Module,
    device: torch.device,
    concepts: list[ConceptExemplars] | None = None,
) -> Method:
    classes: dict[str, type[Method]] = {
        "erm": ERM,
        "balanced": Balanced,
        "counterfactual": CounterfactualAugmentation,
        "selecmix": SelecMix,
    }
    if config.method == "disc":
        return DiscCure(config, data, model, device, concepts=concepts)
    return classes[config.method](config, data, model, device)
