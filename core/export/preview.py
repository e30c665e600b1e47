"""What an export would do, shown before it runs: the runs whose predictions it can carry, what an
overwrite would remove, and what a balanced subset would hold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from debias_studio.core.errors import StudioError
from debias_studio.core.export.atomic import check_not_inside, overwrite_preview
from debias_studio.core.export.balanced import balance_preview
from debias_studio.core.export.frame import build_frame, prediction_runs
from debias_studio.core.export.options import DEFAULT_MIN_GROUP
from debias_studio.core.store.project import Project


def run_choices(project: Project) -> list[dict[str, Any]]:
    """Finished runs with predictions, best first: id, method and validation worst-group."""
    out = []
    for run in prediction_runs(project):
        val = (run.get("metrics") or {}).get("val") or {}
        worst = val.get("worst_group_acc") if isinstance(val, dict) else None
        out.append({"id": str(run["id"]), "method": run["method"], "val_worst_group": worst})
    return out


def overwrite_note(project: Project, target: Path) -> tuple[str | None, str | None]:
    """(what an overwrite removes, why the folder may not be used at all)."""
    try:
        check_not_inside(
            target, {"project folder": project.folder, "dataset": project.dataset.root}
        )
        preview = overwrite_preview(target)
    except StudioError as exc:
        return None, str(exc)
    return (preview.sentence() if preview else None), None


def export_plan(project: Project, target: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Runs to choose from, the overwrite note and refusal, and the balanced preview."""
    removes, refusal = overwrite_note(project, target)
    plan: dict[str, Any] = {"runs": run_choices(project), "removes": removes, "refusal": refusal}
    if "balanced" in (options.get("formats") or []):
        try:
            frame = build_frame(project, None, options.get("confounder"), None)
            view = frame.view(options.get("confounder"))
        except StudioError as exc:
            plan["balanced"] = {"refusal": str(exc), "warnings": [], "plan": {}}
        else:
            mode = str(options.get("balance") or "down")
            minimum = int(options.get("min_group") or DEFAULT_MIN_GROUP)
            plan["balanced"] = balance_preview(frame, view, mode, minimum)
    return plan


def describe_balance(preview: dict[str, Any]) -> str:
    """The balanced preview in a few plain lines (CLI and GUI)."""
    lines = []
    for split, part in preview.get("plan", {}).items():
        sizes = preview["group_sizes"][split]
        present = sorted(n for n in sizes.values() if n > 0)
        lines.append(
            f"{split}: {part['groups']} of {len(sizes)} groups hold images "
            f"(sizes {present[0]}..{present[-1]}); the subset keeps {part['per_group']} per "
            f"group, {part['rows']} rows"
        )
    lines += [f"warning: {w}" for w in preview.get("warnings", [])]
    if preview.get("refusal"):
        lines.append(f"refused: {preview['refusal']}")
    return "\n".join(lines)
