"""What a training run is: one JSON-able record that fully determines it.

The same ``TrainConfig`` drives a run from the GUI, the CLI and ``torchrun`` (core.train.ddp), so a
config written with ``train --write-config`` launches the identical run on a cluster.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from debias_studio.core.errors import StudioError, require_range

MIN_GROUP_SIZE = 20
"""Default smallest group the headline worst-group accuracy counts. At n = 20 the widest 95 %
Wilson interval (accuracy 0.5) spans +-0.20 and one image moves the accuracy by 5 points; at
n = 5 the interval spans +-0.37 and a single image is 20 points, so the minimum over many such
groups mostly measures which group drew the unlucky images (issue 14: "worst-group 0.333" was
one correct image out of three)."""

METHODS = ("erm", "balanced", "counterfactual", "selecmix", "disc")
BACKBONES = ("head", "clip", "efficientnet", "cnn", "mlp")
BALANCE_MODES = ("reweight", "resample", "groupdro")
PAIR_MODES = ("auto", "annotation", "contrastive")

SUGGESTED: dict[str, dict[str, int]] = {
    "head": {"epochs": 10, "batch_size": 128},
    "cnn": {"epochs": 30, "batch_size": 32},
    "clip": {"epochs": 5, "batch_size": 32},
    "efficientnet": {"epochs": 10, "batch_size": 64},
    "mlp": {"epochs": 30, "batch_size": 256},
}
"""Starting points per backbone, for the GUI's fields and the CLI's defaults. A CNN from scratch
needs many small steps on a demo-sized set (the demo cures were measured at 25-50 epochs of 32
images; 10 epochs of 128 left it reading colour only); a head on frozen features needs few, and so
does EfficientNet, frozen by default (its features are computed once per run, core.train.frozen)."""

SHIFT: dict[str, int] = {"mlp": 2}
"""Random translation (pixels) of the images a backbone trains on, by default. The pixel MLP has
no shape prior and, under a strong shortcut, learns shape from the few bias-conflicting images it
sees, which it memorises within a few epochs; shifting them by up to 2 px makes each a family of
images (bench/cmnist.py, 1 % Colored MNIST, 3 seeds, 20 epochs: SelecMix 87.8 -> 91.9, LfF +
SelecMix 79.8 -> 88.1, while ERM stays at ~62; bench/results/README.md). Convolutional and
pretrained backbones keep their measured recipes (0)."""

TOWER_BLOCKS: dict[str, int] = {"clip": 2, "efficientnet": 0}
"""Blocks of a pretrained tower fine-tuned by default. EfficientNet is frozen: its features are
then computed once per run and only the head trains (bench/backgrounds.py: frozen features with
cached counterfactuals held up better than fine-tuning on a CPU budget)."""


LIMITS: dict[str, tuple[float, float]] = {
    "epochs": (1, 10_000),
    "batch_size": (2, 65_536),
    "lr": (1e-9, 10.0),
    "weight_decay": (0.0, 1.0),
    "image_size": (8, 1024),
    "head_hidden": (0, 65_536),
    "clip_blocks": (-1, 1000),
    "dro_step": (1e-9, 10.0),
    "cf_fraction": (0.0, 1.0),
    "cf_per_image": (1, 64),
    "pair_pool": (0, 1_000_000),
    "aux_lr": (1e-9, 10.0),
    "mix_alpha": (1e-3, 1000.0),
    "shift": (0, 64),
}
"""Allowed range of each numeric setting (inclusive; NaN never passes), checked by ``validate``
for the GUI, the CLI and torchrun alike. Memory is checked where it is allocated."""
_LABELS = {
    "Epochs": "epochs",
    "The batch size": "batch_size",
    "The learning rate": "lr",
    "The weight decay": "weight_decay",
    "The image size": "image_size",
    "The head's hidden units": "head_hidden",
    "The CLIP blocks to fine-tune": "clip_blocks",
    "The GroupDRO step": "dro_step",
    "The counterfactual fraction": "cf_fraction",
    "Counterfactuals per image": "cf_per_image",
    "The SelecMix partner pool": "pair_pool",
    "The auxiliary learning rate": "aux_lr",
    "The mixup alpha": "mix_alpha",
    "The random shift": "shift",
}


@dataclass
class TrainConfig:
    project: str
    method: str = "erm"
    confounder: str | None = None
    backbone: str = "head"
    model: str = "demo"
    epochs: int = 10
    seed: int = 0
    batch_size: int = 128
    lr: float | None = None
    """None: the backbone's default (head 1e-2, cnn 1e-3, clip 1e-5, mlp 1e-3, efficientnet
    1e-2 frozen or 1e-4 fine-tuned)."""
    weight_decay: float = 0.0
    image_size: int | None = None
    """Side of the square training images (cnn/clip); None: native size capped at 64, or CLIP's."""
    head_hidden: int = 0
    """Hidden units of the head on frozen features; 0 means a linear head."""
    clip_blocks: int | None = None
    """Last N blocks of a pretrained tower to fine-tune (CLIP's transformer blocks, EfficientNet's
    inverted-residual blocks); 0 freezes it, -1 fine-tunes all; None: the backbone's default
    (``TOWER_BLOCKS``)."""
    device: str | None = None
    # method options
    balance: str = "reweight"
    dro_step: float = 0.01
    cf_fraction: float = 1.0
    """Share of each batch replaced by its counterfactual (the value drawn uniformly)."""
    cf_per_image: int = 4
    """Counterfactuals rendered per training image when the tower is frozen (core.train.frozen):
    they are encoded once, before the first epoch, and drawn from at every step."""
    pairs: str = "auto"
    """SelecMix partners: from the confounder annotation, from the biased contrastive model, or
    ``auto`` (annotation when a confounder is given)."""
    pair_pool: int = 1024
    """Images a SelecMix partner is drawn from: the batch plus random training images up to this
    many, as the official code draws pairs within 1,024-image batches. With a small batch alone a
    95 %-aligned set rarely holds a contradicting partner, and SelecMix falls back to ERM."""
    lff: bool = False
    """SelecMix with an LfF biased model (GCE) re-weighting the debiased model's loss."""
    aux_lr: float | None = None
    mix_alpha: float = 2.0
    """Beta(a, a) of concept-exemplar mixup (DISC uses 2)."""
    shift: int | None = None
    """Random translation, up to this many pixels each way (zero-filled), of every image the
    model trains on: after mixing or recolouring, so each method's own images are shifted. None:
    the backbone's default (``SHIFT``); 0 turns it off. Frozen features are not shifted."""
    min_group_size: int = MIN_GROUP_SIZE
    """Smallest (class, value) group the headline worst-group accuracy and model selection count
    (core.train.metrics says why 20); the minimum over every group is reported beside it."""
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> TrainConfig:
        _choice("method", self.method, METHODS)
        _choice("backbone", self.backbone, BACKBONES)
        _choice("balance", self.balance, BALANCE_MODES)
        _choice("pairs", self.pairs, PAIR_MODES)
        for label, name in _LABELS.items():
            require_range(label, getattr(self, name), *LIMITS[name])
        if self.min_group_size < 1:
            raise StudioError("The minimum group size must be at least 1.")
        needs_groups = self.method in ("balanced", "counterfactual") or self.pairs == "annotation"
        if needs_groups and not self.confounder:
            raise StudioError(
                f"The '{self.method}' method needs a confounder: pass --confounder NAME."
            )
        return self

    @property
    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        if self.backbone == "efficientnet":
            return 1e-2 if self.tower_blocks == 0 else 1e-4
        return {"head": 1e-2, "cnn": 1e-3, "clip": 1e-5, "mlp": 1e-3}[self.backbone]

    @property
    def shift_pixels(self) -> int:
        return SHIFT.get(self.backbone, 0) if self.shift is None else self.shift

    @property
    def tower_blocks(self) -> int:
        if self.clip_blocks is not None:
            return self.clip_blocks
        return TOWER_BLOCKS.get(self.backbone, 0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise StudioError(f"Unknown training setting(s): {', '.join(unknown)}.")
        return cls(**data).validate()


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise StudioError(f"Unknown {name} '{value}'; choose one of {', '.join(allowed)}.")
