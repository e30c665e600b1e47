"""Run records: the one owner of the project's ``runs`` table and of what a finished run leaves
for other stages to read (``runs/<id>/config.json``, ``metrics.json``, predictions).

A run being trained holds the lock on ``runs/<id>/run.lock`` (core.store.lock) from its start to
its outcome; the operating system drops it when the process ends, killed or not. A run recorded as
``running`` whose lock nobody holds lost its process: it is reported ``interrupted`` (and is
resumable from its last checkpoint, like a cancelled one).

Training writes records through here (core.train.runs adds the checkpoints); discovery, export,
the report and the GUI read them through here. A run's predictions come in two forms: the
predicted class per image id (``predictions.npy``, int64, -1 where not predicted), which every
finished run writes, and optionally class probabilities (``predictions.safetensors`` with the
tensor ``probs`` (N, C) float32, rows by image id, columns in the project's class order).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from debias_studio.core.errors import ProjectError, StudioError
from debias_studio.core.store import lock as store_lock
from debias_studio.core.store.project import Project, stored_json

PREDICTIONS = "predictions.npy"
"""Predicted class index per image id of the finished run's kept model (-1: not predicted,
e.g. excluded)."""
PROBABILITIES = "predictions.safetensors"
PROBABILITIES_KEY = "probs"
STATUSES = ("running", "done", "cancelled", "failed", "interrupted")
RESUMABLE = ("cancelled", "failed", "interrupted")
"""States a run continues from (its last epoch checkpoint); the GUI and the CLI offer these."""
RUN_LOCK = "run.lock"

_LIVE: dict[str, IO[str]] = {}
"""Run folder -> the held lock of a run this process is training."""
_LIVE_GUARD = threading.Lock()


@dataclass(frozen=True)
class StoredRun:
    """One row of the ``runs`` table, with the folder that holds its files."""

    id: str
    folder: Path
    method: str
    status: str
    config: dict[str, Any]


def create_run(project: Project, method: str, config: dict[str, Any]) -> StoredRun:
    """A new run record (status ``running``) and its folder with ``config.json``."""
    run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
    folder = project.runs_dir / run_id
    project.check_writable()
    folder.mkdir(parents=True)
    write_json(folder / "config.json", config)
    _hold(folder)
    try:
        with project._write() as db:
            db.execute(
                "INSERT INTO runs(id, created, method, status, config, metrics) "
                "VALUES (?,?,?,?,?,?)",
                (run_id, time.time(), method, "running", json.dumps(config), "{}"),
            )
    except BaseException:
        _let_go(folder)
        raise
    return StoredRun(run_id, folder, method, "running", config)


def open_run(project: Project, run_id: str) -> StoredRun:
    rows = project._rows("SELECT method, status, config FROM runs WHERE id=?", (run_id,))
    if not rows:
        raise StudioError(f"There is no run '{run_id}' in this project.")
    method, status, config = rows[0]
    folder = _run_folder(project, run_id)
    return StoredRun(
        run_id, folder, method, _live_status(folder, status), _run_json(config, run_id)
    )


def finish_run(project: Project, run_id: str, status: str, metrics: dict[str, Any]) -> None:
    """Store the outcome (done, cancelled or failed) in the table and in metrics.json, then give
    the run's lock back."""
    folder = project.runs_dir / run_id
    try:
        write_json(folder / "metrics.json", metrics)
        with project._write() as db:
            db.execute(
                "UPDATE runs SET status=?, metrics=? WHERE id=?",
                (status, json.dumps(metrics), run_id),
            )
    finally:
        _let_go(folder)


def mark_running(project: Project, run_id: str) -> None:
    """Take run ``run_id`` up again in this process; refused while another process trains it."""
    project.check_writable()
    folder = project.runs_dir / run_id
    _hold(folder)
    try:
        with project._write() as db:
            db.execute("UPDATE runs SET status='running' WHERE id=?", (run_id,))
    except BaseException:
        _let_go(folder)
        raise


def list_runs(project: Project) -> list[dict[str, Any]]:
    """Every run, newest first, with its config and (summary) metrics; a run whose process has
    gone without recording an outcome has the status ``interrupted``."""
    rows = project._rows(
        "SELECT id, created, method, status, config, metrics FROM runs ORDER BY created DESC"
    )
    return [
        {
            "id": r[0],
            "created": r[1],
            "method": r[2],
            "status": _live_status(_run_folder(project, r[0]), r[3]),
            "config": _run_json(r[4], r[0]),
            "metrics": _run_json(r[5], r[0]),
        }
        for r in rows
    ]


