"""Export time as the dataset grows: manifest (CSV + Parquet) + ImageFolder (auto: hard links).

Synthetic tiny image files (one 8x8 PNG's bytes under N names, 10 classes, attribute column,
1 % excluded) in a project made without decoding; each size is exported into a fresh folder.
Prints one JSON object (last line): seconds per size, microseconds per image, and how the time
grows relative to the smallest size (1.0 per 10x would be linear). With ``--fill`` (the default)
it also times ``debias-studio export DEMO OUT --format balanced --balance fill --confounder color``
on the digits demo (made fresh, ``--demo-per-class`` images per class): how many rows the subset
holds, how many counterfactual images were rendered into thin training groups, and the
milliseconds per rendered image (rendering dominates that export).

    python bench/export.py [--sizes 1000,10000,100000] [--link symlink] [--no-fill]
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debias_studio.core.data.dataset import Dataset, DatasetSpec
from debias_studio.core.demo.project import create_demo_project
from debias_studio.core.export.job import export_project
from debias_studio.core.export.options import DEFAULT_LINK, LINK_MODES
from debias_studio.core.jobs import run_quiet
from debias_studio.core.store.exclusions import exclude
from debias_studio.core.store.project import Project

CLASSES = [f"class{k}" for k in range(10)]


def make_project(folder: Path, n: int) -> Project:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (120, 30, 200)).save(buffer, format="PNG")
    data = buffer.getvalue()
    root = folder / "images"
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(CLASSES), n)
    paths = []
    for k in CLASSES:
        (root / k).mkdir(parents=True)
    for i in range(n):
        rel = f"{CLASSES[labels[i]]}/{i:07d}.png"
        (root / rel).write_bytes(data)
        paths.append(rel)
    table = pd.DataFrame(
        {
            "path": paths,
            "label": [CLASSES[k] for k in labels],
            "split": rng.choice(["train", "val", "test"], n, p=[0.7, 0.15, 0.15]),
            "mask": "",
            "size": len(data),
            "mtime_ns": 0,
            "place": rng.choice(["land", "water"], n),
        }
    )
    spec = DatasetSpec(kind="folder", source=str(root), root=str(root))
    project = Project.create(folder / "project", Dataset(root, table, CLASSES, ["place"], [], spec))
    excluded = rng.choice(n, max(1, n // 100), replace=False)
    exclude(project, excluded.tolist(), "bench")
    return project


def measure(n: int, link: str, base: Path) -> dict[str, float]:
    folder = base / f"n{n}"
    start = time.perf_counter()
    project = make_project(folder, n)
    setup = time.perf_counter() - start
    try:
        start = time.perf_counter()
        result = run_quiet(
            export_project(
                project, folder / "out", "manifest,imagefolder", link=link, confounders=["place"]
            )
        )
        seconds = time.perf_counter() - start
    finally:
        project.close()
    images = result.details["imagefolder"]["images"]
    shutil.rmtree(folder, ignore_errors=True)
    return {
        "images": n,
        "exported_images": images,
        "seconds": round(seconds, 3),
        "us_per_image": round(1e6 * seconds / n, 2),
        "setup_seconds": round(setup, 2),
    }


def measure_fill(base: Path, per_class: int | None) -> dict[str, object]:
    """The balanced subset with counterfactual fills, on the digits demo (colour confounder)."""
    project = run_quiet(create_demo_project(base / "demo", "digits", per_class=per_class))
    try:
        start = time.perf_counter()
        result = run_quiet(
            export_project(project, base / "fill", "balanced", balance="fill", confounder="color")
        )
        seconds = time.perf_counter() - start
        n = len(project.dataset)
    finally:
        project.close()
    details = result.details["balanced"]
    rendered = int(details["counterfactual_rows"])
    shutil.rmtree(base / "demo", ignore_errors=True)
    shutil.rmtree(base / "fill", ignore_errors=True)
    return {
        "dataset": "digits demo",
        "images": n,
        "rows": details["rows"],
        "counterfactual_rows": rendered,
        "seconds": round(seconds, 2),
        "ms_per_rendered_image": round(1e3 * seconds / max(1, rendered), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--link", default=DEFAULT_LINK, choices=LINK_MODES)
    parser.add_argument("--fill", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--demo-per-class", type=int, default=None, help="default: the demo's")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        results = [measure(n, args.link, Path(tmp)) for n in sizes]
        fill = measure_fill(Path(tmp), args.demo_per_class) if args.fill else None
    smallest = results[0]
    for r in results:
        scale = r["images"] / smallest["images"]
        r["time_ratio_vs_smallest"] = round(r["seconds"] / smallest["seconds"], 2)
        r["per_image_ratio_vs_smallest"] = round(r["time_ratio_vs_smallest"] / scale, 2)
    print(
        json.dumps(
            {
                "benchmark": "export manifest + imagefolder",
                "link": args.link,
                "results": results,
                "balanced_fill": fill,
                "growth": "per_image_ratio_vs_smallest near 1.0 means linear in the image count",
            }
        )
    )


if __name__ == "__main__":
    main()
