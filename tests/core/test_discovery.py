"""Discovery finds a planted shortcut, on arrays and on a project, deterministically, and
refuses bad input without changing the project."""

from __future__ import annotations

import json

import numpy as np
import pytest

from debias_studio.core.concepts.bank import ConceptBank
from debias_studio.core.concepts.discovery import DiscoveryParams, discover_arrays
from debias_studio.core.concepts.project import discover, latest_discovery
from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import run_quiet
from debias_studio.core.store.runs import PROBABILITIES as PREDICTIONS_FILE
from debias_studio.core.store.runs import create_run, finish_run, save_predicted_classes
from tests.core.test_concepts_support import (  # noqa: F401 (fixture)
    COLOURS,
    DISTRACTORS,
    OBJECTS,
    concept_matrix,
    synthetic,
    world,
)

NAMES = COLOURS + OBJECTS + DISTRACTORS


def _run(w: dict, **kw: object):  # type: ignore[no-untyped-def]
    return run_quiet(
        discover_arrays(
            w["z"].astype(np.float16),
            w["y"],
            concept_matrix(w, NAMES),
            classes=OBJECTS,
            concepts=NAMES,
            **kw,  # type: ignore[arg-type]
        )
    )


def test_the_planted_colour_ranks_first_and_the_object_does_not() -> None:
    w = world()
    result = _run(w)
    for c, obj in enumerate(OBJECTS):
        top = result.top_concepts(c, 3)
        assert top[0]["concept"] == COLOURS[c], top
        own = result.rank[NAMES.index(obj), c]
        assert own > 1  # the class's own object is not flagged as the shortcut
        assert result.row(NAMES.index(obj), c, with_exemplars=False)["verdict"] == "core"
        colour_row = result.row(NAMES.index(COLOURS[c]), c)
        assert colour_row["association"] > 0.8
        assert colour_row["error_gap"] < 0  # present where the model is right
        unstable = np.argsort(-result.instability[:, c])[:3]
        assert NAMES.index(COLOURS[c]) in unstable  # its pull changes across environments
        assert abs(result.error_gap[NAMES.index(obj), c]) < abs(colour_row["error_gap"])
    ex = result.exemplars(0, "red")
    assert len(ex["in_class"]) == 8 and len(ex["other_classes"]) == 8
    assert all(w["y"][i] == 0 for i in ex["in_class"])
    assert all(w["y"][i] != 0 for i in ex["other_classes"])
    assert all(w["colour"][i] == 0 for i in ex["in_class"][:4])


def test_discovery_is_deterministic_by_seed_and_streams_in_blocks() -> None:
    w = world(n=600)
    a = _run(w, params=DiscoveryParams(seed=3))
    b = _run(w, params=DiscoveryParams(seed=3, memory_budget=1_700_000))
    assert b.params["block_size"] < len(NAMES)
    np.testing.assert_array_equal(a.rank, b.rank)
    np.testing.assert_allclose(a.association, b.association)
    np.testing.assert_array_equal(a.exemplars_in, b.exemplars_in)
    np.testing.assert_array_equal(a.verdict, b.verdict)
    # a block's scores come from a BLAS product of another shape, so an image may land in the
    # neighbouring histogram bin (0.004 sd): means move by far less than anything shown
    for name in ("shift", "shift_low", "error_gap_high", "q_value", "instability"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), atol=1e-4, rtol=1e-3)
    json_a, json_b = a.to_json(), b.to_json()
    assert [(r["class"], r["concept"], r["verdict"]) for r in json_a["rows"]] == [
        (r["class"], r["concept"], r["verdict"]) for r in json_b["rows"]
    ]


def test_given_predictions_replace_the_probe() -> None:
    w = world(n=600)
    probs = np.full((600, 3), 0.1, dtype=np.float32)
    probs[np.arange(600), w["colour"]] = 0.8  # a model that only looks at colour
    result = _run(w, probabilities=probs, predictions="run:x")
    assert result.predictions == "run:x"
    assert result.probe_accuracy == pytest.approx(np.mean(w["colour"] == w["y"]))
    assert [result.top_concepts(c, 1)[0]["concept"] for c in range(3)] == COLOURS


def test_bad_input_is_refused() -> None:
    w = world(n=300)
    with pytest.raises(StudioError, match="empty"):
        run_quiet(
            discover_arrays(
                w["z"], w["y"], np.zeros((0, w["z"].shape[1])), classes=OBJECTS, concepts=[]
            )
        )
    y = w["y"].copy()
    y[y == 2] = 0
    y[0] = 2  # class 'circle' has a single image
    with pytest.raises(StudioError, match="'circle' has only 1 image"):
        run_quiet(
            discover_arrays(w["z"], y, concept_matrix(w, NAMES), classes=OBJECTS, concepts=NAMES)
        )
    with pytest.raises(StudioError, match="do not match"):
        run_quiet(
            discover_arrays(w["z"], w["y"], np.ones((2, 5)), classes=OBJECTS, concepts=["a", "b"])
        )


