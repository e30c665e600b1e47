"""Cleaning actions: exclude, include, relabel, tag and untag images, each undoable.

Each action checks its input before writing anything, then writes the change and a history
entry saying what it replaced in one transaction (``core.annotate.history.undo`` puts it back).
Two checks protect what a run needs: no action may leave a class without training images
(excluding all of a class, or relabelling all of its images away), and a relabel must name an
existing class. A training run that is going on keeps the data it read at its start; the
message returned says so, and the change applies to the next run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from debias_studio.core.data.splits import TRAIN
from debias_studio.core.errors import StudioError
from debias_studio.core.store import exclusions as exclusion_store
from debias_studio.core.store import history as history_store
from debias_studio.core.store import relabels as relabel_store
from debias_studio.core.store import runs as run_store
from debias_studio.core.store import tags as tag_store
from debias_studio.core.store.project import checked_image_ids

CLEANING_ACTIONS = ("exclude", "include", "relabel", "tag", "untag")


def exclude_images(project: Any, image_ids: Iterable[int], reason: str) -> str:
    """Exclude images with a reason; returns what was done in words."""
    ids = checked_image_ids(project, image_ids, "exclude")
    excluded = exclusion_store.excluded_mask(project)
    excluded[ids] = True
    _check_classes_keep_training_images(project, excluded, relabel_store.final_label_codes(project))
    before = exclusion_store.reasons(project)
    with project.transaction():
        exclusion_store.exclude(project, ids, reason)
        history_store.record(project, "exclude", {"previous": _previous(before, ids)})
    return _with_running_note(project, f"Excluded {len(ids)} image(s): {reason.strip()}.")


def include_images(project: Any, image_ids: Iterable[int]) -> str:
    """Take excluded images back in."""
    ids = checked_image_ids(project, image_ids, "include")
    before = exclusion_store.reasons(project)
    with project.transaction():
        exclusion_store.include(project, ids)
        history_store.record(project, "include", {"previous": _previous(before, ids)})
    taken = sum(1 for i in ids if i in before)
    return _with_running_note(project, f"Took {taken} excluded image(s) back in.")


def relabel_images(project: Any, image_ids: Iterable[int], label: str) -> str:
    """Give images the class ``label`` (an existing class)."""
    ids = checked_image_ids(project, image_ids, "relabel")
    classes = [str(c) for c in project.dataset.classes]
    if str(label) in classes:
        codes = relabel_store.final_label_codes(project)
        codes[ids] = classes.index(str(label))
        _check_classes_keep_training_images(project, exclusion_store.excluded_mask(project), codes)
    before = relabel_store.relabel_map(project)
    with project.transaction():
        relabel_store.relabel(project, ids, label)
        history_store.record(project, "relabel", {"previous": _previous(before, ids)})
    return _with_running_note(project, f"Relabelled {len(ids)} image(s) as '{label}'.")


def tag_images(project: Any, image_ids: Iterable[int], tag: str, *, remove: bool = False) -> str:
    """Add (or, with ``remove``, take off) a tag."""
    tag = tag_store.clean_tag(tag)
    ids = checked_image_ids(project, image_ids, "untag" if remove else "tag")
    had = set(tag_store.tagged(project, tag))
    with project.transaction():
        if remove:
            tag_store.remove(project, ids, tag)
        else:
            tag_store.add(project, ids, tag)
        history_store.record(
            project,
            "untag" if remove else "tag",
            {"tag": tag, "had": [i for i in ids if i in had], "ids": ids},
        )
    verb = "Took the tag" if remove else "Tagged"
    return f"{verb} '{tag}' {'off' if remove else 'on'} {len(ids)} image(s)."


def cleaning_history(project: Any) -> list[dict[str, Any]]:
    """The cleaning actions still undoable, newest first: id, action, images, created."""
    rows = []
    for entry in reversed(history_store.entries(project)):
        if entry.action not in CLEANING_ACTIONS:
            continue
        payload = entry.payload
        count = len(payload.get("ids", payload.get("previous", {})))
        detail = payload.get("tag", "")
        rows.append(
            {
                "id": entry.id,
                "action": entry.action,
                "images": count,
                "detail": detail,
                "created": entry.created,
            }
        )
    return rows


def revert(project: Any, action: str, payload: dict[str, Any]) -> str:
    """Put back what a cleaning history entry replaced (inside the caller's transaction)."""
    if action in ("exclude", "include"):
        previous = {int(k): v for k, v in payload["previous"].items()}
        taken = [i for i, v in previous.items() if v is None]
        if taken:
            exclusion_store.include(project, taken)
        for reason in {v for v in previous.values() if v is not None}:
            exclusion_store.exclude(
                project, [i for i, v in previous.items() if v == reason], reason
            )
        return f"{action} of {len(previous)} image(s)"
    if action == "relabel":
        previous = {int(k): v for k, v in payload["previous"].items()}
        relabel_store.put(project, previous)
        return f"relabel of {len(previous)} image(s)"
    ids, had = [int(i) for i in payload["ids"]], {int(i) for i in payload["had"]}
    if action == "tag":
        fresh = [i for i in ids if i not in had]
        if fresh:
            tag_store.remove(project, fresh, payload["tag"])
    elif had:
        tag_store.add(project, sorted(had), payload["tag"])
    return f"{action} '{payload['tag']}' of {len(ids)} image(s)"


def _previous(before: dict[int, str], ids: list[int]) -> dict[str, str | None]:
    """What each image held before (JSON keys are strings; None: nothing)."""
    return {str(i): before.get(i) for i in ids}


def _check_classes_keep_training_images(
    project: Any, excluded: np.ndarray, codes: np.ndarray
) -> None:
    """Refuse a change after which some class that had training images has none."""
    train = project.dataset.split_mask(TRAIN)
    classes = list(project.dataset.classes)
    had = np.bincount(project.dataset.labels[train], minlength=len(classes)) > 0
    kept = np.bincount(codes[train & ~excluded], minlength=len(classes)) > 0
    lost = np.flatnonzero(had & ~kept)
    if len(lost):
        raise StudioError(
            f"This would leave the class '{classes[int(lost[0])]}' without training images, so "
            "no run could learn it; nothing was changed. Select fewer images, or take some of "
            "that class back in first."
        )


def _with_running_note(project: Any, message: str) -> str:
    running = [r["id"] for r in run_store.list_runs(project) if r["status"] == "running"]
    if not running:
        return message
    return (
        f"{message} The training run {running[0]} that is going on keeps the images and labels "
        "it read when it started; the change applies to the next run."
    )
