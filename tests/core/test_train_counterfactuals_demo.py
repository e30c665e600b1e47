"""Counterfactual generators on the real demo data: the confounder changes to the target value and
the class (the digit's stroke, the object's silhouette) stays where it was. The demos' known masks
and palette colours are the ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from debias_studio.core.demo.palette import NAMED_COLOURS
from debias_studio.core.demo.project import create_demo_project
from debias_studio.core.jobs import run_quiet
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.counterfactuals import (
    BackgroundSwap,
    ColourCounterfactual,
    choose_generator,
)
from debias_studio.core.train.data import TrainData
from debias_studio.core.train.job import load_run_data


def _demo_data(folder: Path, kind: str, confounder: str, per_class: int) -> TrainData:
    project = run_quiet(create_demo_project(folder, kind=kind, per_class=per_class))
    try:
        config = TrainConfig(project=str(folder), confounder=confounder, backbone="cnn")
        return run_quiet(load_run_data(project, config))
    finally:
        project.close()


def _counterfactual(data: TrainData, shift: int) -> tuple[torch.Tensor, ...]:
    ids = torch.from_numpy(data.indices("test"))
    x = data.inputs[ids].float() / 255.0
    values = torch.from_numpy(data.values[ids.numpy()])
    targets = (values + shift) % data.n_values
    out = choose_generator(data)(x, values, targets, ids, torch.Generator().manual_seed(0))
    masks = data.masks[ids].float() / 255.0
    return x, out, targets, masks


@pytest.mark.slow
def test_colour_counterfactual_recolours_demo_digits_to_the_palette_colour(
    tmp_path: Path,
) -> None:
    data = _demo_data(tmp_path / "digits", "digits", "color", per_class=20)
    assert isinstance(choose_generator(data), ColourCounterfactual)
    x, out, targets, masks = _counterfactual(data, shift=3)
    palette = np.array([NAMED_COLOURS[name] for name in data.value_names]) / 255.0
    stroke = masks[:, 0] > 0.8
    wrong = []
    for i in range(len(out)):
        colour = out[i][:, stroke[i]].mean(dim=1).numpy()
        nearest = int(np.argmin(np.linalg.norm(palette - colour, axis=1)))
        if nearest != int(targets[i]):
            wrong.append((i, data.value_names[nearest], data.value_names[int(targets[i])]))
        # the digit (the class) is untouched in shape: the backdrop stays the backdrop
        backdrop = masks[i, 0] < 0.05
        assert torch.allclose(out[i][:, backdrop], x[i][:, backdrop], atol=0.02)
    # the demo jitters each image's shade, so a dark orange can sit nearer brown: 1 in 400 seen
    assert len(wrong) <= len(out) // 100, wrong


@pytest.mark.slow
def test_background_swap_puts_demo_objects_on_the_target_background(tmp_path: Path) -> None:
    data = _demo_data(tmp_path / "objects", "backgrounds", "background", per_class=30)
    assert isinstance(choose_generator(data), BackgroundSwap)
    x, out, targets, masks = _counterfactual(data, shift=1)
    train = data.indices("train")
    pixels = data.inputs[torch.from_numpy(train)].float() / 255.0
    outside = 1.0 - data.masks[torch.from_numpy(train)].float() / 255.0
    mean_background = np.stack(
        [
            ((pixels * outside)[data.values[train] == v].sum(dim=(0, 2, 3)))
            / outside[data.values[train] == v].sum().clamp_min(1.0)
            for v in range(data.n_values)
        ]
    )
    swap = choose_generator(data)
    assert isinstance(swap, BackgroundSwap)
    ids = torch.from_numpy(data.indices("test"))
    object_pixels = swap.alpha(x, ids) > 0.99  # the eroded, feathered mask it composites with
    for i in range(len(out)):
        # the object (the class) is pasted back pixel for pixel inside its eroded outline
        keep = object_pixels[i].expand(3, -1, -1)
        assert torch.allclose(out[i][keep], x[i][keep], atol=0.01)
        around = (masks[i] < 0.05).expand(3, -1, -1)
        colour = out[i][around].view(3, -1).mean(dim=1).numpy()
        nearest = int(np.argmin(np.linalg.norm(mean_background - colour, axis=1)))
        assert nearest == int(targets[i]), (data.value_names[nearest], i)
