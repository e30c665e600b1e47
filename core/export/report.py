"""The report: one self-contained HTML page (plots embedded as PNG) and the same figures as JSON.

Sections: the dataset (counts per class and split, exclusions, problems), the discovered concepts
per class with exemplar images, every confounder with its group matrix (bias-aligned groups
outlined), every run - its per-group accuracy next to the ERM baseline it should beat (the
newest finished ERM run on the same confounder: "before" and "after") - the chosen runs compared
group by group (core.export.report_compare), the training curves, and what was cleaned
(exclusions by reason, relabels, duplicates, with thumbnails). ``report.json`` holds every number
the plots show, under the same figure ids. Every user string is escaped; plots are inline PNGs.
CSV files of the export quote cells a spreadsheet would run as formulas (the report says so).
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Any

from debias_studio.core.data.dataset import summarize
from debias_studio.core.data.splits import SPLITS
from debias_studio.core.export import report_figures as draw
from debias_studio.core.export.frame import ExportFrame
from debias_studio.core.export.report_cleaning import cleaning
from debias_studio.core.export.report_compare import as_grid, comparison
from debias_studio.core.store.discoveries import latest_discovery
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import list_runs

TOP_CONCEPTS = 5
EXEMPLARS = 6
MAX_PROBLEMS = 200


@dataclass
class Figure:
    id: str
    title: str
    kind: str  # bar | line | matrix | images
    data: dict[str, Any]
    png: str | None = None  # base64, for the HTML only

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "kind": self.kind, "data": self.data}


@dataclass
class Report:
    sections: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**self.sections, "figures": [f.to_json() for f in self.figures]}


def build_report(
    project: Project, frame: ExportFrame, compare_runs: list[str] | None = None
) -> Report:
    dataset = project.dataset
    summary = summarize(dataset)
    summary["problems"] = summary["problems"][:MAX_PROBLEMS]
    reasons: dict[str, int] = {}
    for reason in frame.table.loc[frame.excluded, "excluded_reason"]:
        reasons[str(reason)] = reasons.get(str(reason), 0) + 1
    runs = list_runs(project)
    report = Report(
        {
            "title": f"Debias Studio report: {project.folder.name}",
            "generated": time.strftime("%Y-%m-%d %H:%M:%S"),
            "dataset": summary,
            "exclusions": {"count": int(frame.excluded.sum()), "by_reason": reasons},
            "discovery": _discovery(project),
            "confounders": _confounders(project, frame),
            "runs": [_run_entry(run, runs) for run in runs],
            "cleaning": cleaning(frame),
            "prediction_run": frame.prediction_run,
        }
    )
    report.sections["comparison"] = comparison(report.sections["runs"], compare_runs)
    _dataset_figures(report, summary)
    _discovery_figures(report, project)
    _confounder_figures(report)
    _run_figures(report)
    _comparison_figures(report)
    _cleaning_figures(report, project)
    return report


# ---- data --------------------------------------------------------------------------------------
def _discovery(project: Project) -> dict[str, Any] | None:
    """The newest discovery's top concepts per class, with exemplar image ids and paths."""
    stored = latest_discovery(project)
    if stored is None:
        return None
    result = stored.result
    records = result.get("rows", []) if isinstance(result, dict) else list(result)
    paths = project.dataset.table["path"].astype(str).tolist()
    per_class: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: (r.get("rank") or 1e9, -(r.get("score") or 0))):
        entries = per_class.setdefault(str(record.get("class")), [])
        if len(entries) >= TOP_CONCEPTS:
            continue
        exemplars = record.get("exemplars") or {}
        inside = [int(i) for i in exemplars.get("in_class", [])[:EXEMPLARS] if 0 <= i < len(paths)]
        entries.append(
            {
                **{k: record.get(k) for k in ("concept", "category", "score", "rank")},
                **{k: record.get(k) for k in ("association", "error_gap", "instability")},
                "exemplars": inside,
                "exemplar_paths": [paths[i] for i in inside],
            }
        )
    return {
        "id": stored.id,
        "model_id": stored.model_id,
        "predictions": result.get("predictions") if isinstance(result, dict) else None,
        "classes": per_class,
    }


