"""How good a discovery is, when the true confounder is known (ALGORITHMS.md 1.6).

On the demo data, or any dataset with an attribute column holding the confounder, each class's
planted value is the value most frequent for it in the training split; discovery is right for
that class when this value's concept ranks at the top. precision@k = the share of classes whose
planted concept is among their top k.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from debias_studio.core.concepts.result import DiscoveryResult
from debias_studio.core.errors import StudioError


def planted_concepts(project: Any, column: str) -> dict[str, str]:
    """Class -> the value of ``column`` most frequent for it in the training split."""
    table = project.dataset.table
    if column not in table.columns:
        raise StudioError(f"The dataset has no attribute column '{column}'.")
    train = table[table["split"] == "train"]
    if train.empty:
        raise StudioError("The project has no training images to read the planted values from.")
    values = train[column].astype("string").fillna("")
    counts = train.assign(_v=values)[train[column].notna() & (values != "")]
    return {
        str(label): str(group["_v"].value_counts().idxmax())
        for label, group in counts.groupby("label", sort=False)
    }


Synonyms = Mapping[str, Sequence[str]]


def precision_at_k(
    result: DiscoveryResult, truth: dict[str, str], k: int, synonyms: Synonyms | None = None
) -> float:
    """Share of the classes in ``truth`` whose true concept (or one of its ``synonyms``) is
    among their top ``k``."""
    hits = []
    for class_name, concept in truth.items():
        if class_name not in result.classes:
            continue
        names = [n for n in (concept, *(synonyms or {}).get(concept, ())) if n in result.concepts]
        c = result.classes.index(class_name)
        hits.append(any(result.rank[result.concepts.index(n), c] <= k for n in names))
    if not hits:
        raise StudioError("None of the classes with a known confounder were in the discovery.")
    return float(np.mean(hits))


DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def own_object_ranks(result: DiscoveryResult) -> dict[str, int]:
    """For classes named like a concept (a shape, a digit "3" -> "three"), the rank of their
    own concept: it should not be flagged as the shortcut."""
    ranks = {}
    for c, name in enumerate(result.classes):
        word = DIGIT_WORDS[int(name)] if name.isdigit() and len(name) == 1 else name
        if word in result.concepts:
            ranks[name] = int(result.rank[result.concepts.index(word), c])
    return ranks


def evaluation(
    result: DiscoveryResult, truth: dict[str, str], synonyms: Synonyms | None = None
) -> dict[str, Any]:
    return {
        "precision_at_1": precision_at_k(result, truth, 1, synonyms),
        "precision_at_5": precision_at_k(result, truth, 5, synonyms),
        "exact_precision_at_1": precision_at_k(result, truth, 1),
        "exact_precision_at_5": precision_at_k(result, truth, 5),
        "own_object_rank": own_object_ranks(result),
        "planted": truth,
        "top": {c: result.top_concepts(c, 3)[0]["concept"] for c in result.classes},
    }
