"""Class probabilities of a finished training run, for discovery on *that* model's errors.

This closes the loop discover -> cure -> discover again: discovery explains whichever model's
mistakes it is given. A run provides either ``runs/<id>/predictions.safetensors`` holding the
tensor ``probs`` (N, C) float32 (row i = image id i, columns in the project's class order), or
the predicted class per image that core.train stores (``core.train.runs.load_predictions``),
which becomes one-hot probabilities: the gradient then comes from the model's errors alone.
Images the run did not predict get NaN rows and are left out of discovery.
"""

from __future__ import annotations

import numpy as np

from debias_studio.core.errors import StudioError

PREDICTIONS_FILE = "predictions.safetensors"
PREDICTIONS_KEY = "probs"


def run_probabilities(project: object, run_id: str) -> np.ndarray:
    """(N, C) float32 class probabilities of run ``run_id`` for every image of the project."""
    rows = project.query("SELECT status FROM runs WHERE id=?", (run_id,))  # type: ignore[attr-defined]
    if not rows:
        raise StudioError(f"There is no run '{run_id}' in this project.")
    if rows[0][0] != "done":
        raise StudioError(f"The run '{run_id}' has not finished (status: {rows[0][0]}).")
    path = project.runs_dir / run_id / PREDICTIONS_FILE  # type: ignore[attr-defined]
    if path.is_file():
        from safetensors.numpy import load_file

        probs = load_file(str(path)).get(PREDICTIONS_KEY)
    else:
        probs = _from_train_engine(project, run_id)
    if probs is None:
        raise StudioError(f"The run '{run_id}' stored no predictions to discover from.")
    probs = np.asarray(probs, dtype=np.float32)
    n = len(project.dataset)  # type: ignore[attr-defined]
    n_classes = len(project.dataset.classes)  # type: ignore[attr-defined]
    if probs.shape != (n, n_classes):
        raise StudioError(
            f"The predictions of run '{run_id}' have shape {probs.shape}, but the project has "
            f"{n} images of {n_classes} classes."
        )
    return probs


def _from_train_engine(project: object, run_id: str) -> np.ndarray | None:
    try:
        from debias_studio.core.train.runs import load_predictions
    except ImportError:
        return None
    predicted = load_predictions(project, run_id)  # type: ignore[arg-type]
    if predicted is None:
        return None
    n_classes = len(project.dataset.classes)  # type: ignore[attr-defined]
    probs = np.full((len(predicted), n_classes), np.nan, dtype=np.float32)
    done = (predicted >= 0) & (predicted < n_classes)
    probs[done] = 0.0
    probs[np.flatnonzero(done), predicted[done]] = 1.0
    return probs
