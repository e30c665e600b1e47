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

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from debias_studio.core.data.splits import SPLIT_CODES, SPLITS
from debias_studio.core.errors import StudioError
from debias_studio.core.export.frame import ConfounderView, ExportFrame
from debias_studio.core.export.layout import Placement, imagefolder_plan
from debias_studio.core.export.options import BALANCE_MODES, DEFAULT_MIN_GROUP

FOLDER = "balanced"
COUNTERFACTUAL_KINDS = ("colour", "background")
"""Kinds whose counterfactual images the app can render (core.train.counterfactuals)."""


@dataclass
class BalancedPlan:
    placements: list[Placement]
    metadata: pd.DataFrame
    per_split: dict[str, dict[str, Any]]
    missing_groups: list[str]
    fills: list[tuple[int, int]] = field(default_factory=list)
    """(source image id, value) pairs to render into thin training groups (mode ``fill``)."""


def balanced_rows(
    frame: ExportFrame, view: ConfounderView, mode: str = "down", seed: int = 0
) -> tuple[np.ndarray, np.ndarray, dict[str, dict[str, Any]], list[str]]:
    """Image ids of the subset (with repeats when up-sampling), each row's repeat number, the
    per-split group size, and the groups that have no image in some split."""
    if mode not in BALANCE_MODES:
        raise StudioError(f"Unknown balancing '{mode}'; choose down, up or fill.")
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
        keep_all = mode == "fill" and split_name == "train"  # thin groups filled by rendering
        size = max(sizes) if mode == "up" or keep_all else min(sizes)
        for g in present:
            pool = members[g]
            if keep_all:
                picked, repeat = pool, np.zeros(len(pool), dtype=np.int64)
            elif mode in ("down", "fill"):
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


def fill_requests(frame: ExportFrame, view: ConfounderView, seed: int = 0) -> list[tuple[int, int]]:
    """(source image id, target value) to render so that every training group of a class with
    kept images reaches the largest group's size; sources are the class's images of other values,
    drawn seeded (with replacement only where there are too few)."""
    if view.kind not in COUNTERFACTUAL_KINDS:
        raise StudioError(
            f"Filling groups needs counterfactual images, which the app renders for colour and "
            f"background confounders; '{view.name}' is of kind '{view.kind}'. Up-sample instead."
        )
    rng = np.random.default_rng(seed + 1)
    groups = view.group_ids(frame.labels)
    usable = (
        ~frame.excluded & (groups >= 0) & (frame.table["split"].astype(str) == "train").to_numpy()
    )
    n_values = len(view.values)
    counts = np.bincount(groups[usable], minlength=len(frame.classes) * n_values)
    target = int(counts.max()) if len(counts) else 0
    requests: list[tuple[int, int]] = []
    for g in range(len(counts)):
        label, value = divmod(g, n_values)
        pool = np.flatnonzero(usable & (frame.labels == label) & (view.assignment != value))
        short = target - int(counts[g])
        if short <= 0 or not len(pool):
            continue
        drawn = np.sort(rng.choice(pool, short, replace=len(pool) < short))
        requests += [(int(i), value) for i in drawn]
    return requests


def balanced_plan(
    frame: ExportFrame, view: ConfounderView, root: Any, mode: str = "down", seed: int = 0
) -> BalancedPlan:
    ids, repeats, per_split, missing = balanced_rows(frame, view, mode, seed)
    fills = fill_requests(frame, view, seed) if mode == "fill" else []
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
    return BalancedPlan(placements, metadata, per_split, missing, fills)


def group_sizes(frame: ExportFrame, view: ConfounderView) -> dict[str, dict[str, int]]:
    """Split -> group name ("class/value") -> kept images with a known value, every group listed
    (empty ones as 0)."""
    groups = view.group_ids(frame.labels)
    split = frame.table["split"].astype(str).to_numpy()
    usable = ~frame.excluded & (groups >= 0)
    names = [f"{c}/{v}" for c in frame.classes for v in view.values]
    out: dict[str, dict[str, int]] = {}
    for split_name in SPLITS:
        counts = np.bincount(groups[usable & (split == split_name)], minlength=len(names))
        out[split_name] = {name: int(n) for name, n in zip(names, counts, strict=True)}
    return out


