"""Training cost: seconds per step of each method relative to ERM (side by side, one process),
and the time to train a head on frozen features for 100k images.

Targets (PERFORMANCE.md): SelecMix step <= 4.5x ERM; head retrain at 100k images <= 5 s.
Synthetic data: 28 px coloured images for the CNN steps, 512-d unit vectors for the head.
Prints one JSON object on the last line.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debias_studio.core.jobs import run_quiet
from debias_studio.core.train.backbones import build_classifier
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.data import TrainData
from debias_studio.core.train.loop import fit, make_batch
from debias_studio.core.train.methods.registry import make_method

VARIANTS = {
    "erm": {"method": "erm"},
    "balanced": {"method": "balanced"},
    "groupdro": {"method": "balanced", "balance": "groupdro"},
    "counterfactual": {"method": "counterfactual"},
    "selecmix": {"method": "selecmix", "pairs": "contrastive"},
    "selecmix_annotation": {"method": "selecmix", "pairs": "annotation"},
    "selecmix_lff": {"method": "selecmix", "pairs": "contrastive", "lff": True},
    "disc": {"method": "disc"},
}


def image_data(n: int = 2048, size: int = 28, classes: int = 10, seed: int = 0) -> TrainData:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    v = np.where(rng.random(n) < 0.95, y, rng.integers(0, classes, n))
    x = rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)
    split = np.where(np.arange(n) < int(0.8 * n), 0, 1)
    return TrainData(
        torch.from_numpy(x),
        y,
        v,
        split,
        [str(k) for k in range(classes)],
        [f"v{k}" for k in range(classes)],
        "colour",
        "colour",
    )


def seconds_per_step(data: TrainData, options: dict, steps: int = 12, batch: int = 128) -> float:
    config = TrainConfig(
        project="", backbone="cnn", confounder="colour", batch_size=batch, **options
    ).validate()
    torch.manual_seed(0)
    model = build_classifier("cnn", data.n_classes)
    method = make_method(config, data, model, torch.device("cpu"))
    optimizer = torch.optim.Adam(method.param_groups())
    gen = torch.Generator().manual_seed(0)
    train = data.indices("train")
    times = []
    for step in range(steps + 2):
        ids = train[torch.randperm(len(train), generator=gen)[:batch].numpy()]
        start = time.perf_counter()
        loss, _ = method.loss(make_batch(data, ids, torch.device("cpu")), gen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step >= 2:  # warm-up steps excluded
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def head_training_seconds(n: int = 100_000, dim: int = 512, classes: int = 10) -> float:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(n, dim)).astype(np.float32)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    y = rng.integers(0, classes, n)
    split = np.where(np.arange(n) < int(0.9 * n), 0, 1)
    data = TrainData(
        torch.from_numpy(z), y, np.full(n, -1), split, [str(k) for k in range(classes)], []
    )
    config = TrainConfig(project="", backbone="head", epochs=5, batch_size=4096)
    start = time.perf_counter()
    run_quiet(fit(data, config))
    return time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    data = image_data()
    # interleave rounds so that load changes on a shared machine hit every method alike
    per_method: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(3):
        for name, options in VARIANTS.items():
            per_method[name].append(seconds_per_step(data, options))
    seconds = {name: float(np.median(t)) for name, t in per_method.items()}
    erm = seconds["erm"]
    head = head_training_seconds()
    result = {
        "backbone": f"cnn 28px, batch 128, CPU threads {torch.get_num_threads()}",
        "erm_seconds_per_step": erm,
        "relative_to_erm": {name: s / erm for name, s in seconds.items()},
        "selecmix_target_max": 4.5,
        "selecmix_ok": seconds["selecmix"] / erm <= 4.5,
        "head_100k_images_seconds": head,
        "head_100k_target_max": 5.0,
        "head_ok": head <= 5.0,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
