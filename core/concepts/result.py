"""What discovery returns and stores: the (class, concept) table with its signals, their 95 %
intervals, significance and verdict, the evidence rank, and exemplar image ids per row, ready for
a view (every number the GUI shows is here) and as JSON for the project's ``discoveries`` table
and the CLI. Light to import (numpy and pandas only): the GUI reads it on its own thread."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from debias_studio.core.concepts.signals import EXPLANATIONS

VERDICTS: tuple[str, ...] = ("shortcut", "associated", "core", "not significant")
"""Index = ``DiscoveryResult.verdict`` code (same order as ``core.concepts.statistics``)."""
ROW_COLUMNS = (
    "class",
    "concept",
    "category",
    "verdict",
    "significant",
    "rank",
    "score",
    "association",
    "shift",
    "shift_low",
    "shift_high",
    "p_value",
    "q_value",
    "error_gap",
    "error_gap_low",
    "error_gap_high",
    "instability",
)
"""A row's keys in the table, JSON and CSV; each (K, C) array of the result has its name."""
_NUMBERS = ROW_COLUMNS[6:]
_P_VALUES = ("p_value", "q_value")


@dataclass
class DiscoveryResult:
    """Every array is (K, C): concepts along the first axis, classes along the second."""

    classes: list[str]
    concepts: list[str]
    categories: list[str]
    association: np.ndarray  # ROC-AUC of the concept's score for "is class c"
    shift: np.ndarray  # class mean - other classes' mean, in sd of the concept
    shift_low: np.ndarray  # its 95 % interval
    shift_high: np.ndarray
    p_value: np.ndarray  # one-sided rank-sum test under permutation of labels
    q_value: np.ndarray  # Benjamini-Hochberg over all (class, concept) pairs
    error_gap: np.ndarray  # misclassified mean - correct mean within the class (sd)
    error_gap_low: np.ndarray
    error_gap_high: np.ndarray
    instability: np.ndarray  # normalised over concepts per class (DISC)
    verdict: np.ndarray  # int8 index into VERDICTS
    score: np.ndarray  # evidence: shift_low; orders rows within a tier (statistics.RANK_TIERS)
    rank: np.ndarray  # 1-based, per class
    exemplars_in: np.ndarray  # (C, K, m) image ids of class c by score, best first; -1 pad
    exemplars_out: np.ndarray  # (C, K, m) image ids of the other classes by score
    class_sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (C,)
    wrong_sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # (C,)
    probe_accuracy: float = float("nan")
    predictions: str = "probe"  # "probe" or "run:<id>"
    environments: list[dict[str, Any]] = field(default_factory=list)
    model_id: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def significant(self) -> np.ndarray:
        """(K, C) bool: the association is significant at the false-discovery rate."""
        return self.verdict != VERDICTS.index("not significant")

    # ---- views -------------------------------------------------------------------------------
    def row_order(
        self, top_per_class: int | None = None, *, significant_only: bool = False
    ) -> list[tuple[int, int]]:
        """(concept, class) pairs sorted by rank, then class order; optionally the top per class
        and only the significant ones."""
        k_n, c_n = self.rank.shape
        k_grid, c_grid = np.meshgrid(np.arange(k_n), np.arange(c_n), indexing="ij")
        ranks, ks, cs = self.rank.ravel(), k_grid.ravel(), c_grid.ravel()
        keep = np.ones(len(ranks), dtype=bool)
        if top_per_class is not None:
            keep &= ranks <= top_per_class
        if significant_only:
            keep &= self.significant.ravel()
        ranks, ks, cs = ranks[keep], ks[keep], cs[keep]
        order = np.lexsort((ks, cs, ranks))
        return list(zip(ks[order].tolist(), cs[order].tolist(), strict=True))

    def row(self, k: int, c: int, *, with_exemplars: bool = True) -> dict[str, Any]:
        """One (class, concept) row: ROW_COLUMNS (None where not estimable), and exemplars."""
        out: dict[str, Any] = {
            "class": self.classes[c],
            "concept": self.concepts[k],
            "category": self.categories[k],
            "verdict": VERDICTS[int(self.verdict[k, c])],
            "significant": bool(self.significant[k, c]),
            "rank": int(self.rank[k, c]),
        }
        for name in _NUMBERS:
            value = getattr(self, name)[k, c]
            out[name] = _p(value) if name in _P_VALUES else _num(value)
        if with_exemplars:
            out["exemplars"] = self.exemplars(c, k)
        return out

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every (class, concept) row, ranked, without exemplars (see ``exemplars``)."""
        return [self.row(k, c, with_exemplars=False) for k, c in self.row_order()]

    def table(self, *, significant_only: bool = False) -> pd.DataFrame:
        """The ranked rows as a DataFrame (ROW_COLUMNS), optionally only the significant ones."""
        rows = [
            self.row(k, c, with_exemplars=False)
            for k, c in self.row_order(significant_only=significant_only)
        ]
        return pd.DataFrame(rows, columns=list(ROW_COLUMNS))

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

    def top_concepts(
        self, c: int | str, n: int = 10, *, significant_only: bool = False
    ) -> list[dict[str, Any]]:
        """The ``n`` best-supported shortcut candidates of one class (for a bar chart)."""
        c = self.classes.index(c) if isinstance(c, str) else c
        order = np.argsort(self.rank[:, c], kind="stable")
        if significant_only:
            order = order[self.significant[order, c]]
        return [self.row(int(k), c, with_exemplars=False) for k in order[:n]]

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Per class: images scored and, of them, misclassified (by the explained predictions)."""
        return {
            name: {"images": int(n), "misclassified": int(w)}
            for name, n, w in zip(self.classes, self.class_sizes, self.wrong_sizes, strict=True)
        }

    # ---- JSON --------------------------------------------------------------------------------
    def to_json(
        self, top_per_class: int | None = None, *, significant_only: bool = False
    ) -> dict[str, Any]:
        order = self.row_order(top_per_class, significant_only=significant_only)
        return {
            "model_id": self.model_id,
            "predictions": self.predictions,
            "probe_accuracy": _num(self.probe_accuracy),
            "environments": self.environments,
            "params": self.params,
            "classes": self.classes,
            "class_counts": self.class_counts(),
            "significant_rows": int(self.significant.sum()),
            "explanations": EXPLANATIONS,
            "rows": [self.row(k, c) for k, c in order],
        }


def _num(value: float) -> float | None:
    value = float(value)
    return None if np.isnan(value) else round(value, 6)


def _p(value: float) -> float | None:
    """p- and q-values keep four significant digits (1e-40 must not round to 0)."""
    value = float(value)
    return None if np.isnan(value) else float(f"{value:.4g}")
