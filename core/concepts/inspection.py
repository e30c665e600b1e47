"""What the concept view shows of one (class, concept) pair (issue 14.5): why the table says what
it says.

* the histogram of the concept's standardised score in the class against the other classes;
* three strips of exemplars: the class's highest scores, the other classes' highest (the
  concept's presence elsewhere) and the class's lowest (its images that lack the concept);
* the pair's signals with their intervals, computed the way discovery computes the table
  (``statistics.pair_statistics``), with the table's q-value and verdict when it has the row;
* for a chosen run, its error rate in the class by concept-score bin, each with Wilson's
  interval: a shortcut shows as errors piling up where the concept is absent.

The array functions need no project (tests run them on synthetic data); ``inspect_concept``
wires them to a project, its stored discovery and a finished run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from debias_studio.core.concepts.intervals import wilson_interval
from debias_studio.core.concepts.statistics import pair_statistics
from debias_studio.core.errors import StudioError

HISTOGRAM_BINS = 30
ERROR_BINS = 5
"""Concept-score bins of the error-rate curve: quantiles of the class's scores, so each bin
holds a fifth of the class (equal-width bins leave the tails with two or three images)."""
STRIP = 8


@dataclass(frozen=True)
class ScoreHistogram:
    edges: np.ndarray  # (B + 1,) standardised score
    in_class: np.ndarray  # (B,) images of the class per bin
    others: np.ndarray  # (B,) images of the other classes per bin


@dataclass(frozen=True)
class ErrorBin:
    low: float  # concept-score range of the bin (standardised)
    high: float
    images: int
    errors: int
    rate: float  # errors / images
    rate_low: float  # Wilson's 95 % interval
    rate_high: float


@dataclass
class ConceptInspection:
    class_name: str
    concept: str
    histogram: ScoreHistogram
    strips: dict[str, list[int]]  # image ids: in_class_top, other_classes_top, in_class_lacking
    signals: dict[str, Any]  # association, p_value, shift(_low/_high), error_gap(_low/_high)...
    error_bins: list[ErrorBin] = field(default_factory=list)  # empty without a run


def score_histogram(
    scores: np.ndarray, in_class: np.ndarray, bins: int = HISTOGRAM_BINS
) -> ScoreHistogram:
    """Counts of the class's and the other classes' scores on shared bins."""
    x = np.asarray(scores, dtype=np.float64)
    member = np.asarray(in_class, dtype=bool)
    low, high = (float(x.min()), float(x.max())) if len(x) else (0.0, 1.0)
    edges = np.linspace(low, high if high > low else low + 1.0, bins + 1)
    return ScoreHistogram(
        edges=edges,
        in_class=np.histogram(x[member], edges)[0],
        others=np.histogram(x[~member], edges)[0],
    )


def exemplar_strips(
    scores: np.ndarray, ids: np.ndarray, in_class: np.ndarray, n: int = STRIP
) -> dict[str, list[int]]:
    """Image ids, best first: the class's highest scores, the other classes' highest and the
    class's lowest (ties by image id, so the strips are deterministic)."""
    x = np.asarray(scores, dtype=np.float64)
    ids = np.asarray(ids, dtype=np.int64)
    member = np.asarray(in_class, dtype=bool)

    def ordered(rows: np.ndarray, descending: bool) -> list[int]:
        key = -x[rows] if descending else x[rows]
        return [int(i) for i in ids[rows][np.lexsort((ids[rows], key))][:n]]

    inside, outside = np.flatnonzero(member), np.flatnonzero(~member)
    return {
        "in_class_top": ordered(inside, True),
        "other_classes_top": ordered(outside, True),
        "in_class_lacking": ordered(inside, False),
    }


