"""GUI responsiveness at scale: time to first painted thumbnails, the longest GUI-thread stall
while scrolling a 100k-image project and while an embedding job runs, and memory at 10k vs 100k.

    python bench/gui.py [--sizes 10000 100000] [--seconds 4] [--trace]
                        [--baseline-root /work/main --repeat 2]

Each size runs in its own process (clean memory figures) on a synthetic project: 1,000 distinct
64 px JPEGs hard-linked under distinct paths, so every row is a separate file and the disk
thumbnail cache starts empty. A 4 ms timer on the GUI thread measures stalls (the largest gap
between its ticks beyond 4 ms). The last line is one JSON object. With ``--trace`` a watchdog
thread samples the GUI thread's Python stack whenever the timer has not ticked for 40 ms and
prints, per phase, where the GUI thread was (stderr): a frame in our code or a library is work on
the GUI thread; ``pump`` (inside ``processEvents`` or the 1 ms sleep) is waiting for the
interpreter lock or for a core. With ``--baseline-root`` (another checkout with its own
``.venv``, say main before a change) the job stalls at the largest size are measured ``--repeat``
times for each side, alternating, at the same load, and printed side by side.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DISTINCT = 1000
TICK_MS = 4
TRACE_AFTER_S = 0.04
TRACE_EVERY_S = 0.005
TRACE_FRAMES = 8


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_project(folder: Path, n: int) -> Path:
    import numpy as np
    import pandas as pd
    from PIL import Image

    from debias_studio.core.data.dataset import Dataset, DatasetSpec
    from debias_studio.core.store.project import Project

    images = folder / "images"
    (images / "src").mkdir(parents=True)
    rng = np.random.default_rng(0)
    colours = ["red", "green", "blue", "yellow"]
    for i in range(DISTINCT):
        pixels = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / "src" / f"{i}.jpg", quality=85)
    classes = [f"class{c}" for c in range(10)]
    rows = []
    for i in range(n):
        label = classes[i % 10]
        path = f"{label}/{i:07d}.jpg"
        target = images / path
        target.parent.mkdir(exist_ok=True)
        os.link(images / "src" / f"{i % DISTINCT}.jpg", target)
        stat = target.stat()
        split = ("train", "train", "train", "val", "test")[i % 5]
        rows.append((path, label, split, "", stat.st_size, stat.st_mtime_ns, colours[i % 4]))
    table = pd.DataFrame(
        rows, columns=["path", "label", "split", "mask", "size", "mtime_ns", "color"]
    )
    spec = DatasetSpec("manifest", str(images / "manifest.csv"), str(images))
    dataset = Dataset(images, table, classes, ["color"], [], spec)
    project_folder = folder / "project"
    Project.create(project_folder, dataset).close()
    return project_folder


class StallTracer(threading.Thread):
    """``--trace``: while the GUI thread is late, sample its stack (``sys._current_frames``)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.gui_thread = threading.get_ident()
        self.meter: StallMeter | None = None
        self.samples: collections.Counter[tuple[str, str]] = collections.Counter()

    def run(self) -> None:
        while True:
            time.sleep(TRACE_EVERY_S)
            meter = self.meter
            if meter is None or not meter.running:
                continue
            if time.perf_counter() - meter.last > TRACE_AFTER_S:
                frame = sys._current_frames().get(self.gui_thread)
                stack = traceback.extract_stack(frame)[-TRACE_FRAMES:] if frame else []
                where = " <- ".join(
                    f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in reversed(stack)
                )
                self.samples[(meter.label, where)] += 1
                self._sample_others(meter.label)

    def _sample_others(self, label: str) -> None:
        """Where our other threads were: one of them may have held the interpreter lock."""
        for ident, frame in sys._current_frames().items():
            if ident in (self.gui_thread, self.ident):
                continue
            stack = traceback.extract_stack(frame)[-3:]
            if any(Path(f.filename).parts[-2:-1] == ("threading.py",) for f in stack[-1:]):
                continue
            where = " <- ".join(
                f"{Path(f.filename).name}:{f.lineno}:{f.name}" for f in reversed(stack)
            )
            self.samples[(f"{label} / other threads", where)] += 1

    def report(self) -> None:
        by_label: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
        for (label, where), count in self.samples.items():
            by_label[label].append((count, where))
        for label, rows in by_label.items():
            print(
                f"GUI thread late ({TRACE_EVERY_S * 1000:.0f} ms samples), {label}:",
                file=sys.stderr,
            )
            for count, where in sorted(rows, reverse=True)[:6]:
                print(f"  {count:4d}  {where}", file=sys.stderr)


