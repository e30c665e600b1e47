"""A project's embedding shared between ``torchrun`` ranks, on one machine or many.

    torchrun --nproc_per_node=N [--nnodes=M ...] -m debias_studio.core.embed.shard PROJECT \
        [--model NAME] [--batch-size 64]

Every rank fingerprints the project's files, leaves out what the cache (or a part from an
earlier, interrupted run) already holds, and takes every ``world``-th of the remaining images.
It embeds them in parts of ``PART_SIZE`` images, each saved on completion beside the cache
(``core.embed.cache.write_part``), so a run stopped at any moment loses at most one part per
rank and the next run, with any number of ranks, continues from there. When all ranks are done,
rank 0 merges: ``embed_project`` reads the cache and the parts as one source, commits a new
generation and removes the parts. Ranks never write the same file; only rank 0 opens the project
writable. The ranks of one node share its cores (``core.threads`` reads ``LOCAL_WORLD_SIZE``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as tdist

from debias_studio.core.data.rootpaths import DatasetRoot
from debias_studio.core.embed.cache import model_folder, read_cache, read_parts, write_part
from debias_studio.core.embed.engine import (
    embed_files,
    embed_project,
    engine_model,
    file_fingerprints,
    known_rows,
)
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, run_quiet
from debias_studio.core.models.device import resolve_device
from debias_studio.core.models.loaded import LoadedModel
from debias_studio.core.models.registry import resolve_model
from debias_studio.core.store.project import Project

PART_SIZE = 1024
"""Images per saved part: what an interrupted rank can lose (a minute or two on a CPU)."""


def join_process_group(on_gpu: bool) -> tuple[int, int]:
    """Join the process group torchrun describes (NCCL between GPUs, else gloo): rank, world."""
    if not tdist.is_initialized():
        tdist.init_process_group("nccl" if on_gpu else "gloo")
    if on_gpu:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", tdist.get_rank())))
    return tdist.get_rank(), tdist.get_world_size()


def embed_shard(
    project: Project,
    model_name: str,
    *,
    rank: int,
    world: int,
    device: str | None = None,
    batch_size: int = 64,
    part_size: int = PART_SIZE,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[int]:
    """Embed this rank's share of the images nothing holds yet, part by part; returns how many."""
    paths = project.dataset.table["path"].astype(str).tolist()
    files = [str(project.dataset.root / p) for p in paths]
    root = DatasetRoot.of(project.dataset.root)  # every open passes its containment check
    sizes, mtimes = yield from file_fingerprints(files, cancel)
    wanted = pd.DataFrame({"path": paths, "size": sizes, "mtime_ns": mtimes})
    folder = model_folder(project.embeddings_dir, resolve_model(model_name).model_id)
    sources = known_rows([read_cache(folder), read_parts(folder)], wanted)
    known = np.zeros(len(paths), dtype=bool)
    for _, rows in sources:
        known |= rows >= 0
    mine = np.flatnonzero(~known & (sizes >= 0))[rank::world]
    if not len(mine):
        return 0
    loaded = engine_model(model_name, resolve_model(model_name).model_id, device)
    for start in range(0, len(mine), part_size):
        chunk = mine[start : start + part_size]
        part, vectors = yield from _embed_part(
            [paths[i] for i in chunk], root, wanted.iloc[chunk], loaded, batch_size, cancel
        )
        write_part(folder, f"rank{rank}-{uuid.uuid4().hex[:12]}", part, vectors)
    return len(mine)


def _embed_part(
    files: list[str],
    root: DatasetRoot,
    rows: pd.DataFrame,
    loaded: LoadedModel,
    batch_size: int,
    cancel: CancelToken,
) -> Job[tuple[pd.DataFrame, np.ndarray]]:
    """One part: its index rows (fingerprints, validity, problems) and float16 vectors."""
    part = rows.reset_index(drop=True)
    part["done"], part["valid"], part["problem"], part["detail"] = True, False, "", ""
    vectors = np.zeros((len(files), loaded.embed_dim), dtype=np.float16)

    def sink(pos: np.ndarray, vecs: np.ndarray, codes: list[str], notes: list[str]) -> None:
        ok = np.array([c == "" for c in codes], dtype=bool)
        vectors[pos] = np.where(ok[:, None], vecs, 0).astype(np.float16)
        part.loc[pos, "valid"] = ok
        part.loc[pos, "problem"] = codes
        part.loc[pos, "detail"] = notes

    yield from embed_files(files, loaded, sink, batch_size=batch_size, cancel=cancel, root=root)
    return part, vectors


def run_sharded(
    project_path: Path,
    model_name: str = "demo",
    *,
    device: str | None = None,
    batch_size: int = 64,
) -> dict[str, object] | None:
    """One rank's whole job: embed its share, wait for the others, rank 0 merges and reports."""
    on_gpu = resolve_device(device).type == "cuda"  # the given device, else the setting
    rank, world = join_process_group(on_gpu)
    device = f"cuda:{torch.cuda.current_device()}" if on_gpu else "cpu"
    project = Project.open(project_path, read_only=None if rank == 0 else True)
    try:
        mine = run_quiet(
            embed_shard(project, model_name, rank=rank, world=world, device=device,
                        batch_size=batch_size)
        )  # fmt: skip
        counts = [0] * world
        tdist.all_gather_object(counts, mine)
        if rank != 0:
            return None
        merged = run_quiet(embed_project(project, model_name, device=device))
        return {"ranks": world, "embedded_per_rank": counts, "images": len(merged.valid),
                "embedded_at_merge": merged.computed}  # fmt: skip
    finally:
        project.close()
        tdist.barrier()
        tdist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m debias_studio.core.embed.shard")
    parser.add_argument("project", type=Path)
    parser.add_argument("--model", default="demo")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: the app setting)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    result = run_sharded(args.project, args.model, device=args.device, batch_size=args.batch_size)
    if result is not None:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
