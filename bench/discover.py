"""Discovery at scale: time and peak memory of concept scoring and of the whole discovery.

    python bench/discover.py [--sizes 10000,100000] [--concepts 1000] [--dim 512]
                             [--scoring-only 100000x10000] [--baseline main]

Synthetic embeddings (float16, L2-normalised, 10 classes with a planted shortcut direction so
the probe and the clustering see realistic structure) and random unit concept vectors.

* scoring: concept statistics from streamed moments + every concept block's histograms per
  class and their rank-sum tests (AUC and p), the score moments per class x correctness (10 %
  "misclassified" at random), and per-class top images (``core.concepts.scoring``), i.e.
  everything per (image, concept);
* discovery: ``discover_arrays`` end to end (reference probe with out-of-fold predictions, GMM
  environments, the signals with intervals, q-values, verdicts, ranks, exemplars).

Peak memory is the tracemalloc peak of numpy/Python allocations above the inputs (the
embeddings themselves are not counted: they are memory-mapped in the app). Growth is the ratio
of each size's time to the smallest size's time, next to the ratio of the sizes. The last line
is one JSON object.

``--baseline REF`` runs this benchmark of git ``REF`` (its own bench/discover.py on its own code,
exported with ``git archive``, same arguments) in a subprocess first, then this one, and adds
``versus_baseline``: old and new seconds, CPU seconds and peak memory side by side with new /
old ratios. ``machine`` records the CPU count and the load average at the start and the end.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debias_studio.core.concepts.discovery import DiscoveryParams, discover_arrays
from debias_studio.core.concepts.scoring import RowSource, concept_stats, scan_concepts
from debias_studio.core.concepts.statistics import Moments, rank_sum_test
from debias_studio.core.jobs import run_quiet

N_CLASSES = 10


def synthetic(n: int, k: int, d: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    shortcut = np.where(rng.random(n) < 0.9, y, rng.integers(0, N_CLASSES, n))
    core_dirs = rng.normal(size=(N_CLASSES, d))
    bias_dirs = rng.normal(size=(N_CLASSES, d))
    z = np.empty((n, d), dtype=np.float16)
    for start in range(0, n, 50_000):
        part = slice(start, min(start + 50_000, n))
        x = (
            0.3 * core_dirs[y[part]]
            + 0.6 * bias_dirs[shortcut[part]]
            + rng.normal(size=(part.stop - part.start, d))
        )
        z[part] = x / np.linalg.norm(x, axis=1, keepdims=True)
    t = rng.normal(size=(k, d)).astype(np.float32)
    t[:N_CLASSES] = bias_dirs
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    return z, y, t


def score_only(z: np.ndarray, y: np.ndarray, t: np.ndarray, m: int = 8) -> None:
    """What discovery does per (image, concept): statistics, AUC histograms, top images."""
    rows = np.argsort(y, kind="stable")
    source = RowSource(z, rows)
    stats = concept_stats(source, t)
    labels = y[rows]
    bounds = np.searchsorted(labels, np.arange(N_CLASSES + 1))
    wrong = np.random.default_rng(1).random(len(rows)) < 0.1
    groups, n_groups = labels + N_CLASSES * wrong, 2 * N_CLASSES
    for part in scan_concepts(source, t, stats, bounds, m, groups=groups, n_groups=n_groups):
        rank_sum_test(part.histograms)
        Moments(np.bincount(groups, minlength=n_groups), part.group_sums, part.group_squares)


def measure(fn: Any) -> dict[str, float]:
    tracemalloc.start()
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),  # all threads: the work, whatever else the machine runs
        "peak_mib": round(peak / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--concepts", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--scoring-only", default="", help="e.g. 100000x10000 (PERFORMANCE.md)")
    parser.add_argument("--baseline", default="", help="git ref to compare with, e.g. main")
    args = parser.parse_args()
    baseline = run_baseline(args.baseline, sys.argv[1:]) if args.baseline else None
    sizes = [int(s) for s in args.sizes.split(",") if s]
    results: dict[str, Any] = {"concepts": args.concepts, "dim": args.dim, "sizes": {}}
    results["machine"] = {"cpus": os.cpu_count(), "load_average_at_start": os.getloadavg()}
    for n in sizes:
        z, y, t = synthetic(n, args.concepts, args.dim)
        scoring = measure(lambda z=z, y=y, t=t: score_only(z, y, t))
        found: dict[str, Any] = {}

        def run(z=z, y=y, t=t, found=found) -> None:  # type: ignore[no-untyped-def]
            found["result"] = run_quiet(
                discover_arrays(
                    z,
                    y,
                    t,
                    classes=[str(c) for c in range(N_CLASSES)],
                    concepts=[f"c{k}" for k in range(len(t))],
                    params=DiscoveryParams(seed=0),
                )
            )

        discovery = measure(run)
        result = found["result"]
        p_at_1 = float(np.mean([result.rank[c, c] == 1 for c in range(N_CLASSES)]))
        results["sizes"][str(n)] = {
            "scoring": scoring,
            "discovery": discovery,
            "planted_concept_at_rank_1": p_at_1,
            "significant_rows": int(result.significant.sum()),
            "block_size": result.params["block_size"],
        }
        print(json.dumps({"n": n, **results["sizes"][str(n)]}), flush=True)
    base = str(sizes[0])
    for n in sizes[1:]:
        row = results["sizes"][str(n)]
        row["growth"] = {
            "size_ratio": n / sizes[0],
            "scoring_time_ratio": round(
                row["scoring"]["seconds"] / results["sizes"][base]["scoring"]["seconds"], 2
            ),
            "discovery_time_ratio": round(
                row["discovery"]["seconds"] / results["sizes"][base]["discovery"]["seconds"], 2
            ),
        }
    if args.scoring_only:
        n, k = (int(v) for v in args.scoring_only.lower().split("x"))
        z, y, t = synthetic(n, k, args.dim)
        results["scoring_only"] = {"n": n, "concepts": k, **measure(lambda: score_only(z, y, t))}
    if baseline is not None:
        results["versus_baseline"] = side_by_side(baseline, results, args.baseline)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    print(json.dumps(results))


BASELINE_RUNNER = """
import importlib.util, sys, time, tracemalloc
from typing import Any
{measure}
spec = importlib.util.spec_from_file_location("baseline_bench", sys.argv[1])
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
bench.measure = measure
sys.argv = sys.argv[1:]
bench.main()
"""
"""Runs ``ref``'s bench with this bench's ``measure`` (source passed in), so older benches that
timed only wall seconds report CPU seconds too; everything else is ``ref``'s code."""


