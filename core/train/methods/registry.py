"""The one place that maps a config's method name to its class."""

from __future__ import annotations

import torch

from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.data import TrainData
from debias_studio.core.train.methods.balanced import Balanced
from debias_studio.core.train.methods.base import Method
from debias_studio.core.train.methods.counterfactual import CounterfactualAugmentation
from debias_studio.core.train.methods.disc import ConceptExemplars, DiscCure
from debias_studio.core.train.methods.erm import ERM
from debias_studio.core.train.methods.selecmix import SelecMix


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
