"""Refusing a run that cannot mean anything, before it costs anything.

A run on one class "succeeds" at accuracy 1.000, and a split without images fails only after
minutes of decoding or embedding; both are visible in the image table, so ``check_trainable``
refuses them before the run is even recorded. A head on frozen features can only learn what the
features tell apart: the demo CLIP knows colours and background textures, not digit shapes, and a
head on it ends at chance on the digits demo (0.097). ``check_features`` fits a linear probe on a
sample of the training embeddings and scores it on validation - about a second - and refuses
the run when the probe is near chance, naming the backbone that learns from the pixels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from debias_studio.core.data.splits import SPLIT_CODES
from debias_studio.core.errors import StudioError
from debias_studio.core.store.project import Project
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.data import TrainData, confounder_values, split_codes

PROBE_ROWS = 4000
"""Training and validation rows the probe uses at most (a seeded sample): enough to tell
"near chance" from "learns something", in about a second."""
NEAR_CHANCE = 0.1
"""The probe is near chance when it closes less than this share of the gap between chance
(the largest class's share of validation) and a perfect score."""


class FeaturesNearChance(StudioError):
    """A head on these frozen features would learn nothing (clients may offer an override)."""


@dataclass(frozen=True)
class FeatureProbe:
    accuracy: float
    chance: float

    @property
    def near_chance(self) -> bool:
        return self.accuracy < self.chance + NEAR_CHANCE * (1.0 - self.chance)


def check_trainable(project: Project, config: TrainConfig) -> None:
    """Refuse a project whose images cannot train ``config``: no train or val images, one class
    only in train, an unknown confounder. Reads the image table only."""
    dataset = project.dataset
    if len(dataset) == 0:
        raise StudioError("The project has no usable images to train on.")
    split = split_codes(project)
    for name in ("train", "val"):
        if not np.any(split == SPLIT_CODES[name]):
            raise StudioError(f"The project has no {name} images; a run needs train and val.")
    classes = np.unique(dataset.labels[split == SPLIT_CODES["train"]])
    if len(classes) < 2:
        only = dataset.classes[int(classes[0])]
        raise StudioError(
            f"The train split holds images of one class only ('{only}'); a classifier needs "
            "at least two classes."
        )
    confounder_values(project, config.confounder)  # an unknown name fails here, not later


def probe_features(data: TrainData, seed: int = 0) -> FeatureProbe:
    """A linear probe on ``data``'s feature rows: fitted on train, scored on validation."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(seed)
    fit_rows, val_rows = (_sample(data.indices(s), rng) for s in ("train", "val"))
    x = data.inputs.numpy()
    scaler = StandardScaler().fit(x[fit_rows])
    probe = LogisticRegression(max_iter=300)
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # convergence notes: a rough probe is enough here
        probe.fit(scaler.transform(x[fit_rows]), data.labels[fit_rows])
        accuracy = probe.score(scaler.transform(x[val_rows]), data.labels[val_rows])
    chance = np.bincount(data.labels[val_rows]).max() / len(val_rows)
    return FeatureProbe(float(accuracy), float(chance))


def check_features(data: TrainData, config: TrainConfig) -> None:
    """Refuse a head on frozen features that a linear probe finds near chance."""
    if data.is_images or len(np.unique(data.labels[data.indices("train")])) < 2:
        return
    probe = probe_features(data, config.seed)
    if probe.near_chance:
        raise FeaturesNearChance(
            f"The frozen '{config.model}' features cannot tell these classes apart (a linear "
            f"probe on them scores {probe.accuracy:.2f} on validation, chance {probe.chance:.2f}),"
            " so a head on them would learn nothing: train on the pixels with the cnn backbone, "
            "or use a model that knows these classes"
        )


def _sample(rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(rows, PROBE_ROWS, replace=False)) if len(rows) > PROBE_ROWS else rows
