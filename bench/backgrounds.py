"""A background benchmark that is not easy, built the way Waterbirds was (issue 14, item 4b).

Real objects (coins, a flower, a person: core.demo.cutouts) cut out of bundled photos with
documented segmentations are composited onto patches of three real scene categories
(sky-water, vegetation, ground: core.demo.scenes); 95 % of each class's training images sit on
its own scene, validation and test are balanced (30 images per (class, scene) group each).
Every cure trains on the same frozen ImageNet EfficientNet-Lite0 features (core.train.frozen:
the tower runs once per image, the counterfactual cure's background swaps are rendered once per
run), through the product's ``fit``; model selection on validation worst-group accuracy; 3
compositions x seeds. Reported: test worst-group and average accuracy, mean +- std.

Usage: python bench/backgrounds.py [--seeds 3] [--epochs 20] [--ablation] [--cnn]
           [--contact-sheet FILE.png]
Prints one JSON object on the last line (also written to bench/results/backgrounds.json with
--write). Heavy: minutes per composition on 2 cores; run it once, not in the tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from debias_studio.core.demo.scene_objects import SceneObjects, build_scene_objects
from debias_studio.core.jobs import run_quiet
from debias_studio.core.train.backbones import EfficientNetTower
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.counterfactuals import BackgroundSwap
from debias_studio.core.train.data import SPLIT_CODES, CounterfactualBank, TrainData
from debias_studio.core.train.frozen import counterfactual_bank, encode_concepts, encode_images
from debias_studio.core.train.loop import fit
from debias_studio.core.train.methods.disc import concepts_from_confounder
from debias_studio.core.train.metrics import mean_std

RESULTS = Path(__file__).resolve().parent / "results"
BANK = 4
"""Counterfactuals rendered per training image for the main sweep (the config's default)."""
HEAD = {"backbone": "head", "batch_size": 64, "lr": 1e-2}
CURES: dict[str, dict[str, Any]] = {
    "erm": {"method": "erm"},
    "reweight": {"method": "balanced", "balance": "reweight"},
    "groupdro": {"method": "balanced", "balance": "groupdro"},
    "counterfactual": {"method": "counterfactual"},
    "selecmix_annotation": {"method": "selecmix", "pairs": "annotation"},
    "selecmix_contrastive": {"method": "selecmix", "pairs": "contrastive"},
    "lff_selecmix": {"method": "selecmix", "pairs": "contrastive", "lff": True},
    "disc_confounder": {"method": "disc"},
}
ANNOTATION_FREE = ("selecmix_contrastive", "lff_selecmix")
"""Cures that train without the scene annotation (validation still selects the epoch)."""


def pixel_data(scene: SceneObjects) -> TrainData:
    """The composition as the product's training arrays (what ``load_train_data`` would give)."""
    split = np.array([SPLIT_CODES[s] for s in scene.splits], dtype=np.int64)
    return TrainData(
        inputs=torch.from_numpy(scene.images).permute(0, 3, 1, 2).contiguous(),
        labels=scene.labels.astype(np.int64),
        values=scene.values.astype(np.int64),
        split=split,
        classes=list(scene.classes),
        value_names=list(scene.scenes),
        confounder="scene",
        kind="background",
        masks=torch.from_numpy(scene.masks)[:, None].contiguous(),
    )


class Composition:
    """One composition seed: its pixels, its frozen features and what the cures need cached."""

    def __init__(self, seed: int, size: int, tower: torch.nn.Module) -> None:
        start = time.perf_counter()
        self.seed = seed
        self.pixels = pixel_data(build_scene_objects(seed, size=size))
        self.build_s = time.perf_counter() - start
        self.tower = tower
        start = time.perf_counter()
        features = run_quiet(encode_images(self.pixels, tower, torch.device("cpu")))
        self.encode_s = time.perf_counter() - start
        self.features = replace(self.pixels, inputs=features, masks=None)
        self.concepts = encode_concepts(
            concepts_from_confounder(self.pixels), tower, torch.device("cpu")
        )
        self.banks: dict[tuple, Any] = {}

    def with_bank(self, per_image: int = BANK, **swap: Any) -> TrainData:
        """Features plus ``per_image`` cached counterfactuals per image; fewer than BANK with
        the default swap are the first columns of the default bank (rendered once)."""
        if not swap and per_image <= BANK:
            bank = self._bank(BANK)
            bank = CounterfactualBank(bank.inputs[:, :per_image], bank.targets[:, :per_image])
        else:
            bank = self._bank(per_image, **swap)
        return replace(self.features, bank=bank)

    def _bank(self, per_image: int, **swap: Any) -> CounterfactualBank:
        key = (per_image, tuple(sorted(swap.items())))
        if key not in self.banks:
            start = time.perf_counter()
            generator = BackgroundSwap(self.pixels, **swap)
            self.banks[key] = run_quiet(
                counterfactual_bank(
                    self.pixels, self.tower, generator, per_image, torch.device("cpu"), seed=0
                )
            )
            log(f"  bank {key}: {time.perf_counter() - start:.0f} s")
        return self.banks[key]


def train(comp: Composition, cure: dict[str, Any], seed: int, epochs: int, **bank: Any) -> dict:
    settings = {**HEAD, **cure}
    data = comp.with_bank(**bank) if settings["method"] == "counterfactual" else comp.features
    concepts = comp.concepts if settings["method"] == "disc" else None
    config = TrainConfig(project="bench", confounder="scene", epochs=epochs, seed=seed, **settings)
    return run_quiet(fit(data, config.validate(), concepts=concepts)).metrics["test"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary(runs: list[dict], seconds: list[float]) -> dict:
    figures = mean_std(runs)
    return {
        "worst_group_acc": figures["worst_group_acc"],
        "avg_acc": figures["avg_acc"],
        "unbiased_acc": figures["unbiased_acc"],
        "per_seed_worst_group": [r["worst_group_acc"] for r in runs],
        "seconds_per_run": float(np.mean(seconds)),
    }


def over_seeds(label: str, comps: list[Composition], run: Callable[[Composition], dict]) -> dict:
    """``run`` on every composition (training seed = composition seed), timed and summarised."""
    runs, seconds = [], []
    for comp in comps:
        start = time.perf_counter()
        runs.append(run(comp))
        seconds.append(time.perf_counter() - start)
        log(
            f"{label} seed {comp.seed}: worst {runs[-1]['worst_group_acc']:.3f} "
            f"avg {runs[-1]['avg_acc']:.3f} ({seconds[-1]:.1f} s)"
        )
    return summary(runs, seconds)


def sweep(comps: list[Composition], cures: dict, epochs: int, **bank: Any) -> dict:
    """Every cure on every composition."""
    return {
        name: over_seeds(name, comps, lambda c, cure=cure: train(c, cure, c.seed, epochs, **bank))
        for name, cure in cures.items()
    }


ABLATION: dict[str, dict[str, Any]] = {
    "1 per image, mean fill, hard edge (the generator before)": {
        "per_image": 1,
        "fill": "mean",
        "erode": 0,
        "feather": 0,
    },
    "1 per image, mean fill, eroded 1 + feathered 1": {"per_image": 1, "fill": "mean"},
    "1 per image, inpainted, hard edge": {"per_image": 1, "erode": 0, "feather": 0},
    "1 per image, inpainted, eroded 1 + feathered 1 (default)": {"per_image": 1},
    "2 per image (default swap)": {"per_image": 2},
    "4 per image (default swap)": {"per_image": 4},
}
SCHEDULES: dict[str, dict[str, Any]] = {
    "4 per image, half of each batch swapped": {"cf_fraction": 0.5},
    "4 per image, 10 epochs": {"epochs": 10},
    "4 per image, 40 epochs": {"epochs": 40},
    "4 per image, lr 1e-3, 40 epochs": {"lr": 1e-3, "epochs": 40},
}


def ablation(comps: list[Composition], epochs: int) -> dict:
    cure = {"counterfactual": CURES["counterfactual"]}
    out = {}
    for label, bank in ABLATION.items():
        log(f"ablation: {label}")
        out[label] = sweep(comps, cure, epochs, **bank)["counterfactual"]
    for label, extra in SCHEDULES.items():
        log(f"ablation: {label}")
        extra = dict(extra)
        runs_epochs = extra.pop("epochs", epochs)
        cure = {"counterfactual": {**CURES["counterfactual"], **extra}}
        out[label] = sweep(comps, cure, runs_epochs)["counterfactual"]
    return out


def cnn_reference(comps: list[Composition], epochs: int) -> dict:
    """ERM and the counterfactual with the small CNN trained from scratch on the pixels (the
    backbone of bench/cures.py), on the first composition only (CPU time): what the pretrained
    features are worth."""

    def run(comp: Composition, method: str) -> dict:
        config = TrainConfig(
            project="bench",
            confounder="scene",
            backbone="cnn",
            batch_size=32,
            lr=2e-3,
            epochs=epochs,
            seed=comp.seed,
            method=method,
        )
        return run_quiet(fit(comp.pixels, config.validate())).metrics["test"]

    return {
        name: over_seeds(f"cnn {name}", comps[:1], lambda c, name=name: run(c, name))
        for name in ("erm", "counterfactual")
    }


def table(results: dict) -> str:
    lines = ["| cure | annotation | worst-group % | average % |", "|---|---|---|---|"]
    for name, r in results.items():
        note = "none" if name in ANNOTATION_FREE else "scene"
        if name == "erm":
            note = "-"
        wg, avg = r["worst_group_acc"], r["avg_acc"]
        lines.append(
            f"| {name} | {note} | {100 * wg['mean']:.1f} ± {100 * wg['std']:.1f} "
            f"| {100 * avg['mean']:.1f} ± {100 * avg['std']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--cures", default=",".join(CURES))
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument("--cnn", type=int, default=0, metavar="EPOCHS")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    wall = time.perf_counter()
    tower = EfficientNetTower(0)
    comps = []
    for seed in range(args.seeds):
        comps.append(Composition(seed, args.size, tower))
        log(
            f"composition {seed}: built {comps[-1].build_s:.0f} s, "
            f"encoded {comps[-1].encode_s:.0f} s"
        )
    cures = {k: CURES[k] for k in args.cures.split(",")}
    result: dict[str, Any] = {
        "backbone": "efficientnet-lite0 (ImageNet, frozen) + linear head",
        "image_size": args.size,
        "epochs": args.epochs,
        **HEAD,
        "n_images": len(comps[0].pixels.labels),
        "train_group_counts": comps[0].pixels.group_counts("train").tolist(),
        "test_group_counts": comps[0].pixels.group_counts("test").tolist(),
        "cures": sweep(comps, cures, args.epochs),
    }
    if args.ablation:
        result["counterfactual_ablation"] = ablation(comps, args.epochs)
    if args.cnn:
        result["small_cnn_from_scratch"] = cnn_reference(comps, args.cnn)
    result["wall_s"] = time.perf_counter() - wall
    log(table(result["cures"]))
    if args.write:
        (RESULTS / "backgrounds.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
