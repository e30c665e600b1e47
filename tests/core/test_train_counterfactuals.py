"""Counterfactual generators change the confounder and keep the class."""

from __future__ import annotations

import numpy as np
import torch

from debias_studio.core.train.counterfactuals import (
    BackgroundSwap,
    ColourCounterfactual,
    LatentCounterfactual,
    choose_generator,
    preview_counterfactuals,
    threshold_foreground,
)
from tests.core.train_fixtures import COLOURS, feature_data, shapes_data


def _batch(data, ids):  # type: ignore[no-untyped-def]
    ids = torch.as_tensor(ids)
    return data.inputs[ids].float() / 255.0, torch.from_numpy(data.values[ids.numpy()]), ids


def test_colour_counterfactual_repaints_the_stroke_and_keeps_the_shape() -> None:
    for with_masks in (True, False):  # known masks, then the foreground threshold
        data = shapes_data(with_masks=with_masks)
        generator = choose_generator(data)
        assert isinstance(generator, ColourCounterfactual) and generator.region == "object"
        ids = data.indices("test")[:30]
        x, v, ids_t = _batch(data, ids)
        targets = (v + 1) % 3
        out = generator(x, v, targets, ids_t, torch.Generator().manual_seed(0))
        stroke = (
            torch.from_numpy(
                data.masks[ids_t].numpy()
                if with_masks
                else shapes_data(with_masks=True).masks[ids_t].numpy()
            )
            > 127
        )
        stroke = stroke.expand(-1, 3, -1, -1)
        for i in range(len(ids)):
            colour = _mean_colour(out[i], stroke[i])
            nearest = int(np.argmin(np.linalg.norm(COLOURS[:3] - colour.numpy(), axis=1)))
            assert nearest == int(targets[i])  # the value changed to the target
            # the shape (the class) is where it was: off-stroke pixels stay dark
            assert out[i][~stroke[i]].max() < 0.35


def _mean_colour(image: torch.Tensor, stroke: torch.Tensor) -> torch.Tensor:
    return torch.stack([image[c][stroke[c]].mean() for c in range(3)])


def test_background_swap_keeps_the_object_and_takes_the_target_background() -> None:
    data = shapes_data(kind="background", with_masks=True)
    # make the "value" a background colour: paint each image's background with its value colour
    x = data.inputs.float() / 255.0
    m = data.masks.float() / 255.0
    bg = torch.from_numpy(COLOURS[data.values][:, :3]).float()[:, :, None, None] * 0.5
    data.inputs = ((m * x + (1 - m) * bg) * 255).round().to(torch.uint8)
    generator = choose_generator(data)
    assert isinstance(generator, BackgroundSwap)
    ids = data.indices("test")[:20]
    x, v, ids_t = _batch(data, ids)
    targets = (v + 1) % 3
    out = generator(x, v, targets, ids_t, torch.Generator().manual_seed(0))
    obj = (data.masks[ids_t] > 250).expand(-1, 3, -1, -1)
    assert torch.allclose(out[obj], x[obj], atol=1e-6)  # the object (the class) is untouched
    for i in range(len(ids)):
        corner = out[i, :, 0, 0]
        expected = torch.from_numpy(COLOURS[int(targets[i])]).float() * 0.5
        assert torch.allclose(corner, expected, atol=0.03)


def test_latent_counterfactual_moves_to_the_target_group_mean() -> None:
    data = feature_data()
    generator = choose_generator(data)
    assert isinstance(generator, LatentCounterfactual)
    ids = data.indices("train")
    ids = ids[(data.labels[ids] == 0) & (data.values[ids] == 0)][:50]
    z, v, ids_t = _batch(data, ids)
    z = data.inputs[ids_t]
    out = generator(z, v, torch.ones_like(v), ids_t, torch.Generator())
    assert torch.allclose(out.norm(dim=1), torch.ones(len(ids)), atol=1e-5)
    target_mean = generator.means[0, 1]
    source_mean = generator.means[0, 0]
    assert (out @ target_mean).mean() > (out @ source_mean).mean()


def test_threshold_foreground_finds_the_stroke() -> None:
    data = shapes_data(with_masks=True)
    x = data.inputs[:20].float() / 255.0
    found = threshold_foreground(x) > 0.5
    truth = data.masks[:20] > 127
    assert (found == truth).float().mean() > 0.97


def test_preview_renders_each_image_under_every_value() -> None:
    data = shapes_data(with_masks=True)
    views = preview_counterfactuals(data, [0, 1])
    assert views.shape == (2, 3, 12, 12, 3) and views.dtype == np.uint8
    own = int(data.values[0])
    assert np.array_equal(views[0, own], data.inputs[0].permute(1, 2, 0).numpy())
