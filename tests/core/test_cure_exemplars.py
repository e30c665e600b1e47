"""From a stored discovery to DISC's cure: per class, the spurious concepts with their weights and
exemplars (training images of the other classes only), the user's confirmed concepts first, and
a DISC run that uses them without being told a confounder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import debias_studio.core.train.disc_concepts
from debias_studio.core.annotate.model import Confounder
from debias_studio.core.concepts.discovery import discover_arrays
from debias_studio.core.concepts.project import latest_discovery, store_discovery
from debias_studio.core.data.splits import SPLIT_CODES
from debias_studio.core.jobs import run_quiet
from debias_studio.core.store.project import Project
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.disc_concepts import cure_exemplars
from debias_studio.core.train.job import load_run_data, train_run
from tests.core.train_fixtures import shapes_project

CONCEPTS = ["red", "green", "blue", "round"]


@pytest.fixture
def project(tmp_path: Path) -> Project:
    made = shapes_project(tmp_path, n_train=90, n_eval=30)
    yield made
    made.close()


def _store_discovery(project: Project) -> None:
    """A real discovery on stand-in embeddings: each image's colour is a strong direction, so
    every class's planted colour is its top concept."""
    table = project.dataset.table
    labels = table["label"].map({c: i for i, c in enumerate(project.dataset.classes)}).to_numpy()
    colours = table["color"].map({n: i for i, n in enumerate(CONCEPTS)}).to_numpy()
    rng = np.random.default_rng(0)
    vectors = rng.normal(0, 0.3, (len(table), 8)).astype(np.float32)
    vectors[np.arange(len(table)), colours] += 1.5
    vectors[np.arange(len(table)), 4 + labels] += 0.5
    concept_vectors = np.eye(8, dtype=np.float32)[: len(CONCEPTS)]
    result = run_quiet(
        discover_arrays(
            vectors,
            labels,
            concept_vectors,
            classes=list(project.dataset.classes),
            concepts=CONCEPTS,
        )
    )
    store_discovery(project, result)


def _data(project: Project):  # type: ignore[no-untyped-def]
    config = TrainConfig(project=str(project.folder), backbone="cnn")
    return run_quiet(load_run_data(project, config))


def test_without_a_discovery_there_is_nothing(project: Project) -> None:
    assert cure_exemplars(project, _data(project)) is None


def test_exemplars_are_training_images_of_the_other_classes(project: Project) -> None:
    _store_discovery(project)
    data = _data(project)
    found = cure_exemplars(project, data, top_per_class=2)
    assert found is not None
    stored = latest_discovery(project)
    for c, name in enumerate(data.classes):
        ranked = sorted((r for r in stored["rows"] if r["class"] == name), key=lambda r: r["rank"])
        top_two = {r["concept"] for r in ranked[:2]}
        assert {k.name for k in found if k.class_index == c} <= top_two
    assert ("red", 0) in {(k.name, k.class_index) for k in found}  # a planted colour is cured
    train = data.split == SPLIT_CODES["train"]
    for concept in found:
        allowed = data.inputs[
            torch.from_numpy(np.flatnonzero(train & (data.labels != concept.class_index)))
        ]
        for image in concept.inputs:
            assert (allowed == image).flatten(1).all(dim=1).any(), concept.name
        assert concept.weight > 0


def test_confirmed_concepts_are_the_only_ones_cured(project: Project, monkeypatch) -> None:
    _store_discovery(project)
    monkeypatch.setattr(
        debias_studio.core.train.disc_concepts,
        "list_confounders",
        lambda _p: [Confounder("shade", "colour", "concept", {"concept": "green"})],
    )
    found = cure_exemplars(project, _data(project))
    assert found is not None and {k.name for k in found} == {"green"}


def test_a_disc_run_takes_its_concepts_from_the_discovery(project: Project) -> None:
    config = TrainConfig(project=str(project.folder), method="disc", backbone="cnn", epochs=1)
    with pytest.raises(Exception, match="discovered concepts or a confounder"):
        run_quiet(train_run(project, config))
    _store_discovery(project)
    result = run_quiet(train_run(project, config))
    assert result.status == "done" and result.metrics["test"]["avg_acc"] is not None
