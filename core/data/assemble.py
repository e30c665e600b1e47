"""From listed rows to the checked image table of a dataset.

Both loaders end here: the folder scan and the manifest reader produce ``Entries`` (rows that
passed the cheap checks: a path inside the root, a label, not listed before); ``check_entries``
then checks every file in parallel, keeps the usable ones, checks their masks, draws the missing
splits and builds the table. Problems carry the row position they came from, so the report
follows the order of the folder listing or the manifest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from debias_studio.core.data.manifest import Manifest
from debias_studio.core.data.natural import natural_sorted
from debias_studio.core.data.problems import PROBLEM_KINDS, ImageProblem
from debias_studio.core.data.rootpaths import DatasetRoot, relative_to_root
from debias_studio.core.data.scan import FolderScan
from debias_studio.core.data.splits import assign_splits
from debias_studio.core.data.validate import FileCheck, check_files
from debias_studio.core.errors import DatasetError
from debias_studio.core.jobs import CancelToken, Job


@dataclass
class CheckedTable:
    """What a loader needs to make a ``Dataset``."""

    table: pd.DataFrame
    classes: list[str]
    attributes: list[str]
    problems: list[ImageProblem]


@dataclass
class Entries:
    """Rows that passed the cheap checks, before their files are checked."""

    positions: list[int] = field(default_factory=list)  # row in the manifest / scan order
    paths: list[str] = field(default_factory=list)  # POSIX, relative to the root
    labels: list[str] = field(default_factory=list)
    splits: list[str] = field(default_factory=list)  # "" = to be drawn
    masks: list[str] = field(default_factory=list)  # "" = none

    def add(self, position: int, path: str, label: str, split: str, mask: str) -> None:
        self.positions.append(position)
        self.paths.append(path)
        self.labels.append(label)
        self.splits.append(split)
        self.masks.append(mask)


def folder_entries(
    scan: FolderScan, classes: Sequence[str] | None
) -> tuple[Entries, list[tuple[int, ImageProblem]]]:
    """The scanned images (paths are already plain and unique); the scan's own problems first."""
    entries = Entries()
    problems = [(-1, p) for p in scan.problems]
    allowed = set(classes) if classes is not None else None
    for position, (path, label) in enumerate(scan.files):
        if allowed is not None and label not in allowed:
            problems.append((position, unknown_label(path, label, "")))
            continue
        entries.add(position, path, label, "", "")
    return entries, problems


def manifest_entries(
    manifest: Manifest,
    base: DatasetRoot,
    splits: list[str],
    classes: Sequence[str] | None,
) -> tuple[Entries, list[tuple[int, ImageProblem]]]:
    """Per row: a path inside the root, a label (an expected one), not listed before."""
    entries = Entries()
    problems: list[tuple[int, ImageProblem]] = []
    allowed = set(classes) if classes is not None else None
    first_row_of: dict[str, int] = {}
    label_of: dict[str, str] = {}
    rows = manifest.rows
    for i, (raw, label, raw_mask) in enumerate(
        zip(rows["path"].tolist(), rows["label"].tolist(), rows["mask"].tolist(), strict=True)
    ):
        where = manifest.where(i)
        odd = manifest.bad_rows.get(i)
        if odd is not None:
            kind, detail = odd
            problems.append((i, ImageProblem(raw or f"({where})", kind, f"{detail} ({where})")))
            continue
        if not raw:
            problems.append((i, ImageProblem(f"({where})", "missing", f"no path given ({where})")))
            continue
        path = relative_to_root(raw, base)
        if path is None:
            detail = f"leads outside the dataset folder {base.given} ({where})"
            problems.append((i, ImageProblem(raw, "outside_root", detail)))
            continue
        if not label:
            problems.append((i, ImageProblem(path, "no_label", f"has no label ({where})")))
            continue
        if allowed is not None and label not in allowed:
            problems.append((i, unknown_label(path, label, f" ({where})")))
            continue
        if path in first_row_of:
            first = manifest.where(first_row_of[path])
            detail = f"listed again ({where}); the first entry, {first}"
            if label_of[path] != label:
                detail += f" with label {label_of[path]!r} instead of {label!r},"
            problems.append((i, ImageProblem(path, "duplicate", detail + " is kept")))
            continue
        first_row_of[path] = i
        label_of[path] = label
        mask = ""
        if raw_mask:
            mask = relative_to_root(raw_mask, base) or ""
            if not mask:
                detail = f"mask of {path} leads outside the dataset folder ({where})"
                problems.append((i, ImageProblem(raw_mask, "outside_root", detail)))
        entries.add(i, path, label, splits[i], mask)
    return entries, problems


