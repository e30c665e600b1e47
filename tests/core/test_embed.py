"""Embedding engine: shapes, normalisation, caching, increments, bad images, cancel."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import debias_studio.core.embed.engine
from debias_studio.core.data.dataset import Dataset, DatasetSpec
from debias_studio.core.embed.engine import embed_project, load_embeddings
from debias_studio.core.errors import JobCancelled
from debias_studio.core.jobs import CancelToken, Progress, run_job
from debias_studio.core.store.project import Project
from tests.core.test_models_tiny import save_tiny_model

COLOURS = [(220, 30, 30), (30, 200, 40), (40, 60, 220), (240, 220, 20), (20, 20, 20)]


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBIAS_STUDIO_CACHE", str(tmp_path / "user-cache"))
    monkeypatch.setenv("DEBIAS_STUDIO_CPU_PRECISION", "fp32")
    debias_studio.core.embed.engine._ENGINE_MODELS.clear()


@pytest.fixture
def model_name(tmp_path: Path) -> str:
    return f"local-dir:{save_tiny_model(tmp_path / 'tiny')}"


def write_images(root: Path, start: int, count: int) -> list[str]:
    names = []
    for i in range(start, start + count):
        name = f"img_{i:03d}.jpg" if i % 2 else f"img_{i:03d}.png"
        colour = COLOURS[i % len(COLOURS)]
        image = Image.new("RGB", (48 + i % 7, 40), colour)
        image.paste((255 - colour[0], 128, i * 3 % 255), (5, 5, 20 + i % 9, 25))
        image.save(root / name)
        names.append(name)
    return names


def make_project(tmp_path: Path, names: list[str], folder: str = "project") -> Project:
    root = tmp_path / "images"
    rows = []
    for name in names:
        stat = (root / name).stat()
        rows.append((name, "a" if len(rows) % 2 else "b", "train", stat.st_size, stat.st_mtime_ns))
    table = pd.DataFrame(rows, columns=["path", "label", "split", "size", "mtime_ns"])
    spec = DatasetSpec(kind="folder", source=str(root), root=str(root))
    dataset = Dataset(root, table, ["a", "b"], [], [], spec)
    target = tmp_path / folder
    if (target / "project.sqlite").exists():
        project = Project.open(target)
        project.save_dataset(dataset)
        return project
    return Project.create(target, dataset)


def run(project: Project, name: str, **kw: object) -> tuple[object, list[Progress]]:
    seen: list[Progress] = []
    result = run_job(embed_project(project, name, device="cpu", **kw), seen.append)
    return result, seen


def test_embeddings_shape_norm_and_cache(tmp_path: Path, model_name: str) -> None:
    root = tmp_path / "images"
    root.mkdir()
    names = write_images(root, 0, 20)
    with make_project(tmp_path, names) as project:
        assert load_embeddings(project, model_name) is None
        first, progress = run(project, model_name, batch_size=8, num_workers=0)
        assert first.computed == 20
        assert first.vectors.shape == (20, 16) and first.vectors.dtype == np.float16
        assert first.valid.all() and first.problems == []
        norms = np.linalg.norm(first.vectors.astype(np.float32), axis=1)
        np.testing.assert_allclose(norms, 1.0, atol=2e-3)
        batch_steps = [p for p in progress if p.message.startswith("embedded")]
        assert [p.done for p in batch_steps] == [8, 16, 20]
        second, progress = run(project, model_name, batch_size=8)
        assert second.computed == 0
        assert not [p for p in progress if p.message.startswith("embedded")]
        assert isinstance(second.vectors, np.memmap)
        np.testing.assert_array_equal(second.vectors, first.vectors)
        cached = load_embeddings(project, model_name)
        assert cached is not None and cached.model_id == first.model_id
        np.testing.assert_array_equal(cached.vectors, first.vectors)


def test_same_images_embed_alike_and_match_direct_encoding(tmp_path: Path, model_name: str) -> None:
    """Row i is image i: the engine's vectors equal encoding the files one by one."""
    from debias_studio.core.data.imageio import open_image
    from debias_studio.core.models.registry import load_model

    root = tmp_path / "images"
    root.mkdir()
    names = write_images(root, 0, 6)
    with make_project(tmp_path, names) as project:
        result, _ = run(project, model_name, batch_size=4, num_workers=2)
    loaded = load_model(model_name, "cpu")
    import torch

    batch = torch.stack([loaded.preprocess(open_image(root, n, min_side=32)) for n in names])
    direct = loaded.encode_images(batch)
    np.testing.assert_allclose(result.vectors.astype(np.float32), direct, atol=2e-3)


