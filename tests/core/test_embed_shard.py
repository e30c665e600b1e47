"""torchrun sharding of a project's embedding: two gloo ranks equal one process; resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as tdist
import torch.multiprocessing as mp

import debias_studio.core.embed.engine
from debias_studio.core.embed.cache import PARTS, model_folder
from debias_studio.core.embed.engine import embed_project
from debias_studio.core.embed.shard import embed_shard, run_sharded
from debias_studio.core.jobs import run_quiet
from debias_studio.core.models.registry import resolve_model
from tests.core.test_embed import make_project, write_images
from tests.core.test_models_tiny import save_tiny_model

IMAGES = 12


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBIAS_STUDIO_CACHE", str(tmp_path / "user-cache"))
    monkeypatch.setenv("DEBIAS_STUDIO_CPU_PRECISION", "fp32")
    debias_studio.core.embed.engine._ENGINE_MODELS.clear()


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, list[str]]:
    (tmp_path / "images").mkdir()
    return f"local-dir:{save_tiny_model(tmp_path / 'tiny')}", write_images(
        tmp_path / "images", 0, IMAGES
    )


def _rank(rank: int, world: int, folder: str, model: str) -> None:
    torch.set_num_threads(1)
    tdist.init_process_group(
        "gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world
    )
    result = run_sharded(Path(folder, "project"), model, batch_size=4)
    if rank == 0:
        Path(folder, "result.json").write_text(json.dumps(result))


def _single(tmp_path: Path, names: list[str], model: str) -> np.ndarray:
    project = make_project(tmp_path, names, folder="single")
    try:
        return np.asarray(run_quiet(embed_project(project, model, device="cpu")).vectors)
    finally:
        project.close()


@pytest.mark.slow
def test_two_gloo_ranks_give_the_single_process_embeddings(
    tmp_path: Path, setup: tuple[str, list[str]]
) -> None:
    model, names = setup
    make_project(tmp_path, names).close()
    mp.spawn(_rank, args=(2, str(tmp_path), model), nprocs=2, join=True)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["embedded_per_rank"] == [IMAGES // 2, IMAGES // 2]
    assert result["embedded_at_merge"] == 0
    project = make_project(tmp_path, names)
    try:
        merged = run_quiet(embed_project(project, model, device="cpu"))
        assert merged.computed == 0 and merged.valid.all()
        folder = model_folder(project.embeddings_dir, resolve_model(model).model_id)
        assert not (folder / PARTS).exists()
        np.testing.assert_array_equal(np.asarray(merged.vectors), _single(tmp_path, names, model))
    finally:
        project.close()


def test_an_interrupted_sharded_run_resumes_from_its_saved_parts(
    tmp_path: Path, setup: tuple[str, list[str]]
) -> None:
    model, names = setup
    project = make_project(tmp_path, names)
    try:
        # rank 0 of 2 finished its parts, rank 1 died before writing any
        done = run_quiet(embed_shard(project, model, rank=0, world=2, part_size=4))
        assert done == IMAGES // 2
        folder = model_folder(project.embeddings_dir, resolve_model(model).model_id)
        assert len(list((folder / PARTS).glob("*.parquet"))) == 2
        # a new run with one rank takes only what nothing holds yet
        assert run_quiet(embed_shard(project, model, rank=0, world=1, part_size=4)) == IMAGES // 2
        assert run_quiet(embed_shard(project, model, rank=0, world=1)) == 0
        merged = run_quiet(embed_project(project, model, device="cpu"))
        assert merged.computed == 0
        assert not (folder / PARTS).exists()
        np.testing.assert_array_equal(np.asarray(merged.vectors), _single(tmp_path, names, model))
    finally:
        project.close()
