"""Discovery of spurious concepts (ALGORITHMS.md section 1), on arrays.

``discover_arrays`` takes embeddings, labels and concept vectors (and, optionally, a model's class
probabilities) and is the whole method: concept statistics, the out-of-fold reference probe,
environments, the signals with their intervals and significance, the rank and exemplars. It
needs no model and no project, so tests run it on synthetic data; ``core.concepts.project``
wires it to a project.
Its statistics (intervals, significance, the evidence order) are ``core.concepts.statistics``.
Deterministic by seed. Memory: d x d sums plus one block of concept columns (``scoring``); rows
that do not fit the budget are read in chunks by every stage, never all at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from debias_studio.core.concepts.environments import DEFAULT_ENVIRONMENTS, class_environments
from debias_studio.core.concepts.intervals import CONFIDENCE
from debias_studio.core.concepts.probe import (
    DEFAULT_FOLDS,
    check_class_sizes,
    out_of_fold_probabilities,
)
from debias_studio.core.concepts.result import DiscoveryResult
from debias_studio.core.concepts.scoring import (
    DEFAULT_BUDGET,
    ConceptStats,
    RowSource,
    concept_stats,
    scan_block_size,
    scan_concepts,
)
from debias_studio.core.concepts.signals import (
    DEFAULT_STEP,
    concept_gradients,
    image_sums,
    instability,
    normalise_per_class,
)
from debias_studio.core.concepts.statistics import (
    FDR,
    Evidence,
    Moments,
    rank_sum_test,
    weigh_evidence,
)
from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress, delegate

N_EXEMPLARS = 8


@dataclass(frozen=True)
class DiscoveryParams:
    seed: int = 0
    folds: int = DEFAULT_FOLDS
    n_environments: int = DEFAULT_ENVIRONMENTS
    step: float = DEFAULT_STEP
    n_exemplars: int = N_EXEMPLARS
    memory_budget: int = DEFAULT_BUDGET
    fdr: float = FDR
    confidence: float = CONFIDENCE


def discover_arrays(
    vectors: np.ndarray,
    labels: np.ndarray,
    concept_vectors: np.ndarray,
    *,
    classes: list[str],
    concepts: list[str],
    categories: list[str] | None = None,
    rows: np.ndarray | None = None,
    probabilities: np.ndarray | None = None,
    predictions: str = "probe",
    params: DiscoveryParams | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[DiscoveryResult]:
    """Rank every (class, concept) pair by the evidence that the concept is a shortcut.

    ``vectors`` (N, d) image embeddings (float16 memmap is fine), ``labels`` (N,) class index,
    ``concept_vectors`` (K, d) unit concept directions, ``rows`` the image ids to use (default
    all), ``probabilities`` (N, C) a model's class probabilities to explain instead of the
    reference probe's (``predictions`` names their source). Exemplar ids are image ids.
    """
    params = params or DiscoveryParams()
    t = _checked_concepts(concept_vectors, vectors, concepts)
    rows = np.arange(len(labels)) if rows is None else np.asarray(rows, dtype=np.int64)
    by_class = np.argsort(np.asarray(labels, dtype=np.int64)[rows], kind="stable")
    rows = rows[by_class]  # classes become contiguous: per-class views instead of copies
    y = np.asarray(labels, dtype=np.int64)[rows]
    n_classes = len(classes)
    check_class_sizes(y, classes)
    total = 100
    yield Progress(0, total, "concept statistics")
    source = RowSource(vectors, rows, params.memory_budget)
    stats = concept_stats(source, t)
    cancel.raise_if_cancelled()
    # the probe and the clustering read the source: its cache, or pieces of uncached rows
    probs = yield from _predictions(source, y, rows, probabilities, n_classes, params, cancel)
    correct = probs.argmax(axis=1) == y
    yield Progress(40, total, "environments")
    env = class_environments(
        source, y, correct, n_environments=params.n_environments, seed=params.seed
    )
    cancel.raise_if_cancelled()
    yield Progress(50, total, "signals")
    sums = image_sums(source, y, probs, env, n_classes, params.n_environments)
    gradients = concept_gradients(sums, t, stats)
    sensitivity = normalise_per_class(instability(gradients, sums.grad_b, sums.env_n, params.step))
    scan = yield from _scan(source, t, stats, y, correct, rows, n_classes, params, cancel)
    evidence = weigh_evidence(
        scan.moments, scan.association, scan.p_value, fdr=params.fdr, confidence=params.confidence
    )
    result = _result(evidence, sensitivity, scan, classes, concepts, categories)
    result.predictions, result.probe_accuracy = predictions, float(correct.mean())
    result.environments = _environment_summary(env, correct, params.n_environments)
    size = scan_block_size(source, len(t), n_classes, params.memory_budget)
    result.params = {**asdict(params), "n_images": len(rows), "block_size": size}
    yield Progress(total, total, "discovery done")
    return result


def _checked_concepts(
    concept_vectors: np.ndarray, vectors: np.ndarray, concepts: list[str]
) -> np.ndarray:
    t = np.asarray(concept_vectors, dtype=np.float32)
    if t.ndim != 2 or len(t) == 0:
        raise StudioError("The concept list is empty; add at least one concept.")
    if t.shape[1] != vectors.shape[1]:
        raise StudioError(
            f"The concepts ({t.shape[1]}-d) do not match the embeddings ({vectors.shape[1]}-d); "
            "use the same model for both."
        )
    if len(concepts) != len(t):
        raise StudioError("Each concept vector needs exactly one name.")
    return t


def _predictions(
    x: RowSource,
    y: np.ndarray,
    rows: np.ndarray,
    probabilities: np.ndarray | None,
    n_classes: int,
    params: DiscoveryParams,
    cancel: CancelToken,
) -> Job[np.ndarray]:
    """Class probabilities in row order: the given ones, or the out-of-fold reference probe's."""
    if probabilities is None:
        return (
            yield from delegate(
                out_of_fold_probabilities(
                    x, y, n_classes, folds=params.folds, seed=params.seed, cancel=cancel
                ),
                5,
                35,
                100,
            )
        )
    probs = np.asarray(probabilities, dtype=np.float32)[rows]
    if probs.shape != (len(rows), n_classes) or np.isnan(probs).any():
        raise StudioError("The predictions do not have one probability per class and image.")
    return probs