def _confounders(project: Project, frame: ExportFrame) -> list[dict[str, Any]]:
    out = []
    split = frame.table["split"].astype(str).to_numpy()
    kept = ~frame.excluded
    for view in frame.confounders:
        n_values = len(view.values)
        counts = [[0] * n_values for _ in frame.classes]
        train_counts = [[0] * n_values for _ in frame.classes]
        unknown = [0] * len(frame.classes)
        for label, value, s, keep in zip(
            frame.labels.tolist(), view.assignment.tolist(), split, kept, strict=True
        ):
            if not keep:
                continue
            if value < 0:
                unknown[label] += 1
                continue
            counts[label][value] += 1
            if s == "train":
                train_counts[label][value] += 1
        bias = view.bias(frame.labels)[kept]
        out.append(
            {
                "name": view.name,
                "kind": view.kind,
                "values": view.values,
                "classes": frame.classes,
                "counts": counts,
                "train_counts": train_counts,
                "unknown": unknown,
                "aligned_value": [view.values[v] if v >= 0 else None for v in view.aligned],
                "aligned_index": [int(v) for v in view.aligned],
                "n_aligned": int((bias == "aligned").sum()),
                "n_conflicting": int((bias == "conflicting").sum()),
                "primary": frame.primary is view,
            }
        )
    return out


SPLIT_FIGURES = (
    "avg_acc",
    "worst_group_acc",
    "worst_group",
    "worst_group_n",
    "worst_group_ci",
    "worst_group_acc_raw",
    "worst_group_raw",
    "min_group_size",
    "unbiased_acc",
    "aligned_acc",
    "conflicting_acc",
)
"""What the report keeps of a run's split metrics (each group keeps its accuracy, n and interval
in ``per_group`` / ``group_sizes``)."""


