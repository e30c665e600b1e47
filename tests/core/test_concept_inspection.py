"""The concept view's data: histograms, exemplar strips, signals equal to the table's, and a
run's error rate by concept-score bin that shows a shortcut."""

from __future__ import annotations

import numpy as np
import pytest

from debias_studio.core.concepts.discovery import discover_arrays
from debias_studio.core.concepts.inspection import (
    error_rate_by_bin,
    exemplar_strips,
    inspect_concept,
    inspect_pair,
    score_histogram,
)
from debias_studio.core.concepts.project import discover
from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import run_quiet
from tests.core.test_concepts_support import (  # noqa: F401 (fixture)
    COLOURS,
    DISTRACTORS,
    OBJECTS,
    concept_matrix,
    synthetic,
    world,
)

NAMES = COLOURS + OBJECTS + DISTRACTORS


def test_histogram_and_strips_by_hand() -> None:
    scores = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    member = np.array([True, True, True, False, False, False])
    h = score_histogram(scores, member, bins=5)
    assert h.in_class.tolist() == [1, 1, 1, 0, 0] and h.others.tolist() == [0, 0, 0, 1, 2]
    strips = exemplar_strips(scores, np.arange(10, 16), member, n=2)
    assert strips == {
        "in_class_top": [12, 11],
        "other_classes_top": [15, 14],
        "in_class_lacking": [10, 11],
    }


def test_error_rate_by_bin_counts_and_intervals() -> None:
    scores = np.arange(10.0)
    wrong = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    bins = error_rate_by_bin(scores, wrong, bins=2)
    assert [(b.images, b.errors) for b in bins] == [(5, 4), (5, 0)]
    assert bins[0].rate == 0.8 and bins[0].rate_low < 0.8 < bins[0].rate_high
    assert bins[1].rate_low == pytest.approx(0.0, abs=1e-12) and 0 < bins[1].rate_high < 0.6


def test_a_shortcut_shows_in_the_view_as_in_the_table() -> None:
    w = world()
    z = w["z"].astype(np.float16)
    t = concept_matrix(w, NAMES)
    result = run_quiet(discover_arrays(z, w["y"], t, classes=OBJECTS, concepts=NAMES))
    k, c = NAMES.index(COLOURS[0]), 0
    scores = z.astype(np.float32) @ t[k]
    wrong = w["colour"] != w["y"]  # a model that reads the colour: wrong when it is swapped
    view = inspect_pair(scores, w["y"], c, wrong=wrong, names=(OBJECTS[0], COLOURS[0]))
    assert view.signals["association"] == pytest.approx(result.association[k, c], abs=1e-3)
    assert view.signals["shift"] == pytest.approx(result.shift[k, c], abs=1e-2)
    assert view.signals["error_gap_high"] < 0
    assert view.histogram.in_class.sum() == np.sum(w["y"] == c)
    lacking = view.strips["in_class_lacking"]
    assert all(w["y"][i] == c and w["colour"][i] != c for i in lacking[:3])
    rates = [b.rate for b in view.error_bins]
    class_rate = np.mean(wrong[w["y"] == c])
    assert rates[0] > 1.8 * class_rate and rates[-1] == 0.0  # errors where the colour is absent
    with pytest.raises(StudioError):
        inspect_pair(scores, w["y"], 7)


def test_inspect_concept_on_a_project(synthetic: dict) -> None:  # noqa: F811
    project = synthetic["project"]
    run_quiet(discover(project, "fake"))
    name = project.dataset.classes[0]
    view = inspect_concept(project, name, COLOURS[0], "fake")
    assert view.signals["verdict"] in ("shortcut", "associated", "not significant")
    assert view.signals["q_value"] is not None and view.error_bins == []
    assert all(project.dataset.labels[i] == 0 for i in view.strips["in_class_top"])
    with pytest.raises(StudioError):
        inspect_concept(project, "no such class", COLOURS[0], "fake")