def run_baseline(ref: str, argv: list[str]) -> dict[str, Any]:
    """The last JSON line of ``ref``'s own bench/discover.py, run on ``ref``'s code."""
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "archive", ref], cwd=repo, capture_output=True, check=True)
    own = [a for i, a in enumerate(argv) if a != "--baseline" and argv[i - 1 : i] != ["--baseline"]]
    own = [a for a in own if not a.startswith("--baseline=")]
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "debias_studio"
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(package, filter="data")
        env = {**os.environ, "PYTHONPATH": tmp}
        runner = BASELINE_RUNNER.format(measure=inspect.getsource(measure))
        done = subprocess.run(
            [sys.executable, "-c", runner, str(package / "bench" / "discover.py"), *own],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


def side_by_side(old: dict[str, Any], new: dict[str, Any], ref: str) -> dict[str, Any]:
    """Per size and phase: [old, new, new / old] of seconds, CPU seconds and peak MiB. On a
    shared machine the CPU seconds are the figure to compare: wall time counts the other
    processes' turns too."""
    out: dict[str, Any] = {"baseline": ref}
    for n, row in new["sizes"].items():
        before = old["sizes"].get(n, {})
        out[n] = {
            f"{phase}_{unit}": _triple(before.get(phase, {}).get(unit), row[phase][unit])
            for phase in ("scoring", "discovery")
            for unit in ("seconds", "cpu_seconds", "peak_mib")
        }
    return out


def _triple(old: float | None, new: float) -> list[float | None]:
    ratio = None if not old else round(new / old, 2)
    return [old, new, ratio]


if __name__ == "__main__":
    main()