def _run_entry(run: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    config, metrics = run["config"], run["metrics"] or {}
    splits = {}
    for name in ("val", "test"):
        block = metrics.get(name)
        if isinstance(block, dict):
            splits[name] = {
                **{k: block.get(k) for k in SPLIT_FIGURES},
                "per_group": {g: r.get("acc") for g, r in block.get("per_group", {}).items()},
                "group_sizes": {
                    g: {"n": r.get("n", r.get("count")), "ci": r.get("ci")}
                    for g, r in block.get("per_group", {}).items()
                },
                "per_group_n": {g: r.get("count") for g, r in block.get("per_group", {}).items()},
            }
    baseline = _baseline(run, runs)
    return {
        "id": run["id"],
        "created": run["created"],
        "method": run["method"],
        "status": run["status"],
        "confounder": config.get("confounder"),
        "backbone": config.get("backbone"),
        "epochs": config.get("epochs"),
        "seed": config.get("seed"),
        "error": metrics.get("error"),
        "splits": splits,
        "baseline": baseline["id"] if baseline else None,
        "history": [
            {
                "epoch": h.get("epoch"),
                "loss": h.get("loss"),
                "val_worst_group_acc": (h.get("val") or {}).get("worst_group_acc"),
                "val_avg_acc": (h.get("val") or {}).get("avg_acc"),
            }
            for h in metrics.get("history", [])
        ],
    }


def _baseline(run: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The ERM run this run is compared with: newest finished ERM run, same confounder."""
    if run["method"] == "erm":
        return None
    confounder = run["config"].get("confounder")
    for other in runs:  # newest first
        if (
            other["method"] == "erm"
            and other["status"] == "done"
            and other["config"].get("confounder") == confounder
        ):
            return other
    return None


# ---- figures -----------------------------------------------------------------------------------
def _dataset_figures(report: Report, summary: dict[str, Any]) -> None:
    classes = summary["classes"]
    series = {split: [summary["counts"][c][split] for c in classes] for split in SPLITS}
    data = {"classes": classes, "series": series}
    image = draw.bar_chart(classes, series, "Images per class and split", y_label="images")
    report.figures.append(
        Figure("dataset-counts", "Images per class and split", "bar", data, _png(image))
    )


def _discovery_figures(report: Report, project: Project) -> None:
    discovery = report.sections["discovery"]
    if not discovery:
        return
    for name, entries in discovery["classes"].items():
        concepts = [str(e["concept"]) for e in entries]
        scores = [e["score"] for e in entries]
        image = draw.bar_chart(
            concepts, {"score": scores}, f"Top concepts of '{name}'", y_max=1.0, y_label="score"
        )
        report.figures.append(
            Figure(
                f"concepts-{name}",
                f"Top concepts of '{name}'",
                "bar",
                {"class": name, "concepts": concepts, "scores": scores},
                _png(image),
            )
        )
        for k, entry in enumerate(entries):
            paths = [str(project.dataset.table["path"].iat[i]) for i in entry["exemplars"]]
            strip = draw.image_strip(project.dataset.root, paths)
            report.figures.append(
                Figure(
                    f"exemplars-{name}-{k}",
                    f"'{entry['concept']}' in '{name}'",
                    "images",
                    {"class": name, "concept": entry["concept"], "image_ids": entry["exemplars"]},
                    _png(strip) if strip is not None else None,
                )
            )


def _confounder_figures(report: Report) -> None:
    for entry in report.sections["confounders"]:
        for key, label in (("train_counts", "training split"), ("counts", "all splits")):
            title = f"Groups of '{entry['name']}' ({label})"
            image = draw.count_matrix(
                entry[key], entry["classes"], entry["values"], title, marked=entry["aligned_index"]
            )
            data = {
                "classes": entry["classes"],
                "values": entry["values"],
                "counts": entry[key],
                "aligned_value": entry["aligned_value"],
            }
            figure_id = f"groups-{entry['name']}-{key.replace('_', '-')}"
            report.figures.append(Figure(figure_id, title, "matrix", data, _png(image)))


def _run_figures(report: Report) -> None:
    runs = {r["id"]: r for r in report.sections["runs"]}
    for run in report.sections["runs"]:
        split = _eval_split(run)
        if split is None:
            continue
        after = run["splits"][split]["per_group"]
        series = {f"{run['method']} {run['id']}": after}
        base = runs.get(run["baseline"]) if run["baseline"] else None
        if base is not None and split in base["splits"]:
            series = {f"before: erm {base['id']}": base["splits"][split]["per_group"], **series}
        groups = sorted({g for values in series.values() for g in values})
        bars = {name: [values.get(g) for g in groups] for name, values in series.items()}
        data = {"split": split, "groups": groups, "series": bars}
        title = f"Per-group {split} accuracy: run {run['id']} ({run['method']})"
        image = draw.bar_chart(groups, bars, title, y_max=1.0, y_label="accuracy")
        report.figures.append(Figure(f"run-{run['id']}-groups", title, "bar", data, _png(image)))
    curves = [r for r in report.sections["runs"] if r["history"]]
    if not curves:
        return
    for key, title, y_max in (
        ("val_worst_group_acc", "Validation worst-group accuracy per epoch", 1.0),
        ("loss", "Training loss per epoch", None),
    ):
        series = {
            f"{r['method']} {r['id']}": (
                [h["epoch"] + 1 for h in r["history"]],
                [h[key] for h in r["history"]],
            )
            for r in curves
        }
        data = {name: {"epoch": list(x), key: list(y)} for name, (x, y) in series.items()}
        image = draw.line_chart(series, title, y_max=y_max)
        report.figures.append(Figure(f"curves-{key}", title, "line", data, _png(image)))


def _comparison_figures(report: Report) -> None:
    data = report.sections["comparison"]
    if not data:
        return
    positions = [data["groups"].index(g) for g in data["shown"]]
    series = {name: [acc[k] for k in positions] for name, acc in data["accuracy"].items()}
    part = "" if len(data["shown"]) == len(data["groups"]) else (
        f" (worst and best {len(data['shown']) // 2} of {len(data['groups'])} groups)"
    )  # fmt: skip
    title = f"Per-group {data['split']} accuracy, runs compared{part}"
    image = draw.bar_chart(data["shown"], series, title, y_max=1.0, y_label="accuracy")
    report.figures.append(Figure("compare-groups", title, "bar", data, _png(image)))
    for k, (name, accuracy) in enumerate(data["accuracy"].items()):
        grid = as_grid(data["groups"], accuracy)
        if grid is None:
            continue
        rows, columns, cells = grid
        title = f"{data['split']} accuracy by class x value: {name}"
        image = draw.value_matrix(cells, rows, columns, title)
        grid_data = {"classes": rows, "values": columns, "accuracy": cells}
        report.figures.append(Figure(f"compare-grid-{k}", title, "matrix", grid_data, _png(image)))


def _cleaning_figures(report: Report, project: Project) -> None:
    section = report.sections["cleaning"]
    entries = [("reason", e) for e in section["by_reason"]] + [
        ("relabel", e) for e in section["relabels"]
    ]
    for k, (what, entry) in enumerate(entries):
        paths = [str(project.dataset.table["path"].iat[i]) for i in entry["examples"]]
        strip = draw.image_strip(project.dataset.root, paths)
        title = (
            f"Excluded: {entry['reason']}" if what == "reason"
            else f"Relabelled {entry['from']} → {entry['to']}"
        )  # fmt: skip
        data = {"image_ids": entry["examples"]}
        png = _png(strip) if strip is not None else None
        report.figures.append(Figure(f"cleaning-{k}", title, "images", data, png))


def _eval_split(run: dict[str, Any]) -> str | None:
    for split in ("test", "val"):
        if split in run["splits"] and run["splits"][split]["per_group"]:
            return split
    return None


def _png(image: Any) -> str:
    return draw.png_base64(image)


# ---- HTML --------------------------------------------------------------------------------------
STYLE = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;
font-size:13px;text-align:left}th{background:#f3f3f3}img{max-width:100%;margin:6px 0}
.muted{color:#777}figure{margin:8px 0}figcaption{font-size:12px;color:#555}
"""


def render_html(report: Report) -> str:
    s = report.sections
    figures = {f.id: f for f in report.figures}
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(s['title'])}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(s['title'])}</h1>",
        f'<p class="muted">Generated {_e(s["generated"])}</p>',
        *_html_dataset(s, figures),
        *_html_discovery(s, figures),
        *_html_confounders(s, figures),
        *_html_cleaning(s, figures),
        *_html_runs(s, figures),
        *_html_comparison(s, figures),
        _csv_note(),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _html_dataset(s: dict[str, Any], figures: dict[str, Figure]) -> list[str]:
    d = s["dataset"]
    rows = [[c, *(d["counts"][c][split] for split in SPLITS)] for c in d["classes"]]
    out = [
        '<section id="dataset"><h2>Dataset</h2>',
        f"<p>{d['n_images']} images in {len(d['classes'])} classes; "
        f"{s['exclusions']['count']} excluded by the user (see Cleaning); {d['n_problems']} "
        "unusable files.</p>",
        _table(["class", *SPLITS], rows),
        _figure(figures.get("dataset-counts")),
    ]
    if d["problem_counts"]:
        out.append(_table(["problem", "files"], list(d["problem_counts"].items())))
    out.append("</section>")
    return out


