"""Issue 13 items 3-6 and issue 14 item 6 (report): the default export re-opens as a project with
the same labels, splits, groups, exclusions and relabels and no path outside it; the prediction
column comes from the chosen run; the Hugging Face layout; balanced subsets that refuse to be
degenerate; the report's cleaning section and its run comparison at 100 groups."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import debias_studio.core.export.frame as frame_module
from debias_studio.cli.main import main
from debias_studio.core.annotate.groups import group_matrix
from debias_studio.core.errors import StudioError
from debias_studio.core.export import report_figures as draw
from debias_studio.core.export.frame import build_frame, prediction_runs
from debias_studio.core.export.job import export_project
from debias_studio.core.export.report import _html_comparison
from debias_studio.core.export.report_compare import as_grid, comparison
from debias_studio.core.jobs import run_quiet
from debias_studio.core.store.exclusions import reasons
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import finish_run, list_runs, save_predicted_classes
from debias_studio.core.train.config import TrainConfig
from debias_studio.core.train.runs import create_run
from tests.core.export_fixtures import CONFOUNDER, EXCLUDED, annotated_project

RELABELLED = {3: None, 4: None}  # image id -> another class (filled in the fixture)


def _groups(project: Project) -> list[str]:
    matrix = group_matrix(project, CONFOUNDER)
    n_values = len(matrix.values)
    return [
        f"{matrix.classes[g // n_values]}/{matrix.values[g % n_values]}" if g >= 0 else ""
        for g in matrix.group_ids
    ]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = annotated_project(tmp_path_factory.mktemp("roundtrip") / "project")
    with Project.open(folder) as project:  # a second finished run, better on validation
        config = TrainConfig(project=str(folder), method="balanced", confounder=CONFOUNDER)
        run = create_run(project, config)
        predicted = np.full(len(project.dataset), 0, dtype=np.int64)
        save_predicted_classes(run.folder, predicted)
        finish_run(project, run.id, "done", {"val": {"worst_group_acc": 0.99}, "history": []})
    return folder


@pytest.fixture()
def relabels(source: Path, monkeypatch: pytest.MonkeyPatch) -> dict[int, str]:
    with Project.open(source) as project:
        classes = list(project.dataset.classes)
        labels = project.dataset.table["label"].tolist()
    chosen = {i: next(c for c in classes if c != labels[i]) for i in RELABELLED}
    monkeypatch.setattr(frame_module, "relabel_map", lambda _project: dict(chosen))
    return chosen


def test_default_export_reopens_with_the_same_annotations(source, relabels, tmp_path) -> None:
    out = tmp_path / "out"
    with Project.open(source) as project:
        run_quiet(export_project(project, out))  # the defaults: self-contained
        final = project.dataset.table["label"].astype(str).tolist()
        for image_id, label in relabels.items():
            final[image_id] = label
        splits = project.dataset.table["split"].tolist()
        exclusions = reasons(project)
    for option, path in (("--manifest", out / "manifest.csv"), ("--images", out / "imagefolder")):
        again = tmp_path / f"again{option}"
        assert main(["new", str(again), option, str(path)]) == 0
        with Project.open(again) as project:
            table = project.dataset.table
            assert Path(project.dataset.root).resolve().is_relative_to(out.resolve())
            assert table["label"].tolist() == final
            assert table["split"].tolist() == splits
            assert reasons(project) == exclusions and set(exclusions) == set(EXCLUDED)
            for image_id, label in relabels.items():
                assert table["label_original"].iat[image_id] != label
            full = [Path(project.dataset.root) / p for p in table["path"]]
            assert all(p.resolve().is_relative_to(out.resolve()) and p.is_file() for p in full)
            regrouped = _groups(project)
        with Project.open(source) as original:
            expected = _groups(original)
        changed = set(relabels)
        same = [i for i in range(len(final)) if i not in changed]
        assert [regrouped[i] for i in same] == [expected[i] for i in same]
        for i in changed:  # a relabelled image's group follows its new label
            assert regrouped[i].split("/")[0] == final[i]


def test_prediction_column_comes_from_the_chosen_run(source, tmp_path) -> None:
    with Project.open(source) as project:
        ranked = prediction_runs(project)
        assert [r["method"] for r in ranked] == ["balanced", "erm"]  # by validation worst-group
        best = build_frame(project)
        assert best.prediction_run == ranked[0]["id"]
        erm = build_frame(project, prediction_run=ranked[1]["id"])
        assert erm.prediction_run == ranked[1]["id"]
        assert not best.table["prediction"].equals(erm.table["prediction"])
        assert "prediction" not in build_frame(project, prediction_run=None).table.columns
        with pytest.raises(StudioError, match="no stored predictions"):
            build_frame(project, prediction_run="nope")
    out = tmp_path / "cli"
    assert main(["export", str(source), str(out), "--format", "manifest", "--prediction-run",
                 ranked[1]["id"]]) == 0  # fmt: skip
    assert json.loads((out / "export.json").read_text())["prediction_run"] == ranked[1]["id"]


def test_hugging_face_imagefolder_layout(source, tmp_path) -> None:
    out = tmp_path / "hf"
    with Project.open(source) as project:
        run_quiet(export_project(project, out, "huggingface"))
        n_kept = len(project.dataset) - len(EXCLUDED)
    rows = 0
    for split in ("train", "validation", "test"):
        folder = out / "huggingface" / split
        metadata = pd.read_json(folder / "metadata.jsonl", lines=True, dtype=False)
        assert not (folder / "metadata.csv").exists()  # datasets refuses two metadata kinds
        assert metadata.columns[0] == "file_name" and "label" in metadata.columns
        assert all((folder / name).is_file() for name in metadata["file_name"])
        assert not set(metadata["image_id"]) & set(EXCLUDED)
        assert set(metadata["split"]) == {split}
        rows += len(metadata)
    assert rows == n_kept


def test_hugging_face_export_loads_with_datasets(source, relabels, tmp_path, monkeypatch):
    """What people do with it: ``datasets.load_dataset("imagefolder", data_dir=...)`` gives the
    kept images per split with the final and original labels, groups and the other columns."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    out = tmp_path / "hf"
    with Project.open(source) as project:
        run_quiet(export_project(project, out, "huggingface"))
        frame = build_frame(project).table.set_index("image_id")
    loaded = datasets.load_dataset(
        "imagefolder", data_dir=str(out / "huggingface"), cache_dir=str(tmp_path / "cache")
    )
    assert sorted(loaded) == ["test", "train", "validation"]
    kept = frame[~frame["excluded"]]
    names = {"train": "train", "validation": "val", "test": "test"}
    assert sum(len(part) for part in loaded.values()) == len(kept)
    for split, part in loaded.items():
        rows = part.remove_columns("image").to_pandas().set_index("image_id")
        assert sorted(rows.index) == sorted(kept.index[kept["split"] == names[split]])
        for column in ("label", "label_original", "group", "bias", "prediction", CONFOUNDER):
            assert rows[column].tolist() == kept.loc[rows.index, column].astype(str).tolist()
        assert part.features["label"].dtype == "string" and part[0]["image"].size[0] > 0
    changed = sorted(set(kept.index) & set(relabels))  # the relabels reached datasets' labels
    assert changed and kept.loc[changed, "label"].tolist() == [relabels[i] for i in changed]


