"""A stand-in for CLIP in GUI tests: synthetic image embeddings and concept directions.

Everything else is the real engine: discovery runs ``core.concepts.discover_arrays`` on these
vectors and stores its result with ``store_discovery``; confounders, overrides, undo and training
are the real ``core.annotate`` / ``core.train`` on the project. Only what needs the CLIP weights
(embedding images, embedding concept words) is replaced, through the same function signatures.
"""

from __future__ import annotations

import types
from typing import Any

import numpy as np
import pytest

DIM = 16
CONCEPTS = {"dark": "colour", "stripes": "texture", "round": "shape"}


class FakeClip:
    """Embeddings where each class has a direction and the ``shade`` attribute (dark/light)
    another one; the concept 'dark' points along the shade direction (the planted shortcut, tied
    to the first class), 'stripes' and 'round' along noise only."""

    def __init__(self, labels: np.ndarray, shade: np.ndarray) -> None:
        rng = np.random.default_rng(0)
        self.scored: list[str] = []
        """Concepts whose scores were asked of the engine, in order."""
        n = len(labels)
        vectors = rng.normal(0, 0.3, (n, DIM)).astype(np.float32)
        vectors[np.arange(n), labels] += 1.0
        vectors[:, DIM - 1] += np.where(shade == 0, 1.5, -1.5)  # 'dark' is code 0
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        self.vectors = vectors.astype(np.float16)
        self.valid = np.ones(n, dtype=bool)
        unrelated = rng.normal(0, 1, (2, DIM)).astype(np.float32)
        unrelated[:, : int(labels.max()) + 1] = 0.0  # neither the classes' directions
        unrelated[:, DIM - 1] = 0.0  # nor the shade's: noise, no class association
        directions = {
            # mostly the shade, a little of the first class: 'dark' travels with that class (a
            # significant association, the shortcut discovery must rank first)
            "dark": np.eye(DIM, dtype=np.float32)[DIM - 1] + 0.6 * np.eye(DIM, dtype=np.float32)[0],
            "stripes": unrelated[0],
            "round": unrelated[1],
        }
        self.text = {k: v / np.linalg.norm(v) for k, v in directions.items()}

    def embeddings(self, project: Any = None, model_name: str = "demo") -> Any:
        return types.SimpleNamespace(
            model_id="fake-clip", vectors=self.vectors, valid=self.valid, problems=[], computed=0
        )

    def concept_scores(self, project: Any, concept: str, model_name: str = "demo", **_: Any):
        from debias_studio.core.concepts.project import standardised_scores

        self.scored.append(concept)
        return standardised_scores(self.vectors, self.valid, self.text[concept])

    def discover(self, project: Any, model_name: str = "demo", *, cancel: Any, **_: Any):
        from debias_studio.core.concepts.discovery import discover_arrays
        from debias_studio.core.concepts.project import store_discovery

        dataset = project.dataset
        names = list(CONCEPTS)
        result = yield from discover_arrays(
            self.vectors,
            dataset.labels,
            np.stack([self.text[k] for k in names]),
            classes=list(dataset.classes),
            concepts=names,
            categories=[CONCEPTS[k] for k in names],
            cancel=cancel,
        )
        result.model_id = "fake-clip"
        store_discovery(project, result)
        return result

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import debias_studio.core.concepts.project
        import debias_studio.core.embed.engine

        monkeypatch.setattr(debias_studio.core.embed.engine, "load_embeddings", self.embeddings)
        monkeypatch.setattr(
            debias_studio.core.concepts.project, "concept_scores", self.concept_scores
        )
        monkeypatch.setattr(debias_studio.core.concepts.project, "discover", self.discover)
