"""What DISC's cure needs from the project's stored discovery: per class, the concepts found
spurious for it, weighted by their DISC sensitivity (instability), and exemplars that show each
concept.

The human in the loop decides: when the user has confirmed concepts as confounders (a concept
with a threshold, or an arg-max over concepts), only those concepts are cured; otherwise each
class's top-ranked concepts are. Exemplars are the concept's top *training* images in the other
classes (stored with the discovery): they show the concept without the class it is spurious
for, so mixing them into the other classes' images (label kept) puts the concept under every
label. Validation and test images are never used, so model selection stays clean.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from debias_studio.core.annotate.confounders import list_confounders
from debias_studio.core.concepts.project import latest_discovery
from debias_studio.core.data.splits import SPLIT_CODES, TRAIN
from debias_studio.core.train.data import TrainData
from debias_studio.core.train.methods.disc import ConceptExemplars

TOP_PER_CLASS = 3
"""Concepts cured per class when the user has not confirmed any."""


def confirmed_concepts(project: Any) -> set[str]:
    """Concept names behind the project's confounders (concept or arg-max sources)."""
    names: set[str] = set()
    for confounder in list_confounders(project):
        if confounder.source == "concept":
            names.add(str(confounder.params.get("concept", "")))
        elif confounder.source == "concepts":
            names.update(str(n) for n in confounder.params.get("concepts", []))
    names.discard("")
    return names


def cure_exemplars(
    project: Any, data: TrainData, top_per_class: int = TOP_PER_CLASS
) -> list[ConceptExemplars] | None:
    """The DISC cure's concepts from the latest discovery; None when there is none (the cure
    then falls back to the run's confounder values)."""
    stored = latest_discovery(project)
    if stored is None:
        return None
    confirmed = confirmed_concepts(project)
    rows_by_class: dict[str, list[dict[str, Any]]] = {}
    for row in stored.get("rows", []):
        rows_by_class.setdefault(str(row["class"]), []).append(row)
    usable = data.split == SPLIT_CODES[TRAIN]
    found: list[ConceptExemplars] = []
    for c, name in enumerate(data.classes):
        rows = sorted(rows_by_class.get(name, []), key=lambda r: r["rank"])
        if confirmed:
            rows = [r for r in rows if r["concept"] in confirmed]
        for row in rows[:top_per_class]:
            ids = np.array(row.get("exemplars", {}).get("other_classes", []), dtype=np.int64)
            ids = ids[(ids >= 0) & (ids < len(data.labels))]
            ids = ids[usable[ids] & (data.labels[ids] != c)]
            if not len(ids):
                continue
            weight = row.get("instability") or row.get("score") or 0.0
            inputs = data.inputs[torch.from_numpy(ids)]
            found.append(ConceptExemplars(str(row["concept"]), c, inputs, float(weight)))
    return found or None
