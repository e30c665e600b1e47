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

    python bench/discover.py --scale 100000,300000,1000000 [--concepts 1000]
                             [--baseline main --baseline-max 300000]

``--scale``: each size in its own process, on float16 embeddings written to a memory-mapped .npy
in a temporary folder (as the app keeps them), so that the bench's own data does not count:
wall and CPU seconds of scoring and of discovery, discovery's seconds per stage, and the peak of
*anonymous* resident memory (RssAnon, sampled; the mapped file's pages are page cache), with
growth against the first size. ``--baseline REF`` runs the same harness on REF's code first
(sizes up to ``--baseline-max``) and sets the two side by side.
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
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debias_studio.core.concepts.discovery import DiscoveryParams, discover_arrays
from debias_studio.core.concepts.scoring import RowSource, concept_stats, scan_concepts
from debias_studio.core.concepts.statistics import Moments, rank_sum_test
from debias_studio.core.jobs import run_job, run_quiet

N_CLASSES = 10


def synthetic(
    n: int, k: int, d: int, seed: int = 0, out: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """(embeddings (n, d) float16 written into ``out`` when given, labels, concepts (k, d))."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    shortcut = np.where(rng.random(n) < 0.9, y, rng.integers(0, N_CLASSES, n))
    core_dirs = rng.normal(size=(N_CLASSES, d))
    bias_dirs = rng.normal(size=(N_CLASSES, d))
    z = np.empty((n, d), dtype=np.float16) if out is None else out
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
    parser.add_argument("--scale", default="", help="e.g. 100000,1000000: on-disk embeddings")
    parser.add_argument("--scale-one", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline-max", type=int, default=300_000, help="--scale: largest size of the baseline"
    )
    args = parser.parse_args()
    if args.scale_one:
        print(json.dumps(scale_one(args.scale_one, args.concepts, args.dim)), flush=True)
        return
    if args.scale:
        sizes = [int(s) for s in args.scale.split(",") if s]
        print(json.dumps(scale_against(sizes, args)), flush=True)
        return
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


def scale_against(sizes: list[int], args: argparse.Namespace) -> dict[str, Any]:
    """``scale`` of this code, after the same harness on ``--baseline``'s code (sizes up to
    ``--baseline-max``) when asked, with ``versus_baseline`` side by side."""
    old = None
    if args.baseline:
        with ref_package(args.baseline) as tmp:
            few = [n for n in sizes if n <= args.baseline_max]
            old = scale(few, args.concepts, args.dim, {**os.environ, "PYTHONPATH": tmp})
    new = scale(sizes, args.concepts, args.dim)
    if old is not None:
        new["baseline_run"] = old
        new["versus_baseline"] = side_by_side(old, new, args.baseline, SCALE_UNITS)
    return new


SCALE_UNITS = ("seconds", "cpu_seconds", "peak_anon_mib")


def scale(sizes: list[int], k: int, d: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Every size in its own process (so each peak is its own), then growth against the first.
    ``env`` with a PYTHONPATH runs the same harness on another tree's package."""
    out: dict[str, Any] = {
        "concepts": k,
        "dim": d,
        "cores": os.cpu_count(),
        "load_at_start": [round(v, 1) for v in os.getloadavg()],
        "sizes": {},
    }
    for n in sizes:
        command = [sys.executable, __file__, "--scale-one", str(n), f"--concepts={k}", f"--dim={d}"]
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True, env=env)
        out["sizes"][str(n)] = json.loads(done.stdout.strip().splitlines()[-1])
    first = out["sizes"][str(sizes[0])]
    for n in sizes[1:]:
        row = out["sizes"][str(n)]
        row["growth"] = {"size_ratio": n / sizes[0]} | {
            f"{phase}_{unit}_ratio": round(row[phase][unit] / max(first[phase][unit], 1e-9), 2)
            for phase in ("scoring", "discovery")
            for unit in SCALE_UNITS
        }
    out["load_at_end"] = [round(v, 1) for v in os.getloadavg()]
    return out


