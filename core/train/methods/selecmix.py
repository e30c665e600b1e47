"""SelecMix (Hwang et al., NeurIPS 2022): mixup on contradicting pairs.

Per batch a coin picks (i) a partner with the same label and the most dissimilar bias feature, or
(ii) one with a different label and the most similar bias feature; x~ = lam x_i + (1 - lam) x_j,
lam ~ U(0, 0.5), trained with the partner's label y_j. Bias features come from an auxiliary
contrastive model made biased on purpose (SupCon with GCE-style re-weighting, q = 0.7, tau = 0.2,
so it learns the easy cue first), or, when the confounder is annotated, from the annotation.
The LfF variant adds a GCE-trained biased classifier whose relative loss re-weights the debiased
model's cross-entropy, plus 0.1 x the mix loss.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from debias_studio.core.train.backbones import (
    Classifier,
    FeatureMLP,
    PixelMLP,
    ProjectionNet,
    SmallCNN,
    build_classifier,
)
from debias_studio.core.train.methods.base import Batch, Method, cross_entropy

GCE_Q = 0.7
TAU = 0.2
EMA_ALPHA = 0.7
LFF_MIX_WEIGHT = 0.1


def contrastive_partners(
    sim: torch.Tensor, y: torch.Tensor, same_label: bool, pool_y: torch.Tensor | None = None
) -> torch.Tensor:
    """Partner of each row from a (B, P) bias-similarity matrix against a pool whose first B rows
    are the batch itself: same label and least similar, or a different label and most similar.
    A row without any candidate is its own partner."""
    pool_y = y if pool_y is None else pool_y
    same = y[:, None] == pool_y[None, :]
    own = torch.arange(len(y), device=y.device)
    is_self = own[:, None] == torch.arange(len(pool_y), device=y.device)[None, :]
    if same_label:
        allowed = same & ~is_self
        scores = torch.where(allowed, -sim, torch.full_like(sim, -torch.inf))
    else:
        allowed = ~same
        scores = torch.where(allowed, sim, torch.full_like(sim, -torch.inf))
    partner = scores.argmax(dim=1)
    return torch.where(allowed.any(dim=1), partner, own)


def annotation_partners(
    y: torch.Tensor,
    v: torch.Tensor,
    same_label: bool,
    gen: torch.Generator,
    pool_y: torch.Tensor | None = None,
    pool_v: torch.Tensor | None = None,
) -> torch.Tensor:
    """Partner from the annotation (the official ground-truth mode): same label and a different
    value, or a different label and the same value; drawn at random among the candidates of the
    pool (whose first B rows are the batch itself)."""
    pool_y = y if pool_y is None else pool_y
    pool_v = v if pool_v is None else pool_v
    same_y = y[:, None] == pool_y[None, :]
    same_v = v[:, None] == pool_v[None, :]
    known = (v[:, None] >= 0) & (pool_v[None, :] >= 0)
    allowed = (same_y & ~same_v if same_label else ~same_y & same_v) & known
    noise = torch.rand(allowed.shape, generator=gen).to(y.device)
    partner = torch.where(allowed, noise, torch.full_like(noise, -1.0)).argmax(dim=1)
    own = torch.arange(len(y), device=y.device)
    return torch.where(allowed.any(dim=1), partner, own)


def contradicting_share(
    batch: Batch,
    pool_values: np.ndarray,
    partner: torch.Tensor,
    paired: torch.Tensor,
    same_label: bool,
) -> float | None:
    """Share of the paired rows whose partner contradicts the shortcut by the annotation (same
    label and another value, or another label and the same value): how well the biased model
    picks pairs. None when no paired row has known values on both sides."""
    v_partner = torch.from_numpy(pool_values).to(batch.v.device)[partner]
    known = paired & (batch.v >= 0) & (v_partner >= 0)
    if not bool(known.any()):
        return None
    differs = batch.v != v_partner
    good = differs if same_label else ~differs
    return float(good[known].float().mean())


def mix_with(
    x: torch.Tensor,
    y: torch.Tensor,
    x_partner: torch.Tensor,
    y_partner: torch.Tensor,
    paired: torch.Tensor,
    gen: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """x~ = lam x_i + (1 - lam) x_j with lam ~ U(0, 0.5), target y_j (unpaired rows: x_i, y_i)."""
    lam = (torch.rand(len(y), generator=gen) * 0.5).to(x.device)
    lam = torch.where(paired, lam, torch.ones_like(lam))
    lam = lam.view(-1, *([1] * (x.dim() - 1)))
    return lam * x + (1 - lam) * x_partner, torch.where(paired, y_partner, y)


def mix_pairs(
    x: torch.Tensor, y: torch.Tensor, partner: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``mix_with`` for partners inside the batch (x_i itself when a row is its own partner)."""
    paired = partner != torch.arange(len(y), device=partner.device)
    return mix_with(x, y, x[partner], y[partner], paired, gen)


