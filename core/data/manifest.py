"""Reading a CSV or Parquet manifest into our column names, with every cell as text.

Manifests come from many tools, so the columns we need are found under common aliases
(Waterbirds' ``img_filename`` and ``y`` among them). Everything is read as text: a label ``0`` must
stay the class "0" and not become the number 0.0 after a missing value turns the column to float.
Columns we do not use as path/label/split/mask are kept; the ones that look like categories
(few distinct values, not an id or a file name) are the dataset's attributes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from debias_studio.core.data.csv_cells import restore_frame
from debias_studio.core.data.manifest_text import read_csv_text, unique_names
from debias_studio.core.errors import DatasetError

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "path": (
        "path",
        "filepath",
        "file_path",
        "file",
        "filename",
        "file_name",
        "image",
        "image_path",
        "img_path",
        "img_filename",
        "image_filename",
        "img",
    ),
    "label": ("label", "class", "target", "y", "class_name", "category"),
    "split": ("split", "subset", "partition"),
    "mask": ("mask", "mask_path", "mask_file", "mask_filename"),
}
"""Our column -> the manifest column names we accept for it, in order of preference
(compared case-insensitively)."""

REQUIRED = ("path", "label")
RESERVED = ("path", "label", "split", "mask", "size", "mtime_ns")
"""Names of the dataset table's own columns; a manifest column of the same name is renamed."""

MAX_ATTRIBUTE_VALUES = 64
"""A kept column with more distinct values than this is data, not a category to group by."""

_NOT_ATTRIBUTE = re.compile(
    r"^(unnamed: ?\d+|index|id|.+_id|(.+_)?(file|filename|file_name|filepath|file_path|path))$",
    re.IGNORECASE,
)
"""Ids, row numbers and file names: kept in the table but never offered as attributes."""

MANIFEST_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")
EXPORTED_DATASET_FILE = "debias-studio-dataset.json"
"""Written by our exports next to each manifest: which columns are confounders and exclusions.
A folder holding it and ``manifest.csv`` opens through that manifest (core.data.dataset)."""


MISSING_SPELLINGS = frozenset(
    {"nan", "-nan", "+nan", "<na>", "nat", "null", "#n/a", "#n/a n/a", "#na", "n/a"}
    | {"-1.#ind", "1.#ind", "-1.#qnan", "1.#qnan"}
)
"""How tools write a missing value (compared case-insensitively): a label spelled so is a
missing label, not a class. "NA" and "None" are not among them: both are real class names
(no finding, not applicable) in datasets we know."""


@dataclass
class Manifest:
    """A manifest's rows with our column names (path, label, split, mask, then the others)."""

    source: Path
    rows: pd.DataFrame  # every cell a str; "" where empty
    attributes: list[str]
    extra_columns: list[str]  # every kept column, attributes included, in manifest order
    first_row: int  # the number a user sees for rows[0] (2 in a CSV: line 1 is the header)
    bad_rows: dict[int, tuple[str, str]] = field(default_factory=dict)
    """Row -> (problem kind, detail): a line that could not be read, or a path, label or mask
    cell that is not one usable value (a list, a NUL byte, a label spelled as missing)."""

    def where(self, index: int) -> str:
        return f"{self.source.name} row {index + self.first_row}"


def is_manifest_file(path: Path) -> bool:
    return path.suffix.lower() in MANIFEST_SUFFIXES


def read_manifest(path: Path) -> Manifest:
    """Read and rename; raise ``DatasetError`` for a file we cannot use at all."""
    if not path.exists():
        raise DatasetError(f"The manifest {path} does not exist.")
    if not path.is_file():
        raise DatasetError(f"The manifest {path} is not a file.")
    suffix = path.suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise DatasetError(
            f"The manifest {path.name} is not a CSV or Parquet file "
            f"(expected {', '.join(MANIFEST_SUFFIXES)})."
        )
    frame, bad_rows = _read_table(path, suffix)
    if suffix in (".csv", ".tsv"):
        frame = restore_frame(frame)  # cells our exports quoted against spreadsheet formulas
    frame.columns = unique_names([str(c) for c in frame.columns])
    chosen = _choose_columns(list(frame.columns), path)
    rows = pd.DataFrame(index=range(len(frame)))
    for ours in ("path", "label", "split", "mask"):
        column = chosen.get(ours)
        if column is None:
            rows[ours] = [""] * len(frame)
            continue
        rows[ours] = _as_text(frame[column])
        if ours != "split":
            for i, why in _odd_cells(frame[column], ours).items():
                bad_rows.setdefault(i, why)
    extras: list[str] = []
    attributes: list[str] = []
    for column in frame.columns:
        if column in chosen.values():
            continue
        name = column if column not in RESERVED else f"manifest_{column}"
        values = _as_text(frame[column])
        rows[name] = values
        extras.append(name)
        if _looks_like_attribute(name, values):
            attributes.append(name)
    first_row = 2 if suffix in (".csv", ".tsv") else 1
    return Manifest(path, rows, attributes, extras, first_row, dict(sorted(bad_rows.items())))


