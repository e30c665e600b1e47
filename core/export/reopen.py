"""A re-opened export gets back what the manifest's columns cannot say by themselves.

``debias-studio new --manifest OUT/manifest.csv`` (or ``--images OUT/imagefolder``) reads the
images, final labels and splits from the manifest; ``adopt_export`` then reads the description our
export wrote beside it (``EXPORTED_DATASET_FILE``) and turns its confounder columns back into
confounders (so the groups are the same) and its ``excluded`` rows back into exclusions with their
reasons. A dataset that is not one of our exports is left as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from debias_studio.core.annotate.confounders import add_confounder
from debias_studio.core.data.manifest import EXPORTED_DATASET_FILE
from debias_studio.core.store.exclusions import exclude
from debias_studio.core.store.project import Project

FALLBACK_REASON = "excluded in the export"


def export_description(project: Project) -> dict[str, Any] | None:
    """The description next to the manifest this project was opened from, or None."""
    spec = project.dataset.spec
    if spec is None or spec.kind != "manifest":
        return None
    path = Path(spec.source).parent / EXPORTED_DATASET_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != "debias-studio-dataset":
        return None
    return data


def adopt_export(project: Project) -> dict[str, Any]:
    """Re-create the exported confounders and exclusions; what was adopted."""
    description = export_description(project)
    if description is None:
        return {"confounders": [], "excluded": 0}
    table = project.dataset.table
    made = []
    for entry in description.get("confounders") or []:
        name, column = str(entry.get("name", "")), str(entry.get("column", ""))
        if name and column in table.columns:
            add_confounder(project, name, column=column, kind=entry.get("kind") or None)
            made.append(name)
    excluded = _excluded_by_reason(table, description)
    for reason, ids in excluded.items():
        exclude(project, ids, reason)
    return {"confounders": made, "excluded": sum(len(ids) for ids in excluded.values())}


def _excluded_by_reason(table: Any, description: dict[str, Any]) -> dict[str, list[int]]:
    flag = str(description.get("excluded_column") or "excluded")
    why = str(description.get("reason_column") or "excluded_reason")
    if flag not in table.columns:
        return {}
    flags = table[flag].astype(str).str.strip().str.lower().isin(["true", "1"]).to_numpy()
    reasons = table[why].astype(str).tolist() if why in table.columns else [""] * len(table)
    out: dict[str, list[int]] = {}
    for image_id in flags.nonzero()[0].tolist():
        out.setdefault(reasons[image_id].strip() or FALLBACK_REASON, []).append(image_id)
    return out
