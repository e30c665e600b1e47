"""The random shift: each training image translated by its own offset, the backbone's default,
and every method training on the shifted images (after its own mixing or recolouring)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from debias_studio.core.errors import StudioError
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.loop import make_batch
from debias_studio.core.train.methods.base import random_shift
from debias_studio.core.train.methods.registry import make_method
from tests.core.train_fixtures import shapes_data


def _dots(n: int, size: int = 12) -> torch.Tensor:
    """n images with one lit pixel each, at (5, 6), in every channel."""
    x = torch.zeros(n, 3, size, size)
    x[:, :, 5, 6] = 1.0
    return x


def test_each_image_moves_by_its_own_offset_within_the_bound() -> None:
    x = _dots(64)
    out = random_shift(x, 2, torch.Generator().manual_seed(0))
    assert out.shape == x.shape
    offsets = set()
    for image in out:
        lit = torch.nonzero(image[0]).tolist()
        assert len(lit) == 1  # the pixel moved, nothing wrapped round, zeros came in
        dy, dx = lit[0][0] - 5, lit[0][1] - 6
        assert -2 <= dy <= 2 and -2 <= dx <= 2
        assert torch.equal(image[1], image[0]) and torch.equal(image[2], image[0])
        offsets.add((dy, dx))
    assert len(offsets) > 10  # per image, not one offset for the batch


def test_a_pixel_shifted_past_the_edge_is_gone_and_features_pass_unchanged() -> None:
    x = torch.zeros(200, 1, 4, 4)
    x[:, :, 0, 0] = 1.0
    out = random_shift(x, 1, torch.Generator().manual_seed(1))
    assert 0 < int(out.sum()) < 200  # moved up or left: off the image, no wrap-around
    features = torch.randn(8, 16)
    assert random_shift(features, 3, torch.Generator()) is features
    assert random_shift(x, 0, torch.Generator()) is x


def test_the_pixel_mlp_shifts_by_default_and_the_others_do_not() -> None:
    assert TrainConfig(project="", backbone="mlp").shift_pixels == 2
    assert TrainConfig(project="", backbone="mlp", shift=0).shift_pixels == 0
    assert TrainConfig(project="", backbone="cnn").shift_pixels == 0
    assert TrainConfig(project="", backbone="cnn", shift=3).shift_pixels == 3
    with pytest.raises(StudioError, match="shift"):
        TrainConfig(project="", shift=-1).validate()
    with pytest.raises(StudioError, match="shift"):
        TrainConfig(project="", shift=65).validate()


class _Recorder(nn.Module):
    """A model that keeps the last input it saw and answers with constant logits."""

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(n_classes))
        self.seen: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = x.detach().clone()
        return self.bias.expand(len(x), len(self.bias))


@pytest.mark.parametrize("method", ["erm", "balanced", "counterfactual", "selecmix"])
def test_every_method_trains_on_shifted_images(method: str) -> None:
    data = shapes_data(n_train=64, n_eval=10, size=12, seed=0)
    batch = make_batch(data, data.indices("train")[:16], torch.device("cpu"))
    seen = {}
    for shift in (0, 2):
        config = TrainConfig(
            project="", method=method, confounder="color", backbone="cnn", shift=shift
        ).validate()
        model = _Recorder(data.n_classes)
        cure = make_method(config, data, model, torch.device("cpu"))
        cure.loss(batch, torch.Generator().manual_seed(0))
        assert model.seen is not None
        seen[shift] = model.seen
    # the same draws, then a shift: same pixel mass per image (no digit was near the edge
    # enough to lose much), different positions
    assert not torch.equal(seen[0], seen[2])
    kept = seen[2].sum(dim=(1, 2, 3)) / seen[0].sum(dim=(1, 2, 3)).clamp_min(1e-6)
    assert float(kept.min()) > 0.5
