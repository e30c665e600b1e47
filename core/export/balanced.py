"""A group-balanced subset with a Waterbirds-style ``metadata.csv``.

Within each split every (class, confounder value) group present gets the same number of images:
the smallest group's count (``down``: drawn without replacement) or the largest's (``up``: every
image once, then draws with replacement). Draws come from one generator seeded by ``seed``, so the
same project and seed give the same subset. Images whose value is unknown and excluded images are
left out. Files go to ``balanced/<split>/<class>/``; an up-sampled image is one file listed
several times, as sampling datasets do.

``metadata.csv`` has Waterbirds' columns - ``img_id``, ``img_filename`` (relative to
``balanced/``), ``y`` (class index), ``split`` (0 train, 1 val, 2 test), ``place`` (value index) -
then the names (``label``, the confounder), ``group_id``, the source image and which repeat of it
a row is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from debias_studio.core.data.splits import SPLIT_CODES, SPLITS
from debias_studio.core.errors import StudioError
from debias_studio.core.export.frame import ConfounderView, ExportFrame
from debias_studio.core.export.layout import Placement, imagefolder_plan
from debias_studio.core.export.options import BALANCE_MODES

FOLDER = "balanced"


@dataclass
class BalancedPlan:
    placements: list[Placement]
    metadata: pd.DataFrame
    per_split: dict[str, dict[str, Any]]
    missing_groups: list[str]


def balanced_rows(
    frame: ExportFrame, view: ConfounderView, mode: str = "down", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, dict[str, dict[str, Any]], list[str]]:
    """Image ids of the subset (with repeats when up-sampling), each row's repeat number, the
    per-split group size, and the groups that have no image in some split."""
    if mode not in BALANCE_MODES:
        raise StudioError(f"Unknown balancing '{mode}'; choose down or up.")
    rng = np.random.default_rng(seed)
    groups = view.group_ids(frame.labels)
    split = frame.table["split"].astype(str).to_numpy()
    usable = ~frame.excluded & (groups >= 0)
    n_groups = len(frame.classes) * len(view.values)
    names = [f"{c}/{v}" for c in frame.classes for v in view.values]
    ids_out: list[np.ndarray] = []
    repeats_out: list[np.ndarray] = []
    per_split: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for split_name in SPLITS:
        in_split = usable & (split == split_name)
        if not in_split.any():
            continue
        members = [np.flatnonzero(in_split & (groups == g)) for g in range(n_groups)]
        present = [g for g in range(n_groups) if len(members[g])]
        missing += [f"{split_name}:{names[g]}" for g in range(n_groups) if not len(members[g])]
        sizes = [len(members[g]) for g in present]
        size = min(sizes) if mode == "down" else max(sizes)
        for g in present:
            pool = members[g]
            if mode == "down":
                picked = np.sort(rng.choice(pool, size, replace=False))
                repeat = np.zeros(size, dtype=np.int64)
            else:
                extra = rng.choice(pool, size - len(pool), replace=True)
                picked = np.concatenate([pool, np.sort(extra)])
                repeat = _repeat_numbers(picked)
            ids_out.append(picked)
            repeats_out.append(repeat)
        per_split[split_name] = {"per_group": int(size), "groups": len(present)}
    if not ids_out:
        raise StudioError(
            f"No image has a known '{view.name}' value, so there is nothing to balance."
        )
    return np.concatenate(ids_out), np.concatenate(repeats_out), per_split, missing


def balanced_plan(
    frame: ExportFrame, view: ConfounderView, root: Any, mode: str = "down", seed: int = 0
) -> BalancedPlan:
    ids, repeats, per_split, missing = balanced_rows(frame, view, mode, seed)
    unique_ids = np.unique(ids)
    subset = frame.table.iloc[unique_ids].copy()
    subset["excluded"] = False
    placements, tree = imagefolder_plan(subset, root, FOLDER)
    where = dict(zip(tree["image_id"].tolist(), tree["path"].tolist(), strict=True))
    rows = frame.table.iloc[ids]
    split_codes = rows["split"].map(SPLIT_CODES).to_numpy(np.int64)
    metadata = pd.DataFrame(
        {
            "img_id": np.arange(len(ids), dtype=np.int64),
            "img_filename": [where[i] for i in ids.tolist()],
            "y": frame.labels[ids],
            "split": split_codes,
            "place": view.assignment[ids],
            "label": rows["label"].astype(str).to_numpy(),
            view.column: [view.values[v] for v in view.assignment[ids]],
            "group_id": view.group_ids(frame.labels)[ids],
            "source_image_id": ids,
            "source_path": rows["path"].astype(str).to_numpy(),
            "repeat": repeats,
        }
    )
    if "mask" in tree.columns:
        masks = dict(zip(tree["image_id"].tolist(), tree["mask"].tolist(), strict=True))
        metadata["mask"] = [masks[i] for i in ids.tolist()]
    return BalancedPlan(placements, metadata, per_split, missing)


def _repeat_numbers(ids: np.ndarray) -> np.ndarray:
    """0 for an id's first row, 1 for its second, ..."""
    seen: dict[int, int] = {}
    out = np.zeros(len(ids), dtype=np.int64)
    for k, i in enumerate(ids.tolist()):
        out[k] = seen.get(i, 0)
        seen[i] = out[k] + 1
    return out
