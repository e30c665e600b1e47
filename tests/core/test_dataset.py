"""Opening a folder of class sub-folders; the summary; the round trip through a project."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from debias_studio.core.data.dataset import (
    Dataset,
    ImageProblem,
    open_dataset,
    open_folder,
    open_manifest,
    summarize,
)
from debias_studio.core.errors import DatasetError, JobCancelled
from debias_studio.core.jobs import CancelToken, Progress, run_job, run_quiet
from debias_studio.core.store.project import Project
from tests.core.dataset_files import write_classes, write_csv, write_image


def problems_by_path(dataset: Dataset) -> dict[str, str]:
    return {p.path: p.problem for p in dataset.problems}


def test_folder_of_class_folders_opens_with_fingerprints(tmp_path: Path) -> None:
    root = tmp_path / "data"
    written = write_classes(root, {"cat": 3, "dog": 2})
    write_image(root / "dog" / "puppies" / "deep" / "p.JPEG", fmt="JPEG")

    dataset = run_quiet(open_folder(root))

    assert dataset.classes == ["cat", "dog"]
    assert dataset.table["path"].tolist() == [
        "cat/0.png",
        "cat/1.png",
        "cat/2.png",
        "dog/0.png",
        "dog/1.png",
        "dog/puppies/deep/p.JPEG",
    ]
    assert dataset.table["label"].tolist() == ["cat"] * 3 + ["dog"] * 3
    assert list(dataset.table.columns) == ["path", "label", "split", "mask", "size", "mtime_ns"]
    assert set(dataset.table["split"]) <= {"train", "val", "test"}
    assert (dataset.table["mask"] == "").all()
    first = written[0].stat()
    assert dataset.table["size"].iat[0] == first.st_size
    assert dataset.table["mtime_ns"].iat[0] == first.st_mtime_ns
    assert dataset.table["size"].dtype == "int64"
    assert dataset.image_path(0) == root.resolve() / "cat" / "0.png"
    assert dataset.problems == []
    assert dataset.spec.kind == "folder"


def test_class_names_sort_naturally_and_labels_are_strings(tmp_path: Path) -> None:
    write_classes(tmp_path, {"10": 1, "2": 1, "1": 1})
    dataset = run_quiet(open_folder(tmp_path))
    assert dataset.classes == ["1", "2", "10"]
    assert dataset.table["label"].tolist() == ["1", "2", "10"]
    assert dataset.labels.tolist() == [0, 1, 2]


def test_every_image_extension_counts_case_insensitively(tmp_path: Path) -> None:
    formats = {
        "a.jpg": "JPEG",
        "b.JPEG": "JPEG",
        "c.Png": "PNG",
        "d.bmp": "BMP",
        "e.gif": "GIF",
        "f.tif": "TIFF",
        "g.TIFF": "TIFF",
        "h.webp": "WEBP",
    }
    for name, fmt in formats.items():
        write_image(tmp_path / "x" / name, fmt=fmt)
    dataset = run_quiet(open_folder(tmp_path))
    assert sorted(dataset.table["path"]) == sorted(f"x/{n}" for n in formats)
    assert dataset.problems == []


def test_other_files_are_reported_and_clutter_is_ignored(tmp_path: Path) -> None:
    write_classes(tmp_path, {"cat": 2})
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "README.md").write_text("about")
    write_image(tmp_path / "loose.png")
    (tmp_path / "cat" / ".DS_Store").write_bytes(b"\x00")
    (tmp_path / "cat" / "Thumbs.db").write_bytes(b"\x00")
    write_image(tmp_path / ".hidden" / "x.png")

    dataset = run_quiet(open_folder(tmp_path))

    assert len(dataset) == 2
    assert problems_by_path(dataset) == {
        "cat/notes.txt": "not_an_image",
        "README.md": "no_label",
        "loose.png": "no_label",
    }
    assert "class folder" in next(p.detail for p in dataset.problems if p.path == "loose.png")


def test_folder_with_expected_classes_reports_the_others(tmp_path: Path) -> None:
    write_classes(tmp_path, {"cat": 2, "dog": 1, "misc": 1})
    dataset = run_quiet(open_folder(tmp_path, classes=["cat", "dog"]))
    assert dataset.classes == ["cat", "dog"]
    assert problems_by_path(dataset) == {"misc/0.png": "unknown_label"}


def test_opening_yields_progress_and_honours_cancel(tmp_path: Path) -> None:
    write_classes(tmp_path, {"a": 3, "b": 3})
    seen: list[Progress] = []
    run_job(open_folder(tmp_path), seen.append)
    checking = [p for p in seen if p.total]
    assert checking[-1].done == checking[-1].total == 6

    for phase in ("listing", "checking"):
        cancel = CancelToken()
        job = open_folder(tmp_path, cancel=cancel)
        while phase not in next(job).message:
            pass
        cancel.cancel()
        with pytest.raises(JobCancelled):
            run_quiet(job)


def test_open_dataset_dispatches_on_the_source(tmp_path: Path) -> None:
    write_classes(tmp_path / "imgs", {"a": 2})
    manifest = write_csv(tmp_path / "imgs" / "m.csv", ["path", "label"], [["a/0.png", "x"]])
    assert run_quiet(open_dataset(tmp_path / "imgs")).spec.kind == "folder"
    assert run_quiet(open_dataset(manifest)).spec.kind == "manifest"
    with pytest.raises(DatasetError, match="does not exist"):
        run_quiet(open_dataset(tmp_path / "nope"))
    with pytest.raises(DatasetError, match="only to manifests"):
        run_quiet(open_dataset(tmp_path / "imgs", root=tmp_path))


def test_summary_counts_classes_splits_attributes_and_problems(tmp_path: Path) -> None:
    write_classes(tmp_path, {"cat": 2, "dog": 2})
    rows = [
        ["cat/0.png", "cat", "train", "indoor"],
        ["cat/1.png", "cat", "test", "outdoor"],
        ["dog/0.png", "dog", "train", "outdoor"],
        ["dog/1.png", "dog", "val", "outdoor"],
        ["dog/9.png", "dog", "val", "outdoor"],
    ]
    manifest = write_csv(tmp_path / "m.csv", ["path", "label", "split", "place"], rows)
    summary = summarize(run_quiet(open_manifest(manifest)))

    assert json.loads(json.dumps(summary)) == summary
    assert summary["n_images"] == 4
    assert summary["classes"] == ["cat", "dog"]
    assert summary["counts"] == {
        "cat": {"train": 1, "val": 0, "test": 1},
        "dog": {"train": 1, "val": 1, "test": 0},
    }
    assert summary["split_counts"] == {"train": 2, "val": 1, "test": 1}
    assert summary["attributes"] == {
        "place": {"values": {"indoor": 1, "outdoor": 3}, "n_values": 2}
    }
    assert summary["problem_counts"] == {"missing": 1}
    assert summary["problems"] == [
        {"path": "dog/9.png", "problem": "missing", "detail": "file not found"}
    ]


def test_project_round_trip_keeps_table_classes_and_problems(tmp_path: Path) -> None:
    data = tmp_path / "proj" / "data"
    write_classes(data, {"b": 2, "a": 2})
    (data / "a" / "broken.png").write_bytes(b"")
    rows = [
        ["b/0.png", "b", "", "sunny"],
        ["b/1.png", "b", "test", "rainy"],
        ["a/0.png", "a", "", "sunny"],
        ["a/1.png", "a", "val", ""],
        ["a/broken.png", "a", "", "sunny"],
    ]
    manifest = write_csv(data / "m.csv", ["path", "label", "split", "weather"], rows)
    dataset = run_quiet(open_manifest(manifest, seed=4))
    Project.create(tmp_path / "proj", dataset).close()

    with Project.open(tmp_path / "proj") as project:
        loaded = project.dataset
        pd.testing.assert_frame_equal(loaded.table, dataset.table)
        assert loaded.classes == dataset.classes == ["a", "b"]
        assert loaded.attributes == ["weather"]
        assert (
            loaded.problems
            == dataset.problems
            == [ImageProblem("a/broken.png", "empty", "file is empty (0 bytes)")]
        )
        assert loaded.root == dataset.root
        # the store keeps the root relative to the project folder, so the project can move
        assert (loaded.spec.kind, loaded.spec.source, loaded.spec.seed) == (
            "manifest",
            str(manifest),
            4,
        )
        assert loaded.spec.options == dataset.spec.options
        assert summarize(loaded) == summarize(dataset)


def test_cli_new_and_info_json_report_counts_and_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from debias_studio.cli.main import main

    write_classes(tmp_path / "imgs", {"cat": 3, "dog": 3})
    (tmp_path / "imgs" / "dog" / "zero.jpg").write_bytes(b"")
    assert main(["new", str(tmp_path / "proj"), "--images", str(tmp_path / "imgs")]) == 0
    capsys.readouterr()
    assert main(["info", str(tmp_path / "proj"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["n_images"] == 6
    assert sum(summary["counts"]["cat"].values()) == 3
    assert summary["problems"][0]["path"] == "dog/zero.jpg"
    assert summary["problem_counts"] == {"empty": 1}