def scale_one(n: int, k: int, d: int) -> dict[str, Any]:
    """One size: float16 embeddings written to a memory-mapped .npy in a temporary folder (as
    the app stores them), then scoring and discovery with their wall and CPU time, the peak
    of anonymous resident memory (the process's own arrays; the mapped file's pages are the
    page cache's) and discovery's time per stage."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "embeddings.npy"
        start = time.perf_counter()
        z = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=(n, d))
        _z, y, t = synthetic(n, k, d, out=z)
        z.flush()
        del z, _z
        z = np.load(path, mmap_mode="r")
        made = round(time.perf_counter() - start, 1)
        _log(n, f"embeddings written in {made} s; scoring")
        base = _anon_mib()
        scoring = sampled(lambda: score_only(z, y, t))
        _log(n, f"scoring {scoring['seconds']} s; discovery")
        found: dict[str, Any] = {}
        discovery = sampled(lambda: found.update(discover_timed(z, y, t, n)))
    result, stages = found["result"], found["stages"]
    return {
        "n": n,
        "synthetic_seconds": made,
        "baseline_anon_mib": base,
        "scoring": scoring,
        "discovery": discovery | {"stages": stages},
        "planted_concept_at_rank_1": float(
            np.mean([result.rank[c, c] == 1 for c in range(N_CLASSES)])
        ),
        "significant_rows": int(result.significant.sum()),
        "block_size": result.params["block_size"],
        "peak_rss_mib_whole_process": _status_mib("VmHWM"),
        "load": [round(v, 1) for v in os.getloadavg()],
    }


def discover_timed(z: np.ndarray, y: np.ndarray, t: np.ndarray, n: int) -> dict[str, Any]:
    """Discovery end to end, with the seconds between its progress stages."""
    marks: list[tuple[str, float]] = [("start", time.perf_counter())]

    def seen(progress: Any) -> None:
        stage = _stage(progress.message)
        if stage != marks[-1][0]:
            marks.append((stage, time.perf_counter()))
            _log(n, f"discovery: {stage}")

    job = discover_arrays(
        z,
        y,
        t,
        classes=[str(c) for c in range(N_CLASSES)],
        concepts=[f"c{k}" for k in range(len(t))],
        params=DiscoveryParams(seed=0),
    )
    result = run_job(job, seen)
    marks.append(("end", time.perf_counter()))
    stages = {a[0]: round(b[1] - a[1], 2) for a, b in pairwise(marks[1:])}
    return {"result": result, "stages": stages}


STAGES = (
    ("concept statistics", "statistics"),
    ("reference probe", "probe"),
    ("environments", "environments"),
    ("signals", "signals"),
    ("scor", "scan"),
    ("discovery done", "evidence"),
)
"""Discovery's progress messages (prefix) and the stage each starts; "evidence" is the table
after the last block (q-values, verdicts, ranks)."""


def _stage(message: str) -> str:
    return next((name for prefix, name in STAGES if message.startswith(prefix)), "other")


def sampled(fn: Any) -> dict[str, float]:
    """Wall and CPU seconds of ``fn`` and the peak anonymous RSS while it ran (sampled every
    20 ms from /proc/self/status; numpy releases the GIL in its long loops)."""
    peak = [_anon_mib()]
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.02):
            peak[0] = max(peak[0], _anon_mib())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    start, cpu = time.perf_counter(), time.process_time()
    try:
        fn()
    finally:
        stop.set()
        watcher.join()
    return {
        "seconds": round(time.perf_counter() - start, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
        "peak_anon_mib": round(max(peak[0], _anon_mib()), 1),
    }


def _status_mib(field: str) -> float:
    """A ``kB`` field of /proc/self/status in MiB (0 where there is none)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _anon_mib() -> float:
    return _status_mib("RssAnon")


def _log(n: int, message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} n={n}] {message}", file=sys.stderr, flush=True)


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
    own = [a for i, a in enumerate(argv) if a != "--baseline" and argv[i - 1 : i] != ["--baseline"]]
    own = [a for a in own if not a.startswith("--baseline=")]
    with ref_package(ref) as tmp:
        env = {**os.environ, "PYTHONPATH": tmp}
        runner = BASELINE_RUNNER.format(measure=inspect.getsource(measure))
        bench = Path(tmp) / "debias_studio" / "bench" / "discover.py"
        done = subprocess.run(
            [sys.executable, "-c", runner, str(bench), *own],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout.strip().splitlines()[-1])


@contextmanager
def ref_package(ref: str) -> Iterator[str]:
    """A temporary folder holding git ``ref``'s tree as the package ``debias_studio``."""
    repo = Path(__file__).resolve().parents[1]
    archive = subprocess.run(["git", "archive", ref], cwd=repo, capture_output=True, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(Path(tmp) / "debias_studio", filter="data")
        yield tmp


def side_by_side(
    old: dict[str, Any],
    new: dict[str, Any],
    ref: str,
    units: tuple[str, ...] = ("seconds", "cpu_seconds", "peak_mib"),
) -> dict[str, Any]:
    """Per size and phase: [old, new, new / old] of each unit (sizes the baseline ran). On a
    shared machine the CPU seconds are the figure to compare: wall time counts the other
    processes' turns too."""
    out: dict[str, Any] = {"baseline": ref}
    for n, row in new["sizes"].items():
        before = old["sizes"].get(n)
        if before is None:
            continue
        out[n] = {
            f"{phase}_{unit}": _triple(before.get(phase, {}).get(unit), row[phase][unit])
            for phase in ("scoring", "discovery")
            for unit in units
        }
    return out


def _triple(old: float | None, new: float) -> list[float | None]:
    ratio = None if not old else round(new / old, 2)
    return [old, new, ratio]


if __name__ == "__main__":
    main()
