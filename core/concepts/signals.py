"""The three signals of discovery per (class c, concept k), and their combined rank.

* association: ROC-AUC of concept k's score for "is class c" against the other classes
  (Mann-Whitney, from per-class score histograms; ties count one half);
* error gap (B2T): mean standardised score of c's misclassified images minus that of its
  correctly classified ones; both signs matter, so the rank uses its magnitude;
* instability (DISC): the spread across environments of the class-c probability that one
  gradient step on each environment gives the concept direction (see ``instability``).

Shapes: concepts along the first axis, classes along the second, (K, C).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from debias_studio.core.concepts.scoring import ConceptStats, RowSource

EXPLANATIONS: dict[str, str] = {
    "association": "How strongly the concept travels with the class (ROC-AUC of its score, "
    "0.5 = not at all).",
    "error_gap": "Mean concept score on the class's misclassified images minus on its correct "
    "ones: the concept describes where the model fails (or what it leans on when right).",
    "instability": "How much the concept's pull towards the class changes across environments "
    "(DISC): a stable concept is core, an unstable one a shortcut.",
    "score": "Spuriousness: mean of the three signals' ranks (1 = most likely a shortcut).",
}
"""One line per signal, shown to the user next to the numbers."""

DEFAULT_STEP = 1.0
"""eta of the simulated gradient step along a unit concept direction."""


# ---- association ------------------------------------------------------------------------------
def auc_from_histograms(histograms: np.ndarray) -> np.ndarray:
    """ROC-AUC (B, C) of "is class c" from per-class score histograms (B, C, bins): the
    Mann-Whitney statistic, pairs in the same bin counting one half. NaN for a class with no
    image, or with all of them.

    With T the histogram of all images, the pairs class c wins against everyone are
    sum_b h_c[b] (T[<b] + T[b] / 2); those against itself are exactly n_c^2 / 2, so one
    cumulative sum over T serves every class. The sum over bins is a batched matrix-vector
    product (BLAS); its terms are integers and halves far below 2**53, so it is exact in
    float64 whatever the order of summation."""
    h = np.asarray(histograms, dtype=np.float64)
    total = h.sum(axis=1)
    below = np.cumsum(total, axis=1) - 0.5 * total
    n_class = h.sum(axis=2)
    n_other = n_class.sum(axis=1, keepdims=True) - n_class
    wins = np.matmul(h, below[:, :, None])[:, :, 0] - 0.5 * n_class**2
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = wins / (n_class * n_other)
    auc[(n_class == 0) | (n_other == 0)] = np.nan
    return auc


# ---- sums over images, streamed ----------------------------------------------------------------
@dataclass
class ImageSums:
    """Everything the linear signals need, summed over images (d-sized, never per image)."""

    right_sum: np.ndarray  # (C, d) sum of z over correctly classified members of c
    right_n: np.ndarray  # (C,)
    wrong_sum: np.ndarray  # (C, d)
    wrong_n: np.ndarray  # (C,)
    grad_w: np.ndarray  # (E, C, d) mean over environment e of (p_i - y_i)_c z_i
    grad_b: np.ndarray  # (E, C) mean over environment e of (p_i - y_i)_c
    env_n: np.ndarray  # (E,)


def image_sums(
    source: RowSource,
    labels: np.ndarray,
    probs: np.ndarray,
    environments: np.ndarray,
    n_classes: int,
    n_environments: int,
) -> ImageSums:
    """Class-by-correctness sums of z and the cross-entropy gradient of a linear head per
    environment: g_W^e = mean_{i in e} (p_i - onehot(y_i)) z_i^T, g_b^e = mean (p_i - onehot)."""
    d, c_n, e_n = source.dim, n_classes, n_environments
    correct = probs.argmax(axis=1) == labels
    sums = np.zeros((2, c_n, d))
    counts = np.zeros((2, c_n))
    grad_w = np.zeros((e_n, c_n, d))
    grad_b = np.zeros((e_n, c_n))
    env_n = np.zeros(e_n)
    for start, chunk in source.chunks():
        part = slice(start, start + len(chunk))
        y, ok, env = labels[part], correct[part], environments[part]
        z = chunk.astype(np.float64)
        key = (~ok).astype(np.int64) * c_n + y  # 0..C-1 right, C..2C-1 wrong
        onehot = np.zeros((len(key), 2 * c_n))
        onehot[np.arange(len(key)), key] = 1.0
        sums += (onehot.T @ z).reshape(2, c_n, d)
        counts += onehot.sum(axis=0).reshape(2, c_n)
        residual = probs[part].astype(np.float64)
        residual[np.arange(len(y)), y] -= 1.0
        for e in range(e_n):
            rows = env == e
            if rows.any():
                grad_w[e] += residual[rows].T @ z[rows]
                grad_b[e] += residual[rows].sum(axis=0)
                env_n[e] += rows.sum()
    scale = np.where(env_n > 0, env_n, 1.0)
    return ImageSums(
        right_sum=sums[0],
        right_n=counts[0],
        wrong_sum=sums[1],
        wrong_n=counts[1],
        grad_w=grad_w / scale[:, None, None],
        grad_b=grad_b / scale[:, None],
        env_n=env_n,
    )


# ---- error gap --------------------------------------------------------------------------------
def error_gaps(sums: ImageSums, concepts: np.ndarray, stats: ConceptStats) -> np.ndarray:
    """(K, C): mean z-score on c's misclassified images minus on its correct ones (NaN when c
    has no image on one side, 0 for a constant concept)."""
    t = np.asarray(concepts, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        wrong = sums.wrong_sum / sums.wrong_n[:, None]
        right = sums.right_sum / sums.right_n[:, None]
    raw = (wrong - right) @ t.T  # (C, K); the concept's mean cancels
    safe = np.where(stats.std > 0, stats.std, 1.0)
    gap = (raw / safe * (stats.std > 0)).T
    gap[:, (sums.wrong_n == 0) | (sums.right_n == 0)] = np.nan
    return gap


# ---- instability ------------------------------------------------------------------------------
def concept_gradients(sums: ImageSums, concepts: np.ndarray, stats: ConceptStats) -> np.ndarray:
    """(E, K, C): the head's gradient projected on each concept direction,
    a_ekc = mean_{i in e} (p_i - y_i)_c (z_i . t_k - mu_k) = g_W^e[c] . t_k - mu_k g_b^e[c].

    In the embedding's own units, like DISC's CAVs (all at one scale): a concept the images
    barely vary along cannot pull the model much, however well its tiny variations correlate
    with the errors (z-scoring would blow those up). Centred, so a constant concept has a = 0."""
    t = np.asarray(concepts, dtype=np.float64)
    projected = np.einsum("ecd,kd->ekc", sums.grad_w, t)
    centred = projected - stats.mean[None, :, None] * sums.grad_b[:, None, :]
    return centred * (stats.std > 0)[None, :, None]


def instability(
    gradients: np.ndarray, grad_b: np.ndarray, env_n: np.ndarray, step: float = DEFAULT_STEP
) -> np.ndarray:
    """DISC's concept sensitivity (K, C), not yet normalised.

    For each environment e, one step of size ``step`` along concept k moves the logits by
    -step (a_ek + g_b^e); S_e[k] = softmax of that. DISC takes std_e S_e[k, c]. The bias step
    g_b^e is the same for every concept, so we measure the spread of S_e[k, c] - S_e^0[c] with
    S_e^0 = softmax(-step g_b^e) the step without any concept: a concept whose pull is the same
    in every environment (or that is constant) then scores exactly zero, and the shared bias
    term adds no floor that would blur the ranking. Empty environments are left out.
    """
    used = env_n > 0
    if used.sum() < 2:
        return np.zeros(gradients.shape[1:])
    a, b = gradients[used], grad_b[used]
    with_concept = _softmax(-step * (a + b[:, None, :]))
    without = _softmax(-step * b)[:, None, :]
    return (with_concept - without).std(axis=0)


def normalise_per_class(values: np.ndarray) -> np.ndarray:
    """DISC's normalisation over concepts: each class's column sums to 1 (all-zero stays 0)."""
    totals = values.sum(axis=0, keepdims=True)
    return np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)


def _softmax(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


# ---- combined rank ----------------------------------------------------------------------------
def descending_ranks(values: np.ndarray) -> np.ndarray:
    """Per class (column): 1-based rank of each concept, highest value first; ties share the
    mean rank; NaN stays NaN."""
    out = np.full(values.shape, np.nan)
    for c in range(values.shape[1]):
        column = values[:, c]
        ok = ~np.isnan(column)
        if ok.any():
            out[ok, c] = _average_ranks(-column[ok])
    return out


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    first = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group = np.cumsum(first) - 1
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(x)]
    ranks[order] = ((starts + ends + 1) / 2.0)[group]
    return ranks


def combined_score(rank_sets: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Spuriousness score (K, C) in [0, 1] (1 = ranked first by every signal) and the final
    1-based rank per class (ties broken by concept order). Missing signals are skipped."""
    n_concepts = rank_sets[0].shape[0]
    stacked = np.stack([(r - 1.0) / max(n_concepts - 1, 1) for r in rank_sets])
    present = (~np.isnan(stacked)).sum(axis=0)
    total = np.nansum(stacked, axis=0)
    mean = np.divide(total, present, out=np.ones_like(total), where=present > 0)
    score = 1.0 - mean
    rank = np.empty(score.shape, dtype=np.int64)
    for c in range(score.shape[1]):
        order = np.lexsort((np.arange(n_concepts), -score[:, c]))
        rank[order, c] = np.arange(1, n_concepts + 1)
    return score, rank
