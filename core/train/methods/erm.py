"""Empirical risk minimisation: the plain cross-entropy baseline every cure is compared with."""

from __future__ import annotations

import torch

from debias_studio.core.train.methods.base import Batch, Method, cross_entropy


class ERM(Method):
    name = "erm"

    def loss(self, batch: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        loss = cross_entropy(self.logits(batch.x, gen), batch.y).mean()
        return loss, {"ce": float(loss.detach())}
