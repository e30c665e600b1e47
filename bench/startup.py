"""Start-up as a user meets it: ``--help``, an error about a bad path, the window painted.

    python bench/startup.py [--repeat 5] [--baseline-python /work/main/.venv/bin/python]

Every figure is the wall time of a fresh process, from just before it is started (median of
``--repeat`` runs):

* ``help_s``: ``debias-studio --help`` (target <= 1 s);
* ``bad_path_s``: ``debias-studio gui /no/such/path`` until it exits with its error (<= 1 s);
* ``window_painted_s`` / ``project_painted_s``: ``debias-studio gui DEMO`` on the digits demo
  until the main window, then the project in it, is first painted (window <= 2 s), reported by
  the app itself with ``DEBIAS_STUDIO_STARTUP_PROBE=1`` (``gui.startup_probe``); ``..._cpu_s``:
  the CPU seconds the process had used by then, which a busy machine does not inflate.

With ``--baseline-python`` the same figures are measured, alternating run by run, for another
checkout's interpreter (say main's, before a change), exactly as ours are: that checkout needs
the start-up probe (``gui.startup_probe``, since issue 15.4).
Without a display the app runs on Qt's offscreen platform. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"help_s": 1.0, "bad_path_s": 1.0, "window_painted_s": 2.0}
BAD_PATH = "/no/such/path"


def cli(python: str) -> list[str]:
    return [python, "-c", "import sys; from debias_studio.cli.main import main; sys.exit(main())"]


def timed(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    return time.time() - start, done


def help_seconds(python: str, env: dict[str, str]) -> float:
    seconds, done = timed([*cli(python), "--help"], env)
    assert done.returncode == 0, done.stderr
    return seconds


def bad_path_seconds(python: str, env: dict[str, str]) -> float:
    """Until ``gui /no/such/path`` exits with its one-line error."""
    seconds, done = timed([*cli(python), "gui", BAD_PATH], env)
    if done.returncode != 1:
        raise RuntimeError(f"gui {BAD_PATH}: exit {done.returncode}: {done.stderr[-400:]}")
    return seconds


def painted_seconds(
    command: list[str], env: dict[str, str], first: str = "window-painted"
) -> dict[str, float]:
    """Seconds from start to each ``event <unix time>`` line the probe prints."""
    start = time.time()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    marks = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].endswith(("-painted", "-shown")):
            event = parts[0].replace("-", "_")
            marks[f"{event}_s"] = float(parts[1]) - start
            marks[f"{event}_cpu_s"] = float(parts[2])
    if f"{first.replace('-', '_')}_s" not in marks:
        raise RuntimeError(f"no {first} (exit {done.returncode}): {done.stderr[-600:]}")
    return marks


def window_ours(python: str, project: Path, env: dict[str, str]) -> dict[str, float]:
    probe_env = {**env, "DEBIAS_STUDIO_STARTUP_PROBE": "1"}
    return painted_seconds([*cli(python), "gui", str(project)], probe_env)


def environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        XDG_CONFIG_HOME=str(work / "config"),  # fresh settings: the default layout every run
        DEBIAS_STUDIO_DATA=str(work / "data"),
        HF_HUB_OFFLINE="1",
    )
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env["QT_QPA_PLATFORM"] = "offscreen"
    return env


def demo_project(work: Path) -> Path:
    from debias_studio.core.demo.project import create_demo_project
    from debias_studio.core.jobs import run_quiet

    folder = work / "digits"
    run_quiet(create_demo_project(folder, kind="digits")).close()
    return folder


def medians(samples: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for s in samples for k in s})
    return {k: round(statistics.median(s[k] for s in samples if k in s), 3) for k in keys}


def measure(
    repeat: int, sides: dict[str, tuple[str, Callable, Callable]], project: Path, env: dict
) -> dict[str, dict[str, float]]:
    """Each side's figures, the sides alternating within every repetition."""
    samples: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for _ in range(repeat):
        for side, (python, bad_path, window) in sides.items():
            sample = {
                "help_s": help_seconds(python, env),
                "bad_path_s": bad_path(python, env),
                **window(python, project, env),
            }
            samples[side].append(sample)
            print(side, json.dumps({k: round(v, 3) for k, v in sample.items()}), flush=True)
    return {side: medians(s) for side, s in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--baseline-python", help="interpreter of the checkout to compare with")
    args = parser.parse_args(argv)
    sides = {"ours": (sys.executable, bad_path_seconds, window_ours)}
    if args.baseline_python:
        sides["baseline"] = (args.baseline_python, bad_path_seconds, window_ours)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as folder:
        work = Path(folder)
        env = environment(work)
        figures = measure(args.repeat, sides, demo_project(work), env)
    result = {
        **figures["ours"],
        "targets": TARGETS,
        "meets_targets": all(figures["ours"][k] <= v for k, v in TARGETS.items()),
        "repeat": args.repeat,
        "platform": env.get("QT_QPA_PLATFORM", "display"),
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "cores": os.cpu_count(),
    }
    if "baseline" in figures:
        result["baseline"] = figures["baseline"]
        result["speedup"] = {
            k: round(figures["baseline"][k] / figures["ours"][k], 2)
            for k in figures["ours"]
            if k in figures["baseline"]
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
