"""Runs on a frozen pretrained tower: its features computed once, only the head trains.

When no weight of a run's image tower trains (EfficientNet by default, CLIP with 0 blocks), every
epoch would push the same pixels through the same function. So the run encodes each image once,
and what a method needs in pixel space is rendered once too: the counterfactual cure gets
``per_image`` counterfactuals per training image (core.train.counterfactuals, each under another
value of the confounder) kept as features in a ``CounterfactualBank``; DISC's cure gets its
concept exemplars encoded. The methods then train a head on features exactly as on CLIP
embeddings (the features are L2-normalised like them, so feature-space mixing behaves the same).
The run's model is the tower and the head together, so predictions still start from pixels.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.counterfactuals import Generator, choose_generator
from debias_studio.core.train.data import CounterfactualBank, TrainData
from debias_studio.core.train.methods.disc import ConceptExemplars, concepts_from_confounder

ENCODE_BATCH = 128


class FrozenPipeline(nn.Module):
    """Pixels -> frozen tower -> L2-normalised features -> the trained head."""

    def __init__(self, tower: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.tower = tower.eval()
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.normalize(self.tower(x), dim=1))


def is_frozen(model: nn.Module, data: TrainData) -> bool:
    features = getattr(model, "features", None)
    if not data.is_images or features is None:
        return False
    return not any(p.requires_grad for p in features.parameters())


@torch.no_grad()
def encode(tower: nn.Module, pixels: torch.Tensor, device: torch.device) -> torch.Tensor:
    """(n, D) L2-normalised features of images given as uint8 or as floats in [0, 1]."""
    tower.eval()
    out = []
    for start in range(0, len(pixels), ENCODE_BATCH):
        x = pixels[start : start + ENCODE_BATCH].to(device)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        out.append(F.normalize(tower(x).float(), dim=1).cpu())
    return torch.cat(out) if out else torch.zeros((0, int(getattr(tower, "out_dim", 0))))


def encode_images(
    data: TrainData, tower: nn.Module, device: torch.device, cancel: CancelToken = NEVER_CANCELLED
) -> Job[torch.Tensor]:
    n = len(data.inputs)
    parts = []
    for start in range(0, n, ENCODE_BATCH * 4):
        cancel.raise_if_cancelled()
        yield Progress(start, n, "encoding images with the frozen tower")
        parts.append(encode(tower, data.inputs[start : start + ENCODE_BATCH * 4], device))
    return torch.cat(parts)


def counterfactual_bank(
    data: TrainData,
    tower: nn.Module,
    generator: Generator,
    per_image: int,
    device: torch.device,
    *,
    seed: int = 0,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[CounterfactualBank]:
    """``per_image`` counterfactuals of every training image with a known value, each under one
    of the other values in turn (starting at a random one), as features."""
    ids = data.indices("train")
    ids = ids[data.values[ids] >= 0]
    n_values = data.n_values
    targets = torch.full((len(data.labels), per_image), -1, dtype=torch.long)
    own = torch.from_numpy(data.values[ids])
    gen = torch.Generator().manual_seed(seed)
    offset = torch.randint(n_values - 1, (len(ids),), generator=gen)
    for k in range(per_image):
        step = 1 + (offset + k) % (n_values - 1)
        targets[torch.from_numpy(ids), k] = (own + step) % n_values
    width = int(getattr(tower, "out_dim"))  # noqa: B009 - nn.Module attributes are untyped
    features = torch.zeros((len(data.labels), per_image, width))
    chunk = ENCODE_BATCH
    for start in range(0, len(ids), chunk):
        cancel.raise_if_cancelled()
        yield Progress(start, len(ids), f"rendering {per_image} counterfactuals per image")
        rows = torch.from_numpy(ids[start : start + chunk])
        x = data.inputs[rows].to(device).float() / 255.0
        values = torch.from_numpy(data.values[rows.numpy()]).to(device)
        for k in range(per_image):
            x_cf = generator(x, values, targets[rows, k].to(device), rows, gen)
            features[rows, k] = encode(tower, x_cf, device)
    return CounterfactualBank(features, targets)


def encode_concepts(
    concepts: list[ConceptExemplars], tower: nn.Module, device: torch.device
) -> list[ConceptExemplars]:
    return [replace(c, inputs=encode(tower, c.inputs, device)) for c in concepts]


def freeze_run_data(
    data: TrainData,
    tower: nn.Module,
    config: TrainConfig,
    concepts: list[ConceptExemplars] | None,
    device: torch.device,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[tuple[TrainData, list[ConceptExemplars] | None]]:
    """The run's data as features (with the bank the counterfactual cure needs) and DISC's
    concepts encoded (from the confounder's values when discovery gave none)."""
    bank = None
    if config.method == "counterfactual" and data.n_values >= 2:
        generator = choose_generator(data, config.mix_alpha)
        bank = yield from counterfactual_bank(
            data, tower, generator, config.cf_per_image, device, seed=config.seed, cancel=cancel
        )
    if config.method == "disc":
        pixel_concepts = concepts if concepts is not None else concepts_from_confounder(data)
        concepts = encode_concepts(pixel_concepts, tower, device)
    features = yield from encode_images(data, tower, device, cancel)
    frozen = replace(data, inputs=features, masks=None, bank=bank)
    return frozen, concepts
