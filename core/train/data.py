"""The arrays a run trains on: inputs, labels, confounder values and splits of one project.

Everything is indexed by image id (row of ``Dataset.table``), as in the rest of the engine. Images
are decoded once into a uint8 tensor (N, 3, S, S) so that every epoch, every counterfactual and
every method reads the same pixels; frozen-feature runs read the cached CLIP embeddings instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from debias_studio.core.annotate.confounders import list_confounders
from debias_studio.core.annotate.groups import aligned_values, counted_images
from debias_studio.core.annotate.kinds import KIND_BY_COLUMN
from debias_studio.core.annotate.overrides import assignments
from debias_studio.core.data.access import RootLike, as_root
from debias_studio.core.data.imageio import ImageReadError, check_image, open_image
from debias_studio.core.data.masks import read_mask
from debias_studio.core.data.memory import require_memory
from debias_studio.core.data.splits import SPLIT_CODES, TRAIN, VAL
from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress
from debias_studio.core.store.exclusions import excluded_mask
from debias_studio.core.store.project import Project
from debias_studio.core.store.relabels import final_label_codes

CNN_MIN_SIDE, CNN_MAX_SIDE, CNN_DEFAULT_SIDE = 8, 64, 32
"""Input side of the small CNN: never below what its two 2x poolings need, never above 64 px."""
MLP_MAX_SIDE = 32
"""The pixel MLP's inputs grow with the side squared: 32 px is 3,072 inputs per image."""
SIZE_SAMPLE = 64
"""Images whose headers are read to choose the CNN's input side."""
EXCLUDED = -1


@dataclass
class CounterfactualBank:
    """Counterfactuals rendered once and kept as frozen-tower features (core.train.frozen):
    ``inputs`` (N, K, D) are K counterfactuals per image id, ``targets`` (N, K) the value each
    was rendered under (-1: none, e.g. for images outside the training split)."""

    inputs: torch.Tensor
    targets: torch.Tensor


@dataclass
class TrainData:
    """Inputs and annotations of one run. ``values`` holds -1 where the confounder is unknown;
    ``split`` holds SPLIT_CODES or EXCLUDED (user exclusions, undecodable images)."""

    inputs: torch.Tensor
    labels: np.ndarray
    values: np.ndarray
    split: np.ndarray
    classes: list[str]
    value_names: list[str]
    confounder: str | None = None
    kind: str = "other"
    masks: torch.Tensor | None = None
    """(N, 1, S, S) uint8 foreground masks (255 = object) when the dataset provides them."""
    aligned: np.ndarray | None = None
    """(C,) the bias-aligned value per class as core.annotate.groups defines it (a project's
    run sets it); None: from this data's training rows."""
    bank: CounterfactualBank | None = None
    """Pre-rendered counterfactual features, when the inputs are a frozen tower's features."""
    unreadable: list[str] = field(default_factory=list)
    """Paths of the images left out because they could not be read (or lead out of the
    dataset folder): the run reports them instead of failing on them."""

    @property
    def is_images(self) -> bool:
        return self.inputs.dim() == 4

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_values(self) -> int:
        return len(self.value_names)

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == SPLIT_CODES[split])

    def group_counts(self, split: str = TRAIN) -> np.ndarray:
        """(C, V) image counts of each (class, value) group in ``split``."""
        counts = np.zeros((self.n_classes, max(self.n_values, 1)), dtype=np.int64)
        ids = self.indices(split)
        ids = ids[self.values[ids] >= 0]
        np.add.at(counts, (self.labels[ids], self.values[ids]), 1)
        return counts

    def aligned_values(self) -> np.ndarray:
        """Per class, the bias-aligned value (core.annotate.groups), -1 where there is none."""
        if self.aligned is not None:
            return self.aligned
        counted = self.split == SPLIT_CODES[TRAIN]
        return aligned_values(self.labels, self.values, counted, self.n_classes, self.n_values)

    def group_names(self) -> list[str]:
        """``class/value`` for group id = class * V + value (the contract's numbering)."""
        return [f"{c}/{v}" for c in self.classes for v in self.value_names]


