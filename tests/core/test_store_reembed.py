"""Files changed on disk after embedding are found and re-embedded, even though the project's
image table still holds their old fingerprints (nothing re-opened the dataset)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import debias_studio.core.embed.engine
from debias_studio.core.data.dataset import Dataset, DatasetSpec
from debias_studio.core.embed.engine import embed_project
from debias_studio.core.jobs import run_quiet
from debias_studio.core.store.project import Project
from tests.core.test_models_tiny import save_tiny_model


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBIAS_STUDIO_CACHE", str(tmp_path / "user-cache"))
    monkeypatch.setenv("DEBIAS_STUDIO_CPU_PRECISION", "fp32")
    debias_studio.core.embed.engine._ENGINE_MODELS.clear()


def test_a_file_changed_on_disk_is_embedded_again(tmp_path: Path) -> None:
    model = f"local-dir:{save_tiny_model(tmp_path / 'tiny')}"
    root = tmp_path / "images"
    root.mkdir()
    rows = []
    for i in range(6):
        Image.new("RGB", (32, 32), (40 * i, 200 - 30 * i, 90)).save(root / f"{i}.bmp")
        stat = (root / f"{i}.bmp").stat()
        rows.append((f"{i}.bmp", "ab"[i % 2], "train", stat.st_size, stat.st_mtime_ns))
    table = pd.DataFrame(rows, columns=["path", "label", "split", "size", "mtime_ns"])
    spec = DatasetSpec(kind="folder", source=str(root), root=str(root))
    Project.create(tmp_path / "proj", Dataset(root, table, ["a", "b"], [], [], spec)).close()
    embed = dict(device="cpu", batch_size=4, num_workers=0)
    with Project.open(tmp_path / "proj") as project:
        first = run_quiet(embed_project(project, model, **embed))
        first_vectors = np.array(first.vectors)
        assert run_quiet(embed_project(project, model, **embed)).computed == 0
    # same size (BMP), new content: only the modification time tells, as after an edit
    path = root / "3.bmp"
    size = path.stat().st_size
    Image.new("RGB", (32, 32), (250, 10, 10)).save(path)
    assert path.stat().st_size == size
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 5_000_000_000))
    with Project.open(tmp_path / "proj") as project:
        assert project.dataset.table.loc[3, "mtime_ns"] == rows[3][4]  # table not refreshed
        second = run_quiet(embed_project(project, model, **embed))
    assert second.computed == 1
    others = [0, 1, 2, 4, 5]
    np.testing.assert_array_equal(np.array(second.vectors)[others], first_vectors[others])
    assert not np.array_equal(np.array(second.vectors)[3], first_vectors[3])