TRACER: StallTracer | None = None


class StallMeter:
    """A fast timer on the GUI thread: a late tick means the GUI thread was busy."""

    def __init__(self, label: str = "") -> None:
        from PySide6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.last = self.last_cpu = 0.0
        self.worst = self.worst_cpu = 0.0
        self.label = label
        self.running = False

    def start(self) -> None:
        self.last, self.last_cpu = time.perf_counter(), time.thread_time()
        self.worst = self.worst_cpu = 0.0
        self.timer.start()
        self.running = True
        if TRACER is not None:
            TRACER.meter = self

    def stop(self) -> float:
        """Worst wall-clock stall (ms); ``busy_ms`` then holds the worst GUI-thread CPU time
        spent inside one stall (the part that is our own work, not waiting for a core or the
        GIL on a loaded machine)."""
        self.timer.stop()
        self.running = False
        self.busy_ms = self.worst_cpu * 1000
        return self.worst * 1000

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        gap = now - self.last - TICK_MS / 1000
        if gap > self.worst:
            self.worst = gap
        self.worst_cpu = max(self.worst_cpu, cpu - self.last_cpu)
        self.last, self.last_cpu = now, cpu


def pump(app, seconds: float, until=None) -> bool:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        app.processEvents()
        if until is not None and until():
            return True
        time.sleep(0.001)
    return until is None


def run_size(n: int, seconds: float, with_embed: bool) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    work = Path(tempfile.mkdtemp(prefix=f"bench-gui-{n}-"))
    build = time.perf_counter()
    project = make_project(work, n)
    build_s = time.perf_counter() - build

    from PySide6.QtCore import QSettings

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(work / "s"))
    from debias_studio.gui.app import application

    app = application()
    from debias_studio.gui.main_window import MainWindow

    window = MainWindow()
    window.resize(1440, 900)
    window.show()
    pump(app, 20, lambda: not window.runner.jobs())
    rss_before = rss_mb()
    view = window.browser.view
    painted: list[float] = []
    window.loader.thumbnails_ready.connect(lambda ids: painted.append(time.perf_counter()))

    meter = StallMeter("open")
    meter.start()
    start = time.perf_counter()
    window.open_project(project)
    pump(app, 30, lambda: bool(painted))
    pump(app, 0.05)  # the batch's repaint
    first_thumbnails_s = (painted[0] - start) if painted else None
    visible = _visible_count(view)
    pump(app, 10, lambda: window.loader.cached_count() >= visible)
    visible_thumbnails_s = time.perf_counter() - start
    open_stall_ms = meter.stop()
    open_busy_ms = meter.busy_ms

    bar = view.verticalScrollBar()
    meter.label = "scroll"
    meter.start()
    scroll_start = time.perf_counter()
    steps = 0
    while time.perf_counter() - scroll_start < seconds:
        bar.setValue(int(bar.maximum() * min(1.0, (time.perf_counter() - scroll_start) / seconds)))
        steps += 1
        pump(app, 0.016)
    scroll_stall_ms = meter.stop()
    scroll_busy_ms = meter.busy_ms
    result = {
        "images": n,
        "build_project_s": round(build_s, 2),
        "first_thumbnails_s": None if first_thumbnails_s is None else round(first_thumbnails_s, 3),
        "visible_thumbnails_s": round(visible_thumbnails_s, 3),
        "visible_cells": visible,
        "stall_open_ms": round(open_stall_ms, 1),
        "busy_open_ms": round(open_busy_ms, 1),
        "stall_scroll_ms": round(scroll_stall_ms, 1),
        "busy_scroll_ms": round(scroll_busy_ms, 1),
        "scroll_steps": steps,
        "thumbnails_cached": window.loader.cached_count(),
        "thumbnail_cache_mb": round(window.loader.cached_bytes() / 2**20, 1),
        "rss_before_open_mb": round(rss_before, 1),
        "rss_after_scroll_mb": round(rss_mb(), 1),
    }
    if with_embed:
        result.update(_embed_stall(app, window, seconds))
        result.update(_job_stalls(app, window, project, seconds))
    window.shutdown()
    window.close()
    return result


