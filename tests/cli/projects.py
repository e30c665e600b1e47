"""Projects for the CLI tests, made in milliseconds: an image table without image files, and
embeddings handed to the engine by a stand-in ``load_embeddings`` (the frozen-feature paths read
nothing else)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from debias_studio.core.data.dataset import Dataset, DatasetSpec
from debias_studio.core.store.project import Project

HEAVY_MODULES = ("torch", "pandas", "open_clip", "sklearn", "PySide6")
CLI = "import sys; from debias_studio.cli.main import main; sys.exit(main(sys.argv[1:]))"


def table_project(
    folder: Path, labels: list[str], splits: list[str], classes: list[str] | None = None
) -> Path:
    """A project whose images are rows only; returns its folder."""
    n = len(labels)
    table = pd.DataFrame(
        {
            "path": [f"{label}/{i}.png" for i, label in enumerate(labels)],
            "label": labels,
            "split": splits,
            "mask": [""] * n,
            "tone": ["dark" if i % 2 else "light" for i in range(n)],
        }
    )
    dataset = Dataset(
        root=folder / "images",
        table=table,
        classes=classes or sorted(set(labels)),
        attributes=["tone"],
        problems=[],
        spec=DatasetSpec(kind="manifest", source="rows.csv", root=str(folder / "images")),
    )
    Project.create(folder / "project", dataset).close()
    return folder / "project"


def three_splits(per_class: int, classes: list[str]) -> tuple[list[str], list[str]]:
    """Labels and splits: each class 60 % train, 20 % val, 20 % test."""
    labels, splits = [], []
    for name in classes:
        for i in range(per_class):
            labels.append(name)
            splits.append("train" if i % 5 < 3 else ("val" if i % 5 == 3 else "test"))
    return labels, splits


def use_embeddings(monkeypatch: pytest.MonkeyPatch, vectors: np.ndarray) -> None:
    """Every project's embeddings are ``vectors`` (unit rows), for any model name."""
    import debias_studio.core.embed.engine as embed

    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    result = embed.EmbeddingSet("fake", unit.astype(np.float16), np.ones(len(unit), bool), [])
    monkeypatch.setattr(embed, "load_embeddings", lambda _project, _model="demo": result)


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-c", CLI, *args]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without a display or a chosen Qt platform, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    env.update(extra)
    return env