def test_balanced_subset_is_previewed_and_refused_when_degenerate(source, tmp_path, capsys):
    out = tmp_path / "balanced"
    code = main(["export", str(source), str(out), "--format", "balanced", "--min-group", "50"])
    assert code == 1
    err = capsys.readouterr().err
    assert "groups hold images" in err and "keeps" in err  # the preview, before writing
    assert "mean nothing" in err and "--balance up" in err and not out.exists()
    assert main(["export", str(source), str(out), "--format", "balanced", "--balance", "up"]) == 0
    details = json.loads((out / "export.json").read_text())["details"]["balanced"]
    assert sum(details["group_sizes"]["train"].values()) > 0


def test_report_has_the_cleaning_section_and_the_run_comparison(source, relabels, tmp_path):
    out = tmp_path / "report"
    with Project.open(source) as project:
        runs = [r["id"] for r in list_runs(project) if r["status"] == "done"]
        run_quiet(export_project(project, out, "report", compare_runs=runs))
    html = (out / "report.html").read_text(encoding="utf-8")
    report = json.loads((out / "report.json").read_text())
    assert {"cleaning", "comparison", "csv-note"} <= _ids(html)
    cleaning = report["cleaning"]
    assert cleaning["excluded"] == len(EXCLUDED) and cleaning["relabelled"] == len(relabels)
    assert {e["reason"] for e in cleaning["by_reason"]} == set(EXCLUDED.values())
    assert cleaning["duplicates_removed"] == 1
    assert report["comparison"]["run_ids"] == runs
    kinds = {f["id"]: f["kind"] for f in report["figures"]}
    assert kinds["compare-groups"] == "bar" and kinds["compare-grid-0"] == "matrix"