def _html_discovery(s: dict[str, Any], figures: dict[str, Figure]) -> list[str]:
    discovery = s["discovery"]
    out = ['<section id="discovery"><h2>Discovered concepts</h2>']
    if not discovery:
        return [*out, '<p class="muted">No discovery has been run on this project.</p></section>']
    out.append(
        f'<p class="muted">Discovery {discovery["id"]} with {_e(discovery["model_id"])}.</p>'
    )
    for name, entries in discovery["classes"].items():
        out.append(f"<h3>{_e(name)}</h3>")
        out.append(
            _table(
                ["rank", "concept", "category", "score", "association", "error gap", "instability"],
                [
                    [e["rank"], e["concept"], e["category"], *map(_num, _signals(e))]
                    for e in entries
                ],
            )
        )
        out.append(_figure(figures.get(f"concepts-{name}")))
        for k in range(len(entries)):
            out.append(_figure(figures.get(f"exemplars-{name}-{k}")))
    out.append("</section>")
    return out


def _html_confounders(s: dict[str, Any], figures: dict[str, Figure]) -> list[str]:
    out = ['<section id="confounders"><h2>Confounders and groups</h2>']
    if not s["confounders"]:
        out.append('<p class="muted">No confounder is annotated.</p>')
    for entry in s["confounders"]:
        aligned = ", ".join(
            f"{c} → {v}" for c, v in zip(entry["classes"], entry["aligned_value"], strict=True)
        )
        out.append(
            f"<h3>{_e(entry['name'])} <span class='muted'>({_e(entry['kind'])})</span></h3>"
            f"<p>Values: {_e(', '.join(entry['values']))}. Bias-aligned value per class: "
            f"{_e(aligned)}. {entry['n_aligned']} aligned and {entry['n_conflicting']} "
            "conflicting images.</p>"
        )
        for key in ("train-counts", "counts"):
            out.append(_figure(figures.get(f"groups-{entry['name']}-{key}")))
    out.append("</section>")
    return out


