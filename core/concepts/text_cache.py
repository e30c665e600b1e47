"""Concept text embeddings: t_k = normalise(mean over the prompt ensemble of the prompt embeddings).

The text tower is the slow part (PERFORMANCE.md: 10k prompts take minutes on a CPU), so every
prompt's embedding is cached per model id in one ``.npz`` file and only new prompts are encoded.
The encoder is any callable ``list[str] -> (n, d) float32`` (``LoadedModel.encode_text`` in the
app, a fake in tests), so nothing here needs a model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from debias_studio.core.concepts.bank import ConceptBank
from debias_studio.core.errors import StudioError

TextEncoder = Callable[[list[str]], np.ndarray]


def text_cache_file(folder: Path, model_id: str) -> Path:
    """Where the prompt embeddings of ``model_id`` are cached under ``folder``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:120] or "model"
    return folder / f"text-{safe}.npz"


def prompt_embeddings(
    prompts: Sequence[str], encode: TextEncoder, cache_file: Path | None = None
) -> np.ndarray:
    """L2-normalised embedding of every prompt (n, d) float32, reusing and extending the cache."""
    cached = _read(cache_file) if cache_file is not None else {}
    todo = sorted({p for p in prompts if p not in cached})
    if todo:
        fresh = np.asarray(encode(todo), dtype=np.float32)
        if fresh.ndim != 2 or fresh.shape[0] != len(todo):
            raise StudioError("The text encoder returned the wrong number of embeddings.")
        fresh = _normalise(fresh)
        cached.update(zip(todo, fresh, strict=True))
        if cache_file is not None:
            _write(cache_file, cached)
    if not prompts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([cached[p] for p in prompts]).astype(np.float32)


def concept_text_vectors(
    bank: ConceptBank, encode: TextEncoder, cache_file: Path | None = None
) -> np.ndarray:
    """One unit vector per concept of ``bank`` (K, d): the re-normalised mean of its prompts."""
    names = bank.names
    if not names:
        raise StudioError("The concept list is empty; add at least one concept.")
    ensembles = [bank.prompts_for(name) for name in names]
    flat = [p for ensemble in ensembles for p in ensemble]
    vectors = prompt_embeddings(flat, encode, cache_file)
    out = np.empty((len(names), vectors.shape[1]), dtype=np.float32)
    start = 0
    for k, ensemble in enumerate(ensembles):
        out[k] = vectors[start : start + len(ensemble)].mean(axis=0)
        start += len(ensemble)
    return _normalise(out)


def _normalise(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as data:
            prompts, vectors = data["prompts"], data["vectors"]
    except (OSError, ValueError, KeyError):
        return {}  # a damaged cache is only lost time: it is rebuilt
    return {str(p): v.astype(np.float32) for p, v in zip(prompts, vectors, strict=True)}


def _write(path: Path, table: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    prompts = np.array(list(table), dtype=str)
    vectors = np.stack(list(table.values())).astype(np.float32)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, prompts=prompts, vectors=vectors)
    tmp.replace(path)
