"""Sub-commands for projects and data: ``demo``, ``new``, ``info``, ``embed``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from debias_studio.cli.common import add_command, open_project, run_with_bar, write_json
from debias_studio.core.errors import ProjectError
from debias_studio.core.jobs import CancelToken
from debias_studio.core.store.folder import is_project_folder


def register(subparsers: Any) -> None:
    for add in (_demo_command, _new_command, _info_command, _embed_command):
        add(subparsers)


def _demo_command(subparsers: Any) -> None:
    demo = add_command(
        subparsers,
        "demo",
        "create a project on built-in demo data (no download)",
        """
        Create a project on generated demo data with a planted shortcut, to try every step
        without a dataset of your own. 'digits': scikit-learn's handwritten digits, each
        digit drawn in its own colour in most training images (colour is the shortcut).
        'backgrounds': objects pasted on textured backgrounds, each class on its own
        background in most training images. Validation and test are not biased.
        """,
        [
            "debias-studio demo ~/digits",
            "debias-studio demo ~/objects --kind backgrounds --aligned 0.9",
        ],
    )
    demo.add_argument("project", type=Path, help="folder of the new project")
    demo.add_argument("--kind", choices=("digits", "backgrounds"), default="digits")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument(
        "--aligned",
        type=float,
        default=0.95,
        help="fraction of training images that follow the planted correlation (default 0.95)",
    )
    demo.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="images per class, at least 10 (default: every digit, ~180; 480 per object)",
    )
    demo.set_defaults(func=_demo)


def _new_command(subparsers: Any) -> None:
    new = add_command(
        subparsers,
        "new",
        "create a project from a folder or a manifest",
        """
        Create a project from your images: a folder with one sub-folder per class
        (ImageFolder layout), or a CSV/Parquet manifest with 'path' and 'label' columns
        (optional: 'split', 'mask' and attribute columns; Waterbirds' metadata.csv works as
        is). Images that cannot be used are listed and left out; images without a split get
        a seeded, stratified train/val/test split. The images stay where they are.
        """,
        [
            "debias-studio new ~/pets-project --images ~/pets",
            "debias-studio new ~/birds --manifest waterbirds/metadata.csv",
            "debias-studio new ~/birds --manifest meta.csv --root /data/birds --seed 1",
        ],
    )
    new.add_argument("project", type=Path, help="folder of the new project")
    source = new.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", type=Path, help="folder with one sub-folder per class")
    source.add_argument("--manifest", type=Path, help="CSV or Parquet with path and label columns")
    new.add_argument("--root", type=Path, help="folder the manifest's paths are relative to")
    new.add_argument("--seed", type=int, default=0, help="seed of the split for images without one")
    new.set_defaults(func=_new)


def _info_command(subparsers: Any) -> None:
    info = add_command(
        subparsers,
        "info",
        "dataset summary and the problems found",
        """
        Print the images per class and split, and every file that could not be used (and
        why). With --json, the same as JSON on stdout.
        """,
        ["debias-studio info ~/digits", "debias-studio info ~/digits --json > summary.json"],
    )
    info.add_argument("project", type=Path)
    info.add_argument("--json", action="store_true", help="print the summary as JSON")
    info.set_defaults(func=_info)


def _embed_command(subparsers: Any) -> None:
    embed = add_command(
        subparsers,
        "embed",
        "compute (or reuse) image embeddings",
        """
        Embed every image with a CLIP model and cache the vectors in the project (discover,
        confounders from concepts and the 'head' backbone read them). A model already cached
        is not computed again. Models: 'demo' (the bundled demo CLIP, knows colours and
        background textures, not shapes), ARCH/TAG (open_clip pretrained weights, e.g.
        ViT-B-32/openai), ARCH@/path/weights.safetensors, or local-dir:/folder.
        """,
        [
            "debias-studio embed ~/digits",
            "debias-studio embed ~/birds --model ViT-B-32/openai --device cuda",
        ],
    )
    embed.add_argument("project", type=Path)
    embed.add_argument("--model", default="demo", help="model name (default: the demo CLIP)")
    embed.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    embed.add_argument("--batch-size", type=int, default=64)
    embed.set_defaults(func=_embed)


def _demo(args: argparse.Namespace) -> int:
    from debias_studio.core.demo.project import create_demo_project

    _refuse_existing(args.project)
    cancel = CancelToken()
    job = create_demo_project(
        args.project,
        kind=args.kind,
        seed=args.seed,
        aligned=args.aligned,
        per_class=args.per_class,
        cancel=cancel,
    )
    project = run_with_bar(job, f"demo {args.kind}", cancel)
    print(
        f"Created demo project '{args.kind}' with {len(project.dataset)} images in {args.project}"
    )
    project.close()
    return 0


def _new(args: argparse.Namespace) -> int:
    from debias_studio.core.data.dataset import open_folder, open_manifest
    from debias_studio.core.export.reopen import adopt_export
    from debias_studio.core.store.project import Project

    _refuse_existing(args.project)
    cancel = CancelToken()
    if args.images is not None:
        job = open_folder(args.images, seed=args.seed, cancel=cancel)
    else:
        job = open_manifest(args.manifest, root=args.root, seed=args.seed, cancel=cancel)
    dataset = run_with_bar(job, "scanning images", cancel)
    with Project.create(args.project, dataset) as project:
        adopted = adopt_export(project)
        if adopted["confounders"] or adopted["excluded"]:
            print(
                f"  from the export: confounders {', '.join(adopted['confounders']) or 'none'}, "
                f"{adopted['excluded']} excluded image(s)"
            )
        _print_summary(project)
    return 0


def _info(args: argparse.Namespace) -> int:
    with open_project(args.project) as project:
        if args.json:
            from debias_studio.core.data.dataset import summarize

            write_json(summarize(project.dataset), None)
        else:
            _print_summary(project)
    return 0


def _embed(args: argparse.Namespace) -> int:
    from debias_studio.core.embed.engine import embed_project

    cancel = CancelToken()
    with open_project(args.project) as project:
        job = embed_project(
            project, args.model, device=args.device, batch_size=args.batch_size, cancel=cancel
        )
        result = run_with_bar(job, "embedding", cancel)
        n_valid = int(result.valid.sum())
        print(
            f"{n_valid} of {len(result.valid)} images embedded with {result.model_id} "
            f"({result.vectors.shape[1]}-d); {len(result.problems)} could not be read."
        )
        _print_problems(result.problems)
    return 0


def _refuse_existing(folder: Path) -> None:
    if is_project_folder(folder):
        raise ProjectError(f"{folder} already holds a project; choose another folder.")


def _print_summary(project: Any) -> None:
    from debias_studio.core.data.dataset import summarize
    from debias_studio.core.data.splits import SPLITS

    summary = summarize(project.dataset)
    print(f"Project {project.folder}")
    print(f"  images read from {project.dataset.root}")  # a received project names any folder
    print(f"  {summary['n_images']} usable images, {len(summary['classes'])} classes")
    counts: dict[str, dict[str, int]] = summary["counts"]
    present = {s for per_class in counts.values() for s in per_class}
    splits = [s for s in SPLITS if s in present] + sorted(present - set(SPLITS))
    width = max((len(c) for c in counts), default=5) + 2
    print("  " + "class".ljust(width) + "".join(s.rjust(8) for s in splits))
    for name, per_split in counts.items():
        row = "".join(str(per_split.get(s, 0)).rjust(8) for s in splits)
        print("  " + name.ljust(width) + row)
    problems = summary["problems"]
    if problems:
        from debias_studio.core.data.problems import ImageProblem

        print(f"  {len(problems)} files could not be used:")
        _print_problems([ImageProblem(**p) for p in problems], more="see `info --json`")


def _print_problems(problems: list[Any], limit: int = 20, more: str = "") -> None:
    """The first ``limit`` problems, one per line (each an ``ImageProblem``)."""
    for problem in problems[:limit]:
        print(f"    {problem.path}: {problem.detail} ({problem.problem})")
    if len(problems) > limit:
        print(f"    ... and {len(problems) - limit} more" + (f" ({more})" if more else ""))
