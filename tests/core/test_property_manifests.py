"""Property: whatever manifest a user (or someone else) hands us - random columns, encodings,
separators, quoting, odd, unicode, absolute and escaping paths, odd labels, damaged bytes - the
loader either opens a dataset whose every file lies inside the dataset folder, or says why in a
``StudioError``. Nothing else escapes it."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from debias_studio.core.data.dataset import Dataset, open_manifest
from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import run_quiet
from tests.core.hostile_files import HostileLayout, csv_bytes, damaged, manifest_rows


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> HostileLayout:
    """One folder for every example: the loaders only read it."""
    return HostileLayout(tmp_path_factory.mktemp("hostile")).create()


def _load(layout: HostileLayout, manifest: Path) -> Dataset | None:
    try:
        dataset = run_quiet(open_manifest(manifest, root=layout.data))
    except StudioError as exc:
        assert str(exc).strip(), "a StudioError must say why"
        event(f"refused: {str(exc)[:24]}")
        return None
    event(f"opened, {len(dataset)} images, {len(dataset.problems)} problems")
    return dataset


def _contained(layout: HostileLayout, dataset: Dataset | None) -> None:
    if dataset is None:
        return
    for relative in dataset.table["path"].tolist():
        assert layout.accepted_inside(relative), relative
    for mask in dataset.table["mask"].tolist():
        assert not mask or layout.accepted_inside(mask), mask
    assert not {"secret.png", "passwd"} & {p.rsplit("/", 1)[-1] for p in dataset.table["path"]}


@given(data=st.data())
def test_csv_manifests_load_inside_the_root_or_fail_clearly(
    layout: HostileLayout, data: st.DataObject
) -> None:
    table = data.draw(manifest_rows(layout))
    content, name = data.draw(csv_bytes(table))
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / name
        manifest.write_bytes(content)
        _contained(layout, _load(layout, manifest))


@given(data=st.data())
def test_parquet_manifests_load_inside_the_root_or_fail_clearly(
    layout: HostileLayout, data: st.DataObject
) -> None:
    table = data.draw(manifest_rows(layout))
    label = table.columns[1]
    odd = data.draw(
        st.sampled_from(
            [
                st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),  # a list column
                st.one_of(st.none(), st.sampled_from(["a", "b", "nan"])),  # text with gaps
                st.one_of(st.floats(allow_nan=True), st.sampled_from([0.0, 1.0])),  # numbers
            ]
        )
    )
    table[label] = [data.draw(odd) for _ in range(len(table))]
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / "m.parquet"
        try:
            pd.DataFrame(table).to_parquet(manifest)
        except Exception:  # a column pyarrow cannot store (mixed types): not a manifest
            manifest.write_bytes(b"PAR1")
        manifest.write_bytes(data.draw(damaged(manifest.read_bytes())))
        _contained(layout, _load(layout, manifest))
