"""Images the user gave another label (minimal reader; the cleaning work owns the full module).

``relabel_map`` is the one way to read relabels. Until the ``relabels`` table exists in a project's
schema, a project has no relabels.
"""

from __future__ import annotations

import sqlite3

from debias_studio.core.store.project import Project


def relabel_map(project: Project) -> dict[int, str]:
    """Relabelled image id -> the label the user gave it, by image id."""
    try:
        rows = project._rows("SELECT image_id, label FROM relabels ORDER BY image_id")
    except sqlite3.OperationalError:  # a schema without the table: no relabels
        return {}
    return {int(i): str(label) for i, label in rows}
