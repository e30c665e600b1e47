"""Sub-commands for training: ``train`` (a cure, or ERM, with per-group metrics) and ``runs``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from debias_studio.cli.common import add_command, open_project, run_with_bar, write_json
from debias_studio.core.jobs import CancelToken
from debias_studio.core.train.config import (
    BACKBONES,
    BALANCE_MODES,
    METHODS,
    MIN_GROUP_SIZE,
    PAIR_MODES,
    SUGGESTED,
    TrainConfig,
)

TRAIN_DESCRIPTION = """
Train a classifier on the project's train split with a debiasing method, choose the
epoch with the best validation worst-group accuracy, and report average, worst-group
and unbiased accuracy on val and test, per (class, confounder value) group.

methods (--method):
  erm             plain training, the baseline every cure is compared with
  balanced        group balancing by the confounder: re-weighting, re-sampling or
                  GroupDRO (--balance)
  counterfactual  each batch also sees its images with the confounder changed
                  (colour repainted, background swapped); needs an image backbone
  selecmix        mixes images with partners that contradict the shortcut (same
                  class/other value, or other class/same value); LfF is added
                  without a confounder (--no-lff turns it off)
  disc            DISC's cure: mixes in exemplars of the discovered concepts

backbones (--backbone):
  head          a linear head on frozen CLIP embeddings (fast; only as good as the
                features: the demo CLIP knows colours and backgrounds, not digit or
                object shapes, so use cnn on the demos)
  cnn           a small CNN trained from scratch on the pixels (the demos' choice)
  clip          fine-tunes the last --clip-blocks blocks of the CLIP image tower
  efficientnet  EfficientNet-Lite0 with ImageNet weights, frozen by default (its
                features are computed once; --clip-blocks N fine-tunes its last N)
  mlp           a pixel MLP (3 x 100 hidden units) on images downscaled to 32 px or
                less, the Colored MNIST papers' backbone (bench/cmnist.py)

Before any work, a run on one class or on a split without images is refused; with the
head backbone, a quick probe checks that the frozen features tell the classes apart at
all (--skip-feature-check turns it off).
"""


def register(subparsers: Any) -> None:
    _train_command(subparsers)
    _runs_command(subparsers)


def _train_command(subparsers: Any) -> None:
    train = add_command(
        subparsers,
        "train",
        "train a classifier with a debiasing method; report per-group accuracy",
        TRAIN_DESCRIPTION,
        [
            "debias-studio train ~/digits --backbone cnn",
            "debias-studio train ~/digits --method counterfactual --confounder colour "
            "--backbone cnn",
            "debias-studio train ~/birds --method balanced --balance groupdro "
            "--confounder place --model ViT-B-32/openai",
            "debias-studio train ~/digits --resume 20250511-093012-4f2a1c   # an id from runs",
        ],
    )
    train.add_argument("project", type=Path)
    train.add_argument("--method", choices=METHODS, default="erm")
    train.add_argument(
        "--confounder", help="annotated confounder (or attribute column) that defines the groups"
    )
    train.add_argument("--backbone", choices=BACKBONES, default="head")
    train.add_argument("--model", default="demo", help="CLIP model (head/clip backbones)")
    train.add_argument(
        "--epochs", type=int, default=None, help="default: 10 head, 30 cnn, 5 clip, 10 efficientnet"
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--batch-size", type=int, default=None, help="default: 128 head, 32 cnn and clip"
    )
    train.add_argument("--lr", type=float, default=None)
    train.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    _method_arguments(train)
    _run_arguments(train)
    train.set_defaults(func=_train)


def _method_arguments(train: argparse.ArgumentParser) -> None:
    """What the cures take: balancing, SelecMix's partners, the tower, groups' minimum size."""
    train.add_argument("--balance", choices=BALANCE_MODES, default="reweight")
    train.add_argument(
        "--pairs",
        choices=PAIR_MODES,
        default="auto",
        help="SelecMix partners: annotation, biased contrastive model, or auto",
    )
    train.add_argument(
        "--lff",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="SelecMix with LfF's biased model (default: on without a confounder, where "
        "bench/cmnist.py measured it stronger; off with annotation pairs)",
    )
    train.add_argument(
        "--clip-blocks",
        type=int,
        default=None,
        help="blocks of the pretrained tower to fine-tune (0: frozen, -1: all; "
        "default 2 for clip, 0 for efficientnet)",
    )
    train.add_argument("--image-size", type=int, default=None)
    train.add_argument(
        "--shift",
        type=int,
        default=None,
        help="shift every training image at random by up to N pixels (0: off; default 2 for "
        "mlp, 0 otherwise: on 1 %% Colored MNIST it lifts the pixel MLP's cures, "
        "bench/results/README.md)",
    )
    train.add_argument(
        "--min-group-size",
        type=int,
        default=MIN_GROUP_SIZE,
        help=f"smallest group the worst-group figure and model selection count (default "
        f"{MIN_GROUP_SIZE}: its 95 %% Wilson interval is at most +-0.2 and one image moves it by "
        f"5 points; a 3-image group can only read 0, 0.33, 0.67 or 1). The minimum over all "
        f"groups is reported beside it",
    )


def _run_arguments(train: argparse.ArgumentParser) -> None:
    """How the run is carried out: resuming, the feature check, JSON out, torchrun's config."""
    train.add_argument(
        "--resume", metavar="RUN_ID", help="continue a cancelled, failed or interrupted run"
    )
    train.add_argument(
        "--skip-feature-check",
        action="store_true",
        help="train a head even when a probe finds the frozen features near chance",
    )
    train.add_argument(
        "--json",
        dest="json_out",
        metavar="OUT",
        help="write config and metrics as JSON to OUT ('-' for stdout)",
    )
    train.add_argument(
        "--write-config",
        metavar="FILE",
        type=Path,
        help="only write the run's config (for torchrun -m debias_studio.core.train.ddp FILE)",
    )


def _runs_command(subparsers: Any) -> None:
    runs = add_command(
        subparsers,
        "runs",
        "list the training runs of a project",
        """
        List the project's training runs: id, status (done, cancelled and resumable,
        failed), method, backbone, confounder and test figures.
        """,
        ["debias-studio runs ~/digits", "debias-studio runs ~/digits --json"],
    )
    runs.add_argument("project", type=Path)
    runs.add_argument("--json", action="store_true", help="print the runs as JSON")
    runs.set_defaults(func=_runs)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        project=str(Path(args.project).resolve()),
        method=args.method,
        confounder=args.confounder,
        backbone=args.backbone,
        model=args.model,
        epochs=_or_suggested(args.epochs, args.backbone, "epochs"),
        seed=args.seed,
        batch_size=_or_suggested(args.batch_size, args.backbone, "batch_size"),
        lr=args.lr,
        device=args.device,
        balance=args.balance,
        pairs=args.pairs,
        lff=_with_lff(args),
        clip_blocks=args.clip_blocks,
        image_size=args.image_size,
        shift=args.shift,
        min_group_size=args.min_group_size,
    ).validate()


