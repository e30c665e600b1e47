"""The built-in demo data: deterministic, the planted bias holds in train only, masks are exact."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from debias_studio.core.demo.backgrounds import OBJECTS
from debias_studio.core.demo.palette import DIGIT_COLOURS, NAMED_COLOURS
from debias_studio.core.demo.project import CONFOUNDER_COLUMN, create_demo_data, create_demo_project
from debias_studio.core.demo.textures import BACKGROUNDS, TEXTURE_RAMPS
from debias_studio.core.errors import DatasetError, JobCancelled, ProjectError
from debias_studio.core.jobs import CancelToken, Progress, run_job, run_quiet


@pytest.fixture(scope="module")
def digits_project(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("digits")
    steps: list[Progress] = []
    project = run_job(create_demo_project(folder, "digits", seed=0), steps.append)
    yield project, steps
    project.close()


@pytest.fixture(scope="module")
def backgrounds_manifest(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("backgrounds")
    path = run_quiet(create_demo_data(folder, "backgrounds", seed=0))
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table.attrs["root"] = path.parent
    return table


def _aligned_share(table: pd.DataFrame, column: str, pairing: dict[str, str]) -> pd.Series:
    """Per class: the share of its images whose attribute is the class's planted value."""
    own = table["label"].map(pairing)
    return (table[column] == own).groupby(table["label"]).mean()


def _file_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_digits_project_opens_with_all_images_and_the_colour_attribute(digits_project) -> None:
    project, steps = digits_project
    dataset = project.dataset
    splits = dataset.table["split"].value_counts()
    assert splits["train"] == 1078  # 60 % of the 1,797 digits, drawn once each
    assert splits["val"] >= 2000 and splits["test"] >= 2000  # held-out digits in 6 colours
    assert dataset.problems == []
    assert dataset.classes == [str(d) for d in range(10)]
    assert dataset.attributes == [CONFOUNDER_COLUMN["digits"]]
    assert set(dataset.table["split"]) == {"train", "val", "test"}
    assert all(dataset.mask_path(i).is_file() for i in range(0, len(dataset), 97))
    assert steps[-1].done == steps[-1].total == 100
    assert any(0 < p.done < 70 for p in steps)  # progress while the images are drawn


def test_digit_colour_follows_the_class_in_train_only(digits_project) -> None:
    table = digits_project[0].dataset.table
    pairing = {str(d): DIGIT_COLOURS[d] for d in range(10)}
    train = table[table["split"] == "train"]
    assert (_aligned_share(train, "color", pairing) >= 0.95).all()
    assert (_aligned_share(train, "color", pairing) < 1.0).any()  # some conflicting examples
    for split in ("val", "test"):
        held_out = table[table["split"] == split]
        counts = pd.crosstab(held_out["label"], held_out["color"])
        assert list(counts.columns) == sorted(DIGIT_COLOURS)  # every colour occurs in every class
        assert (counts.max(axis=1) - counts.min(axis=1) <= 1).all()  # spread evenly
        assert counts.min().min() >= 20  # every group large enough for a worst-group figure
        assert (_aligned_share(held_out, "color", pairing) <= 0.2).all()


def test_held_out_digits_are_drawn_in_distinct_colours_and_training_once() -> None:
    from debias_studio.core.demo.digits import held_out_colours, renders_per_digit

    assert renders_per_digit(np.array([35, 36, 37]), 10) == 6  # 35 x 6 / 10 = 21 per group
    assert renders_per_digit(np.array([4, 4]), 10) == 10  # small demos: one per colour at most
    labels = np.repeat(np.arange(3), 20)
    splits = np.tile(np.array(["train"] * 10 + ["val"] * 5 + ["test"] * 5, dtype=object), 3)
    colours = held_out_colours(labels, splits, 10, np.random.default_rng(0))
    assert set(colours) == set(np.flatnonzero(splits != "train"))
    assert all(len(set(c)) == len(c) == 10 for c in colours.values())


def test_digit_pixels_have_the_colour_the_manifest_names(digits_project) -> None:
    dataset = digits_project[0].dataset
    names = list(NAMED_COLOURS)
    palette = np.array([NAMED_COLOURS[n] for n in names], dtype=np.float32)
    for i in range(0, len(dataset), 37):
        pixels = np.asarray(Image.open(dataset.image_path(i)).convert("RGB"), dtype=np.float32)
        alpha = np.asarray(Image.open(dataset.mask_path(i)), dtype=np.float32) / 255.0
        stroke = pixels[alpha > 0.95].mean(axis=0)
        nearest = names[int(np.argmin(np.linalg.norm(palette - stroke, axis=1)))]
        assert nearest == dataset.table["color"].iloc[i]
        assert pixels[alpha == 0].mean() < 30  # the backdrop is dark


