"""A copy of the digits demo with planted problems, for the cleaning finders' done-when test.

``planted_digits`` writes the digits demo, then flips the label of ``flips`` training images to
another class and adds ``duplicates`` near-copies of existing images (one pixel row shifted and a
faint brightness change, saved under new names, some in another split), and returns the project
with the truth: the flipped image ids and the (original, copy) id pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from debias_studio.core.data.dataset import open_manifest
from debias_studio.core.demo.project import create_demo_data
from debias_studio.core.jobs import run_quiet
from debias_studio.core.store.project import Project


@dataclass
class Planted:
    project: Project
    flipped: list[int]
    duplicates: list[tuple[int, int]]


def planted_digits(
    folder: Path, *, per_class: int = 60, flips: int = 30, duplicates: int = 20, seed: int = 0
) -> Planted:
    manifest = run_quiet(create_demo_data(folder, "digits", seed=seed, per_class=per_class))
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(seed)
    originals = rng.choice(len(table), duplicates, replace=False)
    copies = [_near_copy(manifest.parent, table.iloc[i], k, rng) for k, i in enumerate(originals)]
    table = pd.concat([table, pd.DataFrame(copies)], ignore_index=True)
    train = np.flatnonzero((table["split"] == "train").to_numpy()[: -duplicates or None])
    candidates = np.setdiff1d(train, originals)
    flipped = np.sort(rng.choice(candidates, flips, replace=False))
    classes = sorted(table["label"].unique())
    for i in flipped:
        others = [c for c in classes if c != table.at[i, "label"]]
        table.at[i, "label"] = others[int(rng.integers(len(others)))]
    table.to_csv(manifest, index=False)
    project = Project.create(folder / "project", run_quiet(open_manifest(manifest, seed=seed)))
    ids = _ids_by_path(project)
    pairs = [
        (ids[table.at[int(i), "path"]], ids[copy["path"]])
        for i, copy in zip(originals, copies, strict=True)
    ]
    return Planted(project, [ids[table.at[int(i), "path"]] for i in flipped], pairs)


def _near_copy(root: Path, row: pd.Series, k: int, rng: np.random.Generator) -> dict[str, str]:
    """A near-duplicate file of ``row``'s image; a third of them land in another split."""
    pixels = np.asarray(Image.open(root / row["path"]).convert("RGB"), dtype=np.float32)
    pixels = np.roll(pixels, 1, axis=0) * (1.0 + rng.uniform(-0.03, 0.03))
    path = f"copies/{k:03d}.png"
    (root / "copies").mkdir(exist_ok=True)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(root / path)
    copy = dict(row)
    copy["path"] = path
    copy["mask"] = ""
    if k % 3 == 0:
        copy["split"] = "test" if row["split"] == "train" else "train"
    return copy


def _ids_by_path(project: Project) -> dict[str, int]:
    paths = project.dataset.table["path"].astype(str)
    return {p: i for i, p in enumerate(paths)}