def test_added_and_changed_images_are_the_only_ones_embedded(
    tmp_path: Path, model_name: str
) -> None:
    root = tmp_path / "images"
    root.mkdir()
    names = write_images(root, 0, 10)
    with make_project(tmp_path, names) as project:
        first, _ = run(project, model_name, batch_size=4, num_workers=0)
    names += write_images(root, 10, 3)
    # change one existing file (new content, new size and mtime)
    Image.new("RGB", (60, 60), (1, 2, 3)).save(root / names[4], format="PNG")
    stat = (root / names[4]).stat()
    os.utime(root / names[4], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))
    with make_project(tmp_path, names) as project:
        second, _ = run(project, model_name, batch_size=4, num_workers=0)
        assert second.computed == 4  # 3 new + 1 changed
        assert second.vectors.shape == (13, 16)
        same = [i for i in range(10) if i != 4]
        np.testing.assert_array_equal(second.vectors[same], first.vectors[same])
        assert not np.array_equal(second.vectors[4], first.vectors[4])
        assert load_embeddings(project, model_name) is not None


def test_corrupt_and_missing_images_are_reported_not_fatal(tmp_path: Path, model_name: str) -> None:
    root = tmp_path / "images"
    root.mkdir()
    names = write_images(root, 0, 6)
    (root / names[1]).write_bytes((root / names[1]).read_bytes()[:60])  # truncated JPEG
    (root / "empty.png").write_bytes(b"")
    (root / "text.jpg").write_text("not an image")
    names += ["empty.png", "text.jpg"]
    with make_project(tmp_path, names) as project:
        (root / names[2]).unlink()  # vanished after the scan
        result, _ = run(project, model_name, batch_size=4, num_workers=0)
        assert result.vectors.shape == (8, 16)
        bad = {p.path: p.problem for p in result.problems}
        assert set(bad) == {names[1], names[2], "empty.png", "text.jpg"}
        assert bad[names[2]] == "missing" and bad["empty.png"] == "empty"
        assert bad["text.jpg"] == "not_an_image"
        assert list(np.flatnonzero(~result.valid)) == [1, 2, 6, 7]
        assert not result.vectors[~result.valid].any()
        again, _ = run(project, model_name)
        assert again.computed == 0 and len(again.problems) == 4


def test_cancel_stops_and_keeps_finished_batches(tmp_path: Path, model_name: str) -> None:
    root = tmp_path / "images"
    root.mkdir()
    names = write_images(root, 0, 12)
    cancel = CancelToken()
    batches = 0
    with make_project(tmp_path, names) as project:
        job = embed_project(project, model_name, device="cpu", batch_size=4, cancel=cancel)

        def on_progress(p: Progress) -> None:
            nonlocal batches
            if p.message.startswith("embedded"):
                batches += 1
                cancel.cancel()

        with pytest.raises(JobCancelled):
            run_job(job, on_progress)
        assert batches == 1
        assert load_embeddings(project, model_name) is None  # incomplete: not returned
        rest, _ = run(project, model_name, batch_size=4, num_workers=0)
        assert rest.computed == 8 and rest.valid.all()


def test_new_model_weights_get_their_own_cache(tmp_path: Path, model_name: str) -> None:
    root = tmp_path / "images"
    root.mkdir()
    names = write_images(root, 0, 4)
    with make_project(tmp_path, names) as project:
        first, _ = run(project, model_name, num_workers=0)
        save_tiny_model(Path(model_name.removeprefix("local-dir:")), seed=7)
        assert load_embeddings(project, model_name) is None
        second, _ = run(project, model_name, num_workers=0)
        assert second.computed == 4 and second.model_id != first.model_id


def test_int8_engine_stays_faithful_to_fp32(
    tmp_path: Path, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "images"
    root.mkdir()
    names = write_images(root, 0, 8)
    with make_project(tmp_path, names, "fp32") as project:
        reference, _ = run(project, model_name, num_workers=0)
    monkeypatch.setenv("DEBIAS_STUDIO_CPU_PRECISION", "int8")
    with make_project(tmp_path, names, "int8") as project:
        quantized, progress = run(project, model_name, num_workers=0)
    assert any("(int8)" in p.message for p in progress)
    cosine = np.sum(reference.vectors.astype(np.float32) * quantized.vectors, axis=1)
    assert cosine.min() >= 0.99


def test_removed_images_realign_rows_without_computing(tmp_path: Path, model_name: str) -> None:
    root = tmp_path / "images"
    root.mkdir()
    names = write_images(root, 0, 6)
    with make_project(tmp_path, names) as project:
        first, _ = run(project, model_name, num_workers=0)
    kept = [names[5], names[0], names[3]]
    with make_project(tmp_path, kept) as project:
        assert load_embeddings(project, model_name) is not None  # reordered copy, no compute
        second, _ = run(project, model_name)
        assert second.computed == 0 and second.vectors.shape == (3, 16)
        np.testing.assert_array_equal(second.vectors, first.vectors[[5, 0, 3]])
