"""The relabels and tags owners: checked ids in, {image id: value} out; bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from debias_studio.core.errors import StudioError
from debias_studio.core.store import relabels, tags
from debias_studio.core.store.project import Project
from tests.core.test_store import tiny_dataset


def _project(tmp_path: Path) -> Project:
    return Project.create(tmp_path / "proj", tiny_dataset(tmp_path / "data"))


def test_relabel_read_back_and_final_labels(tmp_path: Path) -> None:
    with _project(tmp_path) as project:
        given = list(project.dataset.table["label"].astype(str))
        other = next(c for c in project.dataset.classes if c != given[0])
        relabels.relabel(project, [0], other)
        assert relabels.relabel_map(project) == {0: other}
        assert list(relabels.final_labels(project)) == [other, *given[1:]]
        relabels.relabel(project, [0], given[0])  # back to its own label: no relabel left
        assert relabels.relabel_map(project) == {}
        relabels.put(project, {1: other, 0: None})
        assert relabels.relabel_map(project) == {1: other}


def test_relabel_to_a_new_class_or_unknown_image_is_refused(tmp_path: Path) -> None:
    with _project(tmp_path) as project:
        with pytest.raises(StudioError, match="not a class"):
            relabels.relabel(project, [0], "zebra")
        with pytest.raises(StudioError, match="between"):
            relabels.relabel(project, [99], project.dataset.classes[0])
        assert relabels.relabel_map(project) == {}


def test_tags_add_remove(tmp_path: Path) -> None:
    with _project(tmp_path) as project:
        tags.add(project, [0, 1], "  blurry  ")
        tags.add(project, [1], "check")
        assert tags.tag_map(project) == {0: ["blurry"], 1: ["blurry", "check"]}
        assert tags.tagged(project, "blurry") == [0, 1]
        tags.remove(project, [0], "blurry")
        assert tags.tag_map(project) == {1: ["blurry", "check"]}
        with pytest.raises(StudioError):
            tags.add(project, [0], "  ")
