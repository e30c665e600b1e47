"""Networks a run trains: a head on frozen CLIP features, the CLIP image tower, an ImageNet-
pretrained EfficientNet-Lite0, a small CNN, or a pixel MLP (the Colored MNIST protocol's network).

Every backbone is a ``Classifier``: ``features(x)`` then ``head(features)``. Methods that need the
representation (SelecMix's contrastive auxiliary model, DISC's concept mixing) use the split.
Image inputs arrive as float pixels in [0, 1]; each backbone normalises them itself, so that
counterfactual generators work in plain pixel space.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from debias_studio.core.errors import StudioError

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class Classifier(nn.Module):
    """``features`` then a linear ``head``; ``feature_dim`` is the width between them."""

    def __init__(self, features: nn.Module, feature_dim: int, n_classes: int) -> None:
        super().__init__()
        self.features = features
        self.feature_dim = feature_dim
        self.head = nn.Linear(feature_dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SmallCNN(nn.Module):
    """Three conv blocks pooled to a 2 x 2 grid: the classic from-scratch debiasing network. No
    batch norm, so that a DDP run over shards of a batch computes exactly the full-batch gradient.
    The 2 x 2 grid keeps coarse layout, which shape classes need: pooled to 1 x 1 the network
    learned colour at once and digit shape barely (coloured-digits demo, colour-repaint cure:
    unbiased test accuracy 0.60 with 1 x 1 against 0.93 with 2 x 2, same 25 epochs)."""

    GRID = 2

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(self.GRID),
            nn.Flatten(),
        )
        self.out_dim = 2 * width * self.GRID * self.GRID

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body((x - 0.5) / 0.25)


class FeatureMLP(nn.Module):
    """Identity (linear head) or one hidden layer on frozen embeddings."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.out_dim = hidden or in_dim
        self.net: nn.Module = (
            nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU()) if hidden else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PixelMLP(nn.Module):
    """Flattened pixels through three hidden layers of 100 ReLU units: the network of the
    Colored MNIST protocol (LfF, DFA, SelecMix), where the shortcut is colour and the network has
    no convolutional prior to favour shape. Cheap on a CPU (2,352 inputs at 28 px)."""

    def __init__(self, in_dim: int, hidden: tuple[int, ...] = (100, 100, 100)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_dim
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        self.body = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class ClipTower(nn.Module):
    """The open_clip image tower with its own normalisation; only the last blocks train."""

    def __init__(
        self, visual: nn.Module, out_dim: int, mean: tuple[float, ...], std: tuple[float, ...]
    ) -> None:
        super().__init__()
        self.visual = visual
        self.out_dim = out_dim
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual((x - self.mean) / self.std)


class EfficientNetTower(nn.Module):
    """ImageNet-pretrained EfficientNet-Lite0 (core.train.efficientnet_lite) up to its pooled
    1280-d features; only the last ``blocks`` blocks (and the head convolution) train, 0 freezes
    it all, -1 trains all. Frozen batch-norm layers stay in inference mode in ``train()``: their
    running statistics are the pretrained ones, and a small biased batch must not move them."""

    out_dim = 1280

    def __init__(self, blocks: int) -> None:
        super().__init__()
        from debias_studio.core.train.efficientnet_lite import load_pretrained

        self.net = load_pretrained()
        del self.net._fc
        trainable = _efficientnet_tail(self.net, blocks)
        for p in self.net.parameters():
            p.requires_grad_(False)
        for module in trainable:
            for p in module.parameters():
                p.requires_grad_(True)
        self.trainable = nn.ModuleList(trainable)

    def train(self, mode: bool = True) -> EfficientNetTower:
        super().train(False)
        for module in self.trainable:
            module.train(mode)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from debias_studio.core.train.efficientnet_lite import to_network_range

        return self.net.features(to_network_range(x))


def _efficientnet_tail(net: nn.Module, blocks: int) -> list[nn.Module]:
    if blocks < 0:
        return [net]
    if blocks == 0:
        return []
    tail: list[nn.Module] = [net._conv_head, net._bn1]  # type: ignore[list-item]  # submodules
    stages: nn.Module = net._blocks  # type: ignore[assignment]  # an nn.ModuleList
    return [*stages.children()][-blocks:] + tail


def build_features(
    backbone: str,
    *,
    in_dim: int = 0,
    head_hidden: int = 0,
    model_name: str = "demo",
    clip_blocks: int = 2,
) -> nn.Module:
    """A fresh feature extractor with an ``out_dim`` attribute."""
    if backbone == "head":
        return FeatureMLP(in_dim, head_hidden)
    if backbone == "cnn":
        return SmallCNN()
    if backbone == "mlp":
        return PixelMLP(in_dim)
    if backbone == "clip":
        return _clip_tower(model_name, clip_blocks)
    if backbone == "efficientnet":
        return EfficientNetTower(clip_blocks)
    raise StudioError(
        f"Unknown backbone '{backbone}'; choose head, clip, efficientnet, cnn or mlp."
    )


def build_classifier(backbone: str, n_classes: int, **kw: object) -> Classifier:
    features = build_features(backbone, **kw)  # type: ignore[arg-type]
    return Classifier(features, _out_dim(features), n_classes)


class ProjectionNet(nn.Module):
    """Features plus an MLP projection onto the unit sphere (SupCon's embedding)."""

    def __init__(self, features: nn.Module, dim: int = 128) -> None:
        super().__init__()
        self.features = features
        width = _out_dim(features)
        self.proj = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(self.features(x)), dim=1)


def _clip_tower(model_name: str, clip_blocks: int) -> ClipTower:
    from debias_studio.core.models.registry import load_model

    loaded = load_model(model_name, "cpu")
    visual = loaded.model.visual
    mean, std = _normalisation(loaded.preprocess)
    for p in visual.parameters():
        p.requires_grad_(clip_blocks < 0)
    if clip_blocks >= 0:
        for module in _last_blocks(visual, clip_blocks):
            for p in module.parameters():
                p.requires_grad_(True)
    return ClipTower(visual, int(loaded.embed_dim), mean, std)


def _last_blocks(visual: nn.Module, n: int) -> list[nn.Module]:
    """The last ``n`` residual blocks and everything after them (final norm, projection)."""
    if n == 0:
        return []
    transformer = getattr(visual, "transformer", None)
    if transformer is not None and hasattr(transformer, "resblocks"):
        tail = [m for name, m in visual.named_children() if name in ("ln_post", "head")]
        if isinstance(getattr(visual, "proj", None), nn.Parameter):
            tail.append(_ParamHolder(visual.proj))  # type: ignore[arg-type]  # checked above
        return list(transformer.resblocks)[-n:] + tail
    return list(visual.children())[-n:]


class _ParamHolder(nn.Module):
    def __init__(self, param: nn.Parameter) -> None:
        super().__init__()
        self.param = param


def _out_dim(features: nn.Module) -> int:
    """The feature width every backbone module states as ``out_dim``."""
    return int(getattr(features, "out_dim"))  # noqa: B009 - nn.Module's __getattr__ is untyped


def _normalisation(preprocess: object) -> tuple[tuple[float, ...], tuple[float, ...]]:
    for step in getattr(preprocess, "transforms", []):
        if type(step).__name__ == "Normalize":
            return tuple(step.mean), tuple(step.std)
    return CLIP_MEAN, CLIP_STD
