"""Manifests as tools really write them (encodings, separators, damaged lines) and rows that are
not one usable value: each odd row is one reported problem, never the end of the dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from debias_studio.core.data.dataset import open_manifest
from debias_studio.core.errors import DatasetError
from debias_studio.core.jobs import run_quiet
from tests.core.dataset_files import write_classes


def _manifest(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "m.csv") -> Path:
    write_classes(tmp_path, {"a": 3, "b": 3})
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _problems(path: Path) -> dict[str, tuple[str, str]]:
    dataset = run_quiet(open_manifest(path))
    return {p.path: (p.problem, p.detail) for p in dataset.problems}


ROWS = "path,label\na/0.png,a\na/1.png,a\nb/0.png,b\nb/1.png,b\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-32"])
def test_unicode_encodings_marked_by_their_bom_are_read(tmp_path: Path, encoding: str) -> None:
    dataset = run_quiet(open_manifest(_manifest(tmp_path, ROWS, encoding)))
    assert len(dataset) == 4 and dataset.classes == ["a", "b"]


def test_text_that_is_not_utf8_is_one_clear_error(tmp_path: Path) -> None:
    path = _manifest(tmp_path, ROWS + "b/2.png,caf\u00e9\n", "latin-1")
    with pytest.raises(DatasetError, match=r"is not UTF-8 text .*CSV UTF-8"):
        run_quiet(open_manifest(path))


@pytest.mark.parametrize("separator", [";", "\t", "|"])
def test_the_separator_is_taken_from_the_header(tmp_path: Path, separator: str) -> None:
    dataset = run_quiet(open_manifest(_manifest(tmp_path, ROWS.replace(",", separator))))
    assert len(dataset) == 4


def test_a_line_with_too_many_fields_is_one_bad_row(tmp_path: Path) -> None:
    path = _manifest(tmp_path, ROWS + 'b/2.png,b,"x, y",z\na/2.png,a\n')
    problems = _problems(path)
    assert problems == {
        "(m.csv row 6)": ("bad_row", "has 4 fields where the header has 2 (m.csv row 6)")
    }
    assert len(run_quiet(open_manifest(path))) == 5  # the row after it still counts


def test_labels_spelled_as_missing_values_are_reported_and_real_names_kept(tmp_path: Path) -> None:
    text = "path,label\na/0.png,NaN\na/1.png,null\na/2.png,#N/A\nb/0.png,NA\nb/1.png,None\n"
    dataset = run_quiet(open_manifest(_manifest(tmp_path, text)))
    assert dataset.classes == ["NA", "None"]
    kinds = {p.path: p.problem for p in dataset.problems}
    assert kinds == {"a/0.png": "bad_label", "a/1.png": "bad_label", "a/2.png": "bad_label"}


def test_nul_bytes_in_a_path_or_label_make_one_bad_row(tmp_path: Path) -> None:
    problems = _problems(_manifest(tmp_path, ROWS + "b/\x002.png,b\na/2.png,a\x00\n"))
    assert problems["b/\x002.png"][0] == "bad_row" and "NUL byte" in problems["b/\x002.png"][1]
    assert problems["a/2.png"][0] == "bad_label"


def test_parquet_list_labels_one_element_is_the_label_more_is_a_problem(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 2, "b": 2})
    frame = pd.DataFrame(
        {"path": ["a/0.png", "a/1.png", "b/0.png", "b/1.png"], "label": [["a"], ["a"], ["b"], []]}
    )
    frame.to_parquet(tmp_path / "m.parquet")
    dataset = run_quiet(open_manifest(tmp_path / "m.parquet"))
    assert dataset.classes == ["a", "b"] and len(dataset) == 3
    assert [(p.path, p.problem) for p in dataset.problems] == [("b/1.png", "bad_label")]


def test_a_mask_of_another_size_is_reported_and_the_image_kept(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 2, "b": 2})  # 16 x 16 images
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "fits.png")
    Image.fromarray(np.zeros((16, 8), np.uint8)).save(tmp_path / "narrow.png")
    text = "path,label,mask\na/0.png,a,fits.png\na/1.png,a,narrow.png\nb/0.png,b,narrow.png\n"
    text += "b/1.png,b,\n"
    dataset = run_quiet(open_manifest(_manifest(tmp_path, text)))
    assert dataset.table["mask"].tolist() == ["fits.png", "", "", ""]
    sized = [p for p in dataset.problems if p.problem == "mask_size"]
    assert [p.detail.split(" is ")[0] for p in sized] == ["mask of a/1.png", "mask of b/0.png"]
    assert "8x16 pixels but the image is 16x16" in sized[0].detail
