"""A dataset in numbers, as plain JSON-able data (``debias-studio info --json``, the GUI's
overview): how many images per class and split, what attributes there are, what went wrong."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from debias_studio.core.data.natural import natural_sorted
from debias_studio.core.data.problems import PROBLEM_KINDS
from debias_studio.core.data.splits import SPLITS

if TYPE_CHECKING:
    from debias_studio.core.data.dataset import Dataset

MAX_LISTED_VALUES = 100
"""Attribute values listed per attribute (the most frequent ones); ``n_values`` has them all."""


def summarize(dataset: Dataset) -> dict[str, Any]:
    """Counts per class and split, attribute value counts, and every problem."""
    table = dataset.table
    pairs = Counter(zip(table["label"].tolist(), table["split"].tolist(), strict=True))
    counts = {
        name: {split: pairs.get((name, split), 0) for split in SPLITS} for name in dataset.classes
    }
    split_counts = {split: sum(per[split] for per in counts.values()) for split in SPLITS}
    attributes: dict[str, dict[str, Any]] = {}
    for name in dataset.attributes:
        values = Counter(str(v) for v in table[name].tolist())
        listed = sorted(values.items(), key=lambda kv: -kv[1])[:MAX_LISTED_VALUES]
        ordered = natural_sorted([value for value, _ in listed])
        attributes[name] = {
            "values": {value: values[value] for value in ordered},
            "n_values": len(values),
        }
    kinds = Counter(p.problem for p in dataset.problems)
    problem_counts = {kind: kinds[kind] for kind in PROBLEM_KINDS if kinds[kind]}
    problem_counts.update({k: n for k, n in kinds.items() if k not in problem_counts})
    return {
        "kind": dataset.spec.kind,
        "source": dataset.spec.source,
        "root": str(dataset.root),
        "seed": dataset.spec.seed,
        "n_images": len(table),
        "classes": list(dataset.classes),
        "counts": counts,
        "split_counts": split_counts,
        "attributes": attributes,
        "n_problems": len(dataset.problems),
        "problem_counts": problem_counts,
        "problems": [
            {"path": p.path, "problem": p.problem, "detail": p.detail} for p in dataset.problems
        ],
    }