def test_comparison_is_readable_at_100_groups_and_escaped() -> None:
    groups = [f"<b>{c}</b>/v{v}" for c in range(10) for v in range(10)]
    rng = np.random.default_rng(0)
    runs = [
        {"id": f"<i>{k}", "method": "erm", "status": "done",
         "splits": {"test": {"per_group": dict(zip(groups, rng.random(100).tolist(),
                                                   strict=True))}}}
        for k in range(2)
    ]  # fmt: skip
    data = comparison(runs, None)
    assert data is not None and len(data["groups"]) == 100 and len(data["shown"]) == 24
    first = runs[0]["splits"]["test"]["per_group"]
    assert first[data["shown"][0]] == min(first.values())  # worst first
    grid = as_grid(data["groups"], data["accuracy"]["erm <i>0"])
    assert grid is not None and len(grid[0]) == 10 and len(grid[1]) == 10
    image = draw.value_matrix(grid[2], grid[0], grid[1], "accuracy")
    assert image.width < 1000 and image.height < 400
    html = "".join(_html_comparison({"comparison": data, "prediction_run": "<i>1"}, {}))
    assert "&lt;i&gt;0" in html and "<i>" not in html


def _ids(html: str) -> set[str]:
    found: set[str] = set()

    class Ids(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.update(str(v) for k, v in attrs if k == "id" and v)

    Ids().feed(html)
    return found


def test_an_attribute_column_can_be_the_primary_confounder(source) -> None:
    with Project.open(source) as project:
        frame = build_frame(project, None, "background")
    assert frame.primary is not None and frame.primary.name == "background"
    assert {CONFOUNDER, "background"} <= {v.name for v in frame.confounders}
    assert frame.table["group"].str.contains("/").all()


def test_fill_renders_counterfactuals_into_thin_training_groups(source, tmp_path) -> None:
    out = tmp_path / "fill"
    with Project.open(source) as project:
        run_quiet(export_project(project, out, "balanced", balance="fill", min_group=1))
    metadata = pd.read_csv(out / "balanced" / "metadata.csv", keep_default_na=False)
    train = metadata[metadata["split"] == 0]
    sizes = train.groupby("group_id").size()
    assert sizes.nunique() == 1 and len(sizes) == 3 * 3  # every class x value, even empty ones
    rendered = train[train["counterfactual"].astype(str) == "True"]
    assert len(rendered) > 0 and set(rendered["source_image_id"]).isdisjoint(EXCLUDED)
    for row in rendered.itertuples():
        assert (out / "balanced" / row.img_filename).is_file()
        assert row.group_id % 3 == row.place and row.img_filename.endswith(f"__{row.bg}.png")
