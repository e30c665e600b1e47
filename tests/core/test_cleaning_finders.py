"""Done-when of the cleaning finders, on a copy of the digits demo with 30 planted label flips
and 20 planted near-duplicates (tests/core/cleaning_fixtures.py), embedded with the demo CLIP:
the label-issue ranking puts >= 80 % of the flips in its top 60 and the duplicate finder finds
>= 95 % of the duplicates. Measured 2026-12-01 (seed 0, 60 per class): see the note in the
commit and the assertion messages. Also the finders' pieces on small arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from debias_studio.core.annotate.duplicates import clusters, find_pairs
from debias_studio.core.annotate.label_issues import rank_label_issues
from debias_studio.core.annotate.outliers import outlier_scores, ranked_outliers
from debias_studio.core.annotate.review import find_duplicates, find_label_issues, find_outliers
from debias_studio.core.jobs import CancelToken, JobCancelled, run_quiet
from debias_studio.core.resources import DEMO_MODEL_DIR
from tests.core.cleaning_fixtures import planted_digits

needs_demo_clip = pytest.mark.skipif(
    not (DEMO_MODEL_DIR / "open_clip_model.safetensors").is_file(),
    reason="the demo CLIP (resources/models/demo-clip) has not been trained yet",
)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_exact_and_cell_search_agree_and_clusters_join_pairs() -> None:
    rng = np.random.default_rng(0)
    x = _unit(rng.standard_normal((3000, 32)))
    x[10] = _unit(x[[5]] + 0.01)[0]
    x[11] = _unit(x[[5]] + 0.02)[0]
    x[2999] = _unit(x[[7]] + 0.01)[0]
    exact = run_quiet(find_pairs(x, 0.95, exact=True))
    cells = run_quiet(find_pairs(x, 0.95, exact=False))
    got = set(zip(exact.first.tolist(), exact.second.tolist(), strict=True))
    assert {(5, 10), (5, 11), (10, 11), (7, 2999)} <= got
    assert got == set(zip(cells.first.tolist(), cells.second.tolist(), strict=True))
    assert np.all(np.diff(exact.similarity) <= 0)
    ids = clusters(exact, len(x))
    assert ids[5] == ids[10] == ids[11] == 0 and ids[7] == ids[2999] == 1 and ids[0] == -1


def test_a_cancelled_search_stops() -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(JobCancelled):
        run_quiet(find_pairs(np.eye(20, dtype=np.float32), 0.9, cancel=token))


def test_confident_disagreement_is_ranked_and_outliers_stand_out() -> None:
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9], [0.95, 0.05]], np.float32)
    labels = np.array([0, 0, 1, 1, 1])
    issues = rank_label_issues(probs, labels)
    assert issues.image_ids.tolist() == [4] and issues.suggested.tolist() == [0]
    rng = np.random.default_rng(1)
    x = _unit(np.vstack([rng.normal(0, 0.05, (20, 8)) + np.eye(8)[0], -np.eye(8)[[0]]]))
    scores = outlier_scores(x, np.zeros(21, dtype=np.int64), np.arange(21))
    assert ranked_outliers(scores, 1).tolist() == [20]


@pytest.mark.slow
@needs_demo_clip
def test_planted_flips_and_duplicates_are_found(tmp_path: Path) -> None:
    planted = planted_digits(tmp_path / "planted")
    project = planted.project
    try:
        issues = run_quiet(find_label_issues(project, "demo", device="cpu"))
        top = set(issues["image_id"].head(60).tolist())
        flips_found = len(top & set(planted.flipped)) / len(planted.flipped)
        pairs = run_quiet(find_duplicates(project, "demo", device="cpu"))
        found = set(zip(pairs["first"].tolist(), pairs["second"].tolist(), strict=True))
        truth = {(min(a, b), max(a, b)) for a, b in planted.duplicates}
        duplicates_found = len(truth & found) / len(truth)
        outliers = run_quiet(find_outliers(project, "demo", top=10))
        print(
            f"flips in top 60: {flips_found:.2f}; duplicates found: {duplicates_found:.2f}; "
            f"pairs reported: {len(pairs)}; leaks: {int(pairs['leak'].sum())}"
        )
        assert flips_found >= 0.80, f"only {flips_found:.0%} of the flips in the top 60"
        assert duplicates_found >= 0.95, f"only {duplicates_found:.0%} of the duplicates found"
        assert pairs["leak"].any()
        assert len(outliers) == 10 and outliers["score"].is_monotonic_decreasing
    finally:
        project.close()
