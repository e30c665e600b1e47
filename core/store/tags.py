"""Free-form tags on images ("blurry", "check later"): the one owner of the ``tags`` table.

Tags change nothing the engine computes; they are for selecting and reviewing. Writes join the
caller's ``Project.transaction()``.
"""

from __future__ import annotations

from collections.abc import Iterable

from debias_studio.core.errors import StudioError
from debias_studio.core.store.project import Project, checked_image_ids


def tag_map(project: Project) -> dict[int, list[str]]:
    """Tagged image id -> its tags, sorted."""
    rows = project._rows("SELECT image_id, tag FROM tags ORDER BY image_id, tag")
    found: dict[int, list[str]] = {}
    for image_id, tag in rows:
        found.setdefault(int(image_id), []).append(str(tag))
    return found


def tagged(project: Project, tag: str) -> list[int]:
    """Ids of the images that carry ``tag``."""
    rows = project._rows("SELECT image_id FROM tags WHERE tag=? ORDER BY image_id", (tag,))
    return [int(r[0]) for r in rows]


def clean_tag(tag: str) -> str:
    """The tag as stored (spaces collapsed), or a ``StudioError`` when empty."""
    tag = " ".join(str(tag or "").split())
    if not tag:
        raise StudioError("A tag cannot be empty.")
    return tag


def add(project: Project, image_ids: Iterable[int], tag: str) -> None:
    tag = clean_tag(tag)
    ids = checked_image_ids(project, image_ids, "tag")
    with project._write() as db:
        db.executemany(
            "INSERT OR IGNORE INTO tags(image_id, tag) VALUES (?, ?)", [(i, tag) for i in ids]
        )


def remove(project: Project, image_ids: Iterable[int], tag: str) -> None:
    tag = clean_tag(tag)
    ids = checked_image_ids(project, image_ids, "untag")
    with project._write() as db:
        db.executemany("DELETE FROM tags WHERE image_id=? AND tag=?", [(i, tag) for i in ids])
