"""Export of the cleaned dataset and its report (issue 6).

``export_project(project, outdir, formats=...)`` is the one entry point (a job): a manifest (CSV +
Parquet) of the cleaned dataset, an ImageFolder tree without the excluded images, a group-balanced
subset with Waterbirds-style ``metadata.csv``, materialised counterfactual images, and an HTML
report with its figures as JSON - written all or nothing (core.export.atomic).
"""
