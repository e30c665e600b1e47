"""The kept images as a Hugging Face ``datasets`` imagefolder: ``huggingface/<split>/<class>/``.

Each split folder (``train``, ``validation``, ``test``: the names ``datasets`` maps to its splits)
holds ``metadata.jsonl`` whose ``file_name`` is relative to that folder, as
``load_dataset("imagefolder", data_dir=OUT/huggingface)`` expects; the other columns (label,
confounders, group, bias, prediction, ...) become the dataset's features. One metadata file per
folder, JSON Lines only: ``datasets`` refuses a folder holding both ``metadata.csv`` and
``metadata.jsonl`` ("metadata files with different extensions"), and JSON keeps the exact text
and types (a class ``0`` stays the string "0"; a CSV cell would be neutralised against formulas
and read back as a number). The export's ``manifest.csv`` is the CSV view of the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from debias_studio.core.export.layout import Placement, imagefolder_plan

FOLDER = "huggingface"
SPLIT_FOLDERS = {"train": "train", "val": "validation", "test": "test"}
DROPPED = ("mask", "excluded", "excluded_reason", "path")


def hf_plan(table: pd.DataFrame, root: Path) -> tuple[list[Placement], pd.DataFrame]:
    """The kept images' placements and one metadata table (``file_name`` relative to the split
    folder, ``split_folder`` naming it)."""
    kept = table.loc[~table["excluded"].to_numpy(bool)].copy()
    kept["split"] = kept["split"].astype(str).map(lambda s: SPLIT_FOLDERS.get(s, s))
    if "mask" in kept.columns:
        kept = kept.drop(columns=["mask"])
    placements, tree = imagefolder_plan(kept, root, FOLDER)
    parts = tree["path"].astype(str).str.split("/", n=1)
    metadata = tree.drop(columns=[c for c in DROPPED if c in tree.columns])
    metadata.insert(0, "file_name", [p[1] for p in parts])
    metadata["split_folder"] = [p[0] for p in parts]
    return placements, metadata


def hf_tables(metadata: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """(``huggingface/<split>/metadata``, that split's rows) for each split folder."""
    for folder, rows in metadata.groupby("split_folder", sort=True):
        yield (
            f"{FOLDER}/{folder}/metadata",
            rows.drop(columns=["split_folder"]).reset_index(drop=True),
        )


def as_jsonl(rows: pd.DataFrame) -> str:
    """``rows`` as JSON Lines (one object per image, the exact text of every cell)."""
    lines = [json.dumps(record, ensure_ascii=False) for record in rows.to_dict("records")]
    return "\n".join(lines) + "\n"
