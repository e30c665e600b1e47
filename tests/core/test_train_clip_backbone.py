"""Fine-tuning the CLIP image tower (the demo CLIP, from its bundled local weights) on the demo
digits: only the last blocks train, the images arrive at the tower's input size, the loss falls,
and the run reports per-group metrics like every other backbone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from debias_studio.core.demo.project import create_demo_project
from debias_studio.core.jobs import run_quiet
from debias_studio.core.resources import DEMO_MODEL_DIR
from debias_studio.core.train.backbones import build_classifier
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.job import load_run_data
from debias_studio.core.train.loop import fit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (DEMO_MODEL_DIR / "open_clip_model.safetensors").is_file(),
        reason="the demo CLIP (resources/models/demo-clip) has not been trained yet",
    ),
]


def test_only_the_last_blocks_of_the_clip_tower_train() -> None:
    model = build_classifier("clip", 10, model_name="demo", clip_blocks=1)
    blocks = model.features.visual.transformer.resblocks
    assert not any(p.requires_grad for p in blocks[0].parameters())
    assert all(p.requires_grad for p in blocks[-1].parameters())
    assert all(p.requires_grad for p in model.head.parameters())
    everything = build_classifier("clip", 10, model_name="demo", clip_blocks=-1)
    assert all(p.requires_grad for p in everything.parameters())


def test_clip_fine_tuning_on_the_demo_digits_lowers_the_loss(tmp_path: Path) -> None:
    torch.manual_seed(0)
    project = run_quiet(create_demo_project(tmp_path / "digits", kind="digits", per_class=24))
    try:
        config = TrainConfig(
            project=str(tmp_path / "digits"),
            confounder="color",
            backbone="clip",
            epochs=3,
            batch_size=32,
            lr=1e-3,
            clip_blocks=2,
        )
        data = run_quiet(load_run_data(project, config))
        assert data.inputs.shape[-1] == 40  # the demo tower's input size
        outcome = run_quiet(fit(data, config))
    finally:
        project.close()
    losses = outcome.step_losses
    assert np.mean(losses[-2:]) < np.mean(losses[:2]), losses
    test = outcome.metrics["test"]
    assert {"avg_acc", "worst_group_acc", "unbiased_acc"} <= set(test)
    groups = test["per_group"]
    assert sum(g["count"] for g in groups.values()) == len(data.indices("test"))
    assert all(name.split("/")[1] in data.value_names for name in groups)  # digit/colour