def _or_suggested(value: int | None, backbone: str, name: str) -> int:
    """The option's value, or the backbone's suggestion when it was not given (0 is a value,
    which validation refuses, not "the default")."""
    return SUGGESTED[backbone][name] if value is None else value


def _train(args: argparse.Namespace) -> int:
    from debias_studio.core.train.job import resume_run, train_run
    from debias_studio.core.train.metrics import worst_group_line

    cancel = CancelToken()
    with open_project(args.project) as project:
        if args.resume:
            job = resume_run(project, args.resume, cancel=cancel)
        else:
            config = config_from_args(args)
            if args.write_config is not None:
                args.write_config.write_text(json.dumps(config.to_dict(), indent=2) + "\n")
                print(
                    f"Wrote {args.write_config}; launch it with: torchrun --nproc_per_node=N "
                    f"-m debias_studio.core.train.ddp {args.write_config}"
                )
                return 0
            job = train_run(
                project, config, cancel=cancel, check_features=not args.skip_feature_check
            )
        result = _run_checked(job, args, cancel)
    if args.json_out:
        write_json(result.to_dict(), args.json_out)
    test = result.metrics.get("test") or result.metrics["val"]
    print(
        f"Run {result.run_id}: test avg {test['avg_acc']:.3f}, unbiased "
        f"{test['unbiased_acc']:.3f}, {worst_group_line(test)} (model chosen on validation "
        f"worst-group, epoch {result.metrics['best_epoch'] + 1})."
    )
    unreadable = result.metrics.get("unreadable_images")
    if unreadable:
        n = unreadable["count"]
        were = "image could not be read and was" if n == 1 else "images could not be read and were"
        print(f"{n} {were} left out (for example {unreadable['examples'][0]}).")
    return 0


def _run_checked(job: Any, args: argparse.Namespace, cancel: CancelToken) -> Any:
    from debias_studio.core.train.preflight import FeaturesNearChance

    try:
        return run_with_bar(job, f"training ({args.method})", cancel)
    except FeaturesNearChance as exc:
        raise FeaturesNearChance(
            f"{exc} (--backbone cnn; --skip-feature-check trains the head anyway)."
        ) from exc


def _runs(args: argparse.Namespace) -> int:
    from debias_studio.core.store.runs import list_runs
    from debias_studio.core.train.metrics import worst_group_line

    with open_project(args.project) as project:
        runs = list_runs(project)
    if args.json:
        write_json(runs, None)
        return 0
    if not runs:
        print("No runs yet.")
    for run in runs:
        test = (run["metrics"] or {}).get("test") or {}
        figures = f"test avg {test['avg_acc']:.3f}, {worst_group_line(test)}" if test else ""
        config = run["config"]
        print(
            f"{run['id']}  {run['status']:<11} {run['method']:<14} "
            f"{config.get('backbone', ''):<5} {config.get('confounder') or '-':<12} {figures}"
        )
    stopped = [r["id"] for r in runs if r["status"] == "interrupted"]
    if stopped:
        print(
            f"Interrupted runs stopped with their process; continue one with: "
            f"debias-studio train {args.project} --resume {stopped[0]}"
        )
    return 0


def _with_lff(args: argparse.Namespace) -> bool:
    """LfF + SelecMix unless told: on for SelecMix without annotation, as the GUI does."""
    if args.lff is not None:
        return bool(args.lff)
    return args.method == "selecmix" and args.confounder is None and args.pairs != "annotation"
