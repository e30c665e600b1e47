"""What core.annotate keeps in a confounder row, and the computed value arrays beside it.

A confounder is one row of ``confounders`` (owned by core.store.confounders): ``params`` holds
the user's parameters plus two private keys, ``_values`` (the value names) and ``_array`` (for
concept-derived confounders, the file under ``confounders/`` with each image's computed value).
Arrays are content-addressed and never overwritten, so a history entry that restores an old row
restores its values too. Every change and its history entry are written in one transaction.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import numpy as np

from debias_studio.core.annotate.model import Confounder
from debias_studio.core.errors import StudioError
from debias_studio.core.store import confounders as confounder_store

ARRAY_FOLDER = "confounders"
PRIVATE = ("_values", "_array")


def require_row(project: Any, name: str) -> dict[str, Any]:
    row = confounder_store.read_row(project, name)
    if row is None:
        raise StudioError(f"There is no confounder named '{name}' in this project.")
    return row


def to_confounder(row: dict[str, Any]) -> Confounder:
    params = {k: v for k, v in row["params"].items() if k not in PRIVATE}
    return Confounder(
        row["name"], row["kind"], row["source"], params, list(row["params"]["_values"])
    )


def save_array(project: Any, values: np.ndarray) -> str:
    """Store an int16 value array under a name derived from its content; returns the name."""
    data = np.ascontiguousarray(values, dtype=np.int16)
    buffer = io.BytesIO()
    np.save(buffer, data, allow_pickle=False)
    blob = buffer.getvalue()
    name = hashlib.sha256(blob).hexdigest()[:32] + ".npy"
    folder = Path(project.folder) / ARRAY_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if not path.is_file():
        tmp = path.with_name(name + ".tmp")
        tmp.write_bytes(blob)
        tmp.replace(path)
    return name


def load_array(project: Any, name: str, n: int) -> np.ndarray:
    path = Path(project.folder) / ARRAY_FOLDER / name
    try:
        values = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise StudioError(f"The stored values of a confounder are missing ({path}).") from exc
    if values.shape != (n,):
        raise StudioError("The stored values of a confounder do not match the dataset.")
    return values.astype(np.int64)
