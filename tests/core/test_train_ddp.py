"""Two DDP processes (gloo, CPU) follow the single-process loss curve."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.distributed as tdist
import torch.multiprocessing as mp

from debias_studio.core.jobs import run_quiet
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.loop import DistContext, fit
from tests.core.train_fixtures import feature_data

CONFIG = {
    "project": "",
    "method": "erm",
    "backbone": "head",
    "head_hidden": 8,
    "epochs": 2,
    "batch_size": 64,
    "seed": 5,
    "confounder": "place",
}


def _rank(rank: int, world: int, folder: str) -> None:
    torch.set_num_threads(1)
    tdist.init_process_group(
        "gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world
    )
    try:
        outcome = run_quiet(
            fit(
                feature_data(n_train=256, n_eval=32),
                TrainConfig(**CONFIG),
                dist=DistContext(rank, world),
            )
        )
        if rank == 0:
            Path(folder, "losses.json").write_text(json.dumps(outcome.step_losses))
    finally:
        tdist.destroy_process_group()


def test_two_process_ddp_matches_single_process(tmp_path: Path) -> None:
    mp.spawn(_rank, args=(2, str(tmp_path)), nprocs=2, join=True)
    ddp = json.loads((tmp_path / "losses.json").read_text())
    single = run_quiet(fit(feature_data(n_train=256, n_eval=32), TrainConfig(**CONFIG)))
    assert len(ddp) == len(single.step_losses) == 8
    np.testing.assert_allclose(ddp, single.step_losses, rtol=1e-4, atol=1e-5)
    assert single.step_losses[-1] < single.step_losses[0]
