"""Datasets: what a project's images are, and what was wrong with the ones we could not use.

A ``Dataset`` holds only usable images; every file that could not be used is one
``ImageProblem``. Image ids are the row positions 0..N-1 of ``Dataset.table``; everything else in
the engine (embeddings, annotations, groups) is an array indexed by that id.

Opening is a job (``open_folder``, ``open_manifest``, ``open_dataset``): list the files, check
every path stays inside the dataset root, decode every image in parallel, draw the missing splits.
Bad files are reported, never fatal; only a dataset with nothing usable in it is an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from debias_studio.core.data.assemble import (
    CheckedTable,
    check_entries,
    folder_entries,
    manifest_entries,
)
from debias_studio.core.data.manifest import (
    EXPORTED_DATASET_FILE,
    is_manifest_file,
    read_manifest,
)
from debias_studio.core.data.natural import natural_sorted
from debias_studio.core.data.problems import PROBLEM_KINDS, ImageProblem
from debias_studio.core.data.rootpaths import DatasetRoot
from debias_studio.core.data.scan import scan_class_folders
from debias_studio.core.data.splits import DEFAULT_FRACTIONS, SPLITS, parse_splits
from debias_studio.core.data.summary import summarize
from debias_studio.core.errors import DatasetError
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress

__all__ = [
    "PROBLEM_KINDS",
    "REQUIRED_COLUMNS",
    "SPLITS",
    "Dataset",
    "DatasetSpec",
    "ImageProblem",
    "open_dataset",
    "open_folder",
    "open_manifest",
    "summarize",
]

REQUIRED_COLUMNS: tuple[str, ...] = ("path", "label", "split")
"""Columns every ``Dataset.table`` has. Also always present: ``mask`` (relative mask path or ""),
``size`` and ``mtime_ns`` (file fingerprint); then the attribute columns (``Dataset.attributes``)
and any other manifest columns."""


@dataclass(frozen=True)
class DatasetSpec:
    """How the dataset was opened, so that a project can open it again."""

    kind: Literal["folder", "manifest"]
    source: str  # the folder, or the manifest file
    root: str  # image paths are relative to this folder
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetSpec:
        return cls(**data)


@dataclass
class Dataset:
    root: Path
    table: pd.DataFrame
    classes: list[str]
    attributes: list[str]
    problems: list[ImageProblem]
    spec: DatasetSpec

    def __len__(self) -> int:
        return len(self.table)

    @property
    def labels(self) -> np.ndarray:
        """Class index per image (position in ``classes``), int64."""
        lookup = {name: i for i, name in enumerate(self.classes)}
        return self.table["label"].map(lookup).to_numpy(dtype=np.int64)

    def split_mask(self, split: str) -> np.ndarray:
        return (self.table["split"] == split).to_numpy()

    def image_path(self, index: int) -> Path:
        """Where image ``index`` is, for showing it; to read it use ``core.data.imageio`` with
        ``root`` and the table's path (the containment check happens at the moment of opening)."""
        return self.root / str(self.table["path"].iat[index])

    def mask_path(self, index: int) -> Path | None:
        """Where the mask of image ``index`` is, for showing it (read it with
        ``core.data.masks.read_mask``)."""
        if "mask" not in self.table.columns:
            return None
        value = self.table["mask"].iat[index]
        return self.root / str(value) if isinstance(value, str) and value else None


# ---- opening -----------------------------------------------------------------------------------


def open_dataset(source: Path | str, **kwargs: Any) -> Job[Dataset]:
    """Open a folder of class sub-folders or a CSV/Parquet manifest, whichever ``source`` is."""
    source = Path(source)
    if source.is_dir():
        if kwargs.pop("root", None) is not None:
            raise DatasetError(
                f"{source} is a folder of class sub-folders; a separate root applies only to "
                "manifests."
            )
        return (yield from open_folder(source, **kwargs))
    if source.is_file() or is_manifest_file(source):
        return (yield from open_manifest(source, **kwargs))
    raise DatasetError(f"{source} does not exist.")


