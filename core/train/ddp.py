"""The same run under ``torchrun`` with DistributedDataParallel.

    torchrun --nproc_per_node=N -m debias_studio.core.train.ddp CONFIG.json [--run-id ID]

CONFIG.json is what ``debias-studio train ... --write-config`` writes. Every rank loads the same
data and takes its shard of every global batch, so with mean losses and DDP's gradient averaging
the step equals the single-process step on the whole batch (no batch norm in our networks for that
reason). Rank 0 owns the run record and checkpoints; NCCL on GPUs, gloo on CPUs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.distributed as tdist

from debias_studio.core.embed.shard import join_process_group
from debias_studio.core.jobs import run_quiet
from debias_studio.core.models.device import resolve_device
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import finish_run, mark_running
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.job import load_run_data
from debias_studio.core.train.loop import DistContext, fit
from debias_studio.core.train.runs import RunRecord, create_run, open_run


def init_distributed(on_gpu: bool) -> DistContext:
    """Join the process group torchrun describes in the environment (NCCL between GPUs)."""
    rank, world = join_process_group(on_gpu)
    return DistContext(rank, world)


def run_distributed(config: TrainConfig, run_id: str | None = None) -> dict[str, Any] | None:
    """Train ``config`` as one rank of a DDP job; rank 0 returns the metrics."""
    on_gpu = resolve_device(config.device).type == "cuda"  # the run's device, else the setting
    dist = init_distributed(on_gpu)
    if on_gpu:
        config.device = f"cuda:{torch.cuda.current_device()}"
    # Only rank 0 writes the run record; the other ranks read, so they never take the lock.
    project = Project.open(Path(config.project), read_only=None if dist.is_main else True)
    try:
        ids: list[str | None] = [None]
        if dist.is_main:
            record = _resumed(project, run_id) if run_id else create_run(project, config)
            ids = [record.id]
        tdist.broadcast_object_list(ids, src=0)
        record = open_run(project, str(ids[0]))
        data = run_quiet(load_run_data(project, config))
        outcome = run_quiet(fit(data, config, run_folder=record.folder, dist=dist))
        if dist.is_main:
            finish_run(project, record.id, "done", outcome.metrics)
            return {"run_id": record.id, "metrics": outcome.metrics}
        return None
    finally:
        project.close()
        tdist.barrier()
        tdist.destroy_process_group()


def _resumed(project: Project, run_id: str) -> RunRecord:
    """Run ``run_id`` taken up by this process (refused while another process trains it)."""
    mark_running(project, run_id)
    return open_run(project, run_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m debias_studio.core.train.ddp")
    parser.add_argument("config", type=Path)
    parser.add_argument("--run-id", default=None, help="resume this run")
    parser.add_argument("--json", dest="json_out", type=Path, default=None)
    args = parser.parse_args(argv)
    config = TrainConfig.from_dict(json.loads(args.config.read_text(encoding="utf-8")))
    result = run_distributed(config, args.run_id)
    if result is not None and args.json_out is not None:
        args.json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