@dataclass
class _Scanned:
    association: np.ndarray  # (K, C) AUC
    p_value: np.ndarray  # (K, C)
    moments: Moments  # (K, 2C): groups c right, C + c wrong
    top_ids: np.ndarray  # (C, K, m) image ids
    top_val: np.ndarray  # (C, K, m)


def _scan(
    source: RowSource,
    t: np.ndarray,
    stats: ConceptStats,
    y: np.ndarray,
    correct: np.ndarray,
    rows: np.ndarray,
    n_classes: int,
    params: DiscoveryParams,
    cancel: CancelToken,
) -> Job[_Scanned]:
    """One pass over the concepts in blocks: the rank-sum test, the group moments and the
    top images of every (class, concept)."""
    k_n, m = len(t), params.n_exemplars
    bounds = np.searchsorted(y, np.arange(n_classes + 1))
    groups = y + n_classes * (~correct)
    group_sizes = np.bincount(groups, minlength=2 * n_classes)
    out = _Scanned(
        association=np.empty((k_n, n_classes)),
        p_value=np.empty((k_n, n_classes)),
        moments=Moments(*(np.empty((k_n, 2 * n_classes)) for _ in range(3))),
        top_ids=np.full((n_classes, k_n, m), -1, dtype=np.int64),
        top_val=np.full((n_classes, k_n, m), -np.inf, dtype=np.float32),
    )
    yield Progress(55, 100, f"scoring {k_n} concepts")
    for part in scan_concepts(
        source, t, stats, bounds, m, params.memory_budget, groups=groups, n_groups=2 * n_classes
    ):
        cancel.raise_if_cancelled()
        auc, p = rank_sum_test(part.histograms)
        out.association[part.block], out.p_value[part.block] = auc, p
        out.moments.n[part.block] = group_sizes
        out.moments.total[part.block] = part.group_sums
        out.moments.squares[part.block] = part.group_squares
        found = part.top_positions >= 0
        out.top_ids[:, part.block] = np.where(found, rows[np.maximum(part.top_positions, 0)], -1)
        out.top_val[:, part.block] = part.top_scores
        done = part.block.stop
        yield Progress(55 + int(40 * done / k_n), 100, f"scored {done}/{k_n} concepts")
    return out


def _result(
    evidence: Evidence,
    sensitivity: np.ndarray,
    scan: _Scanned,
    classes: list[str],
    concepts: list[str],
    categories: list[str] | None,
) -> DiscoveryResult:
    return DiscoveryResult(
        classes=list(classes),
        concepts=list(concepts),
        categories=list(categories) if categories is not None else ["custom"] * len(concepts),
        association=evidence.association,
        shift=evidence.shift.estimate,
        shift_low=evidence.shift.low,
        shift_high=evidence.shift.high,
        p_value=evidence.p_value,
        q_value=evidence.q_value,
        error_gap=evidence.error_gap.estimate,
        error_gap_low=evidence.error_gap.low,
        error_gap_high=evidence.error_gap.high,
        instability=sensitivity,
        verdict=evidence.verdict,
        score=evidence.score,
        rank=evidence.rank,
        exemplars_in=scan.top_ids,
        exemplars_out=_other_class_tops(scan.top_ids, scan.top_val, scan.top_ids.shape[2]),
        class_sizes=evidence.class_sizes,
        wrong_sizes=evidence.wrong_sizes,
    )


def _other_class_tops(top_ids: np.ndarray, top_val: np.ndarray, m: int) -> np.ndarray:
    """For each class c, the best ``m`` images of the other classes: the top m of a union is
    inside the union of the per-class top m, so the per-class tops suffice."""
    n_classes, _n_concepts, _ = top_ids.shape
    out = np.full_like(top_ids, -1)
    for c in range(n_classes):
        others = [o for o in range(n_classes) if o != c]
        if not others:
            continue
        ids = np.concatenate([top_ids[o] for o in others], axis=1)  # (K, m * (C-1))
        vals = np.concatenate([top_val[o] for o in others], axis=1)
        order = np.lexsort((ids, -vals), axis=1)[:, :m]
        picked = np.take_along_axis(ids, order, axis=1)
        picked_val = np.take_along_axis(vals, order, axis=1)
        out[c, :, : picked.shape[1]] = np.where(np.isfinite(picked_val), picked, -1)
    return out


def _environment_summary(env: np.ndarray, correct: np.ndarray, n_env: int) -> list[dict[str, Any]]:
    summary: list[dict[str, Any]] = []
    for e in range(n_env):
        rows = env == e
        n = int(rows.sum())
        accuracy = float(correct[rows].mean()) if n else float("nan")
        summary.append({"size": n, "accuracy": None if n == 0 else round(accuracy, 4)})
    return summary
