"""``export_project``: every export format as one cancellable job that writes all or nothing.

The formats are built into a staging folder beside the output folder (core.export.atomic) and
the folder appears only when all of them are complete. Cancel, an error, a full disk: the staging
folder is removed and the output folder is as it was before.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from debias_studio.core.errors import JobCancelled, StudioError
from debias_studio.core.export.atomic import ExportTarget, check_not_inside, check_target, disk_full
from debias_studio.core.export.balanced import FOLDER as BALANCED_FOLDER
from debias_studio.core.export.balanced import balanced_plan
from debias_studio.core.export.counterfactual_images import export_counterfactuals
from debias_studio.core.export.frame import build_frame, describe
from debias_studio.core.export.layout import FOLDER as LAYOUT_FOLDER
from debias_studio.core.export.layout import check_mode, imagefolder_plan, place_files
from debias_studio.core.export.manifest import write_manifest, write_table
from debias_studio.core.export.options import BALANCE_MODES, DEFAULT_FORMATS, FORMATS
from debias_studio.core.export.report import build_report, render_html
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress, delegate
from debias_studio.core.store.project import Project
from debias_studio.core.threads import budgeted

EXPORT_JSON = "export.json"
EXPORT_VERSION = 1


@dataclass
class ExportResult:
    folder: Path
    formats: list[str]
    files: dict[str, list[str]] = field(default_factory=dict)
    """Format -> the files (relative to ``folder``) it wrote, or its sub-folder."""
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "formats": self.formats,
            "files": self.files,
            "details": self.details,
            "seconds": round(self.seconds, 3),
        }


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
    link: str = "symlink",
    confounders: Sequence[str] | None = None,
    confounder: str | None = None,
    balance: str = "down",
    seed: int = 0,
    counterfactual_confounders: Sequence[str] | None = None,
    counterfactual_splits: Sequence[str] = ("train",),
    counterfactual_size: int | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[ExportResult]:
    """Export ``project`` into ``outdir``.

    ``confounders``: which confounders become manifest columns (None: every annotated one;
    dataset attribute columns may be named too); ``confounder``: the primary one, whose groups
    fill ``group``/``bias`` and drive the balanced subset (None: the first); ``link``: how image
    files are placed (copy, hardlink, symlink); ``balance``: down- or up-sampling;
    ``counterfactual_confounders``: whose counterfactual images to render (None: the primary)."""
    chosen = parse_formats(formats)
    check_mode(link)
    if balance not in BALANCE_MODES:
        raise StudioError(f"Unknown balancing '{balance}'; choose down or up.")
    outdir = Path(outdir)
    check_target(outdir.absolute(), overwrite)
    check_not_inside(outdir, {"project folder": project.folder, "dataset": project.dataset.root})
    names = list(confounders) if confounders is not None else None
    if confounder is not None and names is not None and confounder not in names:
        names.append(confounder)
    started = time.perf_counter()
    yield Progress(0, 100, "reading the project")
    frame = build_frame(project, names, confounder)
    cancel.raise_if_cancelled()
    result = ExportResult(outdir.absolute(), chosen)
    target = ExportTarget(outdir, overwrite=overwrite)
    try:
        steps = _spans(chosen)
        for name in chosen:
            start, span = steps[name]
            cancel.raise_if_cancelled()
            yield Progress(start, 100, f"writing {name}")
            if name == "manifest":
                result.files[name] = write_manifest(target, frame.table)
            elif name == "imagefolder":
                placements, manifest = imagefolder_plan(frame.table, project.dataset.root)
                count = yield from delegate(
                    place_files(target, placements, link, cancel), start, span, 100
                )
                result.files[name] = [
                    LAYOUT_FOLDER,
                    *write_table(target, manifest, f"{LAYOUT_FOLDER}/manifest", parquet=False),
                ]
                result.details[name] = {"files": count, "images": len(manifest), "link": link}
            elif name == "balanced":
                plan = balanced_plan(
                    frame, frame.view(confounder), project.dataset.root, balance, seed
                )
                yield from delegate(
                    place_files(target, plan.placements, link, cancel), start, span, 100
                )
                written = write_table(
                    target, plan.metadata, f"{BALANCED_FOLDER}/metadata", parquet=False
                )
                result.files[name] = [BALANCED_FOLDER, *written]
                result.details[name] = {
                    "confounder": frame.view(confounder).name,
                    "mode": balance,
                    "seed": seed,
                    "rows": len(plan.metadata),
                    "per_split": plan.per_split,
                    "missing_groups": plan.missing_groups,
                }
            elif name == "counterfactuals":
                wanted = counterfactual_confounders or [frame.view(confounder).name]
                details = []
                for k, cf_name in enumerate(wanted):
                    part = span // max(1, len(wanted))
                    job = export_counterfactuals(
                        target,
                        project,
                        frame,
                        frame.view(cf_name),
                        splits=counterfactual_splits,
                        size=counterfactual_size,
                        seed=seed,
                        cancel=cancel,
                    )
                    outcome = yield from delegate(job, start + k * part, part, 100)
                    details.append(outcome.to_dict())
                result.files[name] = ["counterfactuals"]
                result.details[name] = details
            elif name == "report":
                report = build_report(project, frame)
                target.write_text("report.html", render_html(report))
                target.write_text("report.json", json.dumps(report.to_json(), indent=2) + "\n")
                result.files[name] = ["report.html", "report.json"]
                result.details[name] = {"runs": len(report.sections["runs"])}
        result.seconds = time.perf_counter() - started
        target.write_text(EXPORT_JSON, json.dumps(_export_json(project, frame, result), indent=2))
        yield Progress(99, 100, "finishing")
        target.commit()
    except JobCancelled:
        target.abort()
        raise
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
    result.seconds = time.perf_counter() - started
    yield Progress(100, 100, f"exported to {outdir}")
    return result


def _spans(chosen: list[str]) -> dict[str, tuple[int, int]]:
    """Progress range (start, span) of each format out of 0..98, by rough cost."""
    weight = {"manifest": 1, "imagefolder": 6, "balanced": 3, "counterfactuals": 10, "report": 2}
    total = sum(weight[n] for n in chosen)
    spans, start = {}, 1
    for name in chosen:
        span = max(1, int(97 * weight[name] / total))
        spans[name] = (start, span)
        start += span
    return spans


def _export_json(project: Project, frame: Any, result: ExportResult) -> dict[str, Any]:
    return {
        "version": EXPORT_VERSION,
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "project": str(project.folder.resolve()),
        "dataset_root": str(project.dataset.root),
        "manifest_paths_relative_to": str(project.dataset.root),
        **describe(frame),
        **result.to_dict(),
    }
