"""Export formats: manifest round trip, ImageFolder without excluded images, balanced subset,
counterfactual images, the report; and the CLI."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.ndimage import binary_erosion

from debias_studio.cli.main import main
from debias_studio.core.annotate.confounders import add_confounder, get_confounder
from debias_studio.core.annotate.groups import group_matrix
from debias_studio.core.annotate.overrides import assignments
from debias_studio.core.data.dataset import open_manifest
from debias_studio.core.errors import StudioError
from debias_studio.core.export.balanced import balanced_rows
from debias_studio.core.export.frame import build_frame
from debias_studio.core.export.job import export_project
from debias_studio.core.jobs import run_quiet
from debias_studio.core.store.project import Project
from debias_studio.core.store.runs import list_runs
from tests.core.export_fixtures import (
    CONFOUNDER,
    EXCLUDED,
    OVERRIDDEN_ID,
    annotated_project,
    open_project,
)

ALL = "manifest,imagefolder,huggingface,balanced,counterfactuals,report"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("export")
    folder = annotated_project(base / "project")
    with open_project(folder) as project:
        run_quiet(export_project(project, base / "out", ALL, min_group=1))
    return folder, base / "out"


def _value_names(project: Project, name: str) -> list[str]:
    values = get_confounder(project, name).values
    return [values[v] if v >= 0 else "" for v in assignments(project, name)]


def _group_names(project: Project, name: str) -> list[str]:
    matrix = group_matrix(project, name)
    n_values = len(matrix.values)
    return [
        f"{matrix.classes[g // n_values]}/{matrix.values[g % n_values]}" if g >= 0 else ""
        for g in matrix.group_ids
    ]


def test_manifest_round_trips_labels_groups_and_annotations(exported, tmp_path) -> None:
    folder, out = exported
    with open_project(folder) as project:
        root = project.dataset.root
        labels = project.dataset.table["label"].tolist()
        values = _value_names(project, CONFOUNDER)
        groups = _group_names(project, CONFOUNDER)
    assert values[OVERRIDDEN_ID] == "brick"  # the manual override, not the column's value
    for manifest in (out / "manifest.csv", out / "manifest.parquet"):
        dataset = run_quiet(open_manifest(manifest))  # self-contained: paths inside the export
        assert Path(dataset.root) == out.resolve() and not dataset.problems
        assert dataset.table["label"].tolist() == labels
        assert dataset.table[CONFOUNDER].tolist() == values
        assert dataset.table["group"].tolist() == groups
        excluded = dataset.table["excluded"].astype(str).str.lower() == "true"
        assert set(np.flatnonzero(excluded.to_numpy())) == set(EXCLUDED)
    assert root != out
    # ... and as a new project, the confounder made from the exported column has the same groups
    dataset = run_quiet(open_manifest(out / "manifest.csv"))
    with Project.create(tmp_path / "again", dataset) as again:
        add_confounder(again, CONFOUNDER, column=CONFOUNDER)
        assert _value_names(again, CONFOUNDER) == values
        assert _group_names(again, CONFOUNDER) == groups


def test_manifest_has_bias_flags_and_latest_predictions(exported) -> None:
    folder, out = exported
    table = pd.read_parquet(out / "manifest.parquet")
    with open_project(folder) as project:
        matrix = group_matrix(project, CONFOUNDER)
        done = [r for r in list_runs(project) if r["status"] == "done"]
    assert (table["bias"] == "aligned").to_numpy().tolist() == matrix.aligned.tolist()
    assert (table["bias"] == "conflicting").to_numpy().tolist() == matrix.conflicting.tolist()
    assert table.loc[1, "excluded_reason"] == EXCLUDED[1]
    kept = ~table["excluded"].to_numpy(bool)
    assert table.loc[kept, "prediction"].isin(table["label"].unique()).all()
    assert (table.loc[~kept, "prediction"] == "").all()
    export = json.loads((out / "export.json").read_text())
    assert export["prediction_run"] == done[0]["id"]
    assert export["primary_confounder"] == CONFOUNDER


def test_imagefolder_keeps_excluded_images_apart(exported) -> None:
    folder, out = exported
    with open_project(folder) as project:
        root = project.dataset.root
        n = len(project.dataset)
    tree = pd.read_csv(out / "imagefolder" / "manifest.csv", keep_default_na=False)
    assert len(tree) == n
    excluded = tree["excluded"].astype(str) == "True"
    assert set(tree.loc[excluded, "image_id"]) == set(EXCLUDED)
    for split in ("train", "val", "test"):  # the split folders hold no excluded image
        in_split = [p for p in (out / "imagefolder" / split).rglob("*.png")]
        assert len(in_split) == int(((tree["split"] == split) & ~excluded).sum())
    for row in tree.itertuples():  # real files (hard links here), each the right image
        placed = out / "imagefolder" / row.path
        assert not placed.is_symlink() and placed.samefile(root / row.source_path)
        first = "excluded" if row.image_id in EXCLUDED else row.split
        assert row.path.split("/")[:2] == [first, row.label]


def test_balanced_subset_has_equal_group_counts(exported) -> None:
    folder, out = exported
    metadata = pd.read_csv(out / "balanced" / "metadata.csv", keep_default_na=False)
    assert {"img_id", "img_filename", "y", "split", "place"} <= set(metadata.columns)
    assert not set(metadata["source_image_id"]) & set(EXCLUDED)
    for _split, rows in metadata.groupby("split"):
        counts = rows.groupby("group_id").size()
        assert counts.nunique() == 1, counts.to_dict()
    for name in metadata["img_filename"]:
        assert (out / "balanced" / name).is_file()
    with open_project(folder) as project:
        frame = build_frame(project)
        view = frame.view(None)
        down_a = balanced_rows(frame, view, "down", seed=3)[0]
        down_b = balanced_rows(frame, view, "down", seed=3)[0]
        up, repeats, per_split, _ = balanced_rows(frame, view, "up", seed=3)
    np.testing.assert_array_equal(down_a, down_b)  # seeded
    groups = view.group_ids(frame.labels)
    split = frame.table["split"].to_numpy()
    for name in ("train", "val", "test"):
        rows = up[split[up] == name]
        sizes = np.bincount(groups[rows])
        assert set(sizes[sizes > 0]) == {per_split[name]["per_group"]}
    assert repeats.max() > 0  # up-sampling repeated some images


def test_counterfactuals_change_only_the_background(exported) -> None:
    folder, out = exported
    table = pd.read_csv(
        out / "counterfactuals" / CONFOUNDER / "manifest.csv", keep_default_na=False
    )
    with open_project(folder) as project:
        dataset = project.dataset
        values = _value_names(project, CONFOUNDER)
        n_values = len(get_confounder(project, CONFOUNDER).values)
    kept_train = [
        i
        for i in range(len(dataset))
        if dataset.table["split"].iat[i] == "train" and i not in EXCLUDED
    ]
    assert len(table) == len(kept_train) * (n_values - 1)
    assert set(table["generator"]) == {"background-swap"}
    for row in table.head(12).itertuples():
        image = np.asarray(Image.open(out / "counterfactuals" / CONFOUNDER / row.path), np.int16)
        source = np.asarray(Image.open(dataset.image_path(row.source_image_id)), np.int16)
        mask = np.asarray(Image.open(dataset.mask_path(row.source_image_id)).convert("L"))
        assert getattr(row, f"source_{CONFOUNDER}") == values[row.source_image_id]
        assert getattr(row, CONFOUNDER) != values[row.source_image_id]
        diff = np.abs(image - source).max(axis=2)
        # the object is untouched inside the outline the swap erodes and feathers (at the
        # image's own size the 1-px erosion and feather of the training side span a few px)
        inside = binary_erosion(mask == 255, iterations=3)
        assert (diff[inside] <= 1).mean() > 0.995
        assert (diff[mask == 0] > 8).mean() > 0.5  # the background is another one


def test_report_parses_and_lists_every_run(exported) -> None:
    folder, out = exported
    with open_project(folder) as project:
        runs = [r["id"] for r in list_runs(project)]
    assert len(runs) == 2
    parser = _Collector()
    parser.feed((out / "report.html").read_text(encoding="utf-8"))
    parser.close()
    assert {f"run-{r}" for r in runs} <= parser.ids
    assert {"dataset", "discovery", "confounders", "runs"} <= parser.ids
    assert parser.images and all(src.startswith("data:image/png;base64,") for src in parser.images)
    assert not [src for src in parser.sources if not src.startswith("data:")]  # self-contained
    report = json.loads((out / "report.json").read_text())
    assert [r["id"] for r in report["runs"]] == runs
    kinds = {f["id"]: f["kind"] for f in report["figures"]}
    assert kinds["dataset-counts"] == "bar"
    assert kinds[f"groups-{CONFOUNDER}-train-counts"] == "matrix"
    assert "curves-val_worst_group_acc" in kinds
    done = next(r for r in report["runs"] if r["status"] == "done")
    figure = next(f for f in report["figures"] if f["id"] == f"run-{done['id']}-groups")
    assert figure["data"]["split"] == "test"
    assert len(figure["data"]["groups"]) == len(done["splits"]["test"]["per_group"])
    test = done["splits"]["test"]
    for group in test["per_group"]:
        size = test["group_sizes"][group]
        assert size["n"] > 0 and size["ci"][0] <= test["per_group"][group] <= size["ci"][1]
    page = (out / "report.html").read_text(encoding="utf-8")
    worst = test["group_sizes"][test["worst_group"]]
    assert f"[{worst['ci'][0]:.2f}, {worst['ci'][1]:.2f}] n={worst['n']}" in page
    assert "95 % interval" in page


def test_overwrite_replaces_only_an_earlier_export(exported, tmp_path) -> None:
    folder, _ = exported
    target = tmp_path / "full"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with open_project(folder) as project:
        with pytest.raises(StudioError, match="not empty"):
            run_quiet(export_project(project, target, "manifest"))
        with pytest.raises(StudioError, match="not an earlier export"):
            run_quiet(export_project(project, target, "manifest", overwrite=True))
        assert (target / "keep.txt").read_text() == "mine"
        earlier = tmp_path / "earlier"
        run_quiet(export_project(project, earlier, "report"))
        run_quiet(export_project(project, earlier, "manifest", overwrite=True))
        assert (earlier / "manifest.csv").is_file() and not (earlier / "report.html").exists()
        (earlier / "notes.txt").write_text("added by the user")
        with pytest.raises(StudioError, match=r"notes\.txt"):
            run_quiet(export_project(project, earlier, "report", overwrite=True))
        assert (earlier / "notes.txt").is_file() and (earlier / "manifest.csv").is_file()
        for inside in (project.folder, project.folder / "runs", project.dataset.root):
            with pytest.raises(StudioError, match="outside it"):
                run_quiet(export_project(project, inside, "manifest", overwrite=True))


def test_cli_export_with_hardlinks(exported, tmp_path, capsys) -> None:
    folder, _ = exported
    out = tmp_path / "cli"
    code = main(
        ["export", str(folder), str(out), "--format", "manifest,imagefolder", "--link", "hardlink",
         "--json", "-"]
    )  # fmt: skip
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["formats"] == ["manifest", "imagefolder"]
    image = next((out / "imagefolder" / "train").rglob("*.png"))
    assert not image.is_symlink() and image.stat().st_nlink >= 2
    # a tree of real files (not symlinks out of it) opens as a dataset of its own
    dataset = run_quiet(open_manifest(out / "imagefolder" / "manifest.csv"))
    assert not dataset.problems
    placed = result["details"]["imagefolder"]
    assert len(dataset) == placed["images"] + placed["excluded_images"]
    assert main(["export", str(folder), str(out), "--format", "manifest"]) == 1  # not empty
    assert "not empty" in capsys.readouterr().err


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(str(values["id"]))
        if tag == "img":
            self.images.append(str(values.get("src")))
        for key in ("src", "href"):
            if values.get(key):
                self.sources.append(str(values[key]))
