"""Each signal against a case small enough to compute by hand, and the streamed scoring against
brute force."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from debias_studio.core.concepts.cav import cav_from_folder, exemplar_files, learn_cav
from debias_studio.core.concepts.scoring import (
    RowSource,
    concept_stats,
    running_top_k,
    scan_concepts,
    score_blocks,
    top_in_rows,
)
from debias_studio.core.concepts.signals import (
    concept_gradients,
    image_sums,
    instability,
    normalise_per_class,
)
from debias_studio.core.concepts.statistics import rank_sum_test
from debias_studio.core.errors import StudioError


def _aucs(scores: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """AUCs (K, C) the way discovery computes them: streamed, rows sorted by class."""
    rows = np.argsort(labels, kind="stable")
    source = RowSource(scores.T.copy(), rows)  # each "image" has one coordinate per concept
    concepts = np.eye(len(scores), dtype=np.float32)
    stats = concept_stats(source, concepts)
    bounds = np.searchsorted(labels[rows], np.arange(n_classes + 1))
    parts = list(scan_concepts(source, concepts, stats, bounds, 2))
    return np.concatenate([rank_sum_test(p.histograms)[0] for p in parts])


def test_auc_on_a_tiny_set_by_hand() -> None:
    # pairs (class 0 vs 1): 3>2, 3>1, 2=2 (a tie counts one half), 2>1 -> 3.5 / 4
    scores = np.array([[3.0, 2.0, 2.0, 1.0]], dtype=np.float32)
    labels = np.array([0, 0, 1, 1])
    np.testing.assert_allclose(_aucs(scores, labels, 2), [[0.875, 0.125]])
    by_hand = np.zeros((1, 2, 3), dtype=np.int64)  # histograms: bins 1, 2, 3
    by_hand[0, 0] = [0, 1, 1]
    by_hand[0, 1] = [1, 1, 0]
    np.testing.assert_allclose(rank_sum_test(by_hand)[0], [[0.875, 0.125]])


def test_auc_matches_sklearn_and_handles_missing_classes() -> None:
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=(5, 300)), 1).astype(np.float32)  # many ties
    labels = rng.integers(0, 3, 300)
    labels[labels == 2] = 1  # class 2 absent
    auc = _aucs(scores, labels, 3)
    for k in range(5):
        assert auc[k, 0] == pytest.approx(roc_auc_score(labels == 0, scores[k]), abs=1e-9)
    assert np.isnan(auc[:, 2]).all()
    continuous = rng.normal(size=(3, 2000)).astype(np.float32)
    labels = rng.integers(0, 2, 2000)
    auc = _aucs(continuous + labels * 0.5, labels, 2)
    for k in range(3):
        expected = roc_auc_score(labels == 1, continuous[k] + labels * 0.5)
        assert auc[k, 1] == pytest.approx(expected, abs=2e-3)  # bins of 0.004 sd


def test_top_images_per_class_come_from_their_class() -> None:
    rng = np.random.default_rng(7)
    z = rng.normal(size=(500, 8)).astype(np.float32)
    labels = rng.integers(0, 4, 500)
    rows = np.argsort(labels, kind="stable")
    t = rng.normal(size=(6, 8)).astype(np.float32)
    source = RowSource(z, rows)
    bounds = np.searchsorted(labels[rows], np.arange(5))
    (part,) = scan_concepts(source, t, concept_stats(source, t), bounds, 3)
    raw = z @ t.T
    for c in range(4):
        members = np.flatnonzero(labels == c)
        for k in range(6):
            expected = members[np.argsort(-raw[members, k], kind="stable")[:3]]
            np.testing.assert_array_equal(rows[part.top_positions[c, k]], expected)


def test_instability_of_a_constant_concept_is_zero() -> None:
    rng = np.random.default_rng(2)
    n, d = 120, 5
    z = rng.normal(size=(n, d)).astype(np.float32)
    z[:, 0] = 0.7  # concept e0 scores the same on every image
    t = np.eye(d, dtype=np.float32)[:2]
    labels = rng.integers(0, 3, n)
    probs = rng.dirichlet([1, 1, 1], n).astype(np.float32)
    env = rng.integers(0, 3, n)
    source = RowSource(z, np.arange(n))
    stats = concept_stats(source, t)
    assert stats.std[0] == 0.0
    sums = image_sums(source, labels, probs, env, 3, 3)
    sensitivity = instability(concept_gradients(sums, t, stats), sums.grad_b, sums.env_n)
    np.testing.assert_allclose(sensitivity[0], 0.0, atol=1e-12)
    assert sensitivity[1].max() > 1e-3  # the varying concept is not


def test_instability_of_a_concept_acting_alike_in_every_environment_is_zero() -> None:
    # Environment 1 repeats environment 0's (residual, concept score) pairs, but its images
    # differ along e1: concept e0 pulls the same way in both, concept e1 does not.
    rng = np.random.default_rng(3)
    n, d = 60, 3
    z0 = rng.normal(size=(n, d)).astype(np.float32)
    z1 = z0.copy()
    z1[:, 1] = rng.normal(size=n)
    z = np.concatenate([z0, z1])
    labels = np.tile(rng.integers(0, 2, n), 2)
    probs = np.tile(rng.dirichlet([1, 1], n), (2, 1)).astype(np.float32)
    env = np.repeat([0, 1], n)
    t = np.eye(d, dtype=np.float32)[:2]
    source = RowSource(z, np.arange(2 * n))
    stats = concept_stats(source, t)
    sums = image_sums(source, labels, probs, env, 2, 2)
    sensitivity = instability(concept_gradients(sums, t, stats), sums.grad_b, sums.env_n)
    np.testing.assert_allclose(sensitivity[0], 0.0, atol=1e-9)
    assert sensitivity[1].max() > 1e-3


def test_instability_by_hand_for_two_environments() -> None:
    # a_e (E=2, K=1, C=2) given directly, no bias step: S_e = softmax(-a_e), S0 = [0.5, 0.5].
    a = np.array([[[1.0, 0.0]], [[0.0, 0.0]]])
    s = instability(a, np.zeros((2, 2)), np.array([5.0, 5.0]), step=1.0)
    p = 1 / (1 + np.e)  # softmax([-1, 0])[0]
    expected = abs(p - 0.5) / 2  # std of {p - 0.5, 0} over two environments
    np.testing.assert_allclose(s, [[expected, expected]], rtol=1e-12)
    normalised = normalise_per_class(np.array([[1.0, 0.0], [3.0, 0.0]]))
    np.testing.assert_allclose(normalised, [[0.25, 0], [0.75, 0]])


def test_streamed_scores_equal_brute_force() -> None:
    rng = np.random.default_rng(4)
    z = rng.normal(size=(1000, 16)).astype(np.float16)
    t = rng.normal(size=(37, 16)).astype(np.float32)
    rows = np.sort(rng.choice(1000, 700, replace=False))
    full = np.asarray(z[rows], dtype=np.float32) @ t.T
    source = RowSource(z, rows, budget=100_000)  # too small to cache: chunked reads
    stats = concept_stats(source, t)
    np.testing.assert_allclose(stats.mean, full.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats.std, full.std(0), rtol=1e-4)
    blocks = list(score_blocks(source, t, 5))
    assert len(blocks) > 1
    for block, raw in blocks:
        np.testing.assert_allclose(raw, full[:, block].T, rtol=1e-5, atol=1e-5)
    pos, val = running_top_k(RowSource(z, rows), t, 5)
    expected = np.argsort(-full, axis=0, kind="stable")[:5].T
    np.testing.assert_array_equal(pos, expected)
    np.testing.assert_allclose(val, np.take_along_axis(full.T, expected, 1), rtol=1e-5)


def test_cached_rows_score_in_one_call_into_a_reused_buffer() -> None:
    rng = np.random.default_rng(6)
    z = rng.normal(size=(500, 16)).astype(np.float16)
    t = rng.normal(size=(12, 16)).astype(np.float32)
    source = RowSource(z, np.arange(500))
    assert source.cached is not None
    full = source.cached @ t.T
    seen = []
    for block, raw in score_blocks(source, t, 5, reuse=True):
        np.testing.assert_allclose(raw, full[:, block].T, rtol=1e-5, atol=1e-5)
        seen.append(raw)
    assert len(seen) == 3 and all(np.shares_memory(seen[0], raw) for raw in seen)


def _top_by_brute_force(scores: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.array([np.lexsort((np.arange(scores.shape[1]), -row))[:m] for row in scores])
    return order, np.take_along_axis(scores, order, axis=1)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("length", [300, 20_003])  # partitioned / bounded by group maxima
def test_top_in_rows_equals_brute_force_with_ties_by_position(ties: bool, length: int) -> None:
    rng = np.random.default_rng(7)
    scores = rng.normal(size=(6, length)).astype(np.float32)
    if ties:  # few distinct values: the m-th largest is tied many times over
        scores = np.round(scores, 0)
    view = np.pad(scores, ((0, 0), (3, 5)))[:, 3:-5]  # a strided view, as a class is of a block
    pos, val = top_in_rows(view, 8)
    expected_pos, expected_val = _top_by_brute_force(scores, 8)
    np.testing.assert_array_equal(pos, expected_pos)
    np.testing.assert_array_equal(val, expected_val)


def test_top_in_rows_with_nan_still_returns_m_entries() -> None:
    scores = np.random.default_rng(8).normal(size=(3, 5_000)).astype(np.float32)
    scores[1] = np.nan
    pos, val = top_in_rows(scores, 8)
    assert pos.shape == (3, 8)
    np.testing.assert_array_equal(val[0], np.sort(scores[0])[::-1][:8])


def test_cav_separates_exemplars_and_refuses_empty_folders(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    direction = np.eye(8)[2]
    positives = rng.normal(size=(30, 8)) * 0.2 + direction
    negatives = rng.normal(size=(60, 8)) * 0.2
    cav = learn_cav(positives, negatives)
    assert cav.vector @ direction > 0.9
    assert cav.train_accuracy > 0.95 and cav.max_margin > 0
    with pytest.raises(StudioError, match="no exemplar"):
        learn_cav(np.zeros((0, 8)), negatives)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("x")
    with pytest.raises(StudioError, match="holds no images"):
        exemplar_files(empty, "ruler")
    with pytest.raises(StudioError, match="does not exist"):
        cav_from_folder("ruler", tmp_path / "missing", lambda files: np.zeros((0, 8)), negatives)
