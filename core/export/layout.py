"""The cleaned dataset as an ImageFolder tree: ``imagefolder/<split>/<class>/<file>``.

Kept images go to their split's class folder; images the user excluded go to
``imagefolder/excluded/<class>/`` (outside the split folders, so torchvision's ImageFolder and
Hugging Face's imagefolder never take them for training data) so that the manifests can list them
with their reason and a re-opened export reproduces the exclusions. Masks, when the dataset has
them, go to ``imagefolder/masks/``.

How a file is placed is the user's choice: ``auto`` (the default) hard-links where the file system
allows and copies otherwise, so the export stands on its own and costs no space on the same disk;
``copy`` always copies; ``hardlink`` refuses to copy; ``symlink`` links to the source (the export
then depends on the dataset staying where it is, and every link is checked before the export is
committed). ``imagefolder/manifest.csv`` lists every image with paths relative to ``imagefolder/``.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pandas as pd

from debias_studio.core.data.access import DatasetPath, place_dataset_file
from debias_studio.core.data.problems import ImageReadError
from debias_studio.core.data.rootpaths import DatasetRoot
from debias_studio.core.errors import StudioError
from debias_studio.core.export.atomic import ExportTarget
from debias_studio.core.export.options import LINK_MODES
from debias_studio.core.jobs import CancelToken, Job, Progress

SELF_CONTAINED_MODES = ("auto", "copy", "hardlink")
EXCLUDED_FOLDER = "excluded"
FOLDER = "imagefolder"
PROGRESS_EVERY = 2000
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


@dataclass
class Placement:
    """One file to put into the export: the dataset file and its path relative to the export
    root. The source is a ``DatasetPath`` so that placing it passes the containment check."""

    source: DatasetPath
    relative: str


def check_mode(mode: str) -> str:
    if mode not in LINK_MODES:
        raise StudioError(f"Unknown link mode '{mode}'; choose one of {', '.join(LINK_MODES)}.")
    return mode


def safe_folder_name(name: str) -> str:
    """A class or split name usable as one folder name on every system."""
    cleaned = _UNSAFE.sub("_", str(name)).strip().rstrip(".")
    return cleaned if cleaned not in ("", ".", "..") else "_"


def unique_names(folders: Sequence[str], paths: Sequence[str], ids: Sequence[int]) -> list[str]:
    """File name of each image inside its folder: its own name, or ``stem-<id>`` where two
    images of one folder share a stem (a flattened tree can have ``x/1.png`` and ``y/1.png``;
    stems, not names, so that masks named ``<stem>.png`` cannot clash either)."""
    names = [p.rsplit("/", 1)[-1] for p in paths]
    stems = [os.path.splitext(n)[0].lower() for n in names]
    frame = pd.DataFrame({"folder": list(folders), "name": stems})
    clash = frame.duplicated(subset=["folder", "name"], keep=False).to_numpy()
    out = []
    for name, image_id, clashes in zip(names, ids, clash, strict=True):
        if clashes:
            stem, suffix = os.path.splitext(name)
            name = f"{stem}-{image_id}{suffix}"
        out.append(name)
    return out


def imagefolder_plan(
    table: pd.DataFrame, root: Path, folder: str = FOLDER
) -> tuple[list[Placement], pd.DataFrame]:
    """Which files go where, and the tree's own manifest (every row, paths relative to it;
    excluded images in ``excluded/<class>/``)."""
    kept = table.reset_index(drop=True)
    class_dirs = _folder_names(kept["label"].astype(str))
    excluded = kept["excluded"].to_numpy(bool)
    split_dirs = [
        EXCLUDED_FOLDER if out else safe_folder_name(split)
        for split, out in zip(kept["split"].astype(str), excluded, strict=True)
    ]
    folders = [f"{s}/{c}" for s, c in zip(split_dirs, class_dirs, strict=True)]
    names = unique_names(folders, kept["path"].astype(str).tolist(), kept["image_id"].tolist())
    relative = [f"{f}/{n}" for f, n in zip(folders, names, strict=True)]
    base = DatasetRoot.of(Path(root))
    placements = [
        Placement(DatasetPath(base, str(src)), f"{folder}/{rel}")
        for src, rel in zip(kept["path"], relative, strict=True)
    ]
    manifest = kept.copy()
    manifest["source_path"] = manifest["path"]
    manifest["path"] = relative
    if "mask" in manifest.columns:
        has_mask = manifest["mask"].astype(str) != ""
        mask_rel = [f"masks/{r}" if m else "" for r, m in zip(relative, has_mask, strict=True)]
        mask_rel = [
            _with_suffix(r, str(m)) for r, m in zip(mask_rel, manifest["mask"], strict=True)
        ]
        placements += [
            Placement(DatasetPath(base, str(src)), f"{folder}/{rel}")
            for src, rel in zip(manifest["mask"], mask_rel, strict=True)
            if rel
        ]
        manifest["mask"] = mask_rel
    return placements, manifest


def place_files(
    target: ExportTarget,
    placements: Sequence[Placement],
    mode: str,
    cancel: CancelToken,
    what: str = "images",
) -> Job[int]:
    """Copy or link every placement into the staging folder; returns how many."""
    check_mode(mode)
    total = len(placements)
    for parent in sorted({p.relative.rsplit("/", 1)[0] for p in placements if "/" in p.relative}):
        (target.staging / parent).mkdir(parents=True, exist_ok=True)
    staging = str(target.staging)
    yield Progress(0, total, f"placing {total} {what} ({mode})")
    for i, placement in enumerate(placements):
        if i % PROGRESS_EVERY == 0 and i:
            cancel.raise_if_cancelled()
            yield Progress(i, total, f"placed {i}/{total} {what}")
        dest = os.path.join(staging, placement.relative)
        if place_file(placement.source, dest, mode) == "copy":
            target.written(Path(dest))
    if mode == "symlink":
        check_links(staging, placements)
    yield Progress(total, total, f"placed {total} {what}")
    return total


def check_links(staging: str, placements: Sequence[Placement]) -> None:
    """Every symbolic link of the export leads to a readable file (checked before commit)."""
    broken = [
        p.relative for p in placements if not os.path.isfile(os.path.join(staging, p.relative))
    ]
    if broken:
        raise StudioError(
            f"{len(broken)} exported link(s) lead nowhere (first: {broken[0]}); the dataset "
            "moved or changed while exporting. Nothing was exported."
        )


def place_file(source: DatasetPath, dest: str | Path, mode: str) -> str:
    """Put the dataset file ``source`` at ``dest`` as a copy, hard link or symbolic link
    (``auto``: a hard link where the file system allows, else a copy) through the dataset's one
    door (``core.data.access``): a file that has gone, or that now leads out of the dataset
    folder, stops the export with a sentence naming it. Returns how it was placed."""
    if mode == "auto":
        try:
            place_file(source, dest, "hardlink")
            return "hardlink"
        except _NoHardLink:
            place_file(source, dest, "copy")
            return "copy"
    try:
        place_dataset_file(source, dest, mode)
    except ImageReadError as exc:
        if exc.problem == "missing":
            raise StudioError(
                f"The image {source} has gone missing since the project opened."
            ) from exc
        raise StudioError(
            f"Cannot export {source.relative!r} of the dataset {source.root.given}: {exc.detail}; "
            "nothing was exported (exclude that image, or open the dataset again)."
        ) from exc
    except OSError as exc:
        if mode == "hardlink" and exc.errno in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise _NoHardLink(
                "Hard links need the export folder on the same disk as the images; "
                "choose copy or symlink."
            ) from exc
        if mode == "symlink" and exc.errno in (errno.EPERM, errno.EACCES):
            raise StudioError(
                "This system does not allow symbolic links here; choose copy or hardlink."
            ) from exc
        raise
    return mode


class _NoHardLink(StudioError):
    """The file system refused a hard link (another disk, no support, too many links)."""


def _folder_names(labels: pd.Series) -> list[str]:
    """One distinct folder per class, even where two class names clean up alike."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for label in pd.unique(labels):
        name = safe_folder_name(label)
        candidate, k = name, 2
        while candidate.lower() in used:
            candidate, k = f"{name}_{k}", k + 1
        used.add(candidate.lower())
        mapping[label] = candidate
    return [mapping[x] for x in labels]


def _with_suffix(relative: str, mask: str) -> str:
    """The mask keeps its own file type next to the image's name."""
    if not relative:
        return ""
    return str(PurePosixPath(relative).with_suffix(PurePosixPath(mask).suffix or ".png"))