def open_folder(
    root: Path | str,
    *,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    decode_check: bool = True,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[Dataset]:
    """Open ``root/<class>/.../<image>``: the first sub-folder names the class.

    ``classes``: the expected class names; images of other folders are reported as
    ``unknown_label``. ``decode_check=False`` reads only image headers (much faster, but
    truncated files are then found only when they are embedded). A folder exported by this app
    (``imagefolder/``) opens through its own manifest, which keeps splits and annotations."""
    root = Path(root)
    exported = root / "manifest.csv"
    if (root / EXPORTED_DATASET_FILE).is_file() and exported.is_file():
        return (
            yield from open_manifest(
                exported,
                seed=seed,
                classes=classes,
                fractions=fractions,
                decode_check=decode_check,
                cancel=cancel,
            )
        )
    scan = yield from scan_class_folders(root, cancel)
    base = DatasetRoot.of(root)
    if not scan.files and not scan.problems:
        raise DatasetError(
            f"The image folder {root} holds no images: expected one sub-folder per class, "
            "each holding image files."
        )
    entries, problems = folder_entries(scan, classes)
    spec = DatasetSpec(
        kind="folder",
        source=base.real,
        root=base.real,
        seed=seed,
        options=_options(classes, fractions, decode_check),
    )
    checked = yield from check_entries(
        entries,
        base,
        problems,
        None,
        source=f"the folder {base.given}",
        seed=seed,
        fractions=fractions,
        decode_check=decode_check,
        cancel=cancel,
    )
    return _dataset(base, checked, spec)


def open_manifest(
    path: Path | str,
    *,
    root: Path | str | None = None,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    decode_check: bool = True,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[Dataset]:
    """Open a CSV or Parquet manifest (``path``, ``label``, optional ``split``, ``mask`` and
    attribute columns, or their aliases; see ``core.data.manifest``).

    Image and mask paths are relative to ``root``, which defaults to the manifest's folder;
    absolute paths must also lie inside it. Rows whose split is empty get a drawn one."""
    path = Path(path)
    yield Progress(0, 0, f"reading {path.name}")
    manifest = read_manifest(path)
    root_folder = Path(root) if root is not None else path.parent
    if not root_folder.is_dir():
        raise DatasetError(f"The dataset folder {root_folder} does not exist or is not a folder.")
    if len(manifest.rows) == 0:
        raise DatasetError(f"The manifest {path.name} lists no images.")
    base = DatasetRoot.of(root_folder)
    splits = parse_splits(manifest.rows["split"].tolist(), path.name)
    entries, problems = manifest_entries(manifest, base, splits, classes)
    cancel.raise_if_cancelled()
    spec = DatasetSpec(
        kind="manifest",
        source=str(path.resolve()),
        root=base.real,
        seed=seed,
        options={**_options(classes, fractions, decode_check), "root_given": root is not None},
    )
    checked = yield from check_entries(
        entries,
        base,
        problems,
        manifest,
        source=f"the manifest {path}",
        seed=seed,
        fractions=fractions,
        decode_check=decode_check,
        cancel=cancel,
    )
    return _dataset(base, checked, spec)


def _dataset(base: DatasetRoot, checked: CheckedTable, spec: DatasetSpec) -> Dataset:
    return Dataset(
        root=Path(base.real),
        table=checked.table,
        classes=checked.classes,
        attributes=checked.attributes,
        problems=checked.problems,
        spec=spec,
    )


def _options(
    classes: Sequence[str] | None, fractions: Sequence[float], decode_check: bool
) -> dict[str, Any]:
    return {
        "classes": natural_sorted(set(classes)) if classes is not None else None,
        "fractions": [float(f) for f in fractions],
        "decode_check": decode_check,
    }
