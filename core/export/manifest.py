"""The manifest of the cleaned dataset, as CSV and as Parquet.

Every image is listed - excluded ones too, flagged with their reason, so nothing the user decided
is lost - with paths relative to the dataset root (``export.json`` names that root). It opens as a
new project with ``core.data.dataset.open_manifest(path, root=<dataset root>)``: the confounder
columns come back as attributes, and ``group``/``bias`` as plain columns.
"""

from __future__ import annotations

import pandas as pd

from debias_studio.core.data.csv_cells import neutralise_frame
from debias_studio.core.export.atomic import ExportTarget

CSV_NAME = "manifest.csv"
PARQUET_NAME = "manifest.parquet"


def write_table(
    target: ExportTarget,
    table: pd.DataFrame,
    stem: str,
    *,
    parquet: bool = True,
) -> list[str]:
    """Write ``table`` as ``<stem>.csv`` (and ``<stem>.parquet``); returns the relative paths."""
    written = []
    csv_path = target.path(f"{stem}.csv")
    write_csv(table, csv_path)
    target.written(csv_path)
    written.append(f"{stem}.csv")
    if parquet:
        parquet_path = target.path(f"{stem}.parquet")
        _for_parquet(table).to_parquet(parquet_path, index=False)
        target.written(parquet_path)
        written.append(f"{stem}.parquet")
    return written


def write_manifest(target: ExportTarget, table: pd.DataFrame) -> list[str]:
    return write_table(target, table, "manifest")


def write_csv(table: pd.DataFrame, path: object) -> None:
    """The one CSV writer of every export: text cells neutralised against spreadsheet formulas
    (core.data.csv_cells; reading the manifest back restores them exactly)."""
    neutralise_frame(table).to_csv(path, index=False)


def _for_parquet(table: pd.DataFrame) -> pd.DataFrame:
    """Text columns as strings: Parquet needs one type per column, and a manifest's cells are
    text (a label ``0`` stays the class "0")."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(lambda v: "" if v is None else str(v)).astype(str)
    return out
