"""The on-disk embedding cache of a project (ARCHITECTURE.md, rule 5).

Layout, one folder per model id under ``project.embeddings_dir``::

    <model_id>/current.json            which generation is current (+ dim, count)
    <model_id>/vectors-<gen>.npy       float16 (n, d), L2-normalised rows, memory-mapped on read
    <model_id>/index-<gen>.parquet     one row per vector: path, size, mtime_ns (the file's
                                       fingerprint), done, valid, problem, detail

    <model_id>/parts/<name>.npy|.parquet  embeddings computed by torchrun ranks (core.embed.shard)
                                       and not merged yet: same columns, rows in any order

A new generation is written next to the old one and becomes current by an atomic replace of
``current.json``; a crash or a cancel at any moment leaves the previous generation intact, and a
reader never sees a half-written array. Rows are in the dataset's image-id order, so reading
the cache for an unchanged dataset is one ``np.load(mmap_mode="r")``.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from debias_studio.core.models.usercache import write_json_atomic

POINTER = "current.json"
PARTS = "parts"
FORMAT = 1
INDEX_COLUMNS = ("path", "size", "mtime_ns", "done", "valid", "problem", "detail")
ORPHAN_AGE_S = 24 * 3600


@dataclass
class CachedEmbeddings:
    """One readable generation: ``vectors`` is a read-only memory map aligned with ``index``."""

    folder: Path
    generation: str
    vectors: np.ndarray
    index: pd.DataFrame

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def model_folder(embeddings_dir: Path, model_id: str) -> Path:
    return embeddings_dir / model_id


def read_cache(folder: Path) -> CachedEmbeddings | None:
    """The current generation, or None when there is none or it is damaged (then recompute)."""
    try:
        pointer = json.loads((folder / POINTER).read_text(encoding="utf-8"))
        if pointer.get("format") != FORMAT:
            return None
        generation = str(pointer["generation"])
        vectors = np.load(folder / f"vectors-{generation}.npy", mmap_mode="r")
        index = pd.read_parquet(folder / f"index-{generation}.parquet")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if vectors.ndim != 2 or len(vectors) != len(index) or set(INDEX_COLUMNS) - set(index):
        return None
    return CachedEmbeddings(folder, generation, vectors, index)


class CacheWriter:
    """Writes the next generation: fill ``vectors`` (a writable memory map), then ``commit``."""

    def __init__(self, folder: Path, count: int, dim: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.generation = f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.vectors_path = folder / f"vectors-{self.generation}.npy"
        self.index_path = folder / f"index-{self.generation}.parquet"
        self.vectors: np.memmap = np.lib.format.open_memmap(
            self.vectors_path, mode="w+", dtype=np.float16, shape=(count, dim)
        )

    def commit(self, index: pd.DataFrame) -> CachedEmbeddings:
        """Make this generation current; the previous one is removed (best effort)."""
        previous = _current_generation(self.folder)
        self.vectors.flush()
        del self.vectors  # close the writable map before anyone maps the file read-only
        index = index.loc[:, list(INDEX_COLUMNS)].reset_index(drop=True)
        index.to_parquet(self.index_path, index=False)
        write_json_atomic(
            self.folder / POINTER,
            {"format": FORMAT, "generation": self.generation, "count": len(index)},
        )
        if previous and previous != self.generation:
            _remove_generation(self.folder, previous)
        _remove_orphans(self.folder, keep=self.generation)
        cached = read_cache(self.folder)
        if cached is None:  # we just wrote it: only a failing disk gets here
            raise OSError(f"cannot read back the embedding cache in {self.folder}")
        return cached

    def abort(self) -> None:
        """Drop this generation's files (the current generation stays as it was)."""
        if hasattr(self, "vectors"):
            del self.vectors
        _remove_generation(self.folder, self.generation)


def _current_generation(folder: Path) -> str | None:
    try:
        return str(json.loads((folder / POINTER).read_text(encoding="utf-8"))["generation"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remove_generation(folder: Path, generation: str) -> None:
    for path in (folder / f"vectors-{generation}.npy", folder / f"index-{generation}.parquet"):
        with contextlib.suppress(OSError):  # still mapped elsewhere (Windows): an orphan later
            path.unlink(missing_ok=True)


def _remove_orphans(folder: Path, keep: str) -> None:
    """Generations left by crashed writers, once they are old enough not to be in progress."""
    now = time.time()
    for path in list(folder.glob("vectors-*.npy")) + list(folder.glob("index-*.parquet")):
        if keep in path.name:
            continue
        try:
            if now - path.stat().st_mtime > ORPHAN_AGE_S:
                path.unlink()
        except OSError:
            pass


# ---- parts written by torchrun ranks -----------------------------------------------------------
def write_part(folder: Path, name: str, index: pd.DataFrame, vectors: np.ndarray) -> None:
    """Save one rank's finished rows; the index is written last and marks the part complete."""
    parts = folder / PARTS
    parts.mkdir(parents=True, exist_ok=True)
    np.save(parts / f"{name}.npy", vectors.astype(np.float16))
    tmp = parts / f"{name}.parquet.tmp"
    index.loc[:, list(INDEX_COLUMNS)].reset_index(drop=True).to_parquet(tmp, index=False)
    tmp.replace(parts / f"{name}.parquet")


def read_parts(folder: Path) -> CachedEmbeddings | None:
    """Every complete part, concatenated (None when there is none); damaged parts are skipped."""
    vectors, indexes = [], []
    for index_path in sorted((folder / PARTS).glob("*.parquet")):
        try:
            index = pd.read_parquet(index_path)
            part = np.load(index_path.with_suffix(".npy"))
        except (OSError, ValueError):
            continue
        if part.ndim == 2 and len(part) == len(index) and not set(INDEX_COLUMNS) - set(index):
            vectors.append(part)
            indexes.append(index.loc[:, list(INDEX_COLUMNS)])
    if not vectors or len({v.shape[1] for v in vectors}) != 1:
        return None
    index = pd.concat(indexes, ignore_index=True)
    return CachedEmbeddings(folder / PARTS, "parts", np.concatenate(vectors), index)


def remove_parts(folder: Path) -> None:
    """Drop the parts once a committed generation holds them."""
    for path in list((folder / PARTS).glob("*")):
        with contextlib.suppress(OSError):
            path.unlink()
    with contextlib.suppress(OSError):
        (folder / PARTS).rmdir()
