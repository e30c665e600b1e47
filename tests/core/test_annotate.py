"""Confounders: every source, kinds, overrides that win, groups, undo, and bad input that
changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from debias_studio.core.annotate.confounders import (
    add_confounder,
    get_confounder,
    list_confounders,
    remove_confounder,
    set_kind,
)
from debias_studio.core.annotate.groups import build_group_matrix, group_matrix
from debias_studio.core.annotate.history import undo
from debias_studio.core.annotate.overrides import assignments, set_values
from debias_studio.core.annotate.preview import project_threshold_preview, threshold_preview
from debias_studio.core.errors import StudioError
from debias_studio.core.store import confounders as confounder_store
from debias_studio.core.store import history as history_store
from tests.core.test_concepts_support import COLOURS, OBJECTS, synthetic  # noqa: F401


def _state(project) -> tuple:  # type: ignore[no-untyped-def]
    rows = sorted(confounder_store.read_rows(project), key=lambda row: row["name"])
    overrides = {row["name"]: confounder_store.overrides_of(project, row["name"]) for row in rows}
    return rows, overrides, len(history_store.entries(project))


def test_column_confounder_groups_and_bias_flags(synthetic: dict) -> None:  # noqa: F811
    project, w = synthetic["project"], synthetic["world"]
    c = add_confounder(project, "color", column="color")
    assert (c.kind, c.source, c.values) == ("colour", "column", sorted(COLOURS))
    values = assignments(project, "color")
    names = np.array(c.values)[values]
    np.testing.assert_array_equal(names, np.array(COLOURS)[w["colour"]])
    matrix = group_matrix(project, "color")
    labels = project.dataset.labels
    for ci in range(3):
        for vi, value in enumerate(c.values):
            expected = int(((labels == ci) & (names == value)).sum())
            assert matrix.counts[ci, vi] == expected
        assert c.values[matrix.aligned_value[ci]] == COLOURS[ci]  # the planted colour
    aligned = w["colour"] == w["y"]
    np.testing.assert_array_equal(matrix.aligned, aligned)
    np.testing.assert_array_equal(matrix.conflicting, ~aligned)
    gid = matrix.group_ids[0]
    assert gid == labels[0] * len(c.values) + values[0] == matrix.group_id(labels[0], values[0])
    text = matrix.render()
    assert "red" in text and "*" in text and OBJECTS[0] in text
    assert matrix.to_dict()["aligned_value"] == [COLOURS[i] for i in range(3)]


def test_kinds_inferred_from_columns_concepts_and_settable(synthetic: dict) -> None:  # noqa: F811
    project = synthetic["project"]
    assert add_confounder(project, "place", column="place").kind == "background"  # by name
    assert add_confounder(project, "tint", column="tint").kind == "colour"  # by its values
    assert add_confounder(project, "batch", column="batch").kind == "other"
    assert add_confounder(project, "place2", column="place", kind="background").kind == "background"
    assert add_confounder(project, "hue", concepts="red,green,blue").kind == "colour"
    assert add_confounder(project, "grass", concept="grass").kind == "texture"
    assert add_confounder(project, "reddish", concept="red thing").kind == "colour"  # free text
    assert add_confounder(project, "shape", concepts=["star", "heart"]).kind == "object"
    assert add_confounder(project, "notes", manual=True).kind == "other"
    assert set_kind(project, "batch", "Color").kind == "colour"
    with pytest.raises(StudioError, match="Unknown confounder kind"):
        set_kind(project, "batch", "flavour")


def test_concept_threshold_and_argmax_sources(synthetic: dict) -> None:  # noqa: F811
    project, w = synthetic["project"], synthetic["world"]
    red = add_confounder(project, "red", concept="red", threshold=0.5)
    assert red.values == ["no red", "red"] and red.params["threshold"] == 0.5
    present = assignments(project, "red") == 1
    assert present[w["colour"] == 0].mean() > 0.95 and present[w["colour"] != 0].mean() < 0.05
    hue = add_confounder(project, "hue", concepts=["red", "green", "blue"])
    assert (assignments(project, "hue") == w["colour"]).mean() > 0.97
    preview = project_threshold_preview(project, "red", 0.5, n_nearest=5)
    assert sum(preview["present"]) == int(present.sum())
    assert len(preview["nearest_above"]) == 5
    assert hue.params == {"concepts": ["red", "green", "blue"], "model": "demo"}


def test_threshold_preview_by_hand() -> None:
    scores = np.array([0.1, 2.0, 1.1, np.nan, 0.9, 3.0])
    labels = np.array([0, 0, 1, 1, 1, 0])
    out = threshold_preview(scores, labels, ["a", "b"], 1.0, n_nearest=2)
    assert out["present"] == [2, 1] and out["absent"] == [1, 1] and out["unknown"] == [0, 1]
    assert out["nearest_above"] == [2, 1] and out["nearest_below"] == [4, 0]


def test_overrides_win_and_undo_walks_back(synthetic: dict) -> None:  # noqa: F811
    project = synthetic["project"]
    add_confounder(project, "color", column="color")
    before = assignments(project, "color")
    set_values(project, "color", [0, 1], "blue")
    after = assignments(project, "color")
    assert get_confounder(project, "color").values[after[0]] == "blue"
    np.testing.assert_array_equal(after[2:], before[2:])
    set_values(project, "color", [1], "teal")  # a new value is added
    c = get_confounder(project, "color")
    assert c.values[-1] == "teal" and assignments(project, "color")[1] == len(c.values) - 1
    add_confounder(project, "color", column="color", kind="other")  # replace: overrides stay
    assert get_confounder(project, "color").values[assignments(project, "color")[1]] == "teal"
    set_values(project, "color", [0], None)  # back to the column's value
    assert assignments(project, "color")[0] == before[0]
    assert undo(project) == "set values of 1 image(s) in 'color'"
    assert undo(project) == "changed confounder 'color'"
    assert get_confounder(project, "color").kind == "colour"
    assert undo(project).startswith("set values")  # teal
    assert "teal" not in get_confounder(project, "color").values
    assert undo(project).startswith("set values")  # blue
    np.testing.assert_array_equal(assignments(project, "color"), before)
    assert undo(project) == "created confounder 'color'"
    assert list_confounders(project) == []
    assert undo(project) is None


def test_remove_and_undo_restores_overrides(synthetic: dict) -> None:  # noqa: F811
    project = synthetic["project"]
    add_confounder(project, "tags", manual=True)
    assert (assignments(project, "tags") == -1).all()
    set_values(project, "tags", [3, 4], "odd")
    remove_confounder(project, "tags")
    with pytest.raises(StudioError, match="no confounder named 'tags'"):
        assignments(project, "tags")
    undo(project)
    tags = assignments(project, "tags")
    assert tags[3] == tags[4] == 0 and (np.delete(tags, [3, 4]) == -1).all()


def test_bad_input_changes_nothing(synthetic: dict) -> None:  # noqa: F811
    project = synthetic["project"]
    add_confounder(project, "color", column="color")
    state = _state(project)
    cases = [
        (lambda: add_confounder(project, "x", column="missing"), "no attribute column 'missing'"),
        (lambda: add_confounder(project, "x", column="label"), "no attribute column 'label'"),
        (lambda: add_confounder(project, "x"), "exactly one source"),
        (lambda: add_confounder(project, "x", column="color", manual=True), "exactly one"),
        (lambda: add_confounder(project, " ", manual=True), "needs a name"),
        (lambda: add_confounder(project, "x", concepts=[]), "at least two"),
        (lambda: add_confounder(project, "x", concepts="red"), "at least two"),
        (lambda: add_confounder(project, "x", column="color", threshold=1.0), "threshold"),
        (lambda: add_confounder(project, "x", manual=True, kind="smell"), "Unknown"),
        (lambda: set_values(project, "color", [], "red"), "at least one image"),
        (lambda: set_values(project, "color", [10**6], "red"), "between 0 and"),
        (lambda: set_values(project, "color", [0], "  "), "cannot be empty"),
        (lambda: set_values(project, "nope", [0], "red"), "no confounder"),
        (lambda: remove_confounder(project, "nope"), "no confounder"),
    ]
    for action, message in cases:
        with pytest.raises(StudioError, match=message):
            action()
        assert _state(project) == state


def test_group_matrix_by_hand() -> None:
    m = build_group_matrix(
        "c",
        ["a", "b"],
        ["x", "y"],
        labels=np.array([0, 0, 0, 1, 1, 1]),
        assigned=np.array([0, 0, 1, 1, -1, 0]),
        counted=np.array([True, True, True, True, True, False]),
    )
    assert m.counts.tolist() == [[2, 1], [1, 1]]
    assert m.train_counts.tolist() == [[2, 1], [0, 1]]
    assert m.unknown.tolist() == [0, 1]
    assert m.aligned_value.tolist() == [0, 1]
    assert m.aligned.tolist() == [True, True, False, True, False, False]
    assert m.conflicting.tolist() == [False, False, True, False, False, True]
    assert m.group_ids.tolist() == [0, 0, 1, 3, -1, 2]


def test_cli_confounder_commands(synthetic: dict, capsys: pytest.CaptureFixture) -> None:  # noqa: F811
    from debias_studio.cli.main import main

    folder = str(synthetic["project"].folder)
    assert main(["confounder", "add", folder, "--name", "hue", "--column", "color"]) == 0
    assert "hue' (colour, from column)" in capsys.readouterr().out
    assert main(["confounder", "add", folder, "--name", "bad", "--column", "nope"]) == 1
    assert "no attribute column 'nope'" in capsys.readouterr().err
    assert main(["confounder", "list", folder]) == 0
    assert "hue: colour, from column" in capsys.readouterr().out
    assert main(["confounder", "set", folder, "hue", "--ids", "0,1", "--value", "red"]) == 0
    assert main(["confounder", "show", folder, "hue"]) == 0
    shown = capsys.readouterr().out
    assert "unknown" in shown and "bias-aligned" in shown
    assert main(["confounder", "show", folder, "nope"]) == 1
    assert main(["confounder", "undo", folder]) == 0
    assert "Undid: set values of 2 image(s)" in capsys.readouterr().out
