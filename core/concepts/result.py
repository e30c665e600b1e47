"""What discovery returns and stores: the (class, concept) table with its three signals, the
combined rank, and exemplar image ids per row, ready for a view (every number the GUI shows is
here) and as JSON for the project's ``discoveries`` table and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from debias_studio.core.concepts.signals import EXPLANATIONS

ROW_COLUMNS = (
    "class",
    "concept",
    "category",
    "association",
    "error_gap",
    "instability",
    "score",
    "rank",
)


@dataclass
class DiscoveryResult:
    classes: list[str]
    concepts: list[str]
    categories: list[str]
    association: np.ndarray  # (K, C)
    error_gap: np.ndarray  # (K, C)
    instability: np.ndarray  # (K, C), normalised over concepts per class (DISC)
    score: np.ndarray  # (K, C) in [0, 1]
    rank: np.ndarray  # (K, C) 1-based, per class
    exemplars_in: np.ndarray  # (C, K, m) image ids of class c by score, best first; -1 pad
    exemplars_out: np.ndarray  # (C, K, m) image ids of the other classes by score
    probe_accuracy: float = float("nan")
    predictions: str = "probe"  # "probe" or "run:<id>"
    environments: list[dict[str, Any]] = field(default_factory=list)
    model_id: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    # ---- views -------------------------------------------------------------------------------
    def row_order(self, top_per_class: int | None = None) -> list[tuple[int, int]]:
        """(concept, class) pairs sorted by rank, then class order; optionally the top per class."""
        k_n, c_n = self.rank.shape
        k_grid, c_grid = np.meshgrid(np.arange(k_n), np.arange(c_n), indexing="ij")
        ranks, ks, cs = self.rank.ravel(), k_grid.ravel(), c_grid.ravel()
        if top_per_class is not None:
            keep = ranks <= top_per_class
            ranks, ks, cs = ranks[keep], ks[keep], cs[keep]
        order = np.lexsort((ks, cs, ranks))
        return list(zip(ks[order].tolist(), cs[order].tolist(), strict=True))

    def row(self, k: int, c: int, *, with_exemplars: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "class": self.classes[c],
            "concept": self.concepts[k],
            "category": self.categories[k],
            "association": _num(self.association[k, c]),
            "error_gap": _num(self.error_gap[k, c]),
            "instability": _num(self.instability[k, c]),
            "score": _num(self.score[k, c]),
            "rank": int(self.rank[k, c]),
        }
        if with_exemplars:
            out["exemplars"] = self.exemplars(c, k)
        return out

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every (class, concept) row, ranked, without exemplars (see ``exemplars``)."""
        return [self.row(k, c, with_exemplars=False) for k, c in self.row_order()]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(ROW_COLUMNS))

    def exemplars(self, c: int | str, k: int | str) -> dict[str, list[int]]:
        """Image ids to judge a row by: the class's top images for the concept, and the
        concept's top images in the other classes (its presence elsewhere)."""
        c = self.classes.index(c) if isinstance(c, str) else c
        k = self.concepts.index(k) if isinstance(k, str) else k
        inside, outside = self.exemplars_in[c, k], self.exemplars_out[c, k]
        return {
            "in_class": [int(i) for i in inside if i >= 0],
            "other_classes": [int(i) for i in outside if i >= 0],
        }

    def top_concepts(self, c: int | str, n: int = 10) -> list[dict[str, Any]]:
        """The ``n`` most spurious-looking concepts of one class (for a bar chart)."""
        c = self.classes.index(c) if isinstance(c, str) else c
        order = np.argsort(self.rank[:, c], kind="stable")[:n]
        return [self.row(int(k), c, with_exemplars=False) for k in order]

    # ---- JSON --------------------------------------------------------------------------------
    def to_json(self, top_per_class: int | None = None) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "predictions": self.predictions,
            "probe_accuracy": _num(self.probe_accuracy),
            "environments": self.environments,
            "params": self.params,
            "classes": self.classes,
            "explanations": EXPLANATIONS,
            "rows": [self.row(k, c) for k, c in self.row_order(top_per_class)],
        }


def _num(value: float) -> float | None:
    value = float(value)
    return None if np.isnan(value) else round(value, 6)
