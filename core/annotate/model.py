"""What a confounder is (contracts.md, core.annotate) and the group matrix a view shows.

A confounder names a property of an image that should not decide its class (a colour, a
background). Its ``values`` are the property's possible values; every image gets the index of
one value, or -1 when unknown. Groups are (class, value); group id = class * len(values) + value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

KINDS: tuple[str, ...] = ("colour", "background", "texture", "object", "other")
"""A confounder's kind picks its counterfactual generator when training."""
SOURCES: tuple[str, ...] = ("concept", "concepts", "column", "manual")


@dataclass(frozen=True)
class Confounder:
    name: str
    kind: str
    source: str
    params: dict[str, Any] = field(default_factory=dict)
    values: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "params": dict(self.params),
            "values": list(self.values),
        }


@dataclass
class GroupMatrix:
    """Counts of (class, value) groups plus each image's group and bias flags.

    ``aligned_value[c]`` is the value most frequent for class c among the training-split images
    the user has not excluded (-1 when c has no known value there); an image is bias-aligned when
    its value is its class's aligned value, bias-conflicting when its value is known and differs
    from a class's aligned value (core.annotate.groups holds the one definition).
    """

    confounder: str
    classes: list[str]
    values: list[str]
    counts: np.ndarray  # (C, V) int64, all splits
    train_counts: np.ndarray  # (C, V) int64, training split without exclusions
    unknown: np.ndarray  # (C,) images whose value is unknown
    aligned_value: np.ndarray  # (C,) int64
    group_ids: np.ndarray  # (N,) int64, -1 unknown
    aligned: np.ndarray  # (N,) bool
    conflicting: np.ndarray  # (N,) bool

    def group_id(self, class_index: int, value_index: int) -> int:
        return class_index * len(self.values) + value_index

    def to_dict(self) -> dict[str, Any]:
        return {
            "confounder": self.confounder,
            "classes": self.classes,
            "values": self.values,
            "counts": self.counts.tolist(),
            "train_counts": self.train_counts.tolist(),
            "unknown": self.unknown.tolist(),
            "aligned_value": [
                self.values[v] if v >= 0 else None for v in self.aligned_value.tolist()
            ],
            "n_aligned": int(self.aligned.sum()),
            "n_conflicting": int(self.conflicting.sum()),
        }

    def render(self) -> str:
        """The matrix as aligned text (the CLI's ``confounder show``); * marks aligned groups."""
        header = ["class", *self.values, "unknown"]
        lines = [header]
        for c, name in enumerate(self.classes):
            cells = [
                f"{self.counts[c, v]}{'*' if v == self.aligned_value[c] else ''}"
                for v in range(len(self.values))
            ]
            lines.append([name, *cells, str(self.unknown[c])])
        widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
        text = [
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
            for row in lines
        ]
        text.append(
            f"* bias-aligned value (most frequent in train); {int(self.aligned.sum())} aligned, "
            f"{int(self.conflicting.sum())} conflicting images"
        )
        return "\n".join(text)
