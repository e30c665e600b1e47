"""Counterfactual images without a generative model (ALGORITHMS.md section 3).

x' = do(confounder := v') with the class kept. Which intervention is possible depends on what the
confounder is: a colour can be re-painted, a background can be swapped by mask compositing (how
Waterbirds was built), anything else can at least be mixed with an exemplar of the target value,
and on frozen features the value can be moved in latent space. Generators are fitted on the
training split only (value colours, background pool, group means) and then work on batches.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from debias_studio.core.errors import StudioError
from debias_studio.core.train.data import TrainData

FIT_SAMPLE = 4000


class Generator:
    """Turns a batch into its counterfactual under target values (rows whose value is unknown,
    or whose target equals their value, are returned unchanged)."""

    name = "generator"

    def __init__(self, data: TrainData) -> None:
        if data.n_values < 2:
            raise StudioError("A counterfactual needs a confounder with at least two values.")
        self.data = data

    def __call__(
        self,
        x: torch.Tensor,
        values: torch.Tensor,
        targets: torch.Tensor,
        ids: torch.Tensor,
        gen: torch.Generator,
    ) -> torch.Tensor:
        change = (values >= 0) & (targets >= 0) & (targets != values)
        if not bool(change.any()):
            return x
        out = x.clone()
        rows = torch.nonzero(change).flatten()
        out[rows] = self.apply(x[rows], values[rows], targets[rows], ids[rows.cpu()], gen)
        return out

    def apply(
        self,
        x: torch.Tensor,
        values: torch.Tensor,
        targets: torch.Tensor,
        ids: torch.Tensor,
        gen: torch.Generator,
    ) -> torch.Tensor:
        raise NotImplementedError

    # helpers shared by the pixel generators -----------------------------------------------------
    def _train_sample(self, seed: int = 0) -> np.ndarray:
        ids = self.data.indices("train")
        ids = ids[self.data.values[ids] >= 0]
        if len(ids) > FIT_SAMPLE:
            ids = np.random.default_rng(seed).choice(ids, FIT_SAMPLE, replace=False)
        return np.sort(ids)

    def foreground(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) soft object mask: the dataset's masks, else a foreground threshold."""
        if self.data.masks is not None:
            return self.data.masks[ids].to(x.device, torch.float32) / 255.0
        return threshold_foreground(x)


def threshold_foreground(x: torch.Tensor, low: float = 0.1, high: float = 0.2) -> torch.Tensor:
    """Pixels far (in RGB) from the image's median border colour are foreground."""
    border = torch.cat(
        [x[:, :, 0, :], x[:, :, -1, :], x[:, :, :, 0], x[:, :, :, -1]], dim=2
    )  # (B, 3, 4S)
    background = border.median(dim=2).values[:, :, None, None]
    distance = (x - background).norm(dim=1, keepdim=True)
    return ((distance - low) / (high - low)).clamp(0.0, 1.0)


class ColourCounterfactual(Generator):
    """Re-paint the coloured region (object or background, whichever carries the value) from its
    value's mean colour to the target value's: x' = x + r * a * (c_v' - c_v), where a is the pixel's
    intensity along c_v, so anti-aliased strokes stay anti-aliased."""

    name = "colour"

    def __init__(self, data: TrainData) -> None:
        super().__init__(data)
        ids = torch.from_numpy(self._train_sample())
        x = data.inputs[ids].float() / 255.0
        fg = self.foreground(x, ids)
        values = torch.from_numpy(data.values[ids.numpy()])
        means = {}
        for region, weight in (("object", fg), ("background", 1.0 - fg)):
            colours = torch.zeros(data.n_values, 3)
            for v in range(data.n_values):
                w = weight[values == v]
                if w.sum() > 0:
                    colours[v] = (x[values == v] * w).sum(dim=(0, 2, 3)) / w.sum()
            means[region] = colours
        spread = {r: (c - c.mean(0)).norm(dim=1).mean().item() for r, c in means.items()}
        self.region = max(spread, key=spread.__getitem__)
        self.colours = means[self.region]

    def apply(self, x, values, targets, ids, gen):  # type: ignore[no-untyped-def]
        colours = self.colours.to(x.device)
        source = colours[values][:, :, None, None]
        target = colours[targets][:, :, None, None]
        region = self.foreground(x, ids)
        if self.region == "background":
            region = 1.0 - region
        norm = (source * source).sum(dim=1, keepdim=True).clamp_min(1e-6)
        intensity = ((x * source).sum(dim=1, keepdim=True) / norm).clamp(0.0, 1.5)
        return (x + region * intensity * (target - source)).clamp(0.0, 1.0)