def _read_table(path: Path, suffix: str) -> tuple[pd.DataFrame, dict[int, tuple[str, str]]]:
    if suffix in (".csv", ".tsv"):
        table = read_csv_text(path, tabs=suffix == ".tsv")
        return table.frame, {i: ("bad_row", why) for i, why in table.bad_rows.items()}
    try:
        return pd.read_parquet(path), {}
    except Exception as exc:  # pyarrow raises its own kinds for every sort of damage
        text = str(exc).strip()
        first_line = text.splitlines()[0] if text else type(exc).__name__
        raise DatasetError(f"Cannot read the manifest {path.name}: {first_line}.") from exc


def _choose_columns(columns: list[str], path: Path) -> dict[str, str]:
    """Our column name -> the manifest column that holds it."""
    by_lower: dict[str, str] = {}
    for column in columns:
        by_lower.setdefault(column.casefold(), column)
    chosen: dict[str, str] = {}
    for ours, aliases in COLUMN_ALIASES.items():
        exact = [a for a in aliases if a in columns]
        folded = [by_lower[a] for a in aliases if a in by_lower]
        if exact or folded:
            chosen[ours] = (exact or folded)[0]
    for ours in REQUIRED:
        if ours not in chosen:
            aliases = COLUMN_ALIASES[ours][1:]
            others = ", ".join(aliases[:5]) + (", ..." if len(aliases) > 5 else "")
            found = ", ".join(columns) if columns else "no columns"
            raise DatasetError(
                f"Manifest {path.name} has no '{ours}' column (nor {others}); found: {found}."
            )
    return chosen


def _as_text(column: pd.Series) -> list[str]:
    """Cells as stripped text, "" for missing; whole floats lose their ".0" (Parquet stores an
    integer column with gaps as float)."""
    if pd.api.types.is_float_dtype(column.dtype):
        return [_float_text(v) for v in column.tolist()]
    return [_cell_text(v) for v in column.tolist()]


def _float_text(value: float) -> str:
    if value is None or math.isnan(value):
        return ""
    return str(int(value)) if value.is_integer() else repr(value)


def _cell_text(value: object) -> str:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if _is_list(value) and len(value) == 1:  # type: ignore[arg-type]
        return _cell_text(next(iter(value)))  # type: ignore[call-overload]  # Parquet's [x]
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").strip()
    return str(value).strip()


def _odd_cells(column: pd.Series, ours: str) -> dict[int, tuple[str, str]]:
    """Rows whose ``ours`` cell (path, label or mask) is not one usable value."""
    kind = "bad_label" if ours == "label" else "bad_row"
    odd: dict[int, tuple[str, str]] = {}
    for i, value in enumerate(column.tolist()):
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if isinstance(value, str):
            if "\x00" in value:
                odd[i] = (kind, f"its {ours} holds a NUL byte")
            elif ours == "label" and value.strip().casefold() in MISSING_SPELLINGS:
                odd[i] = (kind, f"its label {value.strip()!r} is how a missing value is written")
        elif _is_list(value) and len(value) != 1:
            shown = _short(repr(value.tolist() if hasattr(value, "tolist") else value))
            odd[i] = (kind, f"its {ours} is a list ({shown}); one {ours} per image is expected")
        elif value is not None and not _is_list(value) and not pd.api.types.is_scalar(value):
            odd[i] = (kind, f"its {ours} is a {type(value).__name__}, not one value")
    return odd


def _is_list(value: object) -> bool:
    """A list-like cell (Parquet list columns arrive as numpy arrays)."""
    return isinstance(value, (list, tuple, np.ndarray))


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _looks_like_attribute(name: str, values: list[str]) -> bool:
    if _NOT_ATTRIBUTE.match(name):
        return False
    distinct = {v for v in values if v}
    return 0 < len(distinct) <= MAX_ATTRIBUTE_VALUES
