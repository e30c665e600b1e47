"""How fast a dataset is opened: images per second for the full decode check with the thread
pool, the same on one thread, and the header-only check, on the same synthetic JPEG folder.

Usage: python bench/dataset_scan.py [--images 2000] [--side 256] [--repeats 3]
Last line: one JSON object (ratios are what to compare; absolute rates depend on the machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debias_studio.core.data import validate
from debias_studio.core.data.dataset import open_folder
from debias_studio.core.jobs import run_quiet


def make_folder(root: Path, n: int, side: int) -> None:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (side // 8, side // 8, 3), dtype=np.uint8)
    for i in range(n):
        folder = root / f"class{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        tile = np.roll(base, i, axis=0).repeat(8, axis=0).repeat(8, axis=1)
        Image.fromarray(tile).save(folder / f"{i}.jpg", quality=90)


def rate(root: Path, n: int, **kwargs: object) -> float:
    start = time.perf_counter()
    dataset = run_quiet(open_folder(root, **kwargs))
    elapsed = time.perf_counter() - start
    assert len(dataset) == n
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_folder(root, args.images, args.side)
        rate(root, args.images, decode_check=False)  # warm the file cache
        runs: dict[str, list[float]] = {"pooled": [], "single": [], "header": []}
        for _ in range(args.repeats):  # interleaved, best of each: the machine is shared
            runs["pooled"].append(rate(root, args.images))
            with mock.patch.object(validate, "default_workers", lambda: 1):
                runs["single"].append(rate(root, args.images))
            runs["header"].append(rate(root, args.images, decode_check=False))
        pooled, single, header = (max(runs[k]) for k in ("pooled", "single", "header"))
    print(
        json.dumps(
            {
                "images": args.images,
                "side": args.side,
                "workers": validate.default_workers(),
                "decode_pool_img_s": round(pooled, 1),
                "decode_one_thread_img_s": round(single, 1),
                "header_only_img_s": round(header, 1),
                "pool_speedup": round(pooled / single, 2),
                "header_vs_decode": round(header / pooled, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
