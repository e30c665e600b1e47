"""The signals of discovery per (class c, concept k) and what the user reads about them.

* association: ROC-AUC of concept k's score for "is class c" against the other classes, and the
  shift of its mean, with the rank-sum test (``core.concepts.statistics``, from histograms);
* error gap (B2T): mean standardised score of c's misclassified images minus that of its
  correctly classified ones, with its interval (``core.concepts.statistics``);
* instability (DISC): the spread across environments of the class-c probability that one
  gradient step on each environment gives the concept direction (here: ``instability``, from
  sums over images streamed once).

Shapes: concepts along the first axis, classes along the second, (K, C).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from debias_studio.core.concepts.scoring import ConceptStats, RowSource

EXPLANATIONS: dict[str, str] = {
    "association": "How strongly the concept travels with the class (ROC-AUC of its score, "
    "0.5 = not at all).",
    "shift": "How much higher the concept scores in the class than in the other classes, in "
    "standard deviations, with its 95 % interval (low, high).",
    "q_value": "False-discovery-adjusted significance of the association (rank-sum test against "
    "shuffled labels, Benjamini-Hochberg over every class and concept); significant when at "
    "most 0.05.",
    "error_gap": "Mean concept score on the class's misclassified images minus on its correct "
    "ones, with its 95 % interval: below zero, the model fails where the concept is absent.",
    "instability": "How much the concept's pull towards the class changes across environments "
    "(DISC): a stable concept is core, an unstable one a shortcut.",
    "verdict": "shortcut: a significant association that the class's misclassified images lack "
    "(they have lost at least half of its shift); core: significant, and the errors surely keep "
    "more than half of it (a core feature looks like this); associated: significant, and the "
    "errors cannot tell which; not significant: no evidence beyond chance.",
    "score": "Evidence: the low end of the shift's interval. Significant rows come first "
    "(core ones after the others), each ordered by this.",
}
"""One line per signal, shown to the user next to the numbers."""

DEFAULT_STEP = 1.0
"""eta of the simulated gradient step along a unit concept direction."""


# ---- sums over images, streamed ----------------------------------------------------------------
@dataclass
class ImageSums:
    """What DISC's instability needs, summed over images (d-sized, never per image)."""

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
    """The cross-entropy gradient of a linear head per environment:
    g_W^e = mean_{i in e} (p_i - onehot(y_i)) z_i^T, g_b^e = mean (p_i - onehot)."""
    d, c_n, e_n = source.dim, n_classes, n_environments
    grad_w = np.zeros((e_n, c_n, d))
    grad_b = np.zeros((e_n, c_n))
    env_n = np.zeros(e_n)
    for start, chunk in source.chunks():
        part = slice(start, start + len(chunk))
        y, env = labels[part], environments[part]
        z = chunk.astype(np.float64)
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
        grad_w=grad_w / scale[:, None, None], grad_b=grad_b / scale[:, None], env_n=env_n
    )


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
