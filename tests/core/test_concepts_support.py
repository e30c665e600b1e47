"""Shared by the concept, discovery and annotation tests: a synthetic world with a planted
shortcut, a fake text encoder, and a project whose embeddings are those synthetic vectors (no
model, no image decoding)."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from debias_studio.core.data.dataset import Dataset, DatasetSpec
from debias_studio.core.store.project import Project

COLOURS = ["red", "green", "blue"]
OBJECTS = ["star", "heart", "circle"]
DISTRACTORS = ["grass", "brick", "sky", "watermark", "ruler", "cup"]
DIM = 48


class FakeEncoder:
    """Prompt -> the unit vector of the concept word it contains (plus a small, template-specific
    wobble, so the ensemble average matters); counts how many prompts it was asked for."""

    def __init__(self, words: dict[str, np.ndarray], seed: int = 1) -> None:
        self.words = words
        self.rng = np.random.default_rng(seed)
        self.calls = 0
        self.dim = len(next(iter(words.values())))

    def __call__(self, prompts: list[str]) -> np.ndarray:
        self.calls += len(prompts)
        out = []
        for prompt in prompts:
            word = max((w for w in self.words if w in prompt), key=len, default=None)
            base = self.words[word] if word else np.zeros(self.dim)
            wobble = np.random.default_rng(zlib.crc32(prompt.encode())).normal(size=self.dim)
            v = base + 0.05 * wobble / np.sqrt(self.dim)
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, dtype=np.float32)


def world(n: int = 900, aligned: float = 0.9, seed: int = 0) -> dict:
    """Images of 3 object classes whose colour follows the class in ``aligned`` of them.

    The colour dominates the embedding (a shortcut: easy to see), the object is weaker; every
    concept word owns one orthogonal direction."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0]
    words = COLOURS + OBJECTS + DISTRACTORS
    directions = {w: basis[i] for i, w in enumerate(words)}
    y = rng.integers(0, 3, n)
    colour = np.where(rng.random(n) < aligned, y, rng.integers(0, 3, n))
    noise = rng.normal(size=(n, DIM)) * 0.5 / np.sqrt(DIM)
    extra = rng.random((n, len(DISTRACTORS))) * 0.3
    z = 1.0 * basis[colour] + 0.45 * basis[3 + y] + extra @ basis[6 : 6 + len(DISTRACTORS)] + noise
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    return {"z": z.astype(np.float32), "y": y, "colour": colour, "directions": directions}


def concept_matrix(w: dict, names: list[str]) -> np.ndarray:
    return np.stack([w["directions"][n] for n in names]).astype(np.float32)


def make_project(folder: Path, w: dict, *, split_seed: int = 0) -> Project:
    n = len(w["y"])
    rng = np.random.default_rng(split_seed)
    split = np.where(rng.random(n) < 0.7, "train", "test")
    table = pd.DataFrame(
        {
            "path": [f"{OBJECTS[c]}/{i}.png" for i, c in enumerate(w["y"])],
            "label": [OBJECTS[c] for c in w["y"]],
            "split": split,
            "mask": [""] * n,
            "color": [COLOURS[c] for c in w["colour"]],
            "place": ["indoor" if i % 2 else "outdoor" for i in range(n)],
            "tint": [COLOURS[c] for c in w["colour"]],
            "batch": [f"b{i % 3}" for i in range(n)],
        }
    )
    dataset = Dataset(
        root=folder / "data",
        table=table,
        classes=list(OBJECTS),
        attributes=["color", "place", "tint", "batch"],
        problems=[],
        spec=DatasetSpec(kind="manifest", source="synthetic.csv", root=str(folder / "data")),
    )
    return Project.create(folder / "project", dataset)


@pytest.fixture
def synthetic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A project on ``world()`` whose 'fake' model embeds images and text without weights."""
    import debias_studio.core.concepts.project as concept_project
    import debias_studio.core.embed.engine as embed
    from debias_studio.core.embed.engine import EmbeddingSet

    w = world()
    project = make_project(tmp_path, w)
    encoder = FakeEncoder(w["directions"])
    vectors = w["z"].astype(np.float16)
    valid = np.ones(len(vectors), dtype=bool)

    def load_embeddings(_project: object, model_name: str = "demo") -> EmbeddingSet:
        return EmbeddingSet("fake-model", vectors, valid, [])

    monkeypatch.setattr(embed, "load_embeddings", load_embeddings)
    monkeypatch.setattr(concept_project, "model_id_of", lambda name: f"fake-{name}")
    monkeypatch.setattr(concept_project.LazyModel, "encode_text", lambda self, t: encoder(t))
    yield {"project": project, "world": w, "encoder": encoder}
    project.close()