def error_rate_by_bin(
    scores: np.ndarray, wrong: np.ndarray, bins: int = ERROR_BINS
) -> list[ErrorBin]:
    """Error rate per quantile bin of ``scores`` (one class's images), with Wilson's interval."""
    x = np.asarray(scores, dtype=np.float64)
    failed = np.asarray(wrong, dtype=bool)
    if len(x) == 0:
        return []
    edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        edges = np.array([x.min(), x.max()])
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
    images = np.bincount(which, minlength=len(edges) - 1)
    errors = np.bincount(which, weights=failed, minlength=len(edges) - 1).astype(np.int64)
    low, high = wilson_interval(errors, images)
    return [
        ErrorBin(
            low=float(edges[b]),
            high=float(edges[b + 1]),
            images=int(images[b]),
            errors=int(errors[b]),
            rate=float(errors[b] / images[b]) if images[b] else float("nan"),
            rate_low=float(low[b]),
            rate_high=float(high[b]),
        )
        for b in range(len(edges) - 1)
    ]


def inspect_pair(
    scores: np.ndarray,
    labels: np.ndarray,
    class_index: int,
    *,
    ids: np.ndarray | None = None,
    wrong: np.ndarray | None = None,
    names: tuple[str, str] = ("", ""),
) -> ConceptInspection:
    """Everything the concept view shows, from one concept's scores over the images discovery
    looked at (``ids``: their image ids, default positions), their labels and, for a run,
    which of them it misclassified."""
    x = np.asarray(scores, dtype=np.float64)
    if len(x) == 0 or not np.isfinite(x).all():
        raise StudioError("The concept has no score for some of the images asked about.")
    member = np.asarray(labels) == class_index
    if not member.any():
        raise StudioError(f"The class '{names[0]}' has no image to inspect.")
    ids = np.arange(len(x)) if ids is None else np.asarray(ids, dtype=np.int64)
    standardised = (x - x.mean()) / (x.std() if x.std() > 0 else 1.0)
    auc, p, shift, gap = pair_statistics(x, member, wrong)
    signals: dict[str, Any] = {"association": auc, "p_value": p}
    for name, interval in (("shift", shift), ("error_gap", gap)):
        signals[name] = _finite(interval.estimate[0])
        signals[f"{name}_low"] = _finite(interval.low[0])
        signals[f"{name}_high"] = _finite(interval.high[0])
    bins = [] if wrong is None else error_rate_by_bin(standardised[member], wrong[member])
    return ConceptInspection(
        class_name=names[0],
        concept=names[1],
        histogram=score_histogram(standardised, member),
        strips=exemplar_strips(standardised, ids, member),
        signals=signals,
        error_bins=bins,
    )


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def inspect_concept(
    project: Any,
    class_name: str,
    concept: str,
    model_name: str = "demo",
    *,
    run_id: str | None = None,
    split: str = "train",
    device: str | None = None,
) -> ConceptInspection:
    """``inspect_pair`` on a project: the images of ``split`` ("train", as discovery, or
    "all") that have an embedding (and, for ``run_id``, a prediction of that run), with the
    stored discovery's q-value, verdict and instability for the pair when it has the row."""
    from debias_studio.core.concepts.project import concept_scores, latest_discovery
    from debias_studio.core.store.runs import run_probabilities

    dataset = project.dataset
    if class_name not in dataset.classes:
        raise StudioError(f"The project has no class '{class_name}'.")
    scores = concept_scores(project, concept, model_name, device=device)
    keep = np.isfinite(scores)
    if split != "all":
        keep &= dataset.split_mask(split)
    labels = np.asarray(dataset.labels, dtype=np.int64)
    wrong = None
    if run_id is not None:
        probs = run_probabilities(project, run_id)
        keep &= ~np.isnan(probs).any(axis=1)
        wrong = probs.argmax(axis=1) != labels
    rows = np.flatnonzero(keep)
    found = inspect_pair(
        scores[rows],
        labels[rows],
        list(dataset.classes).index(class_name),
        ids=rows,
        wrong=None if wrong is None else wrong[rows],
        names=(class_name, concept),
    )
    found.signals.update(_stored_signals(latest_discovery(project), class_name, concept))
    return found


def _stored_signals(stored: dict[str, Any] | None, class_name: str, concept: str) -> dict[str, Any]:
    """The table's own q-value, verdict, rank and instability for the pair (None: not in the
    stored rows, which keep the top of each class)."""
    row: dict[str, Any] = next(
        (
            r
            for r in (stored or {}).get("rows", [])
            if r.get("class") == class_name and r.get("concept") == concept
        ),
        {},
    )
    return {key: row.get(key) for key in ("q_value", "verdict", "rank", "instability")}