class BackgroundSwap(Generator):
    """Composite the object onto a background of the target value: x' = a x + (1 - a) b, where b
    is a training image of value v' whose own object is removed and its hole filled from the
    surrounding background (push-pull inpainting), and a is the object's mask eroded by
    ``erode`` px and feathered over ``feather`` px: a mask's soft edge mixes the old background
    into the object's outline, and that rim would carry the old value into every counterfactual.

    Measured on bench/backgrounds.py (frozen EfficientNet-Lite0, ablation table there):
    ``fill="mean"`` (the hole painted with the donor's mean colour, as before) leaves a flat
    silhouette of the donor's object, of the class aligned with v', in every counterfactual."""

    name = "background-swap"

    def __init__(
        self, data: TrainData, *, erode: int = 1, feather: int = 1, fill: str = "inpaint"
    ) -> None:
        super().__init__(data)
        if fill not in ("inpaint", "mean"):
            raise StudioError(f"Unknown background fill '{fill}'; choose inpaint or mean.")
        self.erode, self.feather, self.fill = erode, feather, fill
        ids = self._train_sample()
        self.pool = [torch.from_numpy(ids[data.values[ids] == v]) for v in range(data.n_values)]

    def backgrounds(self, targets: torch.Tensor, gen: torch.Generator, device) -> torch.Tensor:  # type: ignore[no-untyped-def]
        picks = torch.empty(len(targets), dtype=torch.long)
        for row, v in enumerate(targets.tolist()):
            pool = self.pool[v]
            if len(pool) == 0:
                raise StudioError(
                    f"No training image has the value '{self.data.value_names[v]}' to take a "
                    "background from."
                )
            picks[row] = pool[torch.randint(len(pool), (1,), generator=gen)]
        b = self.data.inputs[picks].to(device, torch.float32) / 255.0
        hole = grow(self.foreground(b, picks), self.erode + 1)
        if self.fill == "mean":
            known = 1 - hole
            fill = (b * known).sum(dim=(2, 3), keepdim=True) / known.sum(
                dim=(2, 3), keepdim=True
            ).clamp_min(1.0)
            return b * known + fill * hole
        return inpaint(b, hole)

    def alpha(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        return soften(self.foreground(x, ids), self.erode, self.feather)

    def apply(self, x, values, targets, ids, gen):  # type: ignore[no-untyped-def]
        m = self.alpha(x, ids)
        return m * x + (1 - m) * self.backgrounds(targets, gen, x.device)


def grow(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """(B, 1, H, W) mask dilated by ``pixels`` (max filter)."""
    if pixels <= 0:
        return mask
    return F.max_pool2d(mask, 2 * pixels + 1, stride=1, padding=pixels)


def soften(mask: torch.Tensor, erode: int, feather: int) -> torch.Tensor:
    """Erode by ``erode`` px (min filter), then feather by a ``2 feather + 1`` box blur. An
    object too thin for that (it would keep less than ``KEEP`` of its mass, e.g. a 2-px stroke)
    keeps its mask as it is: better a rim than no object."""
    soft = mask
    if erode > 0:
        soft = -grow(-soft, erode)
    if feather > 0:
        k = 2 * feather + 1
        soft = F.avg_pool2d(soft, k, stride=1, padding=feather, count_include_pad=False)
    kept = (soft * mask).sum(dim=(1, 2, 3)) / (mask * mask).sum(dim=(1, 2, 3)).clamp_min(1e-6)
    return torch.where((kept >= KEEP)[:, None, None, None], soft, mask)


KEEP = 0.5


def inpaint(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """Fill ``hole`` (B, 1, H, W, 1 = unknown) from the known pixels around it by push-pull: the
    known pixels are averaged down a pyramid until every cell has some, then pulled back up, each
    level keeping what it knows and taking the rest from the coarser one. Linear in the pixels."""
    known = (1 - hole).clamp(0.0, 1.0)
    return _pull(image * known, known)


def _pull(weighted: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    if min(weight.shape[-2:]) <= 1:
        return weighted / weight.clamp_min(1e-6)
    coarse = _pull(
        F.avg_pool2d(weighted, 2, ceil_mode=True), F.avg_pool2d(weight, 2, ceil_mode=True)
    )
    up = F.interpolate(coarse, size=weight.shape[-2:], mode="bilinear", align_corners=False)
    w = weight.clamp(0.0, 1.0)
    level = weighted / weight.clamp_min(1e-6)
    return w * level + (1 - w) * up


class BankedCounterfactual(Generator):
    """Counterfactuals rendered once through a frozen tower (core.train.frozen): for each row,
    one of its image's pre-rendered features under the target value, drawn at random."""

    name = "banked"

    def __init__(self, data: TrainData) -> None:
        super().__init__(data)
        if data.bank is None:
            raise StudioError("No pre-rendered counterfactuals to draw from.")
        self.bank = data.bank

    def apply(self, x, values, targets, ids, gen):  # type: ignore[no-untyped-def]
        match = self.bank.targets[ids] == targets.cpu()[:, None]
        noise = torch.where(match, torch.rand(match.shape, generator=gen), -1.0)
        pick = noise.argmax(dim=1)
        out = self.bank.inputs[ids, pick].to(x.device, x.dtype)
        return torch.where(match.any(dim=1)[:, None].to(x.device), out, x)


class ExemplarMixup(Generator):
    """Concept-exemplar mixup: x' = lam x + (1 - lam) e, lam ~ Beta(a, a), e an exemplar of the
    target value (user exemplars when given, else training images of that value)."""

    name = "exemplar-mixup"

    def __init__(
        self,
        data: TrainData,
        alpha: float = 2.0,
        exemplars: dict[int, torch.Tensor] | None = None,
    ) -> None:
        super().__init__(data)
        self.alpha = alpha
        ids = self._train_sample()
        self.exemplars = exemplars or {
            v: data.inputs[torch.from_numpy(ids[data.values[ids] == v])]
            for v in range(data.n_values)
        }

    def apply(self, x, values, targets, ids, gen):  # type: ignore[no-untyped-def]
        parts = []
        for v in targets.tolist():
            pool = self.exemplars.get(v)
            if pool is None or len(pool) == 0:
                raise StudioError(f"No exemplar of '{self.data.value_names[v]}' to mix with.")
            parts.append(pool[torch.randint(len(pool), (1,), generator=gen)])
        e = torch.cat(parts).to(x.device, torch.float32)
        if e.dtype != x.dtype or e.max() > 1.5:
            e = e / 255.0
        lam = beta(self.alpha, len(x), gen).to(x.device).view(-1, *([1] * (x.dim() - 1)))
        return lam * x + (1 - lam) * e


class LatentCounterfactual(Generator):
    """On frozen CLIP features: z' = normalise(z - mu_{c,v} + mu_{c,v'}). When a group is too small
    to estimate (a strongly biased training set), the class-balanced value shift mu_v' - mu_v is
    used instead."""

    name = "latent"
    MIN_GROUP = 3

    def __init__(self, data: TrainData) -> None:
        super().__init__(data)
        ids = data.indices("train")
        ids = ids[data.values[ids] >= 0]
        z = data.inputs[torch.from_numpy(ids)].float()
        y = torch.from_numpy(data.labels[ids])
        v = torch.from_numpy(data.values[ids])
        c_count, v_count = data.n_classes, data.n_values
        sums = torch.zeros(c_count * v_count, z.shape[1])
        sums.index_add_(0, y * v_count + v, z)
        counts = torch.bincount(y * v_count + v, minlength=c_count * v_count).float()
        means = (sums / counts.clamp_min(1)[:, None]).view(c_count, v_count, -1)
        ok = (counts >= self.MIN_GROUP).view(c_count, v_count)
        value_means = torch.stack(
            [means[ok[:, k], k].mean(0) if ok[:, k].any() else z.mean(0) for k in range(v_count)]
        )
        self.means, self.ok, self.value_means = means, ok, value_means

    def apply(self, x, values, targets, ids, gen):  # type: ignore[no-untyped-def]
        y = torch.from_numpy(self.data.labels[ids.numpy()]).to(x.device)
        means, ok = self.means.to(x.device), self.ok.to(x.device)
        vm = self.value_means.to(x.device)
        group_shift = means[y, targets] - means[y, values]
        value_shift = vm[targets] - vm[values]
        both = (ok[y, targets] & ok[y, values])[:, None]
        shift = torch.where(both, group_shift, value_shift)
        return F.normalize(x + shift, dim=1)


def beta(alpha: float, n: int, gen: torch.Generator) -> torch.Tensor:
    """n draws of Beta(alpha, alpha), reproducible from ``gen`` (torch's sampler takes none)."""
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=gen)))
    return torch.from_numpy(rng.beta(alpha, alpha, n).astype(np.float32))


def choose_generator(data: TrainData, alpha: float = 2.0) -> Generator:
    """The intervention the confounder's kind allows (frozen features: the pre-rendered bank when
    there is one, else latent)."""
    if data.bank is not None:
        return BankedCounterfactual(data)
    if not data.is_images:
        return LatentCounterfactual(data)
    if data.kind == "colour":
        return ColourCounterfactual(data)
    if data.kind == "background":
        return BackgroundSwap(data)
    return ExemplarMixup(data, alpha)


def preview_counterfactuals(data: TrainData, image_ids: list[int], seed: int = 0) -> np.ndarray:
    """Each image rendered under every value: uint8 (n, V, S, S, 3), for the GUI's preview."""
    if not data.is_images:
        raise StudioError("Counterfactual previews need images; frozen features have none.")
    generator = choose_generator(data)
    gen = torch.Generator().manual_seed(seed)
    ids = torch.as_tensor(image_ids, dtype=torch.long)
    x = data.inputs[ids].float() / 255.0
    values = torch.from_numpy(data.values[ids.numpy()])
    views = []
    for v in range(data.n_values):
        targets = torch.full_like(values, v)
        views.append(generator(x, values, targets, ids, gen))
    stacked = torch.stack(views, dim=1)  # (n, V, 3, S, S)
    return (stacked.permute(0, 1, 3, 4, 2) * 255).round().to(torch.uint8).numpy()