def supcon_gsc_loss(
    z: torch.Tensor, y: torch.Tensor, tau: float = TAU, q: float = GCE_Q, gsc: bool = True
) -> torch.Tensor:
    """Supervised contrastive loss whose log-likelihoods are weighted by q * p^q (detached), the
    generalised-CE re-weighting that makes the embedding fit the easy, biased cue first
    (``gsc=False``: plain SupCon)."""
    sim = z @ z.t() / tau
    sim = sim - sim.max(dim=1, keepdim=True).values.detach()
    eye = torch.eye(len(y), device=z.device)
    not_self = 1.0 - eye
    log_prob = sim - torch.log((torch.exp(sim) * not_self).sum(1, keepdim=True) + 1e-9)
    if gsc:
        log_prob = torch.exp(log_prob.detach()) ** q * q * log_prob
    positives = (y[:, None] == y[None, :]).float() * not_self
    per_row = (positives * log_prob).sum(1) / positives.sum(1).clamp_min(1.0)
    return -per_row.mean()


def generalized_ce(logits: torch.Tensor, y: torch.Tensor, q: float = GCE_Q) -> torch.Tensor:
    p = F.softmax(logits.float(), dim=1).gather(1, y[:, None]).squeeze(1).detach()
    return cross_entropy(logits, y) * (p**q) * q


