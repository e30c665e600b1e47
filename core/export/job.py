"""``export_project``: every export format as one cancellable job that writes all or nothing.

The formats are a table of writers (core.export.writers). They are built into a staging folder
beside the output folder (core.export.atomic) and the folder appears only when all of them are
complete and every source has been read (a missing or moved image stops the export; symbolic
links are checked). Cancel, an error, a full disk: the staging folder is removed and the output
folder is as it was before.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from debias_studio.core.errors import StudioError
from debias_studio.core.export.atomic import ExportTarget, check_not_inside, check_target, disk_full
from debias_studio.core.export.frame import build_frame, describe
from debias_studio.core.export.layout import check_mode
from debias_studio.core.export.options import BALANCE_MODES, DEFAULT_FORMATS, DEFAULT_LINK, FORMATS
from debias_studio.core.export.writers import (
    WRITERS,
    ExportContext,
    ExportOptions,
    ExportResult,
)
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress
from debias_studio.core.store.project import Project
from debias_studio.core.threads import budgeted

EXPORT_JSON = "export.json"
EXPORT_VERSION = 2

__all__ = ["ExportOptions", "ExportResult", "export_project", "parse_formats"]


def parse_formats(formats: str | Sequence[str] | None) -> list[str]:
    if formats is None:
        return list(DEFAULT_FORMATS)
    names = formats.split(",") if isinstance(formats, str) else list(formats)
    chosen = [n.strip().lower() for n in names if n.strip()]
    unknown = [n for n in chosen if n not in FORMATS]
    if unknown:
        raise StudioError(
            f"Unknown export format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}."
        )
    if not chosen:
        raise StudioError("Choose at least one export format.")
    return [n for n in FORMATS if n in chosen]


@budgeted("export")
def export_project(
    project: Project,
    outdir: Path | str,
    formats: str | Sequence[str] | None = None,
    *,
    overwrite: bool = False,
    link: str = DEFAULT_LINK,
    cancel: CancelToken = NEVER_CANCELLED,
    **choices: Any,
) -> Job[ExportResult]:
    """Export ``project`` into ``outdir``.

    ``choices`` are ``ExportOptions`` fields: ``confounders`` (which become manifest columns;
    None: every annotated one), ``confounder`` (the primary one, whose groups fill
    ``group``/``bias`` and drive the balanced subset), ``balance`` (down/up), ``min_group``,
    ``seed``, ``counterfactual_confounders``/``_splits``/``_size``, ``prediction_run`` (a run id,
    "best" by validation worst-group accuracy, or None) and ``compare_runs`` (the report's
    per-group chart). ``link``: how image files are placed (auto, copy, hardlink, symlink)."""
    options = ExportOptions(parse_formats(formats), check_mode(link), **choices)
    if options.balance not in BALANCE_MODES:
        raise StudioError(f"Unknown balancing '{options.balance}'; choose down, up or fill.")
    outdir = Path(outdir)
    check_not_inside(outdir, {"project folder": project.folder, "dataset": project.dataset.root})
    check_target(outdir.absolute(), overwrite)
    names = list(options.confounders) if options.confounders is not None else None
    started = time.perf_counter()
    yield Progress(0, 100, "reading the project")
    frame = build_frame(project, names, options.confounder, options.prediction_run)
    cancel.raise_if_cancelled()
    result = ExportResult(outdir.absolute(), options.formats)
    target = ExportTarget(outdir, overwrite=overwrite)
    context = ExportContext(project, frame, target, options, cancel, result)
    with _all_or_nothing(target, outdir):
        for name, (start, span) in _spans(options.formats).items():
            cancel.raise_if_cancelled()
            yield Progress(start, 100, f"writing {name}")
            yield from WRITERS[name][0](context, start, span)
        result.seconds = time.perf_counter() - started
        target.write_text(EXPORT_JSON, json.dumps(_export_json(context), indent=2))
        yield Progress(99, 100, "finishing")
        target.commit()
    result.seconds = time.perf_counter() - started
    yield Progress(100, 100, f"exported to {outdir}")
    return result


@contextlib.contextmanager
def _all_or_nothing(target: ExportTarget, outdir: Path) -> Iterator[None]:
    """Remove the staging folder on any failure; word disk errors as one sentence."""
    try:
        yield
    except OSError as exc:
        target.abort()
        if disk_full(exc):
            raise StudioError(
                f"The disk is full: the export to {outdir} needs more space; nothing was written."
            ) from exc
        raise StudioError(
            f"Could not write the export to {outdir}: {exc.strerror or exc}."
        ) from exc
    except BaseException:
        target.abort()
        raise


def _spans(chosen: list[str]) -> dict[str, tuple[int, int]]:
    """Progress range (start, span) of each format out of 0..98, by rough cost."""
    total = sum(WRITERS[n][1] for n in chosen)
    spans, start = {}, 1
    for name in chosen:
        span = max(1, int(97 * WRITERS[name][1] / total))
        spans[name] = (start, span)
        start += span
    return spans


def _export_json(context: ExportContext) -> dict[str, Any]:
    project, options = context.project, context.options
    return {
        "version": EXPORT_VERSION,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "project": str(project.folder.resolve()),
        "dataset_root": str(project.dataset.root),
        "manifest_paths_relative_to": "the folder of each manifest",
        "self_contained": options.link != "symlink",
        "link": options.link,
        "csv_cells": "text cells starting with = + - @ TAB or CR carry a leading ' (CSV only; "
        "Parquet and JSONL hold the exact text)",
        "prediction_choice": options.prediction_run if options.prediction_run else None,
        **describe(context.frame),
        **context.result.to_dict(),
    }
