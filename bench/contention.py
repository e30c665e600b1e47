"""Throughput on a busy machine: our jobs alone and beside 1 and 3 CPU-bound processes.

    python bench/contention.py [--competitors 0 1 3] [--rounds 2] [--policies old new shared]

For each number N of competitors the bench starts N busy-loop processes itself, then measures,
in fresh child processes so that each starts its OpenMP runtime under its own policy:

* ``train_step_s``: seconds per training step of the small CNN (batch 32, 32 px, ERM), median;
* ``embed_img_s``: images/s of ``embed_files`` from 256 px JPEGs (ViT-B/32 with random weights,
  int8 forced on both sides so that only the thread policy differs);
* ``score_s``: concept scoring of 20k images x 1,000 concepts (bench/discover.py's
  ``score_only``: statistics, AUC histograms, top images).

Policies, alternated within each round so that the machine's own load hits both alike:

* ``new``: ``core.threads`` as the app runs it (passive OpenMP waits set before torch loads,
  every job inside ``job_budget``);
* ``old``: the engine before core.threads: OpenMP's default (spinning) wait policy, torch's
  default thread count (all cores), two decode workers;
* ``shared``: ``new`` with a competing thread counted as half a core (a rule measured and not
  adopted: see bench/results/README.md).

Slowdown = time with N competitors / time alone (same policy). Target (issue 15):
slowdown <= 1.5 x max(1, (N + 1) / cores). The last line is one JSON object; the machine's
load average and the runnable threads of other processes are recorded with every phase (the
project's machines are shared: "alone" means no competitor of ours, not an idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TRAIN_SECONDS = 3.0
EMBED_IMAGES = 24
EMBED_BATCH = 8
SCORE_ROWS, SCORE_CONCEPTS = 20_000, 1_000
TARGET_FACTOR = 1.5


# ---- child: one policy, one set of measurements ------------------------------------------------
def child(policy: str, images: Path) -> dict[str, Any]:
    if policy in ("new", "shared"):
        from debias_studio.core import threads

        threads.prepare_process()
        if policy == "shared":
            _count_competitors_as_half_a_core()
    else:
        _use_legacy_policy()
    import torch

    from debias_studio.core.threads import job_budget

    result: dict[str, Any] = {"policy": policy}
    with job_budget("train") as budget:
        result["train_step_s"] = _train_step_seconds(torch)
        result["train_threads"] = budget.threads
    result["embed_img_s"] = _embed_rate(sorted(images.glob("*.jpg")))
    with job_budget("discover", items=SCORE_ROWS):
        result["score_s"] = _score_seconds()
    return result


def _count_competitors_as_half_a_core() -> None:
    """The rule measured and not adopted: half of the others' runnable threads count, so a job
    keeps both cores' threads beside one competitor on 2 cores (1 thread beside 2 or 3)."""
    from debias_studio.core import threads

    plan = threads.plan

    def shared_plan(
        work: str, *, others: float | None = None, **given: Any
    ) -> threads.ThreadBudget:
        seen = threads.others_running() if others is None else others
        return plan(work, others=float(seen // 2), **given)

    threads.plan = shared_plan  # type: ignore[assignment]


def _use_legacy_policy() -> None:
    """The engine before core.threads: default OpenMP waits, all cores, two decode workers."""
    from debias_studio.core import threads

    os.environ.pop("OMP_WAIT_POLICY", None)
    cores = os.cpu_count() or 1

    def legacy_plan(work: str, **_: Any) -> threads.ThreadBudget:
        return threads.ThreadBudget(work, cores, min(2, cores), cores, 0.0, False)

    threads.plan = legacy_plan  # type: ignore[assignment]


def _train_step_seconds(torch: Any) -> float:
    from debias_studio.core.train.backbones import build_classifier

    torch.manual_seed(0)
    model = build_classifier("cnn", 10)
    optimizer = torch.optim.Adam(model.parameters())
    x, y = torch.rand(32, 3, 32, 32), torch.randint(0, 10, (32,))

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(2):
        step()
    times: list[float] = []
    stop = time.perf_counter() + TRAIN_SECONDS
    while time.perf_counter() < stop or len(times) < 3:
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _embed_rate(paths: list[Path]) -> float:
    import numpy as np
    import open_clip
    import torch

    from debias_studio.core.embed.engine import embed_files
    from debias_studio.core.jobs import run_quiet
    from debias_studio.core.models.loaded import LoadedModel

    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32")
    loaded = LoadedModel(
        "bench", "bench-vit-b-32", "ViT-B-32 (random weights)", False, model.eval(), preprocess,
        open_clip.get_tokenizer("ViT-B-32"), 224, 512, torch.device("cpu"),
    )  # fmt: skip
    vectors = np.zeros((len(paths), 512), dtype=np.float32)

    def sink(pos: np.ndarray, vecs: np.ndarray, codes: list[str], notes: list[str]) -> None:
        vectors[pos] = vecs

    files = [str(p) for p in paths]
    encoder = run_quiet(embed_files(files[:EMBED_BATCH], loaded, sink, batch_size=EMBED_BATCH))
    start = time.perf_counter()
    run_quiet(embed_files(files, loaded, sink, batch_size=EMBED_BATCH, encoder=encoder))
    return len(files) / (time.perf_counter() - start)


def _score_seconds() -> float:
    from discover import score_only, synthetic  # bench/discover.py, beside this file

    z, y, t = synthetic(SCORE_ROWS, SCORE_CONCEPTS, 512)
    score_only(z[:2000], y[:2000], t[:50])  # warm-up
    start = time.perf_counter()
    score_only(z, y, t)
    return time.perf_counter() - start


# ---- parent: competitors, rounds, figures ------------------------------------------------------
def write_images(folder: Path, count: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.jpg", quality=90)


def run_child(policy: str, images: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    env["DEBIAS_STUDIO_CPU_PRECISION"] = "int8"
    env["DEBIAS_STUDIO_CACHE"] = str(images.parent / "user-cache")
    command = [sys.executable, __file__, "--child", policy, "--images", str(images)]
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def phase(n: int, policies: list[str], rounds: int, images: Path) -> dict[str, Any]:
    """Start ``n`` busy loops, measure every policy ``rounds`` times (alternating), stop them."""
    from debias_studio.core.threads import others_running

    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    runs: dict[str, list[dict[str, Any]]] = {p: [] for p in policies}
    load: list[float] = []
    try:
        time.sleep(0.5)
        for r in range(rounds):
            for policy in policies if r % 2 == 0 else policies[::-1]:
                load.append(others_running() - n)
                runs[policy].append(run_child(policy, images))
                print(json.dumps({"competitors": n, **runs[policy][-1]}), file=sys.stderr)
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
    summary: dict[str, Any] = {
        policy: {
            key: round(statistics.median(r[key] for r in results), 4)
            for key in ("train_step_s", "embed_img_s", "score_s")
        }
        for policy, results in runs.items()
    }
    summary["background_running_median"] = statistics.median(load)
    summary["load_average_1min"] = round(os.getloadavg()[0], 2)
    return summary


def slowdowns(phases: dict[int, dict[str, Any]], policies: list[str], cores: int) -> dict:
    alone = phases[0]
    table: dict[str, Any] = {}
    for n, figures in phases.items():
        if n == 0:
            continue
        limit = TARGET_FACTOR * max(1.0, (n + 1) / cores)
        row: dict[str, Any] = {"target_max": round(limit, 2)}
        for policy in policies:
            a, b = alone[policy], figures[policy]
            row[policy] = {
                "train": round(b["train_step_s"] / a["train_step_s"], 2),
                "embed": round(a["embed_img_s"] / b["embed_img_s"], 2),
                "score": round(b["score_s"] / a["score_s"], 2),
            }
            row[policy]["within_target"] = all(
                v <= limit for k, v in row[policy].items() if k != "within_target"
            )
        table[str(n)] = row
    return table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--competitors", type=int, nargs="+", default=[0, 1, 3])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--policies", nargs="+", default=["old", "new"])
    parser.add_argument("--child", choices=["old", "new", "shared"], help=argparse.SUPPRESS)
    parser.add_argument("--images", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the busy loops on the way out
    if args.child:
        print(json.dumps(child(args.child, args.images)))
        return 0
    from debias_studio.core.threads import usable_cores

    cores = usable_cores()
    counts = sorted(set([0, *args.competitors]))
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "images"
        images.mkdir()
        write_images(images, EMBED_IMAGES)
        phases = {n: phase(n, args.policies, args.rounds, images) for n in counts}
    result = {
        "cores": cores,
        "per_competitors": {str(n): p for n, p in phases.items()},
        "slowdown": slowdowns(phases, args.policies, cores),
        "rounds": args.rounds,
        "workloads": {
            "train": "small CNN, batch 32, 32 px, ERM step",
            "embed": f"embed_files, {EMBED_IMAGES} JPEGs 256 px, ViT-B/32 int8",
            "score": f"score_only {SCORE_ROWS} x {SCORE_CONCEPTS} concepts",
        },
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
