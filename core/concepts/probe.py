"""The reference classifier of discovery: a linear probe on the embeddings, out of fold.

Discovery needs to know where a model *fails*; a probe scored on its own training images would
hardly fail at all. So the images are split into k stratified folds and each image's class
probabilities come from the probe fitted on the other folds (ALGORITHMS.md 1.2). Deterministic
by seed. A finished training run can supply the probabilities instead (``core.concepts.runs``).
"""

from __future__ import annotations

import warnings

import numpy as np
from threadpoolctl import threadpool_limits

from debias_studio.core.concepts.scoring import CHUNK_ROWS, RowSource
from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress

DEFAULT_FOLDS = 5
PROBE_C = 1.0
MAX_ITER = 300
FIT_MAX = 20_000
"""Rows a fold's probe is fitted on at most (a seeded sample): a 512-d linear probe is as good a
reference from 20k images as from 80k, at a quarter of the time; every image still gets an
out-of-fold prediction."""
BLAS_THREADS = 1
"""The probe's products are thin (n x d by d x C): BLAS threads cost more in synchronisation than
they save, measured 8x slower with 2 threads on a busy 2-core machine."""


def check_class_sizes(labels: np.ndarray, classes: list[str], minimum: int = 2) -> None:
    """Refuse classes too small for discovery, naming the first one."""
    counts = np.bincount(labels, minlength=len(classes))
    present = counts > 0
    if int(present.sum()) < 2:
        raise StudioError("Discovery needs images of at least two classes.")
    small = np.flatnonzero(present & (counts < minimum))
    if len(small):
        c = int(small[0])
        raise StudioError(
            f"The class '{classes[c]}' has only {counts[c]} image(s) here; discovery needs at "
            f"least {minimum} per class."
        )


def out_of_fold_probabilities(
    x: np.ndarray | RowSource,
    labels: np.ndarray,
    n_classes: int,
    *,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[np.ndarray]:
    """Class probabilities (n, n_classes) float32 of every row from a probe that did not see it.

    Classes absent from ``labels`` get probability 0. Folds shrink to the smallest class size.
    ``x`` may be a ``RowSource``: only a fold's fitting sample and a chunk of its held-out rows
    are read at a time, so N rows are never all in memory.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    present = np.unique(labels)
    counts = np.bincount(labels)[present]
    folds = int(min(folds, counts.min()))
    if folds < 2:
        raise StudioError("Every class needs at least two images for the reference probe.")
    if not isinstance(x, RowSource):
        x = np.asarray(x, dtype=np.float32)
    probs = np.zeros((len(labels), n_classes), dtype=np.float32)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    rng = np.random.default_rng(seed)
    for i, (fit_rows, held_out) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        cancel.raise_if_cancelled()
        if len(fit_rows) > FIT_MAX:
            fit_rows = np.sort(rng.choice(fit_rows, FIT_MAX, replace=False))
        yield Progress(i, folds, f"reference probe, fold {i + 1}/{folds}")
        probe = LogisticRegression(C=PROBE_C, max_iter=MAX_ITER)
        with warnings.catch_warnings(), threadpool_limits(BLAS_THREADS):
            warnings.simplefilter("ignore")  # convergence notes: the probe is a reference only
            probe.fit(rows_of(x, fit_rows), labels[fit_rows])
        for start in range(0, len(held_out), CHUNK_ROWS):  # one piece up to 32k held-out rows
            part = held_out[start : start + CHUNK_ROWS]
            probs[np.ix_(part, probe.classes_)] = probe.predict_proba(rows_of(x, part))
    yield Progress(folds, folds, "reference probe done")
    return probs


def rows_of(x: np.ndarray | RowSource, positions: np.ndarray) -> np.ndarray:
    """The rows at ``positions`` of an array or of a ``RowSource`` (read from it)."""
    return x.take(positions) if isinstance(x, RowSource) else x[positions]
