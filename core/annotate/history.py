"""Undo of the last annotation or cleaning change, from the project's change history.

Each change recorded, in its own transaction, what it replaced; undo restores that and forgets the
history entry, in one transaction. Repeated undo walks back through all changes.
"""

from __future__ import annotations

from typing import Any

from debias_studio.core.annotate.cleaning import CLEANING_ACTIONS
from debias_studio.core.annotate.cleaning import revert as revert_cleaning
from debias_studio.core.store import confounders as confounder_store
from debias_studio.core.store import history as history_store

UNDOABLE = ("add_confounder", "set_values", "set_kind", "remove_confounder", *CLEANING_ACTIONS)


def undo(project: Any) -> str | None:
    """Revert the last change; returns what was undone in words, or None if nothing was left."""
    entry = history_store.latest(project, UNDOABLE)
    if entry is None:
        return None
    with project.transaction():
        if entry.action in CLEANING_ACTIONS:
            message = revert_cleaning(project, entry.action, entry.payload)
        else:
            message = _REVERT[entry.action](project, entry.payload)
        history_store.forget(project, entry.id)
    return message


def _revert_add(project: Any, payload: dict[str, Any]) -> str:
    name, previous = payload["name"], payload["previous"]
    if previous is None:
        confounder_store.delete(project, name)
        return f"created confounder '{name}'"
    confounder_store.write_row(project, previous)
    return f"changed confounder '{name}'"


def _revert_set_values(project: Any, payload: dict[str, Any]) -> str:
    name = payload["name"]
    confounder_store.put_overrides(project, name, payload["previous"])
    restored = confounder_store.read_row(project, name)
    if restored is not None:
        restored["params"]["_values"] = payload["values_before"]
        confounder_store.write_row(project, restored)
    return f"set values of {len(payload['previous'])} image(s) in '{name}'"


def _revert_set_kind(project: Any, payload: dict[str, Any]) -> str:
    confounder_store.set_kind(project, payload["name"], payload["previous"])
    return f"changed the kind of '{payload['name']}'"


def _revert_remove(project: Any, payload: dict[str, Any]) -> str:
    row = payload["row"]
    confounder_store.write_row(project, row)
    confounder_store.put_overrides(project, row["name"], payload["overrides"])
    return f"removed confounder '{row['name']}'"


_REVERT = {
    "add_confounder": _revert_add,
    "set_values": _revert_set_values,
    "set_kind": _revert_set_kind,
    "remove_confounder": _revert_remove,
}