class SelecMix(Method):
    name = "selecmix"

    def __init__(self, config, data, model, device) -> None:  # type: ignore[no-untyped-def]
        super().__init__(config, data, model, device)
        mode = config.pairs
        if mode == "auto":
            mode = "annotation" if data.n_values >= 2 else "contrastive"
        if mode == "annotation" and data.n_values < 2:
            from debias_studio.core.errors import StudioError

            raise StudioError("SelecMix's annotation pairs need a confounder with two values.")
        self.pair_mode = mode
        self.train_ids = data.indices("train")
        self._pool: tuple[np.ndarray, torch.Tensor | None] | None = None
        self._pool_age = 0
        if mode == "contrastive":
            self.nets["bias_embedding"] = ProjectionNet(_aux_features(config, data)).to(device)
        if config.lff:
            clone = build_classifier_like(config, data).to(device)
            self.nets["biased_classifier"] = clone
            n = len(data.labels)
            self.ema_d = torch.zeros(n, device=device)
            self.ema_b = torch.zeros(n, device=device)
            self.ema_seen = torch.zeros(n, device=device)
            self.labels = torch.from_numpy(data.labels).to(device)

    def loss(self, batch: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        same_label = bool(torch.rand(1, generator=gen) > 0.5)
        logs: dict[str, float] = {}
        total = torch.zeros((), device=batch.x.device)
        n = len(batch.y)
        if self.pair_mode == "contrastive":
            embed = self.nets["bias_embedding"]
            z = embed(batch.x)
            aux = supcon_gsc_loss(z.float(), batch.y)
            extra, z_extra = self._contrastive_pool(n, gen)
            pool = np.concatenate([batch.ids.numpy(), extra])
            pool_y = torch.from_numpy(self.data.labels[pool]).to(batch.y.device)
            z_pool = z.detach() if z_extra is None else torch.cat([z.detach(), z_extra])
            sim = (z.detach() @ z_pool.t()).float()
            partner = contrastive_partners(sim, batch.y, same_label, pool_y)
            total = total + aux
            logs["supcon"] = float(aux.detach())
        else:
            pool = np.concatenate([batch.ids.numpy(), self._extra_pool(n, gen)])
            pool_y = torch.from_numpy(self.data.labels[pool]).to(batch.y.device)
            pool_v = torch.from_numpy(self.data.values[pool]).to(batch.v.device)
            partner = annotation_partners(batch.y, batch.v, same_label, gen, pool_y, pool_v)
        x_partner = self._pixels(pool[partner.cpu().numpy()])
        paired = partner != torch.arange(n, device=partner.device)
        share = contradicting_share(batch, self.data.values[pool], partner, paired, same_label)
        if share is not None:
            logs["contradicting"] = share
        x_mix, y_mix = mix_with(batch.x, batch.y, x_partner, pool_y[partner], paired, gen)
        if not self.config.lff:
            mix = cross_entropy(self.logits(x_mix, gen), y_mix).mean()
            logs["mix"] = float(mix.detach())
            return total + mix, logs
        logits = self.logits(torch.cat([batch.x, x_mix]), gen)
        logits_d, logits_mix = logits[:n], logits[n:]
        logits_b = self.nets["biased_classifier"](batch.x)
        ce_d = cross_entropy(logits_d, batch.y)
        weight = self._lff_weight(ce_d.detach(), cross_entropy(logits_b, batch.y).detach(), batch)
        main = (weight * ce_d).mean()
        biased = generalized_ce(logits_b, batch.y).mean()
        mix = cross_entropy(logits_mix, y_mix).mean()
        logs.update(
            ce=float(ce_d.mean().detach()), gce=float(biased.detach()), mix=float(mix.detach())
        )
        return total + main + biased + LFF_MIX_WEIGHT * mix, logs

    def start_epoch(self, epoch: int) -> None:
        self._pool = None
        self._pool_age = 0

    def _contrastive_pool(
        self, batch_size: int, gen: torch.Generator
    ) -> tuple[np.ndarray, torch.Tensor | None]:
        """Extra partner candidates and their bias embeddings, drawn afresh every
        pair_pool / batch steps (and at each epoch's start): the official code picks pairs
        once per 1,024-image batch and trains on its 256-image parts, which keeps the bias
        model's extra forward passes at a fraction of a step."""
        refresh = max(1, self.config.pair_pool // max(batch_size, 1))
        if self._pool is None or self._pool_age >= refresh:
            ids = self._extra_pool(batch_size, gen)
            with torch.no_grad():
                z = self.nets["bias_embedding"](self._pixels(ids)) if len(ids) else None
            self._pool = (ids, z)
            self._pool_age = 0
        self._pool_age += 1
        return self._pool

    def _extra_pool(self, batch_size: int, gen: torch.Generator) -> np.ndarray:
        """Random training images that join the batch as partner candidates (drawn from the
        run's generator, so every DDP rank and a resumed run draw the same)."""
        extra = min(self.config.pair_pool, len(self.train_ids)) - batch_size
        if extra <= 0:
            return np.zeros(0, dtype=np.int64)
        picks = torch.randint(len(self.train_ids), (extra,), generator=gen).numpy()
        return self.train_ids[picks]

    def _pixels(self, ids: np.ndarray) -> torch.Tensor:
        x = self.data.inputs[torch.from_numpy(np.ascontiguousarray(ids))].to(self.device)
        return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()

    def _lff_weight(self, loss_d: torch.Tensor, loss_b: torch.Tensor, batch: Batch) -> torch.Tensor:
        """LfF's relative difficulty ell_b / (ell_b + ell_d) from per-image loss EMAs, each
        normalised by its class maximum."""
        ids = batch.ids.to(self.device)
        for ema, fresh in ((self.ema_d, loss_d), (self.ema_b, loss_b)):
            ema[ids] = EMA_ALPHA * ema[ids] + (1 - EMA_ALPHA * self.ema_seen[ids]) * fresh
        self.ema_seen[ids] = 1.0
        n_classes = self.data.n_classes
        d = self.ema_d[ids] / _class_max(self.ema_d, self.labels, n_classes)[batch.y]
        b = self.ema_b[ids] / _class_max(self.ema_b, self.labels, n_classes)[batch.y]
        return b / (b + d + 1e-8)

    def state(self) -> dict[str, torch.Tensor]:
        if self.config.lff:
            return {"ema_d": self.ema_d, "ema_b": self.ema_b, "ema_seen": self.ema_seen}
        return {}


def _class_max(values: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(C,) the largest value of each class, floored at 1e-8 (one pass, no loop over classes)."""
    out = torch.zeros(n_classes, dtype=values.dtype, device=values.device)
    out = out.scatter_reduce(0, labels, values, reduce="amax", include_self=True)
    return out.clamp_min(1e-8)


def _aux_features(config, data) -> nn.Module:  # type: ignore[no-untyped-def]
    """The bias model need only find the easy cue: the run's own network when it is small (pixel
    MLP, small CNN), a small CNN for images when the main network is CLIP, an MLP on frozen
    features."""
    if config.backbone == "mlp":
        return PixelMLP(int(np.prod(data.inputs.shape[1:])))
    if data.is_images:
        return SmallCNN()
    return FeatureMLP(int(data.inputs.shape[1]), 0)


def build_classifier_like(config, data) -> Classifier:  # type: ignore[no-untyped-def]
    """LfF's biased classifier: the same small network as the aux model, with a linear head."""
    features = _aux_features(config, data)
    if not data.is_images:
        return build_classifier("head", data.n_classes, in_dim=int(data.inputs.shape[1]))
    return Classifier(features, int(getattr(features, "out_dim")), data.n_classes)  # noqa: B009
