"""Materialised counterfactual images: each image re-rendered under every other value of a
confounder, with its provenance.

The generators are the training engine's (core.train.counterfactuals: colour re-paint,
background swap by mask compositing, exemplar mixup), fitted the same way - on a seeded sample of
training images - so an exported counterfactual is what the counterfactual cure trains on. Images
are decoded in chunks behind that fixed fitting sample, so memory stays bounded whatever the
dataset size. Images are rendered square at ``size`` pixels (default: the median longer side of a
sample of the fitting images, at most ``MAX_SIDE``).

Output per confounder: ``counterfactuals/<confounder>/<split>/<class>/<stem>__<value>.png`` and
``counterfactuals/<confounder>/manifest.csv`` (path, label, split, the confounder's *new* value,
then the provenance: source image id and path, its original value, the generator and the seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from debias_studio.core.data.access import as_root
from debias_studio.core.data.masks import read_mask
from debias_studio.core.data.splits import SPLIT_CODES, TRAIN
from debias_studio.core.errors import StudioError
from debias_studio.core.export.atomic import ExportTarget
from debias_studio.core.export.frame import ConfounderView, ExportFrame
from debias_studio.core.export.layout import safe_folder_name
from debias_studio.core.export.manifest import write_table
from debias_studio.core.jobs import CancelToken, Job, Progress, run_quiet
from debias_studio.core.store.project import Project
from debias_studio.core.train.counterfactuals import choose_generator
from debias_studio.core.train.data import TrainData, load_images, typical_side

FOLDER = "counterfactuals"
MAX_SIDE = 256
FIT_SAMPLE = 1000
"""Training images the generator is fitted on (colour means, background pool, exemplars)."""
CHUNK = 128


@dataclass
class CounterfactualResult:
    confounder: str
    generator: str
    images: int
    sources: int
    size: int

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class _Cells:
    """The path, label and split of every image as arrays, read once: a row of the frame's
    table per rendered image (``iloc``) cost 13 % of a fill export of the digits demo."""

    path: np.ndarray
    label: np.ndarray
    split: np.ndarray

    @classmethod
    def of(cls, frame: ExportFrame) -> _Cells:
        table = frame.table
        return cls(*(table[c].to_numpy(dtype=object) for c in ("path", "label", "split")))


def export_counterfactuals(
    target: ExportTarget,
    project: Project,
    frame: ExportFrame,
    view: ConfounderView,
    *,
    splits: Sequence[str] = ("train",),
    size: int | None = None,
    seed: int = 0,
    cancel: CancelToken,
) -> Job[CounterfactualResult]:
    """Write every kept image of ``splits`` (value known) under each other value of ``view``."""
    if len(view.values) < 2:
        raise StudioError(f"The confounder '{view.name}' has fewer than two values to swap.")
    dataset = project.dataset
    split_names = frame.table["split"].astype(str).to_numpy()
    known = ~frame.excluded & (view.assignment >= 0)
    sources = np.flatnonzero(known & np.isin(split_names, list(splits)))
    fit_ids = _fit_sample(known & (split_names == "train"), seed)
    if len(fit_ids) == 0:
        raise StudioError(
            f"No kept training image has a known '{view.name}' value to fit counterfactuals on."
        )
    paths = dataset.table["path"].astype(str).tolist()
    side = size or _native_side(dataset.root, [paths[i] for i in fit_ids])
    yield Progress(0, len(sources), f"fitting {view.name} counterfactuals")
    fit = yield from _fit(project, frame, view, fit_ids, side, cancel)
    data, fit_pixels, fit_masks, fit_split = fit.data, fit.pixels, fit.masks, fit.split
    generator = choose_generator(data)
    gen = torch.Generator().manual_seed(seed)
    base = f"{FOLDER}/{safe_folder_name(view.column)}"
    cells = _Cells.of(frame)
    rows: list[dict[str, object]] = []
    written = 0
    for start in range(0, len(sources), CHUNK):
        cancel.raise_if_cancelled()
        chunk = sources[start : start + CHUNK]
        pixels, bad = run_quiet(load_images(dataset.root, [paths[i] for i in chunk], side))
        masks = _masks(project, chunk, side) if fit_masks is not None else None
        local = _extend(data, fit_pixels, fit_masks, fit_split, frame, view, chunk, pixels, masks)
        good = np.flatnonzero(~bad)
        batch = _Batch(chunk[good], pixels[good].float() / 255.0, torch.from_numpy(local[good]))
        made = _render(target, base, cells, view, generator, gen, batch)
        rows += made
        written += len(made)
        yield Progress(
            min(start + CHUNK, len(sources)),
            len(sources),
            f"{written} {view.name} counterfactual images",
        )
    table = pd.DataFrame(rows, columns=_columns(view))
    table["seed"] = seed
    table["size"] = side
    write_table(target, table, f"{base}/manifest", parquet=False)
    return CounterfactualResult(view.name, generator.name, written, len(sources), side)


def render_fills(
    target: ExportTarget,
    project: Project,
    frame: ExportFrame,
    view: ConfounderView,
    fills: list[tuple[int, int]],
    folder: str,
    *,
    seed: int = 0,
    cancel: CancelToken,
) -> Job[pd.DataFrame]:
    """Render each (source image, value) of ``fills`` once into ``folder``; one row per fill:
    its file (relative to ``folder``), source image id and value."""
    split_names = frame.table["split"].astype(str).to_numpy()
    known = ~frame.excluded & (view.assignment >= 0)
    fit_ids = _fit_sample(known & (split_names == "train"), seed)
    paths = project.dataset.table["path"].astype(str).tolist()
    side = _native_side(project.dataset.root, [paths[i] for i in fit_ids])
    fit = yield from _fit(project, frame, view, fit_ids, side, cancel)
    generator, gen = choose_generator(fit.data), torch.Generator().manual_seed(seed)
    unique, cells = sorted(set(fills)), _Cells.of(frame)
    made: dict[tuple[int, int], str] = {}
    for start in range(0, len(unique), CHUNK):
        cancel.raise_if_cancelled()
        part = unique[start : start + CHUNK]
        chunk = np.array([i for i, _v in part], dtype=np.int64)
        pixels, bad = run_quiet(load_images(project.dataset.root, [paths[i] for i in chunk], side))
        masks = _masks(project, chunk, side) if fit.masks is not None else None
        local = _extend(
            fit.data, fit.pixels, fit.masks, fit.split, frame, view, chunk, pixels, masks
        )
        good = np.flatnonzero(~bad)
        wanted = np.array([v for _i, v in part], dtype=np.int64)[good]
        values = torch.from_numpy(view.assignment[chunk[good]])
        x, ids = pixels[good].float() / 255.0, torch.from_numpy(local[good])
        for value in np.unique(wanted).tolist():  # one generator call per target value
            rows = np.flatnonzero(wanted == value)
            targets = torch.full((len(rows),), value, dtype=torch.long)
            out = generator(x[rows], values[rows], targets, ids[rows], gen)
            images = (out.permute(0, 2, 3, 1) * 255).round().clamp(0, 255).to(torch.uint8)
            for row, image in zip(rows.tolist(), images.numpy(), strict=True):
                image_id = int(chunk[good[row]])
                relative = _name(cells, image_id, view.values[value])
                Image.fromarray(image).save(target.path(f"{folder}/{relative}"), format="PNG")
                made[(image_id, value)] = relative
        yield Progress(min(start + CHUNK, len(unique)), len(unique), "rendering fills")
    done = [(made[f], f[0], f[1]) for f in fills if f in made]
    return pd.DataFrame(done, columns=["img_filename", "source_image_id", "value"])


@dataclass
class _Fit:
    data: TrainData
    pixels: torch.Tensor
    masks: torch.Tensor | None
    split: np.ndarray


def _fit(
    project: Project,
    frame: ExportFrame,
    view: ConfounderView,
    fit_ids: np.ndarray,
    side: int,
    cancel: CancelToken,
) -> Job[_Fit]:
    """The fitting sample decoded, as the training data the generator is fitted on."""
    dataset = project.dataset
    paths = dataset.table["path"].astype(str).tolist()
    pixels, bad = yield from load_images(dataset.root, [paths[i] for i in fit_ids], side, cancel)
    masks = _masks(project, fit_ids, side)
    split = np.where(bad, -1, SPLIT_CODES[TRAIN]).astype(np.int64)
    data = TrainData(
        inputs=pixels,
        labels=frame.labels[fit_ids],
        values=view.assignment[fit_ids],
        split=split,
        classes=frame.classes,
        value_names=view.values,
        confounder=view.name,
        kind=view.kind,
        masks=masks,
    )
    return _Fit(data, pixels, masks, split)


@dataclass
class _Batch:
    image_ids: np.ndarray  # (B,) the images of a chunk that could be read
    x: torch.Tensor  # (B, 3, H, W) in [0, 1]
    ids: torch.Tensor  # (B,) their rows in the generator's data


def _render(
    target: ExportTarget,
    base: str,
    cells: _Cells,
    view: ConfounderView,
    generator: Any,
    gen: torch.Generator,
    batch: _Batch,
) -> list[dict[str, object]]:
    """Render ``batch`` under every value it does not have; save the images, return their rows."""
    values = torch.from_numpy(view.assignment[batch.image_ids])
    rows = []
    for value in range(len(view.values)):
        change = np.flatnonzero(values.numpy() != value)
        if not len(change):
            continue
        targets = torch.full((len(change),), value, dtype=torch.long)
        out = generator(batch.x[change], values[change], targets, batch.ids[change], gen)
        images = (out.permute(0, 2, 3, 1) * 255).round().clamp(0, 255).to(torch.uint8)
        for row, image in zip(change.tolist(), images.numpy(), strict=True):
            image_id = int(batch.image_ids[row])
            relative = _name(cells, image_id, view.values[value])
            Image.fromarray(image).save(target.path(f"{base}/{relative}"), format="PNG")
            rows.append(_provenance(cells, view, image_id, relative, value, generator.name))
    return rows


def _columns(view: ConfounderView) -> list[str]:
    return [
        "path",
        "label",
        "split",
        view.column,
        "source_image_id",
        "source_path",
        f"source_{view.column}",
        "generator",
    ]


def _provenance(
    cells: _Cells,
    view: ConfounderView,
    image_id: int,
    relative: str,
    value: int,
    generator: str,
) -> dict[str, object]:
    return {
        "path": relative,
        "label": cells.label[image_id],
        "split": cells.split[image_id],
        view.column: view.values[value],
        "source_image_id": image_id,
        "source_path": cells.path[image_id],
        f"source_{view.column}": view.values[int(view.assignment[image_id])],
        "generator": generator,
    }


def _name(cells: _Cells, image_id: int, value: str) -> str:
    stem = PurePosixPath(str(cells.path[image_id])).stem
    split, label = cells.split[image_id], cells.label[image_id]
    folder = f"{safe_folder_name(split)}/{safe_folder_name(label)}"
    return f"{folder}/{stem}-{image_id}__{safe_folder_name(value)}.png"


def _fit_sample(mask: np.ndarray, seed: int) -> np.ndarray:
    ids = np.flatnonzero(mask)
    if len(ids) > FIT_SAMPLE:
        ids = np.sort(np.random.default_rng(seed).choice(ids, FIT_SAMPLE, replace=False))
    return ids


def _native_side(root: Path, paths: list[str]) -> int:
    side = typical_side(root, paths)
    if side is None:
        raise StudioError("None of the training images could be read to size the counterfactuals.")
    return min(MAX_SIDE, side)


def _masks(project: Project, ids: np.ndarray, side: int) -> torch.Tensor | None:
    """Foreground masks of ``ids`` from the dataset's mask column (None: it has none, and the
    generators threshold the foreground instead)."""
    dataset = project.dataset
    if "mask" not in dataset.table.columns or not (dataset.table["mask"] != "").any():
        return None
    base = as_root(dataset.root)
    relatives = dataset.table["mask"].fillna("").astype(str).tolist()
    out = torch.zeros((len(ids), 1, side, side), dtype=torch.uint8)
    for row, image_id in enumerate(ids.tolist()):
        mask = read_mask(base, relatives[image_id], side)
        if mask is not None:
            out[row, 0] = torch.from_numpy(mask)
    return out


def _extend(
    data: TrainData,
    fit_pixels: torch.Tensor,
    fit_masks: torch.Tensor | None,
    fit_split: np.ndarray,
    frame: ExportFrame,
    view: ConfounderView,
    chunk: np.ndarray,
    pixels: torch.Tensor,
    masks: torch.Tensor | None,
) -> np.ndarray:
    """Put the chunk behind the fitting sample in ``data`` (split -1, so it never joins the
    fitted pools); returns the chunk's row numbers there."""
    offset = len(fit_pixels)
    data.inputs = torch.cat([fit_pixels, pixels])
    if fit_masks is not None and masks is not None:
        data.masks = torch.cat([fit_masks, masks])
    data.labels = np.concatenate([data.labels[:offset], frame.labels[chunk]])
    data.values = np.concatenate([data.values[:offset], view.assignment[chunk]])
    data.split = np.concatenate([fit_split, np.full(len(chunk), -1, dtype=np.int64)])
    return offset + np.arange(len(chunk), dtype=np.int64)