def _html_runs(s: dict[str, Any], figures: dict[str, Figure]) -> list[str]:
    out = ['<section id="runs"><h2>Runs</h2>']
    if not s["runs"]:
        return [*out, '<p class="muted">No training run yet.</p></section>']
    rows = []
    for run in s["runs"]:
        split = _eval_split(run)
        block = run["splits"].get(split or "", {})
        rows.append(
            [
                run["id"],
                run["method"],
                run["status"],
                run["confounder"] or "",
                run["backbone"] or "",
                split or "",
                _num(block.get("avg_acc")),
                _worst_cell(block),
                _raw_worst_cell(block),
                _num(block.get("unbiased_acc")),
                run["baseline"] or "",
            ]
        )
    header = ["run", "method", "status", "confounder", "backbone", "split", "average",
              "worst group (n ≥ min)", "worst over all groups", "unbiased",
              "baseline (before)"]  # fmt: skip
    out.append(_table(header, rows, row_ids=[f"run-{r['id']}" for r in s["runs"]]))
    out.append(
        "<p class='muted'>Accuracies of a group are k correct of n images; the brackets are 95 % "
        "Wilson intervals. The worst group counts only groups of at least the run's minimum size "
        "(the model was chosen on that figure over the validation split).</p>"
    )
    for run in s["runs"]:
        out.append(_figure(figures.get(f"run-{run['id']}-groups")))
        out.append(_group_table(run))
    out.append("<h3>Training curves</h3>")
    out.append(_figure(figures.get("curves-val_worst_group_acc")))
    out.append(_figure(figures.get("curves-loss")))
    out.append("</section>")
    return out


def _worst_cell(block: dict[str, Any]) -> str:
    value = _num(block.get("worst_group_acc"))
    if not value or block.get("worst_group_ci") is None:
        return value
    low, high = block["worst_group_ci"]
    return f"{value} [{low:.2f}, {high:.2f}] n={block['worst_group_n']} ({block['worst_group']})"


def _raw_worst_cell(block: dict[str, Any]) -> str:
    raw = block.get("worst_group_raw")
    size = (block.get("group_sizes") or {}).get(raw) if raw else None
    if size is None:
        return ""
    return f"{_num(block.get('worst_group_acc_raw'))} n={size['n']} ({raw})"


