"""Group balancing: every (class, value) group counts equally, by re-weighting the loss, by
re-sampling the epoch, or by GroupDRO (Sagawa et al. 2020: an exponentiated-gradient weight q over
groups that up-weights the groups with the highest loss, on group-balanced batches)."""

from __future__ import annotations

import numpy as np
import torch

from debias_studio.core.train.methods.base import Batch, Method, cross_entropy, group_ids, n_groups


class Balanced(Method):
    name = "balanced"

    def __init__(self, config, data, model, device) -> None:  # type: ignore[no-untyped-def]
        super().__init__(config, data, model, device)
        self.mode = config.balance
        self.groups = torch.from_numpy(group_ids(data))
        train = data.indices("train")
        counts = np.bincount(group_ids(data)[train], minlength=n_groups(data)).astype(np.float64)
        present = counts > 0
        weights = np.zeros_like(counts)
        weights[present] = len(train) / (present.sum() * counts[present])
        self.group_weight = torch.from_numpy(weights).float().to(device)
        self.q = torch.where(torch.from_numpy(present), 1.0 / present.sum(), 0.0).float().to(device)

    def sample_weights(self) -> np.ndarray | None:
        if self.mode in ("resample", "groupdro"):
            return self.group_weight.cpu().numpy()[self.groups.numpy()]
        return None

    def loss(self, batch: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        per_sample = cross_entropy(self.logits(batch.x, gen), batch.y)
        g = self.groups[batch.ids].to(per_sample.device)
        if self.mode == "reweight":
            w = self.group_weight[g]
            loss = (w * per_sample).sum() / w.sum()
        elif self.mode == "resample":
            loss = per_sample.mean()
        else:
            loss = self._dro(per_sample, g)
        return loss, {"ce": float(per_sample.mean().detach())}

    def _dro(self, per_sample: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        total = len(self.q)
        sums = torch.zeros(total, device=per_sample.device).index_add(0, g, per_sample)
        counts = torch.bincount(g, minlength=total).float()
        group_loss = sums / counts.clamp_min(1)
        seen = counts > 0
        with torch.no_grad():
            step = torch.where(seen, self.config.dro_step * group_loss, 0.0)
            self.q.mul_(torch.exp(step))
            self.q.div_(self.q.sum())
        return (self.q * group_loss).sum()

    def state(self) -> dict[str, torch.Tensor]:
        return {"q": self.q}