def _run_json(text: str, run_id: str) -> dict[str, Any]:
    """A JSON object stored with run ``run_id``; damage becomes a ``ProjectError``."""
    value = stored_json(text, f"record of run '{run_id}'")
    if not isinstance(value, dict):
        raise ProjectError(f"The project's stored record of run '{run_id}' is damaged.")
    return value


# ---- which runs are alive -----------------------------------------------------------------------
def _run_folder(project: Project, run_id: str) -> Path:
    """Where run ``run_id`` keeps its files (not created: reading works in a read-only folder)."""
    return project.folder / "runs" / run_id


def _live_status(folder: Path, status: str) -> str:
    if status != "running" or store_lock.is_held(folder / RUN_LOCK):
        return status
    return "interrupted"


def _hold(folder: Path) -> None:
    with _LIVE_GUARD:
        if str(folder) in _LIVE:
            raise StudioError(f"The run '{folder.name}' is already training in this window.")
        handle = store_lock.hold(folder / RUN_LOCK)
        if handle is None:
            raise StudioError(
                f"The run '{folder.name}' is still training in another process; "
                "wait for it or stop it there."
            )
        _LIVE[str(folder)] = handle


def _let_go(folder: Path) -> None:
    with _LIVE_GUARD:
        handle = _LIVE.pop(str(folder), None)
    if handle is not None:
        store_lock.let_go(handle)


# ---- what a finished run predicted --------------------------------------------------------------
def save_predicted_classes(folder: Path, predictions: np.ndarray) -> None:
    """Store the predicted class per image id (int64, -1 where not predicted), atomically."""
    tmp = folder / (PREDICTIONS + ".tmp")
    with open(tmp, "wb") as handle:
        np.save(handle, np.asarray(predictions, dtype=np.int64), allow_pickle=False)
    os.replace(tmp, folder / PREDICTIONS)


def load_predictions(project: Project, run_id: str) -> np.ndarray | None:
    """The stored predictions of run ``run_id`` (int64 per image id), or None when the run has
    none or they belong to a different set of images."""
    path = project.runs_dir / run_id / PREDICTIONS
    try:
        predictions = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if predictions.ndim != 1 or len(predictions) != len(project.dataset):
        return None
    return predictions.astype(np.int64)


def latest_predictions(project: Project) -> tuple[str | None, np.ndarray | None]:
    """The id and per-image predictions of the newest finished run that stored predictions for
    this project's images; ``(None, None)`` when there is none."""
    for run in list_runs(project):  # newest first
        if run["status"] != "done":
            continue
        predictions = load_predictions(project, run["id"])
        if predictions is not None:
            return str(run["id"]), predictions
    return None, None


def run_probabilities(project: Project, run_id: str) -> np.ndarray:
    """(N, C) float32 class probabilities of finished run ``run_id`` for every image: the stored
    probabilities, else one-hot rows of the predicted classes (NaN rows where not predicted)."""
    rows = project._rows("SELECT status FROM runs WHERE id=?", (run_id,))
    if not rows:
        raise StudioError(f"There is no run '{run_id}' in this project.")
    if rows[0][0] != "done":
        raise StudioError(f"The run '{run_id}' has not finished (status: {rows[0][0]}).")
    n, n_classes = len(project.dataset), len(project.dataset.classes)
    path = project.runs_dir / run_id / PROBABILITIES
    if path.is_file():
        from safetensors.numpy import load_file

        probs = load_file(str(path)).get(PROBABILITIES_KEY)
    else:
        predicted = load_predictions(project, run_id)
        probs = None if predicted is None else _one_hot(predicted, n_classes)
    if probs is None:
        raise StudioError(f"The run '{run_id}' stored no predictions to discover from.")
    probs = np.asarray(probs, dtype=np.float32)
    if probs.shape != (n, n_classes):
        raise StudioError(
            f"The predictions of run '{run_id}' have shape {probs.shape}, but the project has "
            f"{n} images of {n_classes} classes."
        )
    return probs


def _one_hot(predicted: np.ndarray, n_classes: int) -> np.ndarray:
    probs = np.full((len(predicted), n_classes), np.nan, dtype=np.float32)
    done = (predicted >= 0) & (predicted < n_classes)
    probs[done] = 0.0
    probs[np.flatnonzero(done), predicted[done]] = 1.0
    return probs


def write_json(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename, so a crash leaves the old file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