def load_train_data(
    project: Project,
    *,
    backbone: str,
    confounder: str | None,
    model_name: str = "demo",
    image_size: int | None = None,
    device: str | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[TrainData]:
    """Build the arrays of a run from ``project`` (embeddings for ``head``, pixels otherwise)."""
    dataset = project.dataset
    n = len(dataset)
    if n == 0:
        raise StudioError("The project has no usable images to train on.")
    classes = list(dataset.classes)
    labels = final_label_codes(project)  # the user's relabels win over the dataset's labels
    split = split_codes(project)
    values, value_names, kind = confounder_values(project, confounder)
    aligned = aligned_values(
        labels, values, counted_images(project), len(classes), len(value_names)
    )
    masks = None
    paths = dataset.table["path"].astype(str).tolist()
    if backbone == "head":
        inputs, valid = yield from _embeddings(project, model_name, device, cancel)
        bad = ~valid
    else:
        size = image_size or _default_size(project, backbone, model_name)
        inputs, bad = yield from load_images(dataset.root, paths, size, cancel)
        masks = yield from _masks(project, size, cancel)
    split[bad] = EXCLUDED
    for name in (TRAIN, VAL):
        if not np.any(split == SPLIT_CODES[name]):
            raise StudioError(f"The project has no {name} images; a run needs train and val.")
    data = TrainData(
        inputs, labels, values, split, classes, value_names, confounder, kind, masks, aligned
    )
    data.unreadable = [paths[i] for i in np.flatnonzero(bad)]
    return data


def split_codes(project: Project) -> np.ndarray:
    """SPLIT_CODES per image; EXCLUDED for images without a known split and the user's
    exclusions."""
    table = project.dataset.table
    split = np.array(table["split"].map(SPLIT_CODES).fillna(EXCLUDED), dtype=np.int64)
    split[excluded_mask(project)] = EXCLUDED
    return split


def confounder_values(project: Project, name: str | None) -> tuple[np.ndarray, list[str], str]:
    """Value index per image, value names and kind of confounder ``name``: an annotated
    confounder (core.annotate) when one has that name, else a raw attribute column."""
    n = len(project.dataset)
    if not name:
        return np.full(n, -1, dtype=np.int64), [], "other"
    annotated = _annotated_confounder(project, name)
    if annotated is not None:
        return annotated
    table = project.dataset.table
    if name not in table.columns or name in ("path", "label", "split", "mask"):
        raise StudioError(
            f"There is no confounder or attribute column named '{name}' in this project."
        )
    column = table[name].astype("string").fillna("")
    value_names = sorted(v for v in column.unique() if v)
    lookup = {v: i for i, v in enumerate(value_names)}
    values = np.array(column.map(lambda v: lookup.get(v, -1)), dtype=np.int64)
    return values, value_names, KIND_BY_COLUMN.get(name.strip().lower(), "other")


def _annotated_confounder(project: Project, name: str) -> tuple[np.ndarray, list[str], str] | None:
    known = {c.name: c for c in list_confounders(project)}
    if name not in known:
        return None
    values = np.asarray(assignments(project, name), dtype=np.int64)
    return values, list(known[name].values), known[name].kind


def _embeddings(
    project: Project, model_name: str, device: str | None, cancel: CancelToken
) -> Job[tuple[torch.Tensor, np.ndarray]]:
    from debias_studio.core.embed.engine import cached_or_embedded

    embeddings = yield from cached_or_embedded(project, model_name, device=device, cancel=cancel)
    vectors = torch.from_numpy(np.asarray(embeddings.vectors, dtype=np.float32))
    return vectors, np.asarray(embeddings.valid, dtype=bool)


def _default_size(project: Project, backbone: str, model_name: str) -> int:
    if backbone == "clip":
        from debias_studio.core.models.registry import load_model

        return int(load_model(model_name, "cpu").image_size)
    side = cnn_input_side(project.dataset.root, project.dataset.table["path"].astype(str).tolist())
    return min(side, MLP_MAX_SIDE) if backbone == "mlp" else side


def cnn_input_side(root: RootLike, paths: list[str]) -> int:
    """The side the small CNN trains at: the typical side of the images, kept within
    [CNN_MIN_SIDE, CNN_MAX_SIDE]. Not the first image's side: one odd image (1 x 1, missing)
    must not size, or sink, the whole run."""
    side = typical_side(root, paths)
    return CNN_DEFAULT_SIDE if side is None else int(np.clip(side, CNN_MIN_SIDE, CNN_MAX_SIDE))


def typical_side(root: RootLike, paths: Sequence[str]) -> int | None:
    """The median longer side of a spread-out sample of the usable images (headers only);
    None when none of them can be read."""
    base = as_root(root)
    step = max(1, len(paths) // SIZE_SAMPLE)
    sides = []
    for rel in list(paths)[::step][:SIZE_SAMPLE]:
        try:
            info = check_image(base, rel, decode=False)
        except ImageReadError:
            continue
        sides.append(max(info.width, info.height))
    return int(np.median(sides)) if sides else None


def load_images(
    root: RootLike, paths: list[str], size: int, cancel: CancelToken = NEVER_CANCELLED
) -> Job[tuple[torch.Tensor, np.ndarray]]:
    """Decode every image to (N, 3, size, size) uint8; returns the pixels and a bad-image mask
    (files that cannot be read, or that lead out of the dataset folder). Refused up front when
    they would not fit in the machine's memory."""
    require_memory(
        len(paths) * 3 * size * size,
        f"Decoding {len(paths)} images at {size}×{size} pixels",
        "choose a smaller image size",
    )
    base = as_root(root)
    out = torch.zeros((len(paths), 3, size, size), dtype=torch.uint8)
    bad = np.zeros(len(paths), dtype=bool)
    for i, rel in enumerate(paths):
        if i % 256 == 0:
            cancel.raise_if_cancelled()
            yield Progress(i, len(paths), "decoding images")
        try:
            image = open_image(base, rel, min_side=size)
        except ImageReadError:
            bad[i] = True
            continue
        if image.size != (size, size):
            image = image.resize((size, size), Image.Resampling.BILINEAR)
        out[i] = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
    if bad.any():
        yield Progress(len(paths), len(paths), f"left out {int(bad.sum())} unreadable images")
    return out, bad


def _masks(project: Project, size: int, cancel: CancelToken) -> Job[torch.Tensor | None]:
    """Foreground masks from the manifest's ``mask`` column, else from an alpha channel."""
    dataset = project.dataset
    base = as_root(dataset.root)
    n = len(dataset)
    has_column = "mask" in dataset.table.columns and (dataset.table["mask"] != "").any()
    column = "mask" if has_column else "path"
    relatives = dataset.table[column].fillna("").astype(str).tolist()
    masks = torch.zeros((n, 1, size, size), dtype=torch.uint8)
    found = False
    for i in range(n):
        if i % 256 == 0:
            cancel.raise_if_cancelled()
            yield Progress(i, n, "reading masks")
        mask = read_mask(base, relatives[i], size, from_alpha=not has_column)
        if mask is None:
            if not has_column and i == 0:
                return None  # the first image has no alpha: the dataset has none
            continue
        found = True
        masks[i, 0] = torch.from_numpy(mask)
    return masks if found else None
