"""Issue 12, item 14 (and the NUL-byte row of item 11): a manifest's odd rows - a label written
as ``NaN``, a list-valued Parquet label, a NUL byte, a line with too many fields, a mask of
another size than its image - are reported per file; the other rows open as a dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.reliability.user_side import run_cli, tiny_dataset, write_png


def _problems(capsys: pytest.CaptureFixture[str], project: Path) -> tuple[dict, dict]:
    shown = run_cli(capsys, "info", project, "--json")
    assert shown.code == 0, shown.err
    summary = json.loads(shown.out)
    return summary, {p["path"]: p for p in summary["problems"]}


def test_odd_csv_rows_are_reported_one_by_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_dataset(tmp_path)
    write_png(tmp_path / "masks" / "small.png", np.zeros((8, 8), dtype=np.uint8))
    rows = [f"{c}/{i:02d}.png,{c}," for c in "ab" for i in range(2, 8)]
    rows += ["a/00.png,NaN,", "a/01.png,a,masks/small.png", "b/00.png,b,,extra", "b/0\x001.png,b,"]
    manifest = tmp_path / "manifest.csv"
    manifest.write_bytes(("path,label,mask\n" + "\n".join(rows) + "\n").encode())
    project = tmp_path / "project"
    created = run_cli(capsys, "new", project, "--manifest", manifest)
    assert created.code == 0, created.err
    summary, problems = _problems(capsys, project)
    assert summary["n_images"] == 13 and summary["classes"] == ["a", "b"]
    assert problems["a/00.png"]["problem"] == "bad_label"
    assert (
        "'NaN' is how a missing value is written (manifest.csv row 14)"
        in (problems["a/00.png"]["detail"])
    )
    assert problems["masks/small.png"]["problem"] == "mask_size"
    assert "8x8 pixels but the image is 16x16" in problems["masks/small.png"]["detail"]
    assert problems["(manifest.csv row 16)"]["problem"] == "bad_row"
    assert "4 fields where the header has 3" in problems["(manifest.csv row 16)"]["detail"]
    assert problems["b/0\x001.png"]["problem"] == "bad_row"
    assert "NUL byte" in problems["b/0\x001.png"]["detail"]


def test_list_valued_parquet_labels_are_reported_not_made_classes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tiny_dataset(tmp_path)
    paths = [f"{c}/{i:02d}.png" for c in "ab" for i in range(8)]
    labels = [[p[0]] for p in paths]  # a list column: one label each, as lists
    labels[0] = ["a", "b"]
    manifest = tmp_path / "manifest.parquet"
    pd.DataFrame({"path": paths, "label": labels}).to_parquet(manifest)
    project = tmp_path / "project"
    created = run_cli(capsys, "new", project, "--manifest", manifest)
    assert created.code == 0, created.err
    summary, problems = _problems(capsys, project)
    assert summary["classes"] == ["a", "b"] and summary["n_images"] == 15
    assert problems["a/00.png"]["problem"] == "bad_label"
    assert "is a list (['a', 'b'])" in problems["a/00.png"]["detail"]
