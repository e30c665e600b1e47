"""What needs cleaning in a project: near-duplicates, label-issue candidates and outliers.

Each is a job (progress, cancellable) over the project's embeddings (cached, or computed now)
that returns a review queue as a DataFrame, one row per pair or image, most urgent first. They
look at the images the user has not excluded, with the labels the user gave (relabels).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from debias_studio.core.annotate.duplicates import DEFAULT_THRESHOLD, clusters, find_pairs
from debias_studio.core.annotate.label_issues import LabelIssues, rank_label_issues
from debias_studio.core.annotate.outliers import DEFAULT_TOP, outlier_scores, ranked_outliers
from debias_studio.core.concepts.probe import out_of_fold_probabilities
from debias_studio.core.data.splits import TRAIN
from debias_studio.core.embed.engine import cached_or_embedded
from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress, delegate
from debias_studio.core.store.exclusions import excluded_mask
from debias_studio.core.store.relabels import final_label_codes
from debias_studio.core.store.runs import run_probabilities

DUPLICATE_COLUMNS = ["first", "second", "similarity", "split_first", "split_second", "leak"]
ISSUE_COLUMNS = ["image_id", "given", "suggested", "margin"]
OUTLIER_COLUMNS = ["image_id", "label", "score"]


def find_duplicates(
    project: Any,
    model_name: str = "demo",
    threshold: float = DEFAULT_THRESHOLD,
    *,
    device: str | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[pd.DataFrame]:
    """Near-duplicate pairs (cosine >= ``threshold``); ``leak``: the pair crosses splits."""
    if not 0.0 < threshold <= 1.0:
        raise StudioError(f"The similarity threshold {threshold} is not between 0 and 1.")
    vectors, rows = yield from _usable_vectors(project, model_name, device, cancel)
    pairs = yield from delegate(find_pairs(vectors[rows], threshold, cancel=cancel), 40, 60, 100)
    first, second = rows[pairs.first], rows[pairs.second]
    splits = project.dataset.table["split"].astype(str).to_numpy()
    table = pd.DataFrame(
        {
            "first": first,
            "second": second,
            "similarity": pairs.similarity,
            "split_first": splits[first],
            "split_second": splits[second],
        }
    )
    table["leak"] = table["split_first"] != table["split_second"]
    cluster = clusters(pairs, len(rows))
    table["cluster"] = cluster[pairs.first]
    return table.sort_values(["leak", "similarity"], ascending=False, kind="stable").reset_index(
        drop=True
    )


def find_label_issues(
    project: Any,
    model_name: str = "demo",
    *,
    split: str = TRAIN,
    run_id: str | None = None,
    device: str | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[pd.DataFrame]:
    """Images of ``split`` ("all": each split on its own) whose label a probe that never saw
    them, fitted within their split, or run ``run_id``, confidently disputes. Within a split,
    because a biased training split teaches the probe the shortcut: fitted across splits it
    would dispute every balanced val/test image. ``given``/``suggested`` are class names."""
    labels = final_label_codes(project)
    splits = project.dataset.table["split"].astype(str).to_numpy()
    chosen = sorted(set(splits)) if split == "all" else [split]
    if run_id:
        probs = run_probabilities(project, run_id)
        usable = ~excluded_mask(project)
        yield Progress(40, 100, f"predictions of run {run_id} read")
    else:
        vectors, rows = yield from _usable_vectors(project, model_name, device, cancel)
        usable = np.zeros(len(labels), dtype=bool)
        usable[rows] = True
    if not (usable & np.isin(splits, chosen)).any():
        raise StudioError(f"There are no usable images in the split '{split}'.")
    parts = []
    for k, name in enumerate(chosen):
        in_split = np.flatnonzero(usable & (splits == name))
        if run_id is None:
            probs = yield from delegate(
                _probe(vectors, labels, in_split, len(project.dataset.classes), cancel),
                40 + 60 * k // len(chosen),
                60 // len(chosen),
                100,
            )
        parts.append(rank_label_issues(probs, labels, in_split))
    return _issue_table(parts, project.dataset.classes)


def _probe(
    vectors: np.ndarray, labels: np.ndarray, rows: np.ndarray, n_classes: int, cancel: CancelToken
) -> Job[np.ndarray]:
    """(N, C) out-of-fold probabilities for ``rows`` (NaN elsewhere); classes with a single
    image among ``rows`` are left out (no fold could hold one back)."""
    probs = np.full((len(labels), n_classes), np.nan, dtype=np.float32)
    counts = np.bincount(labels[rows], minlength=n_classes)
    rows = rows[counts[labels[rows]] >= 2]
    if len(np.unique(labels[rows])) < 2:
        return probs
    probs[rows] = yield from out_of_fold_probabilities(
        vectors[rows], labels[rows], n_classes, cancel=cancel
    )
    return probs


def _issue_table(parts: list[LabelIssues], classes: list[str]) -> pd.DataFrame:
    names = np.asarray([str(c) for c in classes], dtype=object)
    table = pd.DataFrame(
        {
            "image_id": np.concatenate([p.image_ids for p in parts]),
            "given": names[np.concatenate([p.given for p in parts])],
            "suggested": names[np.concatenate([p.suggested for p in parts])],
            "margin": np.concatenate([p.margin for p in parts]),
        }
    )
    return table.sort_values("margin", ascending=False, kind="stable").reset_index(drop=True)


def find_outliers(
    project: Any,
    model_name: str = "demo",
    top: int = DEFAULT_TOP,
    *,
    device: str | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[pd.DataFrame]:
    """The ``top`` images farthest from their class (robust score, highest first)."""
    vectors, rows = yield from _usable_vectors(project, model_name, device, cancel)
    labels = final_label_codes(project)
    scores = outlier_scores(vectors, labels, rows)
    ids = ranked_outliers(scores, top)
    classes = np.asarray([str(c) for c in project.dataset.classes], dtype=object)
    yield Progress(100, 100, "outliers ranked")
    return pd.DataFrame({"image_id": ids, "label": classes[labels[ids]], "score": scores[ids]})


def _usable_vectors(
    project: Any, model_name: str, device: str | None, cancel: CancelToken
) -> Job[tuple[np.ndarray, np.ndarray]]:
    """The embeddings as float32 and the ids of the embedded, not excluded images."""
    embeddings = yield from delegate(
        cached_or_embedded(project, model_name, device=device, cancel=cancel), 0, 40, 100
    )
    rows = np.flatnonzero(np.asarray(embeddings.valid, bool) & ~excluded_mask(project))
    if len(rows) < 2:
        raise StudioError("Fewer than two usable images: there is nothing to compare.")
    return np.asarray(embeddings.vectors, dtype=np.float32), rows