def check_entries(
    entries: Entries,
    base: DatasetRoot,
    problems: list[tuple[int, ImageProblem]],
    manifest: Manifest | None,
    *,
    source: str,
    seed: int,
    fractions: Sequence[float],
    decode_check: bool,
    cancel: CancelToken,
) -> Job[CheckedTable]:
    """Check the files, keep the good ones, draw missing splits, build the table.

    ``problems`` holds (position, problem) pairs found so far; ``source`` names the folder or
    manifest in the error raised when no image is usable."""
    checks = yield from check_files(entries.paths, base, decode=decode_check, cancel=cancel)
    good = []
    for k, check in enumerate(checks):
        if check.ok:
            good.append(k)
        else:
            problem = ImageProblem(entries.paths[k], check.problem, check.detail)
            problems.append((entries.positions[k], problem))
    masks = yield from _checked_masks(entries, good, checks, base, decode_check, problems, cancel)
    problems.sort(key=lambda item: item[0])
    found = [p for _, p in problems]
    if not good:
        raise DatasetError(_nothing_usable(source, found))
    paths = [entries.paths[k] for k in good]
    labels = [entries.labels[k] for k in good]
    splits = assign_splits(
        labels, paths, [entries.splits[k] for k in good], seed=seed, fractions=fractions
    )
    data: dict[str, Any] = {
        "path": paths,
        "label": labels,
        "split": splits,
        "mask": masks,
        "size": np.array([checks[k].size for k in good], dtype=np.int64),
        "mtime_ns": np.array([checks[k].mtime_ns for k in good], dtype=np.int64),
    }
    attributes: list[str] = []
    if manifest is not None:
        attributes = list(manifest.attributes)
        rows = [entries.positions[k] for k in good]
        ordered = attributes + [c for c in manifest.extra_columns if c not in attributes]
        for name in ordered:
            column = manifest.rows[name].tolist()
            data[name] = [column[r] for r in rows]
    return CheckedTable(pd.DataFrame(data), natural_sorted(set(labels)), attributes, found)


def _checked_masks(
    entries: Entries,
    good: list[int],
    image_checks: list[FileCheck],
    base: DatasetRoot,
    decode_check: bool,
    problems: list[tuple[int, ImageProblem]],
    cancel: CancelToken,
) -> Job[list[str]]:
    """The mask path of each good image, "" where it has none or its mask is unusable: a file
    that cannot be read (reported once, for the first image using it) or a mask whose size is
    not its image's size (reported per image: a stretched mask would cut the object wrongly).

    A bad mask is reported but keeps its image: the mask only matters for background swaps."""
    masks = [entries.masks[k] for k in good]
    unique = list(dict.fromkeys(mask for mask in masks if mask))
    if not unique:
        return masks
    checks = yield from check_files(unique, base, decode=decode_check, cancel=cancel, what="masks")
    mask_checks = dict(zip(unique, checks, strict=True))
    reported: set[str] = set()
    kept = []
    for k, mask in zip(good, masks, strict=True):
        check = mask_checks.get(mask)
        problem = None
        if check is None:
            pass
        elif not check.ok:
            if mask not in reported:
                reported.add(mask)
                problem = ImageProblem(
                    mask, check.problem, f"mask of {entries.paths[k]}: {check.detail}"
                )
        elif (check.width, check.height) != (image_checks[k].width, image_checks[k].height):
            problem = _mask_size_problem(mask, entries.paths[k], check, image_checks[k])
        if problem is not None:
            problems.append((entries.positions[k], problem))
        kept.append(mask if check is not None and check.ok and problem is None else "")
    return kept


def _mask_size_problem(mask: str, image: str, check: FileCheck, of: FileCheck) -> ImageProblem:
    detail = (
        f"mask of {image} is {check.width}x{check.height} pixels but the image is "
        f"{of.width}x{of.height}; the image is kept without a mask"
    )
    return ImageProblem(mask, "mask_size", detail)


def unknown_label(path: str, label: str, where: str) -> ImageProblem:
    return ImageProblem(
        path, "unknown_label", f"label {label!r} is not one of the expected classes{where}"
    )


def _nothing_usable(source: str, problems: list[ImageProblem]) -> str:
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem.problem] = counts.get(problem.problem, 0) + 1
    listed = ", ".join(
        f"{n} {PROBLEM_KINDS.get(kind, kind)}"
        for kind, n in sorted(counts.items(), key=lambda kv: -kv[1])
    )
    return f"No usable image in {source}: {len(problems)} files could not be used ({listed})."