def _group_table(run: dict[str, Any]) -> str:
    """Every group of the run's evaluated split: accuracy, 95 % interval, n (folded away: a
    demo has 100 groups)."""
    split = _eval_split(run)
    if split is None:
        return ""
    block = run["splits"][split]
    rows = []
    for group, acc in block["per_group"].items():
        size = block["group_sizes"].get(group) or {}
        ci = size.get("ci")
        interval = f"{ci[0]:.2f} – {ci[1]:.2f}" if ci else ""
        rows.append([group, _num(acc), interval, size.get("n", "")])
    table = _table(["group", "accuracy", "95 % interval", "n"], rows)
    return (
        f"<details><summary>Per-group {_e(split)} figures of run {_e(run['id'])} "
        f"(accuracy, interval, n)</summary>{table}</details>"
    )


def _html_cleaning(s: dict[str, Any], figures: dict[str, Figure]) -> list[str]:
    c = s["cleaning"]
    out = [
        '<section id="cleaning"><h2>Cleaning</h2>',
        f"<p>{c['excluded']} images excluded, {c['relabelled']} relabelled, "
        f"{c['duplicates_removed']} removed as duplicates. The manifests carry each image's "
        "original label (<code>label_original</code>) next to its final one "
        "(<code>label</code>).</p>",
    ]
    if c["by_reason"]:
        out.append(_table(["exclusion reason", "images"],
                          [[e["reason"], e["images"]] for e in c["by_reason"]]))  # fmt: skip
    if c["relabels"]:
        out.append(_table(["from", "to", "images"],
                          [[e["from"], e["to"], e["images"]] for e in c["relabels"]]))  # fmt: skip
    out += _numbered_figures(figures, "cleaning")
    out.append("</section>")
    return out


def _html_comparison(s: dict[str, Any], figures: dict[str, Figure]) -> list[str]:
    data = s["comparison"]
    out = ['<section id="comparison"><h2>Runs compared, group by group</h2>']
    if not data:
        return [*out, '<p class="muted">No finished run to compare.</p></section>']
    out.append(
        f"<p>Runs {_e(', '.join(data['runs']))} on the {_e(data['split'])} split; groups sorted "
        f"by the first run's accuracy. Predictions in the manifest: run "
        f"{_e(s.get('prediction_run') or 'none')}.</p>"
    )
    out.append(_figure(figures.get("compare-groups")))
    out += _numbered_figures(figures, "compare-grid")
    out.append("</section>")
    return out


def _numbered_figures(figures: dict[str, Figure], prefix: str) -> list[str]:
    """The figures ``<prefix>-0``, ``<prefix>-1``, ... in order."""
    out, k = [], 0
    while f"{prefix}-{k}" in figures:
        out.append(_figure(figures[f"{prefix}-{k}"]))
        k += 1
    return out


def _csv_note() -> str:
    return (
        '<p class="muted" id="csv-note">In the exported CSV files, text cells that begin with '
        "=, +, -, @, a tab or a carriage return start with a ' so that spreadsheets show them "
        "as text instead of running them as formulas; reading the manifest back with Debias "
        "Studio removes it. Parquet and JSON files hold the exact text.</p>"
    )


def _signals(entry: dict[str, Any]) -> list[Any]:
    return [entry.get(k) for k in ("score", "association", "error_gap", "instability")]


def _table(header: list[str], rows: list[Any], row_ids: list[str] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for k, row in enumerate(rows):
        cells = "".join(f"<td>{_e(c)}</td>" for c in row)
        attr = f' id="{_e(row_ids[k])}"' if row_ids else ""
        body.append(f"<tr{attr}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _figure(figure: Figure | None) -> str:
    if figure is None or figure.png is None:
        return ""
    return (
        f'<figure id="fig-{_e(figure.id)}"><img alt="{_e(figure.title)}" '
        f'src="data:image/png;base64,{figure.png}"><figcaption>{_e(figure.title)}</figcaption>'
        "</figure>"
    )


def _num(value: Any) -> str:
    return "" if value is None else f"{float(value):.3f}"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
