"""Writing a demo dataset and making a project of it (the kinds are described in the package
docstring, core/demo/__init__.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from debias_studio.core.demo.backgrounds import PER_CLASS, generate_backgrounds
from debias_studio.core.demo.bias import check_aligned
from debias_studio.core.demo.digits import generate_digits
from debias_studio.core.demo.files import MANIFEST_NAME, write_manifest
from debias_studio.core.errors import DatasetError, ProjectError
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress, delegate

if TYPE_CHECKING:
    from debias_studio.core.store.project import Project

DEMO_KINDS: tuple[str, ...] = ("digits", "backgrounds")
CONFOUNDER_COLUMN: dict[str, str] = {"digits": "color", "backgrounds": "background"}
"""The attribute column holding each kind's planted (true) confounder."""
DATA_FOLDER = "data"
MIN_PER_CLASS = 10
"""Fewer images would leave a split of some class empty."""

__all__ = ["CONFOUNDER_COLUMN", "DEMO_KINDS", "create_demo_data", "create_demo_project"]


def create_demo_data(
    folder: Path | str,
    kind: str = "digits",
    seed: int = 0,
    aligned: float = 0.95,
    *,
    per_class: int | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[Path]:
    """Write the demo images, masks and manifest under ``folder/data``; returns the manifest path.

    ``per_class``: images per class (default: all 1,797 digits; 480 per object). The same
    arguments always give byte-identical files."""
    data_dir = _data_dir(Path(folder), kind, aligned, per_class)
    if kind == "digits":
        rows = yield from generate_digits(
            data_dir, seed=seed, aligned=aligned, per_class=per_class, cancel=cancel
        )
    else:
        rows = yield from generate_backgrounds(
            data_dir, seed=seed, aligned=aligned, per_class=per_class or PER_CLASS, cancel=cancel
        )
    cancel.raise_if_cancelled()
    return write_manifest(data_dir, rows)


def create_demo_project(
    folder: Path | str,
    kind: str = "digits",
    seed: int = 0,
    aligned: float = 0.95,
    *,
    per_class: int | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[Project]:
    """Generate the demo data in ``folder/data`` and make ``folder`` a project holding it."""
    from debias_studio.core.data.dataset import open_manifest
    from debias_studio.core.store.folder import DB_NAME
    from debias_studio.core.store.project import Project

    folder = Path(folder)
    if (folder / DB_NAME).exists():
        raise ProjectError(f"{folder} already holds a project; choose another folder.")
    manifest = yield from delegate(
        create_demo_data(folder, kind, seed, aligned, per_class=per_class, cancel=cancel),
        0,
        70,
        100,
    )
    dataset = yield from delegate(open_manifest(manifest, seed=seed, cancel=cancel), 70, 28, 100)
    cancel.raise_if_cancelled()
    yield Progress(98, 100, "writing the project")
    project = Project.create(folder, dataset)
    yield Progress(100, 100, "demo project ready")
    return project


def _data_dir(folder: Path, kind: str, aligned: float, per_class: int | None) -> Path:
    """Check the arguments and return the (new or empty) data folder."""
    if kind not in DEMO_KINDS:
        raise DatasetError(f"Unknown demo kind '{kind}'; choose one of {', '.join(DEMO_KINDS)}.")
    try:
        check_aligned(aligned)
    except ValueError as exc:
        raise DatasetError(f"The aligned fraction {aligned} is not between 0 and 1.") from exc
    if per_class is not None and per_class < MIN_PER_CLASS:
        raise DatasetError(f"A demo needs at least {MIN_PER_CLASS} images per class.")
    data_dir = folder / DATA_FOLDER
    if (data_dir / MANIFEST_NAME).exists():
        raise DatasetError(f"{data_dir} already holds demo data; choose another folder.")
    data_dir.mkdir(parents=True, exist_ok=True)
    return data_dir
