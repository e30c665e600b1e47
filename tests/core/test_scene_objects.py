"""The Waterbirds-like benchmark set (real cut-outs on real scenes) and the background swap's
mask and hole handling on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from debias_studio.core.demo.cutouts import OBJECT_CLASSES, cutouts
from debias_studio.core.demo.scene_objects import build_scene_objects, place_object
from debias_studio.core.demo.scenes import SCENE_NAMES, scene_patch
from debias_studio.core.train.counterfactuals import inpaint, soften


@pytest.fixture(scope="module")
def small_set():  # type: ignore[no-untyped-def]
    return build_scene_objects(3, size=40, train_per_class=40, held_out_per_group=2)


def test_segmentations_find_every_coin_and_one_flower_and_one_person() -> None:
    assert len(cutouts("coin")) == 24
    for name in OBJECT_CLASSES:
        for cut in cutouts(name):
            assert cut.rgb.shape[:2] == cut.alpha.shape
            assert 0.3 < float((cut.alpha > 0.5).mean()) < 0.95  # an object, not its box


def test_the_set_is_biased_in_training_and_balanced_held_out(small_set) -> None:  # type: ignore[no-untyped-def]
    s = small_set
    train = s.splits == "train"
    aligned = s.values[train] == s.labels[train]
    assert aligned.mean() == pytest.approx(0.95, abs=0.01)
    for split in ("val", "test"):
        counts = np.bincount(
            s.labels[s.splits == split] * len(SCENE_NAMES) + s.values[s.splits == split],
            minlength=9,
        )
        assert (counts == 2).all()
    again = build_scene_objects(3, size=40, train_per_class=40, held_out_per_group=2)
    assert np.array_equal(again.images, s.images) and np.array_equal(again.masks, s.masks)


def test_masks_are_the_compositing_alpha(small_set) -> None:  # type: ignore[no-untyped-def]
    s = small_set
    area = (s.masks > 127).mean(axis=(1, 2))
    assert area.min() > 0.05 and area.max() < 0.7


def test_inpainting_restores_a_real_scene_better_than_its_mean_colour() -> None:
    rng = np.random.default_rng(0)
    errors = {"inpaint": [], "mean": []}
    for scene in SCENE_NAMES:
        for _ in range(4):
            truth = torch.from_numpy(scene_patch(scene, 48, rng)).permute(2, 0, 1)[None]
            _, alpha = place_object(cutouts("coin")[0], 48, rng)
            hole = torch.from_numpy((alpha > 0.02).astype(np.float32))[None, None]
            filled = inpaint(truth, hole)
            known = 1 - hole
            mean = (truth * known).sum(dim=(2, 3), keepdim=True) / known.sum()
            inside = hole.bool().expand_as(truth)
            assert torch.equal(filled[~inside], truth[~inside])
            errors["inpaint"].append(float((filled - truth)[inside].abs().mean()))
            errors["mean"].append(float((mean.expand_as(truth) - truth)[inside].abs().mean()))
    assert np.mean(errors["inpaint"]) < 0.9 * np.mean(errors["mean"])


def test_softened_mask_drops_the_rim_and_keeps_the_core() -> None:
    rng = np.random.default_rng(1)
    _, alpha = place_object(cutouts("flower")[0], 64, rng)
    m = torch.from_numpy(alpha)[None, None]
    soft = soften(m, 1, 1)
    rim = (m > 0.02) & (m < 0.98)
    core = -torch.nn.functional.max_pool2d(-m, 5, stride=1, padding=2) > 0.99
    assert float(soft[rim].mean()) < 0.5 * float(m[rim].mean())
    assert float(soft[core].min()) > 0.98