def test_project_discovery_is_stored(synthetic: dict) -> None:  # noqa: F811
    project = synthetic["project"]
    bank = ConceptBank(categories={"colour": COLOURS, "shape": OBJECTS, "other": DISTRACTORS})
    result = run_quiet(discover(project, "fake", concepts=bank))
    train = project.dataset.split_mask("train")
    assert result.params["n_images"] == int(train.sum())
    assert [result.top_concepts(c, 1)[0]["concept"] for c in range(3)] == COLOURS
    stored = latest_discovery(project)
    assert stored is not None and stored["model_id"] == "fake-model"
    first = stored["rows"][0]
    assert set(first) >= {"class", "concept", "category", "association", "error_gap"}
    assert first["rank"] == 1 and first["category"] == "colour"
    assert all(train[i] for i in first["exemplars"]["in_class"])
    assert set(stored["explanations"]) >= {"association", "error_gap", "instability"}
    table = result.table()
    assert list(table.columns)[:3] == ["class", "concept", "category"]
    assert len(table) == 3 * len(NAMES)


def test_project_discovery_from_a_finished_run(synthetic: dict) -> None:  # noqa: F811
    from safetensors.numpy import save_file

    project = synthetic["project"]
    n = len(project.dataset)
    done, running = create_run(project, "erm", {}), create_run(project, "erm", {})
    finish_run(project, done.id, "done", {})
    bank = ConceptBank(categories={"colour": COLOURS, "shape": OBJECTS})
    with pytest.raises(StudioError, match="stored no predictions"):
        run_quiet(discover(project, "fake", concepts=bank, run_id=done.id))
    with pytest.raises(StudioError, match="has not finished"):
        run_quiet(discover(project, "fake", concepts=bank, run_id=running.id))
    with pytest.raises(StudioError, match="no run 'r3'"):
        run_quiet(discover(project, "fake", concepts=bank, run_id="r3"))
    probs = np.full((n, 3), 0.2, dtype=np.float32)
    probs[np.arange(n), synthetic["world"]["colour"]] = 0.6
    save_file({"probs": probs}, str(done.folder / PREDICTIONS_FILE))
    result = run_quiet(discover(project, "fake", concepts=bank, run_id=done.id, store=False))
    assert result.predictions == f"run:{done.id}"
    assert latest_discovery(project) is None


def test_bad_concept_files_change_nothing(synthetic: dict, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    project = synthetic["project"]
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"version": 1, "categories": {"x": []}}), encoding="utf-8")
    with pytest.raises(StudioError, match="no concepts"):
        run_quiet(discover(project, "fake", concepts=empty))
    bank = ConceptBank(categories={"colour": ["red"]}, exemplars={"red": str(tmp_path / "none")})
    with pytest.raises(StudioError, match="does not exist"):
        run_quiet(discover(project, "fake", concepts=bank))
    assert latest_discovery(project) is None


def test_cli_discover_writes_ranked_rows(synthetic: dict, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from debias_studio.cli.main import main

    bank = ConceptBank(categories={"colour": COLOURS, "shape": OBJECTS, "other": DISTRACTORS})
    bank.save(tmp_path / "bank.json")
    out = tmp_path / "rows.json"
    folder = str(synthetic["project"].folder)
    args = ["discover", folder, "--model", "fake", "--concepts", str(tmp_path / "bank.json")]
    assert main([*args, "--json", str(out), "--top", "2"]) == 0
    data = json.loads(out.read_text())
    rows = data["rows"]
    assert len(rows) == 6 and [r["rank"] for r in rows] == [1, 1, 1, 2, 2, 2]
    assert [r["concept"] for r in rows[:3]] == COLOURS
    keys = {"class", "concept", "category", "association", "error_gap", "instability"}
    assert keys | {"score", "rank", "exemplars"} <= set(rows[0])
    assert all(r["significant"] for r in rows)
    assert main([*args, "--json", str(out), "--all"]) == 0
    every = json.loads(out.read_text())["rows"]
    assert len(every) == len(NAMES) * len(OBJECTS)
    assert len(every) > data["significant_rows"] == sum(r["significant"] for r in every)
    assert main([*args, "--json", str(out), "--truth", "color"]) == 0
    found = json.loads(out.read_text())["evaluation"]
    assert found["precision_at_1"] == found["exact_precision_at_1"] == 1.0
    assert found["planted"] == dict(zip(OBJECTS, COLOURS, strict=True))
    assert main(["discover", folder, "--model", "fake", "--concepts", str(tmp_path / "x")]) == 1


def test_project_discovery_from_a_runs_predicted_classes(synthetic: dict) -> None:  # noqa: F811
    project, w = synthetic["project"], synthetic["world"]
    run = create_run(project, "erm", {})
    predicted = w["colour"].astype(np.int64).copy()  # a model that learnt the colour only
    predicted[:50] = -1  # not predicted: left out
    save_predicted_classes(run.folder, predicted)
    finish_run(project, run.id, "done", {})
    bank = ConceptBank(categories={"colour": COLOURS, "shape": OBJECTS, "other": DISTRACTORS})
    result = run_quiet(discover(project, "fake", concepts=bank, run_id=run.id, store=False))
    train = project.dataset.split_mask("train")
    assert result.params["n_images"] == int(train[50:].sum())
    assert [result.top_concepts(c, 1)[0]["concept"] for c in range(3)] == COLOURS
