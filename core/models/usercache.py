"""Small per-user caches (weights hashes, CPU precision decisions).

They live outside any project because they describe this machine and these weight files, not a
dataset. ``DEBIAS_STUDIO_CACHE`` moves the folder (tests point it at a temporary directory).
Every write is atomic (temp file + rename), so two processes never see half a file; a damaged
cache file is treated as empty, because everything in it can be recomputed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def user_cache_dir() -> Path:
    """The per-user cache folder (created on demand)."""
    override = os.environ.get("DEBIAS_STUDIO_CACHE")
    if override:
        folder = Path(override)
    elif os.name == "nt":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        folder = Path(base) / "DebiasStudio" / "cache"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        folder = Path(base) / "debias-studio"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_json(name: str) -> dict[str, Any]:
    """The JSON object stored under ``name``, or ``{}`` when absent or unreadable."""
    path = user_cache_dir() / name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def update_json(name: str, key: str, value: Any) -> None:
    """Set ``key`` in the JSON object ``name`` (read, modify, atomic replace)."""
    data = read_json(name)
    data[key] = value
    write_json_atomic(user_cache_dir() / name, data)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` so readers see the old or the new file, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
