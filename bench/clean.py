"""Cleaning finders at scale: time and peak memory of the near-duplicate search and of the
label-issue ranking, at 10k and 100k images (last figures: bench/results/clean.json).

    python bench/clean.py [--sizes 10000,100000] [--dim 512]

Synthetic embeddings (float32, L2-normalised, 10 classes with class structure) with 200 planted
near-duplicate pairs (cosine ~0.97) and 3 % flipped labels. Duplicate search: ``find_pairs`` at
threshold 0.95 (exact blocked products up to 12k images, k-means cells above), with its recall of
the planted pairs. Label issues: the out-of-fold probe (``out_of_fold_probabilities``) plus the
confident-learning ranking, with the share of flips among the top (number of flips) candidates.
Peak memory: the tracemalloc peak of allocations above the inputs. Growth: each size's time
over the smallest size's, next to the ratio of sizes. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debias_studio.core.annotate.duplicates import find_pairs
from debias_studio.core.annotate.label_issues import rank_label_issues
from debias_studio.core.concepts.probe import out_of_fold_probabilities
from debias_studio.core.jobs import run_quiet

N_CLASSES = 10
PLANTED_PAIRS = 200
FLIP_SHARE = 0.03


def synthetic(n: int, d: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    centres = rng.normal(size=(N_CLASSES, d)).astype(np.float32)
    x = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 50_000):
        part = slice(start, min(start + 50_000, n))
        x[part] = 0.25 * centres[y[part]] + rng.normal(size=(part.stop - part.start, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = rng.choice(n, 2 * PLANTED_PAIRS, replace=False)
    src, dst = ids[:PLANTED_PAIRS], ids[PLANTED_PAIRS:]
    noisy = x[src] + 0.008 * rng.normal(size=(PLANTED_PAIRS, d)).astype(np.float32)
    x[dst] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    flipped = rng.choice(n, int(FLIP_SHARE * n), replace=False)
    given = y.copy()
    given[flipped] = (y[flipped] + rng.integers(1, N_CLASSES, len(flipped))) % N_CLASSES
    return x, given, np.stack([src, dst], axis=1), flipped


def measure(function: Any) -> tuple[Any, float, float]:
    tracemalloc.start()
    started = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return result, seconds, peak


def one_size(n: int, d: int) -> dict[str, Any]:
    x, given, planted, flipped = synthetic(n, d)
    pairs, dup_s, dup_mb = measure(lambda: run_quiet(find_pairs(x, 0.95)))
    found = set(zip(pairs.first.tolist(), pairs.second.tolist(), strict=True))
    truth = {(min(a, b), max(a, b)) for a, b in planted.tolist()}
    issues, issue_s, issue_mb = measure(
        lambda: rank_label_issues(run_quiet(out_of_fold_probabilities(x, given, N_CLASSES)), given)
    )
    top = set(issues.image_ids[: len(flipped)].tolist())
    return {
        "n": n,
        "duplicates_s": round(dup_s, 2),
        "duplicates_peak_mb": round(dup_mb, 1),
        "duplicates_method": "exact" if n <= 12_000 else "cells",
        "duplicates_recall": round(len(found & truth) / len(truth), 3),
        "pairs_reported": len(pairs),
        "label_issues_s": round(issue_s, 2),
        "label_issues_peak_mb": round(issue_mb, 1),
        "flips_in_top": round(len(top & set(flipped.tolist())) / len(flipped), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dim", type=int, default=512)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [one_size(n, args.dim) for n in sizes]
    base = rows[0]
    for row in rows:
        row["size_ratio"] = round(row["n"] / base["n"], 1)
        row["duplicates_time_ratio"] = round(row["duplicates_s"] / base["duplicates_s"], 1)
        row["label_issues_time_ratio"] = round(row["label_issues_s"] / base["label_issues_s"], 1)
        print(row, file=sys.stderr)
    largest = rows[-1]
    print(
        json.dumps(
            {
                "dim": args.dim,
                "sizes": rows,
                "duplicates_target_s": 30,
                "duplicates_at_largest_within_target": largest["duplicates_s"] <= 30,
            }
        )
    )


if __name__ == "__main__":
    main()
