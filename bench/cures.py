"""The cures against ERM on the demo projects (issue 4's done-when), mean +- std over seeds.

digits (coloured digits, 95 % aligned): counterfactual recolouring and SelecMix vs ERM on test
unbiased accuracy (mean over class x colour groups) and bias-conflicting accuracy;
backgrounds: background-swap counterfactual and SelecMix vs ERM on test worst-group accuracy.
Besides the cures told the confounder, the ones that need no annotation of it run too: SelecMix
with its biased contrastive model, and LfF + SelecMix (what a user without labels can expect).
Every test group holds >= 20 images (the digits demo draws its held-out digits in 6 colours).
Usage: python bench/cures.py [--seeds 3] [--epochs-digits N] [--epochs-backgrounds N]
                             [--kinds digits,backgrounds]
       python bench/cures.py --annotation-free [--seeds 3]   (issue 14, item 4: objects demo)
Prints one JSON object on the last line. Heavy: run it once, not in the tests.

The annotation-free path is what a user without bias labels does: embed, discover, make an
arg-max confounder of the top discovered concept of each class (``add_confounder(concepts=...)``,
the GUI's "mark as confounder"), then train the cures that need no annotation (SelecMix with its
biased contrastive model, DISC's cure from the discovered concepts) with validation worst-group
over the *inferred* groups for model selection. Test figures use the planted background column,
which the runs never see.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debias_studio.core.jobs import run_quiet
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.data import confounder_values
from debias_studio.core.train.job import load_run_data
from debias_studio.core.train.loop import fit
from debias_studio.core.train.metrics import mean_std

CURES: dict[str, dict] = {
    "erm": {"method": "erm"},
    "counterfactual": {"method": "counterfactual"},
    "selecmix": {"method": "selecmix", "pairs": "annotation"},
    "selecmix_contrastive": {"method": "selecmix", "pairs": "contrastive"},
    "lff_selecmix": {"method": "selecmix", "pairs": "contrastive", "lff": True},
}
"""The last two need no annotation of the confounder (it only defines the evaluation groups)."""
SETTINGS = {"digits": {"confounder": "color"}, "backgrounds": {"confounder": "background"}}
TRAINING = {"batch_size": 32, "lr": 2e-3, "image_size": 32}
"""The same for every method: 32-px inputs (the digits are 8 x 8 scans, the objects simple
silhouettes), small batches (the demos have ~1,100 and ~860 training images)."""


def measure(kind: str, seeds: int, epochs: int, backbone: str, folder: Path) -> dict:
    from debias_studio.core.demo.project import create_demo_project

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
    for method, options in CURES.items():
        runs, seconds = [], []
        for seed in range(seeds):
            config = TrainConfig(**{**base.to_dict(), **options, "seed": seed})
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


ANNOTATION_FREE = {
    "erm": {"method": "erm"},
    "selecmix_contrastive": {"method": "selecmix", "pairs": "contrastive"},
    "disc_discovered": {"method": "disc"},
}
FROZEN = {"backbone": "efficientnet", "batch_size": 64, "epochs": 20}


def annotation_free(seeds: int, folder: Path) -> dict:
    """The objects demo cured without its background annotation (see the module docstring)."""
    from debias_studio.core.annotate.confounders import add_confounder
    from debias_studio.core.concepts.project import discover
    from debias_studio.core.demo.project import create_demo_project
    from debias_studio.core.train.job import discovered_concepts

    project = run_quiet(create_demo_project(folder / "objects", kind="backgrounds", seed=0))
    result = run_quiet(discover(project, "demo"))
    top = [result.concepts[int(k)] for k in result.rank.argmin(axis=0)]
    inferred = sorted(set(top))
    add_confounder(project, "discovered", concepts=inferred)
    base = TrainConfig(project=str(folder / "objects"), confounder="discovered", **FROZEN)
    data = run_quiet(load_run_data(project, base))
    truth, _, _ = confounder_values(project, "background")
    concepts = discovered_concepts(project, data)
    out: dict = {"top_concept_per_class": dict(zip(data.classes, top, strict=True)), **FROZEN}
    out["inferred_value_agreement"] = _agreement(data.values, truth)
    for name, cure in ANNOTATION_FREE.items():
        runs = []
        for seed in range(seeds):
            config = TrainConfig(**{**base.to_dict(), **cure, "seed": seed}).validate()
            outcome = run_quiet(fit(data, config, concepts=concepts if name != "erm" else None))
            runs.append(_true_test_metrics(outcome.model, data, truth, project))
            print("objects (no annotation)", name, seed, _brief(runs[-1]), file=sys.stderr)
        out[name] = mean_std(runs)
    project.close()
    return out


def _agreement(inferred: np.ndarray, truth: np.ndarray) -> float:
    """Share of images whose inferred value matches the planted one under the best one-to-one
    naming of the inferred values (how well discovery recovered the confounder)."""
    from itertools import permutations

    known = (inferred >= 0) & (truth >= 0)
    n_values = int(max(inferred.max(), truth.max()) + 1)
    best = 0.0
    for perm in permutations(range(n_values)):
        best = max(best, float((np.array(perm)[inferred[known]] == truth[known]).mean()))
    return best


def _true_test_metrics(model, data, truth, project) -> dict:  # type: ignore[no-untyped-def]
    from debias_studio.core.train.loop import predict, resolve_device
    from debias_studio.core.train.metrics import group_metrics

    ids = data.indices("test")
    predictions = predict(model, data, ids, resolve_device(None))
    names = sorted(set(project.dataset.table["background"].astype(str)))
    return group_metrics(predictions, data.labels[ids], truth[ids], data.classes, names)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs-digits", type=int, default=50)
    parser.add_argument("--epochs-backgrounds", type=int, default=25)
    parser.add_argument("--backbone", default="cnn")
    parser.add_argument("--annotation-free", action="store_true")
    parser.add_argument("--kinds", default="digits,backgrounds")
    args = parser.parse_args()
    if args.annotation_free:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps({"objects_annotation_free": annotation_free(args.seeds, Path(tmp))}))
        return
    epochs = {"digits": args.epochs_digits, "backgrounds": args.epochs_backgrounds}
    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.kinds.split(","):
            result[kind] = measure(kind, args.seeds, epochs[kind], args.backbone, Path(tmp))
    for cure in [c for c in CURES if c != "erm"]:
        if "digits" in result:
            d = result["digits"]
            for key in ("unbiased_acc", "conflicting_acc"):
                result[f"digits_{cure}_{key}_gain"] = d[cure][key]["mean"] - d["erm"][key]["mean"]
        if "backgrounds" in result:
            b = result["backgrounds"]
            wga = b[cure]["worst_group_acc"]["mean"] - b["erm"]["worst_group_acc"]["mean"]
            result[f"backgrounds_{cure}_worst_group_gain"] = wga
    print(json.dumps(result))


if __name__ == "__main__":
    main()
