"""Images the user gave another label: the one owner of the ``relabels`` table.

A relabel replaces the label the dataset gave an image; the dataset's own label is kept (in the
``images`` table) so that exports can carry both and undo can restore. Training and exports use
the final label (``final_labels``). Writes join the caller's ``Project.transaction()``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from debias_studio.core.errors import StudioError
from debias_studio.core.store.project import Project, checked_image_ids


def relabel_map(project: Project) -> dict[int, str]:
    """Relabelled image id -> the label the user gave it, by image id."""
    rows = project._rows("SELECT image_id, label FROM relabels ORDER BY image_id")
    return {int(i): str(label) for i, label in rows}


def final_labels(project: Project) -> np.ndarray:
    """(N,) object array of class names: the dataset's label, or the user's where relabelled."""
    labels = project.dataset.table["label"].astype(str).to_numpy(dtype=object).copy()
    for image_id, label in relabel_map(project).items():
        if 0 <= image_id < len(labels):
            labels[image_id] = label
    return labels


def final_label_codes(project: Project) -> np.ndarray:
    """(N,) int64 class index of every image after relabels (position in ``dataset.classes``)."""
    codes = project.dataset.labels.copy()
    lookup = {str(name): i for i, name in enumerate(project.dataset.classes)}
    for image_id, label in relabel_map(project).items():
        if 0 <= image_id < len(codes) and label in lookup:
            codes[image_id] = lookup[label]
    return codes


def relabel(project: Project, image_ids: Iterable[int], label: str) -> None:
    """Give images ``label``, which must be one of the project's classes. An image relabelled
    to its dataset label loses its relabel."""
    label = str(label or "").strip()
    classes = [str(c) for c in project.dataset.classes]
    if label not in classes:
        raise StudioError(
            f"'{label}' is not a class of this dataset ({', '.join(classes)}); a relabel picks "
            "one of the existing classes, since a new class would leave it without training "
            "images of its own."
        )
    ids = checked_image_ids(project, image_ids, "relabel")
    given = project.dataset.table["label"].astype(str).to_numpy()
    with project._write() as db:
        db.executemany("DELETE FROM relabels WHERE image_id=?", [(i,) for i in ids])
        db.executemany(
            "INSERT INTO relabels(image_id, label) VALUES (?, ?)",
            [(i, label) for i in ids if given[i] != label],
        )


def put(project: Project, labels: dict[int, str | None]) -> None:
    """Set each image's relabel exactly (None: no relabel) - what undo restores."""
    with project._write() as db:
        db.executemany("DELETE FROM relabels WHERE image_id=?", [(int(i),) for i in labels])
        db.executemany(
            "INSERT INTO relabels(image_id, label) VALUES (?, ?)",
            [(int(i), str(v)) for i, v in labels.items() if v is not None],
        )
