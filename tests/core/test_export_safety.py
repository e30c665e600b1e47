"""Issue 12 from the user's side, for the export: CSV formula injection (1), --overwrite that
deleted a dataset class or every run (5, 6), and a broken symlink export reported as success (8).
Each asserts the message, the exit code, and that nothing was lost."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from debias_studio.cli.main import main
from debias_studio.core.annotate.confounders import add_confounder
from debias_studio.core.data.csv_cells import (
    FORMULA_START,
    neutralise_cell,
    neutralise_frame,
    restore_cell,
)
from debias_studio.core.data.dataset import open_manifest
from debias_studio.core.errors import StudioError
from debias_studio.core.export import layout
from debias_studio.core.export.atomic import MARKER, overwrite_preview
from debias_studio.core.export.job import export_project
from debias_studio.core.jobs import run_quiet
from debias_studio.core.store.project import Project

HOSTILE_LABELS = ('=HYPERLINK("http://x")', "+1+1", "@SUM(A1)")
HOSTILE_VALUE = "-2+3"


def test_csv_cells_round_trip_and_are_never_formulas() -> None:
    cells = ["=1+1", "+x", "-1", "@a", "\tx", "\rx", "'=x", "''-y", "safe", "", "'plain", "a=b"]
    for cell in cells:
        out = neutralise_cell(cell)
        assert not str(out).startswith(FORMULA_START)
        assert restore_cell(str(out)) == cell
    table = pd.DataFrame({"=col": ["=a", "b"], "n": [-1, 2]})
    safe = neutralise_frame(table)
    assert list(safe.columns) == ["'=col", "n"] and safe["n"].tolist() == [-1, 2]


@pytest.fixture(scope="module")
def hostile_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A manifest dataset whose labels, attribute values and a file name start with = + - @."""
    base = tmp_path_factory.mktemp("hostile")
    data = base / "data"
    rows = []
    rng = np.random.default_rng(0)
    for k in range(36):
        label = HOSTILE_LABELS[k % 3]
        name = f"-{k}.png" if k == 0 else f"img{k}.png"
        colour = (200, 30, 30) if k % 2 else (30, 30, 200)
        pixels = np.clip(rng.normal(colour, 20, (12, 12, 3)), 0, 255).astype(np.uint8)
        (data / "images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(data / "images" / name)
        split = ("train", "train", "val", "test")[k % 4]
        tone = HOSTILE_VALUE if k % 2 else "@blue"
        rows.append({"path": f"images/{name}", "label": label, "split": split, "tone": tone})
    pd.DataFrame(rows).to_csv(data / "manifest.csv", index=False)
    dataset = run_quiet(open_manifest(data / "manifest.csv"))
    with Project.create(base / "project", dataset) as project:
        add_confounder(project, "=tone", column="tone")
    return base


def _csv_cells(folder: Path) -> list[str]:
    cells = []
    for path in folder.rglob("*.csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            cells += [cell for row in csv.reader(handle) for cell in row]
    return cells


def test_no_exported_csv_cell_starts_a_formula(hostile_project: Path) -> None:
    out = hostile_project / "out"
    formats = "manifest,imagefolder,huggingface,balanced,report"
    code = main(["export", str(hostile_project / "project"), str(out), "--format", formats,
                 "--min-group", "1"])  # fmt: skip
    assert code == 0
    cells = _csv_cells(out)
    assert len(cells) > 500
    assert [c for c in cells if c.startswith(FORMULA_START)] == []
    assert "'" + HOSTILE_LABELS[0] in cells and "'" + HOSTILE_VALUE in cells
    exact = pd.read_parquet(out / "manifest.parquet")  # Parquet keeps the exact text
    assert set(exact["label"]) == set(HOSTILE_LABELS)
    assert set(exact["=tone"]) == {HOSTILE_VALUE, "@blue"}
    again = run_quiet(open_manifest(out / "manifest.csv"))  # and reading the CSV restores it
    assert set(again.table["label"]) == set(HOSTILE_LABELS)
    assert "images/-0.png" in set(again.table["source_path"])
    assert 'id="csv-note"' in (out / "report.html").read_text(encoding="utf-8")


def test_overwrite_never_deletes_a_dataset_class_or_the_runs(hostile_project, capsys) -> None:
    project = hostile_project / "project"
    images = hostile_project / "data" / "images"
    before = sorted(p.name for p in images.iterdir())
    (project / "runs").mkdir(exist_ok=True)
    (project / "runs" / "keep.json").write_text("{}")
    for target in (images, project / "runs", project, hostile_project / "data"):
        code = main(["export", str(project), str(target), "--format", "manifest", "--overwrite"])
        assert code == 1
        assert "outside it" in capsys.readouterr().err
    assert sorted(p.name for p in images.iterdir()) == before
    assert (project / "runs" / "keep.json").is_file()


def test_overwrite_refuses_folders_that_are_not_our_exports(hostile_project, capsys) -> None:
    project = hostile_project / "project"
    other = hostile_project / "someone-else"
    (other / "sub").mkdir(parents=True)
    (other / "sub" / "thesis.tex").write_text("years of work")
    code = main(["export", str(project), str(other), "--format", "manifest", "--overwrite"])
    assert code == 1 and "not an earlier export" in capsys.readouterr().err
    # a folder that carries our marker but holds a project is refused too
    (other / MARKER).write_text(json.dumps({"format": "debias-studio-export", "entries": ["sub"]}))
    (other / "sub" / "project.sqlite").write_bytes(b"")
    with pytest.raises(StudioError, match="holds a project"):
        overwrite_preview(other)
    code = main(["export", str(project), str(other), "--format", "manifest", "--overwrite"])
    assert code == 1 and "holds a project" in capsys.readouterr().err
    assert (other / "sub" / "thesis.tex").read_text() == "years of work"


def test_overwrite_preview_says_what_goes(hostile_project) -> None:
    out = hostile_project / "preview"
    assert main(["export", str(hostile_project / "project"), str(out), "--format", "manifest"]) == 0
    preview = overwrite_preview(out)
    assert preview is not None and "manifest.csv" in preview.entries
    assert preview.files >= 36 and "removes the earlier export" in preview.sentence()


def test_symlink_export_of_a_moved_dataset_fails_and_writes_nothing(hostile_project, capsys):
    base = hostile_project / "moving"
    shutil.copytree(hostile_project / "data", base / "data")
    dataset = run_quiet(open_manifest(base / "data" / "manifest.csv"))
    Project.create(base / "project", dataset).close()
    (base / "data").rename(base / "elsewhere")
    out = base / "out"
    code = main(["export", str(base / "project"), str(out), "--link", "symlink", "--format",
                 "manifest,imagefolder"])  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "gone missing" in err or "lead nowhere" in err
    assert not out.exists() and not [p for p in base.iterdir() if p.name.startswith(".out")]


def test_links_that_lead_nowhere_stop_the_export(hostile_project, monkeypatch) -> None:
    def dangling(source: object, dest: object, mode: str) -> str:
        Path(str(dest)).symlink_to(Path(str(dest)).parent / "nowhere.png")
        return mode

    monkeypatch.setattr(layout, "place_file", dangling)
    out = hostile_project / "dangling"
    with (
        Project.open(hostile_project / "project") as project,
        pytest.raises(StudioError, match="lead nowhere"),
    ):
        run_quiet(export_project(project, out, "imagefolder", link="symlink"))
    assert not out.exists()
