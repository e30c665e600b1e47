"""Counterfactual augmentation (Reddy et al.): train on x' = do(confounder := v') with the class
kept. Drawing v' uniformly over the values makes the confounder independent of the label within
every class of what the model sees, whatever the training set's correlation was."""

from __future__ import annotations

import torch

from debias_studio.core.train.counterfactuals import choose_generator
from debias_studio.core.train.methods.base import Batch, Method, cross_entropy


class CounterfactualAugmentation(Method):
    name = "counterfactual"

    def __init__(self, config, data, model, device) -> None:  # type: ignore[no-untyped-def]
        super().__init__(config, data, model, device)
        self.generator = choose_generator(data, config.mix_alpha)

    def loss(self, batch: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        n = len(batch.y)
        draw = torch.randint(self.data.n_values, (n,), generator=gen)
        replace = torch.rand(n, generator=gen) < self.config.cf_fraction
        v = batch.v.cpu()
        targets = torch.where(replace & (v >= 0), draw, v).to(batch.v.device)
        x = self.generator(batch.x, batch.v, targets, batch.ids, gen)
        loss = cross_entropy(self.logits(x, gen), batch.y).mean()
        return loss, {"ce": float(loss.detach())}
