"""DISC's cure (Wu et al., ICML 2023): concept-exemplar mixup driven by concept sensitivities.

For every class c, the concepts found spurious for c are sampled by their sensitivity, and their
exemplars are mixed into images of the *other* classes with the label kept,
x~ = lam x + (1 - lam) x_concept, lam ~ Beta(2, 2): the concept then appears under every label
and stops predicting c. Exemplars are concept images (or embeddings for frozen-feature runs) from
discovery; without discovery, a confounder's values serve as the concepts (their exemplars the
training images of that value within c, their weight how much more often the value occurs in c
than elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from debias_studio.core.errors import StudioError
from debias_studio.core.train.counterfactuals import (
    BackgroundSwap,
    ColourCounterfactual,
    LatentCounterfactual,
    beta,
)
from debias_studio.core.train.data import TrainData
from debias_studio.core.train.methods.base import Batch, Method, cross_entropy

MAX_EXEMPLARS = 64


@dataclass
class ConceptExemplars:
    """Exemplars of one concept that is spurious for class ``class_index``. ``inputs`` are images
    (n, 3, S, S) uint8 or embeddings (n, d) like the run's inputs; ``weight`` its sensitivity."""

    name: str
    class_index: int
    inputs: torch.Tensor
    weight: float


def concepts_from_confounder(data: TrainData) -> list[ConceptExemplars]:
    """Fallback when discovery was not run: the confounder's values as concepts."""
    if data.n_values < 2:
        raise StudioError(
            "The DISC cure needs discovered concepts or a confounder: run discovery first or "
            "pass --confounder NAME."
        )
    render = _concept_renderer(data)
    counts = data.group_counts("train").astype(np.float64)
    share_in = counts / counts.sum(axis=1, keepdims=True).clip(min=1)
    concepts = []
    rng = np.random.default_rng(0)
    train = data.indices("train")
    for c in range(data.n_classes):
        others = np.delete(counts, c, axis=0).sum(axis=0)
        share_out = others / max(others.sum(), 1)
        for v in range(data.n_values):
            weight = share_in[c, v] - share_out[v]
            ids = train[(data.labels[train] == c) & (data.values[train] == v)]
            if weight <= 0 or len(ids) == 0:
                continue
            ids = rng.choice(ids, min(MAX_EXEMPLARS, len(ids)), replace=False)
            exemplars = render(v, torch.from_numpy(np.sort(ids)))
            concepts.append(ConceptExemplars(data.value_names[v], c, exemplars, weight))
    if not concepts:
        raise StudioError("The confounder travels with no class; the DISC cure has nothing to do.")
    return concepts


def _concept_renderer(data: TrainData):  # type: ignore[no-untyped-def]
    """Exemplars that show the value without the class (a class-bearing exemplar mixed under
    another label would teach the wrong thing): a patch of the value's colour, the background with
    the object painted over, the class-balanced mean embedding of the value; raw images of the
    value otherwise."""
    if not data.is_images:
        latent = LatentCounterfactual(data)
        concept = F.normalize(latent.value_means, dim=1)
        return lambda v, ids: concept[v].expand(len(ids), -1).clone()
    if data.kind == "colour":
        colours = ColourCounterfactual(data).colours
        size = data.inputs.shape[-1]
        return lambda v, ids: colours[v].view(1, 3, 1, 1).expand(len(ids), 3, size, size).clone()
    if data.kind == "background":
        swap = BackgroundSwap(data)
        return lambda v, ids: swap.backgrounds(torch.full((len(ids),), v), _GEN, "cpu")
    return lambda v, ids: data.inputs[ids]


_GEN = torch.Generator().manual_seed(0)


@dataclass
class _ClassExemplars:
    """One class's concepts packed for drawing a batch in a few tensor operations: every
    exemplar in one tensor, each concept a contiguous run of it."""

    inputs: torch.Tensor
    start: torch.Tensor  # (K,) first row of each concept
    count: torch.Tensor  # (K,) rows of each concept
    weights: torch.Tensor  # (K,) sampling probability of each concept (its sensitivity)

    @classmethod
    def of(cls, concepts: list[ConceptExemplars]) -> _ClassExemplars:
        weights = torch.tensor([max(k.weight, 0.0) for k in concepts], dtype=torch.float64)
        if weights.sum() <= 0:
            weights = torch.ones(len(concepts), dtype=torch.float64)
        count = torch.tensor([len(k.inputs) for k in concepts])
        start = torch.cumsum(count, 0) - count
        inputs = torch.cat([k.inputs for k in concepts])
        return cls(inputs, start, count, weights / weights.sum())

    def draw(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` exemplars: a concept by weight, then one of its exemplars uniformly."""
        which = torch.multinomial(self.weights, n, replacement=True, generator=gen)
        offset = (torch.rand(n, generator=gen) * self.count[which]).long()
        return self.inputs[self.start[which] + offset.clamp(max=self.count[which] - 1)]


class DiscCure(Method):
    name = "disc"

    def __init__(self, config, data, model, device, concepts=None) -> None:  # type: ignore[no-untyped-def]
        super().__init__(config, data, model, device)
        self.concepts = concepts or concepts_from_confounder(data)
        self.by_class: dict[int, _ClassExemplars] = {}
        for c in range(data.n_classes):
            own = [k for k in self.concepts if k.class_index == c and len(k.inputs)]
            if own:
                self.by_class[c] = _ClassExemplars.of(own)

    def _exemplars(self, c: int, n: int, gen: torch.Generator) -> torch.Tensor:
        e = self.by_class[c].draw(n, gen).to(self.device)
        return e.float() / 255.0 if e.dtype == torch.uint8 else e.float()

    def loss(self, batch: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        """Cross-entropy on the batch plus on its concept-mixed copy, in one forward pass. Each
        image gets the exemplar of a concept spurious for one other class (drawn uniformly
        among the cured classes that are not its own): the per-class sum of DISC's objective,
        estimated with one mixed image per image instead of one per (image, class)."""
        y = batch.y
        n = len(y)
        cured = torch.tensor(sorted(self.by_class), dtype=torch.long)
        allowed = cured[None, :] != y.cpu()[:, None]
        noise = torch.where(allowed, torch.rand(allowed.shape, generator=gen), -1.0)
        target = cured[noise.argmax(dim=1)]
        rows = torch.nonzero(allowed.any(dim=1)).flatten()
        if len(rows) == 0:
            loss = cross_entropy(self.logits(batch.x, gen), y).mean()
            return loss, {"ce": float(loss.detach()), "mix": 0.0}
        exemplars = torch.empty((len(rows), *batch.x.shape[1:]), device=batch.x.device)
        for c in target[rows].unique().tolist():
            where = torch.nonzero(target[rows] == c).flatten()
            exemplars[where.to(exemplars.device)] = self._exemplars(c, len(where), gen)
        x = batch.x[rows.to(batch.x.device)]
        lam = beta(self.config.mix_alpha, len(rows), gen).to(x.device)
        lam = lam.view(-1, *([1] * (x.dim() - 1)))
        mixed = lam * x + (1 - lam) * exemplars
        if not self.data.is_images:
            mixed = F.normalize(mixed, dim=1)
        logits = self.logits(torch.cat([batch.x, mixed]), gen)
        loss = cross_entropy(logits[:n], y).mean()
        mix = cross_entropy(logits[n:], y[rows.to(y.device)]).mean()
        return loss + mix, {"ce": float(loss.detach()), "mix": float(mix.detach())}
