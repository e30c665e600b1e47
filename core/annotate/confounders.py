"""Creating, listing, re-kinding and removing confounders (ALGORITHMS.md section 2).

A confounder comes from a concept with a threshold on its standardised score (present/absent),
an arg-max over a set of concepts, a metadata column, or nothing (manual labels). Values are
computed before anything is written, so a bad request changes nothing; creating a confounder
with an existing name replaces it (that is how a threshold is changed) and keeps its per-image
overrides. Every change is one transaction with its history entry (see ``history.undo``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from debias_studio.core.annotate import storage
from debias_studio.core.annotate.kinds import check_kind, kind_of_column, kind_of_concepts
from debias_studio.core.annotate.model import Confounder
from debias_studio.core.errors import StudioError
from debias_studio.core.store import confounders as confounder_store
from debias_studio.core.store import history as history_store

DEFAULT_THRESHOLD = 1.0
"""Present when the concept's score is at least one standard deviation above its mean."""
RESERVED_COLUMNS = ("path", "label", "split", "mask", "size", "mtime_ns")


def add_confounder(
    project: Any,
    name: str,
    *,
    concept: str | None = None,
    threshold: float | None = None,
    concepts: list[str] | str | None = None,
    column: str | None = None,
    manual: bool = False,
    kind: str | None = None,
    model_name: str = "demo",
) -> Confounder:
    """Create (or replace) the confounder ``name`` from exactly one source."""
    name = " ".join(str(name or "").split())
    if not name:
        raise StudioError("A confounder needs a name.")
    chosen = [
        s
        for s, given in (
            ("concept", concept is not None),
            ("concepts", concepts is not None),
            ("column", column is not None),
            ("manual", manual),
        )
        if given
    ]
    if len(chosen) != 1:
        raise StudioError(
            "Give exactly one source for a confounder: a concept, a set of concepts, a column, "
            "or manual labelling."
        )
    if threshold is not None and concept is None:
        raise StudioError("A threshold applies only to a confounder made from one concept.")
    kind = check_kind(kind) if kind is not None else None
    source = chosen[0]
    if source == "concept":
        params, inferred = _from_concept(project, str(concept), threshold, model_name)
    elif source == "concepts":
        params, inferred = _from_concepts(project, concepts, model_name)  # type: ignore[arg-type]
    elif source == "column":
        params, inferred = _from_column(project, str(column))
    else:
        params, inferred = {"_values": []}, "other"
    return _write(project, name, kind or inferred, source, params)


def list_confounders(project: Any) -> list[Confounder]:
    return [storage.to_confounder(row) for row in confounder_store.read_rows(project)]


def get_confounder(project: Any, name: str) -> Confounder:
    return storage.to_confounder(storage.require_row(project, name))


def set_kind(project: Any, name: str, kind: str) -> Confounder:
    """Change a confounder's kind (which counterfactual generator training uses)."""
    kind = check_kind(kind)
    row = storage.require_row(project, name)
    with project.transaction():
        history_store.record(project, "set_kind", {"name": name, "previous": row["kind"]})
        confounder_store.write_row(project, {**row, "kind": kind})
    return get_confounder(project, name)


def remove_confounder(project: Any, name: str) -> None:
    row = storage.require_row(project, name)
    overrides = confounder_store.overrides_of(project, name)
    with project.transaction():
        history_store.record(project, "remove_confounder", {"row": row, "overrides": overrides})
        confounder_store.delete(project, name)


# ---- sources ----------------------------------------------------------------------------------
def _from_concept(
    project: Any, concept: str, threshold: float | None, model_name: str
) -> tuple[dict[str, Any], str]:
    from debias_studio.core.concepts.project import concept_scores, project_bank

    concept = " ".join(concept.split())
    if not concept:
        raise StudioError("Name the concept the confounder comes from.")
    threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
    if not np.isfinite(threshold):
        raise StudioError("The threshold must be a number.")
    scores = concept_scores(project, concept, model_name)
    values = np.where(np.isnan(scores), -1, (scores >= threshold).astype(np.int64))
    params = {
        "concept": concept,
        "threshold": threshold,
        "model": model_name,
        "_values": [f"no {concept}", concept],
        "_array": storage.save_array(project, values),
    }
    return params, kind_of_concepts([concept], project_bank(project))


def _from_concepts(
    project: Any, concepts: list[str] | str, model_name: str
) -> tuple[dict[str, Any], str]:
    from debias_studio.core.concepts.project import project_bank, several_concept_scores

    if isinstance(concepts, str):
        concepts = concepts.split(",")
    names = list(dict.fromkeys(" ".join(c.split()) for c in concepts if c and c.strip()))
    if len(names) < 2:
        raise StudioError("An arg-max confounder needs at least two different concepts.")
    scores = several_concept_scores(project, names, model_name)
    unknown = np.isnan(scores).any(axis=1)
    values = np.where(unknown, -1, np.argmax(np.nan_to_num(scores, nan=-np.inf), axis=1))
    params = {
        "concepts": names,
        "model": model_name,
        "_values": names,
        "_array": storage.save_array(project, values),
    }
    return params, kind_of_concepts(names, project_bank(project))


def _from_column(project: Any, column: str) -> tuple[dict[str, Any], str]:
    from debias_studio.core.concepts.project import project_bank

    table = project.dataset.table
    if column not in table.columns or column in RESERVED_COLUMNS:
        available = [c for c in table.columns if c not in RESERVED_COLUMNS]
        hint = f" (columns: {', '.join(map(str, available))})" if available else ""
        raise StudioError(f"The dataset has no attribute column '{column}'{hint}.")
    values = column_values(table[column])
    if not values:
        raise StudioError(f"The column '{column}' holds no values.")
    return {"column": column, "_values": values}, kind_of_column(
        column, values, project_bank(project)
    )


def column_values(series: Any) -> list[str]:
    """The distinct non-empty values of a column as text, sorted."""
    text = series.astype("string").fillna("")
    return sorted(v for v in text.unique().tolist() if v)


# ---- writing ----------------------------------------------------------------------------------
def _write(project: Any, name: str, kind: str, source: str, params: dict[str, Any]) -> Confounder:
    previous = confounder_store.read_row(project, name)
    kept = (
        {value for _i, value in confounder_store.overrides_of(project, name)} if previous else set()
    )
    extra = sorted(kept.difference(params["_values"]))
    params["_values"] = [*params["_values"], *extra]  # hand labels are never lost
    row = {
        "name": name,
        "kind": kind,
        "source": source,
        "params": params,
        "created": previous["created"] if previous else time.time(),
    }
    with project.transaction():
        history_store.record(project, "add_confounder", {"name": name, "previous": previous})
        confounder_store.write_row(project, row)
    return storage.to_confounder(row)
