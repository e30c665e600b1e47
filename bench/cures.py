"""The cures against ERM on the demo projects (issue 4's done-when), mean +- std over seeds.

digits (coloured digits, 95 % aligned): counterfactual recolouring and SelecMix vs ERM on test
unbiased accuracy (mean over class x colour groups) and bias-conflicting accuracy;
backgrounds: background-swap counterfactual and SelecMix vs ERM on test worst-group accuracy.
Usage: python bench/cures.py [--seeds 3] [--epochs-digits N] [--epochs-backgrounds N]
Prints one JSON object on the last line. Heavy: run it once, not in the tests.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debias_studio.core.jobs import run_quiet
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.job import load_run_data
from debias_studio.core.train.loop import fit
from debias_studio.core.train.metrics import mean_std

SETTINGS = {
    "digits": {"confounder": "color", "methods": ("erm", "counterfactual", "selecmix")},
    "backgrounds": {"confounder": "background", "methods": ("erm", "counterfactual", "selecmix")},
}
TRAINING = {"batch_size": 32, "lr": 2e-3, "image_size": 32}
"""The same for every method: 32-px inputs (the digits are 8 x 8 scans, the objects simple
silhouettes), small batches (the demos have ~1,100 and ~860 training images)."""


def measure(kind: str, seeds: int, epochs: int, backbone: str, folder: Path) -> dict:
    from debias_studio.core.demo import create_demo_project

    project = run_quiet(create_demo_project(folder / kind, kind=kind, seed=0, aligned=0.95))
    setting = SETTINGS[kind]
    base = TrainConfig(
        project=str(folder / kind),
        confounder=setting["confounder"],
        backbone=backbone,
        epochs=epochs,
        **TRAINING,
    )
    data = run_quiet(load_run_data(project, base))
    out: dict = {"n_images": len(data.labels), "epochs": epochs, "backbone": backbone, **TRAINING}
    for method in setting["methods"]:
        runs, seconds = [], []
        for seed in range(seeds):
            config = TrainConfig(**{**base.to_dict(), "method": method, "seed": seed})
            start = time.perf_counter()
            runs.append(run_quiet(fit(data, config)).metrics["test"])
            seconds.append(time.perf_counter() - start)
            print(kind, method, seed, _brief(runs[-1]), f"{seconds[-1]:.0f} s", file=sys.stderr)
        out[method] = {**mean_std(runs), "seconds_per_run": sum(seconds) / len(seconds)}
    project.close()
    return out


def _brief(metrics: dict) -> str:
    keys = ("unbiased_acc", "conflicting_acc", "worst_group_acc")
    return " ".join(f"{k} {metrics[k]:.3f}" for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs-digits", type=int, default=50)
    parser.add_argument("--epochs-backgrounds", type=int, default=25)
    parser.add_argument("--backbone", default="cnn")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "digits": measure("digits", args.seeds, args.epochs_digits, args.backbone, Path(tmp)),
            "backgrounds": measure(
                "backgrounds", args.seeds, args.epochs_backgrounds, args.backbone, Path(tmp)
            ),
        }
    d, b = result["digits"], result["backgrounds"]
    for cure in ("counterfactual", "selecmix"):
        for key in ("unbiased_acc", "conflicting_acc"):
            gain = d[cure][key]["mean"] - d["erm"][key]["mean"]
            result[f"digits_{cure}_{key}_gain"] = gain
        wga = b[cure]["worst_group_acc"]["mean"] - b["erm"]["worst_group_acc"]["mean"]
        result[f"backgrounds_{cure}_worst_group_gain"] = wga
    print(json.dumps(result))


if __name__ == "__main__":
    main()