def test_background_follows_the_class_in_train_only(backgrounds_manifest: pd.DataFrame) -> None:
    table = backgrounds_manifest
    assert list(table.columns) == ["path", "label", "split", "background", "mask"]
    assert (table.groupby("label").size() == 480).all()
    pairing = dict(zip(OBJECTS, BACKGROUNDS, strict=True))
    train = table[table["split"] == "train"]
    assert (_aligned_share(train, "background", pairing) >= 0.95).all()
    for split in ("val", "test"):
        held_out = table[table["split"] == split]
        counts = pd.crosstab(held_out["label"], held_out["background"])
        assert (counts.to_numpy() == 32).all()  # 96 per class, a third on each background


def test_masks_cover_exactly_the_composited_object(backgrounds_manifest: pd.DataFrame) -> None:
    table = backgrounds_manifest
    root: Path = table.attrs["root"]
    ramps = {n: np.array(TEXTURE_RAMPS[n], dtype=np.float32).mean(axis=0) for n in BACKGROUNDS}
    for i in range(0, len(table), 29):
        row = table.iloc[i]
        pixels = np.asarray(Image.open(root / row["path"]).convert("RGB"), dtype=np.float32)
        alpha = np.asarray(Image.open(root / row["mask"]), dtype=np.float32) / 255.0
        assert alpha.shape == pixels.shape[:2]
        assert 0.05 < (alpha > 0.5).mean() < 0.7
        inside, outside = pixels[alpha > 0.99], pixels[alpha == 0]
        # the object is one flat colour shaded top to bottom; the texture is busy
        assert inside.std(axis=0).mean() < 0.6 * outside.std(axis=0).mean()
        # what is left outside the mask is the named background photo
        closest = min(ramps, key=lambda n: np.linalg.norm(outside.mean(axis=0) - ramps[n]))
        assert closest == row["background"]


def test_same_seed_same_bytes_other_seed_other_data(tmp_path: Path) -> None:
    for kind in ("digits", "backgrounds"):
        runs = {}
        for name, seed in (("a", 3), ("b", 3), ("c", 4)):
            run_quiet(create_demo_data(tmp_path / kind / name, kind, seed=seed, per_class=10))
            runs[name] = _file_hashes(tmp_path / kind / name / "data")
        assert runs["a"] == runs["b"]
        # digits: per class 6 training digits drawn once, 2 + 2 held out drawn in all 10 colours
        assert len(runs["a"]) == 1 + 2 * (10 * (6 + 4 * 10) if kind == "digits" else 30)
        assert runs["a"]["manifest.csv"] != runs["c"]["manifest.csv"]
        assert sum(runs["a"][k] != runs["c"].get(k) for k in runs["a"]) > len(runs["a"]) // 2


def test_aligned_fraction_is_configurable(tmp_path: Path) -> None:
    path = run_quiet(create_demo_data(tmp_path, "backgrounds", aligned=0.5, per_class=40))
    table = pd.read_csv(path, dtype=str)
    train = table[table["split"] == "train"]
    share = _aligned_share(train, "background", dict(zip(OBJECTS, BACKGROUNDS, strict=True)))
    assert ((share >= 0.5) & (share < 0.6)).all()


def test_bad_arguments_and_existing_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="Unknown demo kind"):
        run_quiet(create_demo_data(tmp_path / "x", "birds"))
    with pytest.raises(DatasetError, match="between 0 and 1"):
        run_quiet(create_demo_data(tmp_path / "x", "digits", aligned=1.5))
    with pytest.raises(DatasetError, match="at least"):
        run_quiet(create_demo_data(tmp_path / "x", "digits", per_class=1))
    project = run_quiet(create_demo_project(tmp_path / "p", "backgrounds", per_class=10))
    project.close()
    with pytest.raises(ProjectError, match="already holds a project"):
        run_quiet(create_demo_project(tmp_path / "p", "backgrounds", per_class=10))
    with pytest.raises(DatasetError, match="already holds demo data"):
        run_quiet(create_demo_data(tmp_path / "p", "backgrounds", per_class=10))


def test_cancelling_stops_before_a_manifest_is_written(tmp_path: Path) -> None:
    cancel = CancelToken()
    job = create_demo_data(tmp_path, "digits", per_class=30, cancel=cancel)
    next(job)
    cancel.cancel()
    with pytest.raises(JobCancelled):
        run_quiet(job)
    assert not (tmp_path / "data" / "manifest.csv").exists()


def test_cli_demo_takes_a_size_per_class(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from debias_studio.cli.main import main

    assert main(["demo", str(tmp_path / "small"), "--per-class", "12"]) == 0
    # 120 digits: the training ones drawn once, the held-out ones in up to 6 colours each
    n_images = int(re.search(r"with (\d+) images", capsys.readouterr().out)[1])
    assert 120 < n_images <= 6 * 120
    assert main(["demo", str(tmp_path / "tiny"), "--per-class", "3"]) == 1
    assert "at least 10 images per class" in capsys.readouterr().err
