"""Rows too many to keep in memory take the streamed path (concept blocks summed over row chunks,
the probe and the environments read in pieces) and it gives the in-memory path's results."""

from __future__ import annotations

import numpy as np
import pytest

from debias_studio.core.concepts import environments, probe, scoring
from debias_studio.core.concepts.discovery import DiscoveryParams, discover_arrays
from debias_studio.core.concepts.scoring import RowSource, concept_stats, scan_concepts
from debias_studio.core.jobs import run_quiet
from tests.core.test_concepts_support import COLOURS, DISTRACTORS, OBJECTS, concept_matrix, world

NAMES = COLOURS + OBJECTS + DISTRACTORS
SMALL_BUDGET = 200_000
"""Below 2 x rows x d x 4 bytes of the worlds here: the rows are not cached."""


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks and pieces of a few hundred rows, so that a small world spans several."""
    monkeypatch.setattr(scoring, "CHUNK_ROWS", 250)
    monkeypatch.setattr(probe, "CHUNK_ROWS", 250)
    monkeypatch.setattr(environments, "PIECE_ROWS", 170)


def _scan(source: RowSource, t: np.ndarray, y: np.ndarray, wrong: np.ndarray) -> list:
    stats = concept_stats(source, t)
    bounds = np.searchsorted(y, np.arange(4))
    groups = y + 3 * wrong
    return list(scan_concepts(source, t, stats, bounds, 8, 4_000_000, groups=groups, n_groups=6))


def test_row_chunks_give_the_cached_scan(small_chunks: None) -> None:
    rng = np.random.default_rng(2)
    z = rng.normal(size=(1200, 48)).astype(np.float16)
    t = rng.normal(size=(40, 48)).astype(np.float32)
    y = np.sort(rng.integers(0, 3, len(z)))
    wrong = rng.random(len(z)) < 0.1
    cached = RowSource(z, np.arange(len(z)))
    streamed = RowSource(z, np.arange(len(z)), budget=SMALL_BUDGET)
    assert cached.cached is not None and streamed.cached is None
    a, b = _scan(cached, t, y, wrong), _scan(streamed, t, y, wrong)
    assert len(a) > 1 and len(b) > 1
    for name in ("top_positions", "top_scores", "group_sums", "group_squares", "histograms"):
        whole_a = np.concatenate([getattr(p, name) for p in a], axis=1 if "top" in name else 0)
        whole_b = np.concatenate([getattr(p, name) for p in b], axis=1 if "top" in name else 0)
        if name == "top_positions":
            np.testing.assert_array_equal(whole_a, whole_b)
        elif name == "histograms":  # a score may land in the neighbouring bin (another shape)
            np.testing.assert_array_equal(whole_a.sum(axis=2), whole_b.sum(axis=2))
            assert np.abs(whole_a - whole_b).sum() <= 2e-4 * whole_a.sum()
        else:  # float32 products summed over the rows at once or chunk by chunk
            np.testing.assert_allclose(whole_a, whole_b, rtol=1e-5, atol=1e-3)


def test_streamed_discovery_equals_the_in_memory_one(small_chunks: None) -> None:
    w = world(n=1500)
    z = w["z"].astype(np.float16)

    def run(budget: int):  # type: ignore[no-untyped-def]
        params = DiscoveryParams(seed=1, memory_budget=budget)
        job = discover_arrays(
            z, w["y"], concept_matrix(w, NAMES), classes=OBJECTS, concepts=NAMES, params=params
        )
        return run_quiet(job)

    memory, streamed = run(scoring.DEFAULT_BUDGET), run(SMALL_BUDGET)
    assert RowSource(z, np.arange(len(z)), SMALL_BUDGET).cached is None
    assert memory.probe_accuracy == streamed.probe_accuracy
    assert memory.environments == streamed.environments
    np.testing.assert_array_equal(memory.rank, streamed.rank)
    np.testing.assert_array_equal(memory.verdict, streamed.verdict)
    np.testing.assert_array_equal(memory.exemplars_in, streamed.exemplars_in)
    np.testing.assert_array_equal(memory.exemplars_out, streamed.exemplars_out)
    for name in ("association", "shift", "shift_low", "error_gap", "q_value", "instability"):
        np.testing.assert_allclose(
            getattr(memory, name), getattr(streamed, name), atol=1e-4, rtol=1e-3
        )


def test_class_pieces_give_the_dense_features(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    z = rng.normal(size=(900, 24)).astype(np.float16)
    correct = (rng.random(900) < 0.8).astype(np.float64)
    rows = np.arange(900)
    monkeypatch.setattr(environments, "PIECE_ROWS", 128)
    dense = environments.class_pieces(RowSource(z, rows), rows)
    pieced = environments.class_pieces(RowSource(z, rows, budget=1000), rows)
    assert len(list(dense())) == 1 and len(list(pieced())) == 8
    a = environments._features(dense, correct, 8, 2.0)
    b = environments._features(pieced, correct, 8, 2.0)
    signs = np.sign((a * b).sum(axis=0))  # eigenvectors are defined up to their sign
    np.testing.assert_allclose(a, b * signs, atol=1e-9)
