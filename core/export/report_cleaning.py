"""The report's cleaning section: what the user excluded (per reason), relabelled (from -> to) and
removed as duplicates, with example image ids for thumbnails."""

from __future__ import annotations

from typing import Any

from debias_studio.core.export.frame import ExportFrame

EXAMPLES = 6
DUPLICATE_WORDS = ("duplicate", "near-duplicate", "leak")


def cleaning(frame: ExportFrame) -> dict[str, Any]:
    """Exclusions by reason, relabels by (from, to), duplicates removed; examples of each."""
    table = frame.table
    by_reason: dict[str, list[int]] = {}
    for image_id, reason in zip(
        table.loc[frame.excluded, "image_id"], table.loc[frame.excluded, "excluded_reason"],
        strict=True,
    ):  # fmt: skip
        by_reason.setdefault(str(reason) or "(no reason)", []).append(int(image_id))
    changed = table["label"].astype(str) != table["label_original"].astype(str)
    relabels: dict[tuple[str, str], list[int]] = {}
    for row in table.loc[changed, ["image_id", "label_original", "label"]].itertuples(index=False):
        relabels.setdefault((str(row.label_original), str(row.label)), []).append(int(row.image_id))
    duplicates = sum(
        len(ids) for reason, ids in by_reason.items()
        if any(word in reason.lower() for word in DUPLICATE_WORDS)
    )  # fmt: skip
    return {
        "excluded": int(frame.excluded.sum()),
        "by_reason": [
            {"reason": r, "images": len(ids), "examples": ids[:EXAMPLES]}
            for r, ids in sorted(by_reason.items(), key=lambda kv: -len(kv[1]))
        ],
        "relabelled": int(changed.sum()),
        "relabels": [
            {"from": a, "to": b, "images": len(ids), "examples": ids[:EXAMPLES]}
            for (a, b), ids in sorted(relabels.items(), key=lambda kv: -len(kv[1]))
        ],
        "duplicates_removed": int(duplicates),
    }
