"""Where the project's bundled resources live, and safe path handling."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

REPO_ROOT = Path(__file__).resolve().parents[1]
RESOURCES = REPO_ROOT / "resources"
DEMO_MODEL_DIR = RESOURCES / "models" / "demo-clip"


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` (after resolving links and ``..``) lies inside ``root``."""
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def to_posix_relative(path: Path, root: Path) -> str:
    """Path of ``path`` relative to ``root`` in POSIX form, as stored in manifests and the store."""
    return PurePosixPath(path.resolve().relative_to(root.resolve())).as_posix()