def balance_preview(
    frame: ExportFrame, view: ConfounderView, mode: str, min_group: int = DEFAULT_MIN_GROUP
) -> dict[str, Any]:
    """What a balanced subset would hold, before anything is written: the group sizes per split,
    the per-group size and rows per split, the empty groups, and warnings or the refusal."""
    sizes = group_sizes(frame, view)
    plan: dict[str, Any] = {}
    for split_name, groups in sizes.items():
        present = [n for n in groups.values() if n > 0]
        if not present:
            continue
        filled = mode == "fill" and split_name == "train"
        per_group = max(present) if mode == "up" or filled else min(present)
        plan[split_name] = {
            "per_group": per_group,
            "groups": len(present),
            "empty_groups": [g for g, n in groups.items() if n == 0],
            "rows": per_group * len(present),
        }
    warnings, refusal = _judge(plan, mode, min_group, view.kind)
    if mode == "fill" and refusal is None:
        try:
            fills = len(fill_requests(frame, view))
        except StudioError as exc:
            refusal = str(exc)
        else:
            plan["train"]["rows"] = sum(sizes["train"].values()) + fills
            warnings.append(f"{fills} counterfactual training images will be rendered into "
                            "thin and empty groups.")  # fmt: skip
    return {"confounder": view.name, "mode": mode, "group_sizes": sizes, "plan": plan,
            "warnings": warnings, "refusal": refusal}  # fmt: skip


def _judge(
    plan: dict[str, Any], mode: str, min_group: int, kind: str
) -> tuple[list[str], str | None]:
    warnings: list[str] = []
    train = plan.get("train")
    if train is None:
        return warnings, "No kept training image has a known value: there is nothing to balance."
    total = train["groups"] + len(train["empty_groups"])
    if train["empty_groups"]:
        warnings.append(
            f"{len(train['empty_groups'])} of {total} training groups are empty; "
            + (
                "they are filled with counterfactual images where the class has other values."
                if mode == "fill"
                else f"the subset balances over the {train['groups']} groups that exist."
            )
        )
    if mode == "down" and train["per_group"] < min_group:
        helps = "up-sample (--balance up)"
        if kind in COUNTERFACTUAL_KINDS:
            helps += (
                ", or train the counterfactual cure, which fills thin groups with rendered images"
            )
        return warnings, (
            f"Down-sampling keeps only {train['per_group']} training image(s) per group "
            f"({train['rows']} in all, minimum {min_group}): the subset would mean nothing. "
            f"Instead {helps}, or lower the minimum (--min-group)."
        )
    return warnings, None


def check_balance(
    frame: ExportFrame, view: ConfounderView, mode: str, min_group: int
) -> dict[str, Any]:
    """The preview of the subset; refuses a degenerate one (see ``balance_preview``)."""
    preview = balance_preview(frame, view, mode, min_group)
    if preview["refusal"]:
        raise StudioError(preview["refusal"])
    return preview


def with_fills(
    metadata: pd.DataFrame, frame: ExportFrame, view: ConfounderView, fills: pd.DataFrame
) -> pd.DataFrame:
    """``metadata`` with a row per rendered fill (``counterfactual`` True) after its own rows."""
    source = fills["source_image_id"].to_numpy(np.int64)
    value = fills["value"].to_numpy(np.int64)
    labels = frame.labels[source]
    extra = pd.DataFrame(
        {
            "img_id": np.arange(len(metadata), len(metadata) + len(fills), dtype=np.int64),
            "img_filename": fills["img_filename"].to_numpy(),
            "y": labels,
            "split": SPLIT_CODES["train"],
            "place": value,
            "label": [frame.classes[c] for c in labels],
            view.column: [view.values[v] for v in value],
            "group_id": labels * len(view.values) + value,
            "source_image_id": source,
            "source_path": frame.table["path"].astype(str).to_numpy()[source],
            "repeat": _repeat_numbers(source * len(view.values) + value),
        }
    )
    out = pd.concat([metadata.assign(counterfactual=False), extra.assign(counterfactual=True)])
    return out.reset_index(drop=True)


def _repeat_numbers(ids: np.ndarray) -> np.ndarray:
    """0 for an id's first row, 1 for its second, ..."""
    seen: dict[int, int] = {}
    out = np.zeros(len(ids), dtype=np.int64)
    for k, i in enumerate(ids.tolist()):
        out[k] = seen.get(i, 0)
        seen[i] = out[k] + 1
    return out
