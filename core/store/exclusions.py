"""Images the user left out, each with a reason: the one owner of the ``exclusions`` table.

An excluded image stays in the project (ids never shift); training leaves it out, exports mark
it and leave it out of the formats that copy images. Writes join the caller's
``Project.transaction()``, so that a cleaning action and the history entry that undoes it commit
together. Other per-image decisions of the same kind (relabels, tags) belong in tables of their
own with an owner module of this shape: checked ids in, ``{image id: value}`` out.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from debias_studio.core.errors import StudioError
from debias_studio.core.store.project import Project, checked_image_ids


def reasons(project: Project) -> dict[int, str]:
    """Excluded image id -> the reason given, by image id."""
    rows = project._rows("SELECT image_id, reason FROM exclusions ORDER BY image_id")
    return {int(i): str(r) for i, r in rows}


def excluded_mask(project: Project) -> np.ndarray:
    """(N,) bool over the project's images: True where the user excluded the image."""
    n = len(project.dataset)
    mask = np.zeros(n, dtype=bool)
    ids = np.fromiter(reasons(project), dtype=np.int64)
    mask[ids[(ids >= 0) & (ids < n)]] = True
    return mask


def exclude(project: Project, image_ids: Iterable[int], reason: str) -> None:
    """Exclude images for ``reason`` (an image already excluded takes the new reason)."""
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise StudioError("Say why the images are excluded (a reason cannot be empty).")
    ids = checked_image_ids(project, image_ids, "exclude")
    with project._write() as db:
        db.executemany(
            "INSERT OR REPLACE INTO exclusions(image_id, reason) VALUES (?, ?)",
            [(i, reason) for i in ids],
        )


def include(project: Project, image_ids: Iterable[int]) -> None:
    """Take images back in (ids that were not excluded are fine)."""
    ids = checked_image_ids(project, image_ids, "include")
    with project._write() as db:
        db.executemany("DELETE FROM exclusions WHERE image_id=?", [(i,) for i in ids])