def _visible_count(view) -> int:
    grid = view.gridSize()
    viewport = view.viewport().size()
    columns = max(1, viewport.width() // grid.width())
    rows = max(1, -(-viewport.height() // grid.height()))
    return min(view.model().rowCount(), columns * rows)


def _embed_stall(app, window, seconds: float) -> dict:
    """Stall while an embedding job runs (the real one when the demo CLIP is bundled; otherwise
    a stand-in job that decodes images at CLIP size in the same worker machinery)."""
    from debias_studio.core.jobs import Progress

    model_file = ROOT / "resources" / "models" / "demo-clip" / "open_clip_model.safetensors"
    emap = window.panels["map_dock"]
    meter = StallMeter("embed")
    meter.start()
    if model_file.is_file():
        kind = "embed_project (demo CLIP)"
        emap.compute()
        handle = window.runner.jobs()[-1]
    else:
        kind = "stand-in: decode at 224 px + matmul (demo CLIP not bundled yet)"
        session = window.session

        def stand_in(token):
            import numpy as np

            from debias_studio.core.data.imageio import open_image

            weights = np.random.default_rng(0).normal(size=(224 * 224 * 3 // 64, 512))
            for i in range(len(session)):
                token.raise_if_cancelled()
                image = open_image(session.dataset.root, str(session.paths[i]), min_side=224)
                pixels = np.asarray(image.resize((224, 224)), dtype=np.float32).reshape(-1, 64)
                _ = pixels.mean(axis=1) @ weights
                if i % 32 == 0:
                    yield Progress(i, len(session), "embedding")

        handle = window.runner.start("Embedding (stand-in)", stand_in)
    pump(app, seconds)
    stall = meter.stop()
    progress = handle.progress.done
    handle.cancel()
    pump(app, 30, lambda: not handle.running)
    return {
        "stall_embed_ms": round(stall, 1),
        "busy_embed_ms": round(meter.busy_ms, 1),
        "embed_job": kind,
        "embed_progress": progress,
    }


def _job_stalls(app, window, project_folder: Path, seconds: float) -> dict:
    """The GUI-thread stall while discovery, training (CNN from the images) and export run in
    the app's job runner, each for ``seconds`` (then cancelled), on the open project."""
    from debias_studio.gui import engine

    project = window.session.project
    starts = {
        "discover": lambda token: engine.run_discovery(project, "demo", "cpu", None, token),
        "train": lambda token: engine.train_job(
            project,
            engine.TrainConfig(str(project_folder), backbone="cnn", epochs=1, device="cpu"),
            lambda _epoch: None,
            token,
        ),
        "export": lambda token: engine.run_export(
            project, project_folder.parent / "export", ["manifest", "imagefolder"],
            link="copy", confounder=None, overwrite=True, cancel=token,
        ),
    }  # fmt: skip
    figures: dict = {}
    for name, start in starts.items():
        meter = StallMeter(name)
        meter.start()
        handle = window.runner.start(f"bench {name}", start)
        pump(app, seconds, lambda h=handle: not h.running)
        figures[f"stall_{name}_ms"] = round(meter.stop(), 1)
        figures[f"busy_{name}_ms"] = round(meter.busy_ms, 1)
        figures[f"{name}_progress"] = handle.progress.done
        handle.cancel()
        pump(app, 60, lambda h=handle: not h.running)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--embed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help="where the GUI thread was when late")
    parser.add_argument(
        "--baseline-root", help="a checkout (with .venv) to compare job stalls with"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per side with --baseline-root")
    args = parser.parse_args()
    if args.child:
        global TRACER
        if args.trace:
            TRACER = StallTracer()
            TRACER.start()
        print(json.dumps(run_size(args.child, args.seconds, args.embed)))
        if TRACER is not None:
            TRACER.report()
        return 0
    results = {}
    for n in args.sizes:
        results[n] = _child(sys.executable, Path(__file__), n, args, n == max(args.sizes))
        print(json.dumps(results[n]), file=sys.stderr)
    small, large = results[min(args.sizes)], results[max(args.sizes)]
    summary = {
        "per_size": results,
        "first_thumbnails_s": large["first_thumbnails_s"],
        "max_stall_scroll_ms": large["stall_scroll_ms"],
        "max_stall_embed_ms": large.get("stall_embed_ms"),
        "max_stall_job_ms": {
            job: large.get(f"stall_{job}_ms") for job in ("embed", "discover", "train", "export")
        },
        "max_gui_busy_ms": max(
            large["busy_scroll_ms"], large.get("busy_embed_ms", 0), large["busy_open_ms"]
        ),
        "load_average": os.getloadavg()[0],
        "rss_mb": {n: r["rss_after_scroll_mb"] for n, r in results.items()},
        "rss_growth_mb_per_10x": round(
            large["rss_after_scroll_mb"]
            - large["rss_before_open_mb"]
            - (small["rss_after_scroll_mb"] - small["rss_before_open_mb"]),
            1,
        ),
        "targets": {"first_thumbnails_s": 1.0, "stall_ms": 50},
    }
    if args.baseline_root:
        summary["side_by_side"] = _side_by_side(Path(args.baseline_root), max(args.sizes), args)
    print(json.dumps(summary))
    return 0


def _child(python: str, script: Path, n: int, args: argparse.Namespace, embed: bool) -> dict:
    """One size in a fresh process of ``python`` running ``script`` (ours or a baseline's)."""
    command = [python, str(script), "--child", str(n), "--seconds", str(args.seconds)]
    if embed:
        command.append("--embed")
    if args.trace and script == Path(__file__):
        command.append("--trace")
    done = subprocess.run(
        command, capture_output=True, text=True, check=True, cwd=script.parents[1]
    )
    if args.trace:
        print(done.stderr, file=sys.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


JOBS = ("embed", "discover", "train", "export")


def _side_by_side(root: Path, n: int, args: argparse.Namespace) -> dict:
    """Job stalls of ours and of the checkout at ``root``, alternating run by run."""
    sides = {
        "ours": (sys.executable, Path(__file__)),
        "baseline": (str(root / ".venv" / "bin" / "python"), root / "bench" / "gui.py"),
    }
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    loads = [round(os.getloadavg()[0], 2)]
    for _ in range(args.repeat):
        for side, (python, script) in sides.items():
            runs[side].append(_child(python, script, n, args, True))
            print(side, json.dumps(runs[side][-1]), file=sys.stderr)
            loads.append(round(os.getloadavg()[0], 2))
    stalls = {
        side: {job: [r.get(f"stall_{job}_ms") for r in side_runs] for job in JOBS}
        for side, side_runs in runs.items()
    }
    worst = {side: max(v for job in JOBS for v in stalls[side][job]) for side in sides}
    return {
        "images": n,
        "repeat": args.repeat,
        "baseline_root": str(root),
        "stall_ms_per_run": stalls,
        "busy_ms_per_run": {
            side: {job: [r.get(f"busy_{job}_ms") for r in side_runs] for job in JOBS}
            for side, side_runs in runs.items()
        },
        "worst_stall_ms": worst,
        "worst_ratio_baseline_over_ours": round(worst["baseline"] / worst["ours"], 2),
        "load_average_1min_between_runs": loads,
    }


if __name__ == "__main__":
    sys.exit(main())
