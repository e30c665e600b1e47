"""Input that cannot work is refused before any slow work, with the way out named: concept
typos, one class, a split without images, frozen features that cannot tell the classes apart."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import debias_studio.core.embed.engine as embed
from debias_studio.cli.main import main
from debias_studio.core.store.confounders import read_rows
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import list_runs
from tests.cli.projects import table_project, three_splits, use_embeddings


def _never(*_args: object, **_kw: object) -> None:
    raise AssertionError("slow work started")


@pytest.fixture
def no_embedding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Computing embeddings fails the test: the checks must come first."""
    monkeypatch.setattr(embed, "load_embeddings", lambda *_a, **_k: None)
    monkeypatch.setattr(embed, "embed_project", _never)


def test_concepts_lists_and_searches_the_bank(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["concepts", "--search", "gre"]) == 0
    assert capsys.readouterr().out.splitlines() == ["colour (1): green"]
    assert main(["concepts", "--category", "colour", "--json"]) == 0
    colours = json.loads(capsys.readouterr().out)["colour"]
    assert {"red", "green", "blue"} <= set(colours)
    assert main(["concepts", "--category", "colr"]) == 1
    assert "did you mean 'colour'?" in capsys.readouterr().err
    assert main(["concepts", "--search", "grene"]) == 1
    assert "close: green" in capsys.readouterr().out


def test_a_misspelt_concept_is_refused_with_a_suggestion(
    tmp_path: Path, no_embedding: None, capsys
) -> None:  # type: ignore[no-untyped-def]
    labels, splits = three_splits(10, ["a", "b"])
    folder = str(table_project(tmp_path, labels, splits))
    args = ["confounder", "add", folder, "--name", "hue"]
    assert main([*args, "--concepts", "grene,red"]) == 1
    err = capsys.readouterr().err
    assert "The concept 'grene' is not in the concept bank; did you mean 'green'?" in err
    assert "--free-text" in err and err.count("\n") == 1
    assert main([*args, "--concept", "bleu"]) == 1
    assert "did you mean 'blue'?" in capsys.readouterr().err
    with Project.open(folder) as project:
        assert read_rows(project) == []


def test_free_text_concepts_are_allowed_when_asked_for(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import debias_studio.core.concepts.project as concept_project

    labels, splits = three_splits(10, ["a", "b"])
    folder = str(table_project(tmp_path, labels, splits))
    use_embeddings(monkeypatch, np.random.default_rng(0).normal(size=(len(labels), 8)))
    monkeypatch.setattr(concept_project, "model_id_of", lambda name: f"fake-{name}")
    words = np.random.default_rng(1).normal(size=(2, 8))
    monkeypatch.setattr(
        concept_project.LazyModel,
        "encode_text",
        lambda self, prompts: np.stack([words[int("red" in p)] for p in prompts]),
    )
    args = ["confounder", "add", folder, "--name", "hue", "--concepts", "grene,red"]
    assert main([*args, "--free-text"]) == 0


def test_discover_on_one_class_fails_before_embedding(
    tmp_path: Path, no_embedding: None, capsys
) -> None:  # type: ignore[no-untyped-def]
    labels, splits = three_splits(10, ["a"])
    folder = str(table_project(tmp_path, labels, splits, classes=["a", "b"]))
    assert main(["discover", folder]) == 1
    assert "at least two classes" in capsys.readouterr().err
    labels, splits = three_splits(10, ["a", "b"])
    other = str(table_project(tmp_path / "two", labels, splits))
    assert main(["discover", other, "--split", "val", "--truth", "tne"]) == 1
    assert "no attribute column 'tne'; did you mean 'tone'?" in capsys.readouterr().err


def test_train_refuses_one_class_and_a_missing_split_before_any_run(
    tmp_path: Path, no_embedding: None, capsys
) -> None:  # type: ignore[no-untyped-def]
    labels, splits = three_splits(10, ["a", "b"])
    one_class = [("a" if s == "train" else label) for label, s in zip(labels, splits, strict=True)]
    folder = table_project(tmp_path / "one", one_class, splits, classes=["a", "b"])
    assert main(["train", str(folder)]) == 1
    assert "one class only ('a')" in capsys.readouterr().err
    no_val = [("train" if s == "val" else s) for s in splits]
    other = table_project(tmp_path / "noval", labels, no_val)
    assert main(["train", str(other), "--backbone", "cnn"]) == 1
    assert "no val images" in capsys.readouterr().err
    for project_folder in (folder, other):
        with Project.open(project_folder) as project:
            assert list_runs(project) == []


def _features(labels: list[str], informative: bool) -> np.ndarray:
    rng = np.random.default_rng(0)
    noise = rng.normal(size=(len(labels), 16))
    if not informative:
        return noise
    codes = np.array([ord(label[0]) - ord("a") for label in labels])
    return noise + 4.0 * np.eye(16)[codes]


def test_a_head_on_features_near_chance_is_refused_naming_cnn(
    tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    classes = ["a", "b", "c", "d"]
    labels, splits = three_splits(40, classes)
    folder = str(table_project(tmp_path, labels, splits))
    use_embeddings(monkeypatch, _features(labels, informative=False))
    assert main(["train", folder]) == 1
    err = capsys.readouterr().err
    assert "cannot tell these classes apart" in err and "--backbone cnn" in err
    assert "--skip-feature-check" in err and err.count("\n") == 1
    assert main(["runs", folder]) == 0
    assert "No runs yet." in capsys.readouterr().out  # a refusal leaves no failed run behind
    use_embeddings(monkeypatch, _features(labels, informative=True))
    assert main(["train", folder, "--epochs", "2"]) == 0
    out, err = capsys.readouterr()
    assert "test avg" in out
    assert "training (erm): 100% " in err  # progress as lines: stderr is not a terminal here


def test_selecmix_adds_lff_only_without_annotation_unless_told() -> None:
    from argparse import Namespace

    from debias_studio.cli.train import _with_lff

    def args(**given: object) -> Namespace:
        base = {"lff": None, "method": "selecmix", "confounder": None, "pairs": "auto"}
        return Namespace(**{**base, **given})

    assert _with_lff(args())  # no annotation: LfF + SelecMix, the stronger on bench/cmnist.py
    assert not _with_lff(args(confounder="color"))
    assert not _with_lff(args(pairs="annotation"))
    assert not _with_lff(args(method="erm"))
    assert not _with_lff(args(lff=False))
    assert _with_lff(args(lff=True, confounder="color"))
