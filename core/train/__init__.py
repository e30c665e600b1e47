"""Training engine: cures for spurious correlations, evaluated per group (ALGORITHMS.md 3-4).

Public entry points: ``train_run`` / ``resume_run`` (jobs on a project), ``fit`` (the loop on
arrays), ``list_runs``, ``preview_counterfactuals``, ``TrainConfig``.
"""
