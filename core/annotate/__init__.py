"""Confounders and groups: the human in the loop (ALGORITHMS.md section 2; contracts.md).

Confounders are created from a concept and a threshold, an arg-max over concepts, a metadata
column, or for manual labelling; per-image overrides always win; groups are (class, value).
Every change is written to the project at once and can be undone.
"""
