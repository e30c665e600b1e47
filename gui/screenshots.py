"""Write PNG screenshots of the main window and of each panel on the demo project.

    python -m gui.screenshots OUTDIR [--kind digits|backgrounds] [--train [--epochs N]] [--evidence]

Runs offscreen when no display is set. The demo project is created (or reused) in
OUTDIR/demo-KIND; settings go to OUTDIR/.settings so the user's own are untouched. Steps whose
engine piece is missing in this build are skipped with a note; every panel is still captured.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from debias_studio.gui.workers import JobHandle

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from debias_studio.gui.concepts_panel import ConceptsPanel
    from debias_studio.gui.embedding_map import EmbeddingMap
    from debias_studio.gui.main_window import MainWindow
    from debias_studio.gui.runs_table import RunsTable
    from debias_studio.gui.training_panel import TrainingPanel

SIZE = (1440, 900)


DOCKS = (
    "details_dock",
    "map_dock",
    "training_dock",
    "concepts_dock",
    "confounders_dock",
    "jobs_dock",
    "runs_dock",
)
"""Panels captured one by one, in this order."""


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    out: Path = args.outdir
    app, window = _start(out)
    save(window, out / "welcome.png")
    if not finish(app, window.open_demo(args.kind, out / f"demo-{args.kind}"), 600):
        print("could not open the demo project", file=sys.stderr)
        window.shutdown()
        return 1
    settle(app, 1.5, lambda: window.loader.cached_count() > 60)
    window.browser.view.setCurrentIndex(window.browser.model.index(0))
    settle(app, 1.0)
    save(window, out / "window.png")
    _map_and_discover(app, window)
    if args.train:
        _train(app, window, epochs=args.epochs)
    settle(app, 1.0, lambda: not window.runner.jobs())
    _save_panels(app, window, out)
    if args.evidence:
        _evidence(app, window, out)
    window.shutdown()
    window.close()
    print(f"screenshots written to {out}")
    return 0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m gui.screenshots")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--kind", choices=("digits", "backgrounds"), default="digits")
    parser.add_argument(
        "--train", action="store_true", help="also train ERM and a cure for the runs view"
    )
    parser.add_argument(
        "--epochs", type=int, default=12, help="epochs of each CNN run --train trains"
    )
    parser.add_argument(
        "--evidence",
        action="store_true",
        help="also capture the concept view and the run comparison (trains ERM and the "
        "counterfactual cure as heads on CLIP features first unless two runs are done)",
    )
    return parser.parse_args(argv)


def _start(out: Path) -> tuple[QApplication, MainWindow]:
    """The application offscreen (without a display) with settings under ``out``, and the main
    window at the screenshots' size."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    out.mkdir(parents=True, exist_ok=True)
    from PySide6.QtCore import QSettings

    settings_dir = out / ".settings"
    if settings_dir.exists():
        shutil.rmtree(settings_dir)  # default layout every time
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    from debias_studio.gui.app import application

    app = application()
    from debias_studio.gui.main_window import MainWindow

    window = MainWindow()
    window.resize(*SIZE)
    window.show()
    settle(app, 0.5)
    return app, window


def _map_and_discover(app: QApplication, window: MainWindow) -> None:
    """Compute the map, discover, and mark the top concept as a confounder."""
    emap = cast("EmbeddingMap", window.panels["map_dock"])
    window.docks["map_dock"].raise_()
    emap.compute()
    settle(
        app,
        600,
        lambda: emap.xy is not None or "computing" not in emap.info.text(),
    )
    concepts = cast("ConceptsPanel", window.panels["concepts_dock"])
    concepts.discover()
    settle(app, 600, lambda: not window.runner.jobs())
    if concepts.top_concept() is not None:
        concepts.select_row(0)
        concepts.mark_button.click()
        settle(app, 60, lambda: not window.runner.jobs())


def _train(app: QApplication, window: MainWindow, backbone: str = "cnn", epochs: int = 12) -> None:
    """ERM against the counterfactual cure, by default a small CNN from scratch (the demo CLIP
    does not know digit shapes, so a head on its features could only read the colour)."""
    training = cast("TrainingPanel", window.panels["training_dock"])
    session = window.session
    column = next(iter(session.attributes), None) if session is not None else None
    for method in ("erm", "counterfactual"):
        training.method.setCurrentIndex(training.method.findData(method))
        training.backbone.setCurrentIndex(training.backbone.findData(backbone))
        training.epochs.setValue(epochs)
        training.set_confounder(column)
        handle = training.start()
        if handle is not None:
            finish(app, handle, 900)


def _evidence(app: QApplication, window: MainWindow, out: Path) -> None:
    """The concept view of the top row (ERM and the cure side by side) and the comparison of
    every finished run (k worst and best groups, then the heat map)."""
    session = window.session
    if session is not None and len(session.runs.finished()) < 2:
        _train(app, window, backbone="head", epochs=10)
        settle(app, 30, lambda: len(session.runs.finished()) >= 2)
    concepts = cast("ConceptsPanel", window.panels["concepts_dock"])
    concepts.select_row(0)
    view = concepts.inspect()
    if view is not None:
        view.split.setCurrentIndex(view.split.findData("test"))  # the runs' held-out errors
        settle(app, 300, lambda: len(view.inspections) >= 3 and not window.runner.jobs())
        settle(app, 1.5)  # thumbnails
        save(view, out / "concept-view.png")
        view.close()
    runs = cast("RunsTable", window.panels["runs_dock"])
    runs.table.selectAll()
    comparison = runs.compare()
    if comparison is not None:
        settle(app, 60, lambda: comparison.comparison is not None)
        comparison.k.setValue(8)
        settle(app, 0.5)
        save(comparison, out / "run-comparison.png")
        comparison.mode.setCurrentIndex(comparison.mode.findData("heat"))
        settle(app, 0.5)
        save(comparison, out / "run-comparison-heat.png")
        comparison.close()


def _save_panels(app: QApplication, window: MainWindow, out: Path) -> None:
    for name in DOCKS:
        dock = window.docks[name]
        dock.show()
        dock.raise_()
        settle(app, 0.3)
        save(dock, out / f"{name.removesuffix('_dock')}.png")
    window.docks["map_dock"].raise_()
    settle(app, 0.3)
    save(window, out / "window-map.png")
    save(window.browser, out / "browser.png")


def settle(app, seconds: float, until: Callable[[], bool] | None = None) -> None:
    """Process events for ``seconds`` (or until ``until()`` holds)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        if until is not None and until():
            break
        time.sleep(0.01)
    app.processEvents()


def finish(app, handle: JobHandle, seconds: float) -> bool:
    settle(app, seconds, lambda: not handle.running)
    settle(app, 0.2)
    if handle.state != "done":
        print(f"{handle.name}: {handle.state} {handle.message}", file=sys.stderr)
    return handle.state == "done"


def save(widget, path: Path) -> None:
    widget.grab().save(str(path))
    print(path)


if __name__ == "__main__":
    sys.exit(main())
