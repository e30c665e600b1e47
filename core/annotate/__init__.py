"""Confounders and groups: the human in the loop (ALGORITHMS.md section 2; contracts.md).

Confounders are created from a concept and a threshold, an arg-max over concepts, a metadata
column, or for manual labelling; per-image overrides always win; groups are (class, value).
Every change is written to the project at once and can be undone.
"""

from debias_studio.core.annotate.confounders import (
    DEFAULT_THRESHOLD,
    add_confounder,
    get_confounder,
    list_confounders,
    remove_confounder,
    set_kind,
)
from debias_studio.core.annotate.groups import build_group_matrix, group_matrix
from debias_studio.core.annotate.history import undo
from debias_studio.core.annotate.model import KINDS, SOURCES, Confounder, GroupMatrix
from debias_studio.core.annotate.overrides import assignments, set_values
from debias_studio.core.annotate.preview import project_threshold_preview, threshold_preview

__all__ = [
    "DEFAULT_THRESHOLD",
    "KINDS",
    "SOURCES",
    "Confounder",
    "GroupMatrix",
    "add_confounder",
    "assignments",
    "build_group_matrix",
    "get_confounder",
    "group_matrix",
    "list_confounders",
    "project_threshold_preview",
    "remove_confounder",
    "set_kind",
    "set_values",
    "threshold_preview",
    "undo",
]
