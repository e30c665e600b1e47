"""The exclusions owner: exclude and include with a reason, read back as reasons and as a mask;
bad input changes nothing; a read-only project refuses; writes join an open transaction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from debias_studio.core.errors import ProjectError, StudioError
from debias_studio.core.store import history
from debias_studio.core.store.exclusions import exclude, excluded_mask, include, reasons
from debias_studio.core.store.project import Project
from tests.core.test_store import tiny_dataset


@pytest.fixture
def project(tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "proj"
    with Project.create(folder, tiny_dataset(folder / "data")) as opened:
        yield opened


def test_exclude_include_and_read_back(project: Project) -> None:
    exclude(project, [1], "  blurry   scan ")
    assert reasons(project) == {1: "blurry scan"}
    assert excluded_mask(project).tolist() == [False, True]
    exclude(project, [0, 1], "duplicate")  # a new reason replaces the old one
    assert reasons(project) == {0: "duplicate", 1: "duplicate"}
    include(project, [0])
    assert reasons(project) == {1: "duplicate"}
    include(project, [0])  # including an image that is not excluded is fine
    with Project.open(project.folder, read_only=True) as reader:  # committed at once
        assert np.flatnonzero(excluded_mask(reader)).tolist() == [1]


@pytest.mark.parametrize(
    ("ids", "reason", "message"),
    [
        ([], "blurry", "at least one image"),
        ([2], "blurry", "between 0 and 1"),
        ([0], " ", "reason"),
    ],
)
def test_bad_input_is_one_clear_error_and_changes_nothing(
    project: Project, ids: list[int], reason: str, message: str
) -> None:
    exclude(project, [1], "blurry")
    with pytest.raises(StudioError, match=message):
        exclude(project, ids, reason)
    assert reasons(project) == {1: "blurry"}


def test_writes_join_the_open_transaction(project: Project) -> None:
    with pytest.raises(RuntimeError), project.transaction():
        exclude(project, [0], "blurry")
        history.record(project, "exclude", {"ids": [0]})
        raise RuntimeError("the action fails after both writes")
    assert reasons(project) == {} and history.entries(project) == []  # neither was committed
    with project.transaction():
        exclude(project, [0], "blurry")
        history.record(project, "exclude", {"ids": [0]})
    assert reasons(project) == {0: "blurry"}
    assert [e.payload for e in history.entries(project)] == [{"ids": [0]}]


def test_a_read_only_project_refuses(project: Project) -> None:
    with (
        Project.open(project.folder, read_only=True) as reader,
        pytest.raises(ProjectError, match="read-only"),
    ):
        exclude(reader, [0], "blurry")
