"""What the one door to dataset files costs: our readers against bare PIL on the same files.

    python bench/data_door.py [--images 1000] [--side 256] [--repeats 5]

* header: ``Image.open(path).size`` against ``core.data.imageio.check_image(root, rel,
  decode=False)`` (containment check before and after opening, fstat, EXIF orientation);
* decode: ``Image.open(path)`` + JPEG draft + ``convert("RGB")`` against ``open_image(root, rel,
  min_side=224)`` (the same, plus the pixel rules and EXIF transpose).

Both sides read the same JPEGs (a few with an EXIF orientation), timed alternately in chunks so
a shared machine's load hits both alike; medians over ``--repeats``. The last line is one JSON
object; the ratios (ours / bare) are what to compare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debias_studio.core.data.imageio import check_image, open_image
from debias_studio.core.data.rootpaths import DatasetRoot

CHUNK = 100


def make_files(root: Path, n: int, side: int) -> list[str]:
    rng = np.random.default_rng(0)
    names = []
    for i in range(n):
        small = rng.integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((side, side), Image.BILINEAR)
        exif = image.getexif()
        if i % 10 == 0:
            exif[0x0112] = 6
        name = f"c{i % 10}/{i:05d}.jpg"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        image.save(root / name, quality=90, exif=exif)
        names.append(name)
    return names


def bare_header(root: Path, name: str) -> None:
    with Image.open(root / name) as image:
        _ = image.size


def bare_decode(root: Path, name: str) -> None:
    with Image.open(root / name) as image:
        scale = min(image.size) / 224
        if scale >= 2:
            image.draft("RGB", (int(image.width / scale), int(image.height / scale)))
        image.convert("RGB")


def alternate(
    names: list[str], bare: Callable[[str], None], ours: Callable[[str], None]
) -> tuple[float, float]:
    """Seconds per file, each side timed on the same chunks in turn."""
    spent = {"bare": 0.0, "ours": 0.0}
    for start in range(0, len(names), CHUNK):
        chunk = names[start : start + CHUNK]
        for side, read in (("bare", bare), ("ours", ours)):
            began = time.perf_counter()
            for name in chunk:
                read(name)
            spent[side] += time.perf_counter() - began
    return spent["bare"] / len(names), spent["ours"] / len(names)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        names = make_files(root, args.images, args.side)
        base = DatasetRoot.of(root)
        results: dict[str, list[tuple[float, float]]] = {"header": [], "decode": []}
        for _ in range(args.repeats):
            results["header"].append(
                alternate(
                    names,
                    lambda n: bare_header(root, n),
                    lambda n: check_image(base, n, decode=False),
                )
            )
            results["decode"].append(
                alternate(
                    names,
                    lambda n: bare_decode(root, n),
                    lambda n: open_image(base, n, min_side=224),
                )
            )
    figures: dict[str, float] = {"images": args.images, "side": args.side}
    for kind, runs in results.items():
        bare = statistics.median(r[0] for r in runs)
        ours = statistics.median(r[1] for r in runs)
        figures[f"{kind}_bare_us"] = round(bare * 1e6, 1)
        figures[f"{kind}_ours_us"] = round(ours * 1e6, 1)
        figures[f"{kind}_ratio"] = round(ours / bare, 3)
        print(f"{kind}: bare {bare * 1e6:.1f} us, ours {ours * 1e6:.1f} us per image")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
