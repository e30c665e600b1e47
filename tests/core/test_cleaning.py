"""Cleaning actions: exclude, include, relabel and tag are saved at once, listed in the history
and undone one by one; bad input (a class left without training images, a new class, unknown
images) changes nothing; training and discovery read the final labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from debias_studio.core.annotate.cleaning import (
    cleaning_history,
    exclude_images,
    include_images,
    relabel_images,
    tag_images,
)
from debias_studio.core.annotate.history import undo
from debias_studio.core.data.dataset import Dataset, DatasetSpec
from debias_studio.core.errors import StudioError
from debias_studio.core.store import runs as run_store
from debias_studio.core.store.exclusions import reasons
from debias_studio.core.store.project import Project
from debias_studio.core.store.relabels import final_label_codes, relabel_map
from debias_studio.core.store.tags import tag_map


def small_dataset(root: Path) -> Dataset:
    labels = ["a", "a", "a", "b", "b", "b", "c", "c"]
    splits = ["train", "train", "test", "train", "train", "val", "train", "test"]
    table = pd.DataFrame(
        {
            "path": [f"{lab}/{i}.png" for i, lab in enumerate(labels)],
            "label": labels,
            "split": splits,
        }
    )
    spec = DatasetSpec(kind="manifest", source=str(root / "m.csv"), root=str(root), seed=0)
    return Dataset(
        root=root, table=table, classes=["a", "b", "c"], attributes=[], problems=[], spec=spec
    )


@pytest.fixture
def project(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "proj"
    with Project.create(folder, small_dataset(folder / "data")) as opened:
        yield opened


def test_actions_are_saved_listed_and_undone_in_order(project: Project) -> None:
    exclude_images(project, [0], "blurry")
    exclude_images(project, [0, 3], "duplicate")
    relabel_images(project, [2, 5], "c")
    tag_images(project, [2, 4], "check")
    with Project.open(project.folder, read_only=True) as reader:  # committed at once
        assert reasons(reader) == {0: "duplicate", 3: "duplicate"}
        assert relabel_map(reader) == {2: "c", 5: "c"}
        assert tag_map(reader) == {2: ["check"], 4: ["check"]}
    assert [h["action"] for h in cleaning_history(project)] == [
        "tag",
        "relabel",
        "exclude",
        "exclude",
    ]
    assert final_label_codes(project).tolist() == [0, 0, 2, 1, 1, 2, 2, 2]
    assert "tag" in (undo(project) or "")
    assert tag_map(project) == {}
    undo(project)
    assert relabel_map(project) == {}
    undo(project)  # the second exclusion: image 0 gets its first reason back, 3 comes back in
    assert reasons(project) == {0: "blurry"}
    include_images(project, [0])
    assert reasons(project) == {}
    undo(project)
    assert reasons(project) == {0: "blurry"}


def test_excluding_every_training_image_of_a_class_is_refused(project: Project) -> None:
    with pytest.raises(StudioError, match="'c' without training images"):
        exclude_images(project, [6], "wrong")
    with pytest.raises(StudioError, match="'b' without training images"):
        relabel_images(project, [3, 4], "a")
    assert reasons(project) == {} and relabel_map(project) == {}
    assert cleaning_history(project) == []


def test_relabel_to_a_new_class_is_refused_and_changes_nothing(project: Project) -> None:
    with pytest.raises(StudioError, match="not a class"):
        relabel_images(project, [0], "zebra")
    with pytest.raises(StudioError, match="between"):
        exclude_images(project, [42], "x")
    assert relabel_map(project) == {} and cleaning_history(project) == []


def test_cleaning_while_a_run_trains_says_the_run_keeps_its_data(project: Project) -> None:
    run = run_store.create_run(project, "erm", {})
    message = exclude_images(project, [1], "blurry")
    assert run.id in message and "next run" in message
    assert reasons(project) == {1: "blurry"}
    run_store.finish_run(project, run.id, "done", {})
    assert "next run" not in exclude_images(project, [2], "blurry")
    assert np.array_equal(sorted(reasons(project)), [1, 2])


def test_training_and_the_group_matrix_use_the_final_labels(tmp_path: Path) -> None:
    from debias_studio.core.annotate.confounders import add_confounder
    from debias_studio.core.annotate.groups import group_matrix
    from debias_studio.core.jobs import run_quiet
    from debias_studio.core.train.data import load_train_data
    from tests.core.train_fixtures import shapes_project

    project = shapes_project(tmp_path, n_train=30, n_eval=9, aligned=0.6, seed=2)
    try:
        add_confounder(project, "c", column="color")
        labels = project.dataset.labels
        moved = np.flatnonzero(project.dataset.split_mask("train") & (labels == 0))[:3]
        relabel_images(project, moved, project.dataset.classes[1])
        data = run_quiet(load_train_data(project, backbone="cnn", confounder="c", image_size=8))
        assert data.labels[moved].tolist() == [1, 1, 1]
        before = np.bincount(labels[project.dataset.split_mask("train")], minlength=3)
        counts = group_matrix(project, "c").train_counts.sum(axis=1)
        assert counts[0] == before[0] - 3 and counts[1] == before[1] + 3
    finally:
        project.close()


def test_label_issues_from_a_finished_run_and_its_errors(project: Project) -> None:
    from debias_studio.core.annotate.review import find_label_issues
    from debias_studio.core.annotate.selections import misclassified_by
    from debias_studio.core.jobs import run_quiet

    run = run_store.create_run(project, "erm", {})
    predicted = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    predicted[[1, 4]] = [2, 0]  # the run disputes image 1 (says c) and image 4 (says a)
    run_store.save_predicted_classes(run.folder, predicted)
    run_store.finish_run(project, run.id, "done", {})
    assert misclassified_by(project, run.id).tolist() == [1, 4]
    issues = run_quiet(find_label_issues(project, run_id=run.id, split="train"))
    assert issues["image_id"].tolist() == [1, 4]
    assert issues["suggested"].tolist() == ["c", "a"] and issues["given"].tolist() == ["a", "b"]
    exclude_images(project, [4], "checked")
    issues = run_quiet(find_label_issues(project, run_id=run.id, split="train"))
    assert issues["image_id"].tolist() == [1]  # excluded images are not reviewed again
