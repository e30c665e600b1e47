"""Groups and the bias-aligned value have one definition (core.annotate.groups), and the group
matrix, a training run and the export all use it: they agree on which images count."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from debias_studio.core.annotate.confounders import add_confounder
from debias_studio.core.annotate.groups import aligned_values, bias_flags, group_ids, group_matrix
from debias_studio.core.annotate.overrides import assignments
from debias_studio.core.export.frame import build_frame
from debias_studio.core.jobs import run_quiet
from debias_studio.core.store.exclusions import exclude
from debias_studio.core.train.data import load_train_data
from debias_studio.core.train.metrics import group_metrics
from tests.core.train_fixtures import shapes_project


def test_the_definition_by_hand() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    values = np.array([0, 1, 1, -1, 1, 0, 1])
    counted = np.array([True, True, True, True, False, True, False])
    assert group_ids(labels, values, 2).tolist() == [0, 1, 1, -1, 3, 2, 5]
    aligned = aligned_values(labels, values, counted, 3, 2)
    assert aligned.tolist() == [1, 0, -1]  # class 1's uncounted image does not vote; 2 has none
    assert aligned_values(np.array([0, 0]), np.array([1, 0]), np.ones(2, bool), 1, 2)[0] == 0
    is_aligned, is_conflicting = bias_flags(labels, values, aligned)
    assert is_aligned.tolist() == [False, True, True, False, False, True, False]
    assert is_conflicting.tolist() == [True, False, False, False, True, False, False]


def test_matrix_training_and_export_agree_on_which_images_count(tmp_path: Path) -> None:
    project = shapes_project(tmp_path, n_train=60, n_eval=12, aligned=0.6, seed=4)
    try:
        add_confounder(project, "c", column="color")
        labels, values = project.dataset.labels, assignments(project, "c")
        train = project.dataset.split_mask("train")
        own = group_matrix(project, "c").aligned_value[0]
        minority = next(v for v in values[train & (labels == 0)] if v != own)
        # Excluding class 0's other training images makes the minority value its aligned one.
        exclude(project, np.flatnonzero(train & (labels == 0) & (values != minority)), "test")

        matrix = group_matrix(project, "c")
        assert matrix.aligned_value[0] == minority
        view = build_frame(project).view("c")
        data = run_quiet(load_train_data(project, backbone="cnn", confounder="c", image_size=8))
        assert view.aligned.tolist() == matrix.aligned_value.tolist()
        own_of = data.aligned_values()
        assert own_of.tolist() == matrix.aligned_value.tolist()
        assert view.group_ids(labels).tolist() == matrix.group_ids.tolist()
        bias = view.bias(labels)
        assert ((bias == "aligned") == matrix.aligned).all()
        assert ((bias == "conflicting") == matrix.conflicting).all()
        guesses = np.where(matrix.aligned, labels, (labels + 1) % 3)  # right on aligned only
        names = data.value_names
        metrics = group_metrics(guesses, labels, values, data.classes, names, aligned_values=own_of)
        assert (metrics["aligned_acc"], metrics["conflicting_acc"]) == (1.0, 0.0)
    finally:
        project.close()
