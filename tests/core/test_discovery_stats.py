"""Discovery's statistics against their references: the analytic rank-sum p against label
permutations done by brute force, Welch's interval and Benjamini-Hochberg against scipy,
Wilson's interval by hand, the verdicts and the order they give, and no significant concept once
the labels are shuffled."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from debias_studio.core.concepts.discovery import discover_arrays
from debias_studio.core.concepts.intervals import wilson_interval
from debias_studio.core.concepts.statistics import (
    VERDICTS,
    Interval,
    Moments,
    benjamini_hochberg,
    evidence_ranks,
    mean_difference,
    pair_statistics,
    rank_sum_test,
    verdicts,
)
from debias_studio.core.jobs import run_quiet
from tests.core.test_concepts_support import COLOURS, DISTRACTORS, OBJECTS, concept_matrix, world

NAMES = COLOURS + OBJECTS + DISTRACTORS


def _histogram(values: np.ndarray, member: np.ndarray) -> np.ndarray:
    """(1, 2, bins) histograms of integer scores 0..bins-1: the class, the rest."""
    bins = int(values.max()) + 1
    h = np.zeros((1, 2, bins), dtype=np.int64)
    np.add.at(h[0], (np.where(member, 0, 1), values), 1)
    return h


@pytest.mark.parametrize("shift", [0.0, 0.4, 0.8])
def test_rank_sum_p_matches_label_permutations(shift: float) -> None:
    rng = np.random.default_rng(1)
    n, n_class = 120, 30
    member = np.zeros(n, dtype=bool)
    member[:n_class] = True
    values = np.clip(np.round(rng.normal(size=n) * 2 + 6 + shift * 2 * member), 0, 12)
    values = values.astype(np.int64)  # many ties: the tie correction matters
    _auc, p = rank_sum_test(_histogram(values, member))
    ranks = scipy_stats.rankdata(values)
    observed = ranks[member].sum()
    permuted = np.array([ranks[rng.permutation(n)[:n_class]].sum() for _ in range(20_000)])
    by_permutation = (np.sum(permuted >= observed) + 1) / (len(permuted) + 1)
    assert p[0, 0] == pytest.approx(by_permutation, abs=0.01 + 0.1 * by_permutation)
    reference = scipy_stats.mannwhitneyu(values[member], values[~member], alternative="greater")
    assert p[0, 0] == pytest.approx(reference.pvalue, rel=1e-6, abs=1e-12)


def test_welch_interval_matches_scipy() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(0.5, 1.0, 12), rng.normal(0.0, 2.0, 40)

    def moments(x: np.ndarray) -> Moments:
        return Moments(np.array([len(x)]), np.array([x.sum()]), np.array([(x * x).sum()]))

    found = mean_difference(moments(a), moments(b))
    reference = scipy_stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert found.estimate[0] == pytest.approx(a.mean() - b.mean())
    assert found.low[0] == pytest.approx(reference.low)
    assert found.high[0] == pytest.approx(reference.high)
    single = mean_difference(moments(a[:1]), moments(b))
    assert np.isnan(single.estimate[0])


def test_benjamini_hochberg_matches_scipy_and_skips_nan() -> None:
    p = np.random.default_rng(3).uniform(size=(40, 5)) ** 3
    np.testing.assert_allclose(
        benjamini_hochberg(p).ravel(), scipy_stats.false_discovery_control(p.ravel())
    )
    p[0, 0] = np.nan
    q = benjamini_hochberg(p)
    assert np.isnan(q[0, 0])
    finite = p.ravel()[1:]
    np.testing.assert_allclose(q.ravel()[1:], scipy_stats.false_discovery_control(finite))


def test_wilson_interval_by_hand() -> None:
    low, high = wilson_interval(np.array([0, 5, 3]), np.array([10, 10, 0]))
    assert low[0] == pytest.approx(0.0, abs=1e-12) and high[0] == pytest.approx(0.2775, abs=1e-4)
    assert low[1] == pytest.approx(0.2366, abs=1e-4) and high[1] == pytest.approx(0.7634, abs=1e-4)
    assert np.isnan(low[2]) and np.isnan(high[2])


def _discover(w: dict, labels: np.ndarray):  # type: ignore[no-untyped-def]
    return run_quiet(
        discover_arrays(
            w["z"].astype(np.float16),
            labels,
            concept_matrix(w, NAMES),
            classes=OBJECTS,
            concepts=NAMES,
        )
    )


def test_no_concept_is_significant_once_the_labels_are_shuffled() -> None:
    w = world()
    planted = _discover(w, w["y"])
    assert planted.significant.sum() >= len(OBJECTS)  # the test can fail: there is signal
    for seed in range(3):
        shuffled = np.random.default_rng(seed).permutation(w["y"])
        result = _discover(w, shuffled)
        assert not result.significant.any(), result.table(significant_only=True)
        assert set(result.to_json(significant_only=True)["rows"]) == set()


def test_one_pair_recomputed_matches_the_table() -> None:
    w = world()
    result = _discover(w, w["y"])
    k, c = NAMES.index(COLOURS[1]), 1
    scores = w["z"].astype(np.float16).astype(np.float32) @ concept_matrix(w, NAMES)[k]
    wrong = np.zeros(len(scores), dtype=bool)  # no error gap asked for
    auc, p, shift, _gap = pair_statistics(scores, w["y"] == c, wrong)
    assert auc == pytest.approx(result.association[k, c], abs=1e-3)
    assert p == pytest.approx(result.p_value[k, c], rel=0.05, abs=1e-300)
    assert shift.estimate[0] == pytest.approx(result.shift[k, c], abs=1e-2)
    assert shift.low[0] == pytest.approx(result.shift_low[k, c], abs=1e-2)


def test_a_gap_over_a_few_errors_does_not_outrank_strong_evidence_and_core_goes_down() -> None:
    """One class, four significant concepts: a chance "shortcut" (tiny shift, a negative gap of
    two errors), the planted one (large shift, gap too uncertain to say), a core one (the errors
    keep it: gap near zero, tight) and one whose errors cannot be counted (NaN gap)."""
    shift = np.array([[0.3], [2.0], [2.2], [1.0]])
    gap = Interval(
        estimate=np.array([[-1.2], [-1.6], [-0.1], [np.nan]]),
        low=np.array([[-2.2], [-13.0], [-0.3], [np.nan]]),
        high=np.array([[-0.2], [10.0], [0.1], [np.nan]]),
    )
    q = np.full((4, 1), 1e-6)
    verdict = verdicts(q, shift, gap)
    assert [VERDICTS[v] for v in verdict[:, 0]] == ["shortcut", "associated", "core", "associated"]
    shift_low = shift - 0.2
    assert evidence_ranks(verdict, shift_low)[:, 0].tolist() == [3, 1, 4, 2]
    not_significant = verdicts(np.ones((4, 1)), shift, gap)
    assert {VERDICTS[v] for v in not_significant[:, 0]} == {"not significant"}
