"""The embedding engine: image files -> L2-normalised CLIP embeddings, cached per project.

``embed_project`` is a job (core.jobs): it yields ``Progress`` once per batch, stops at the next
batch when cancelled, and returns an ``EmbeddingSet`` whose row i is image id i. Only images whose
(path, size, mtime_ns) fingerprint is not cached for this model id are decoded and embedded, so
re-opening a project costs nothing and adding images embeds only the new ones. What was computed
before a cancel is kept. Images that cannot be decoded get ``valid=False`` and an
``ImageProblem``; they never stop the job.

Speed (PERFORMANCE.md): decoding runs in DataLoader worker processes with JPEG draft mode; the
model runs under ``torch.inference_mode`` with CUDA autocast, or on CPU in the precision that
measured fastest while staying faithful (``core.models.precision``).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from debias_studio.core.data.dataset import ImageProblem
from debias_studio.core.data.rootpaths import DatasetRoot
from debias_studio.core.embed.cache import (
    CachedEmbeddings,
    CacheWriter,
    model_folder,
    read_cache,
    read_parts,
    remove_parts,
)
from debias_studio.core.embed.loader import ImageFiles, make_loader
from debias_studio.core.errors import JobCancelled, require_range
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress
from debias_studio.core.models.device import resolve_device
from debias_studio.core.models.loaded import LoadedModel
from debias_studio.core.models.precision import ImageEncoder, choose_encoder
from debias_studio.core.models.registry import load_model, resolve_model
from debias_studio.core.threads import job_budget

PROBE_MIN_IMAGES = 64
"""Measure CPU precisions only for jobs at least this big: below, the probe costs more than
it can save (a decision already measured for this model is still used)."""
PROBE_SAMPLE = 8
COPY_CHUNK = 65_536
MAX_BATCH = 4096
"""Largest embedding batch accepted (--batch-size)."""

_ENGINE_MODELS: OrderedDict[tuple[str, str], LoadedModel] = OrderedDict()
"""Models kept between jobs for embedding only (never handed out, so nobody trains them);
with them stay their built encoders (an int8 ViT-B takes seconds to quantise)."""
_KEEP_MODELS = 1

BatchSink = Callable[[np.ndarray, np.ndarray, list[str], list[str]], None]
"""Receives (positions in the job's path list, float32 vectors, problem codes, details)."""


@dataclass
class EmbeddingSet:
    model_id: str
    vectors: np.ndarray  # (N, d) float16, memory-mapped, L2-normalised; zeros where not valid
    valid: np.ndarray  # (N,) bool; False: the image could not be decoded
    problems: list[ImageProblem] = field(default_factory=list)
    computed: int = 0  # images embedded by the call that returned this set (0: all cached)


# ---- public API --------------------------------------------------------------------------------
def load_embeddings(project: object, model_name: str = "demo") -> EmbeddingSet | None:
    """The cached embeddings of the project's images for ``model_name``, without computing.

    None unless every image is cached. Fingerprints are compared with the dataset table's
    ``size``/``mtime_ns`` when it has them (no file system access); ``embed_project`` re-checks
    the files themselves.
    """
    dataset = project.dataset  # type: ignore[attr-defined]
    info = resolve_model(model_name)
    cached = read_cache(model_folder(project.embeddings_dir, info.model_id))  # type: ignore[attr-defined]
    if cached is None:
        return None
    table = dataset.table
    paths = table["path"].astype(str).to_numpy()
    index = cached.index
    has_fp = {"size", "mtime_ns"} <= set(table.columns)
    if len(index) == len(table) and bool(index["done"].all()):
        same = np.array_equal(index["path"].to_numpy(), paths)
        if same and has_fp:
            same = _fingerprints_equal(index, table)
        if same:
            return _as_set(info.model_id, cached, computed=0)
    keys = ["path", "size", "mtime_ns"] if has_fp else ["path"]
    wanted = table[keys].copy()
    wanted["path"] = paths
    rows = _match_rows(cached.index, wanted, keys)
    if (rows < 0).any():
        return None
    vectors = np.asarray(cached.vectors[rows])
    subset = cached.index.iloc[rows].reset_index(drop=True)
    return EmbeddingSet(info.model_id, vectors, subset["valid"].to_numpy(bool), _problems(subset))


def cached_or_embedded(
    project: object,
    model_name: str = "demo",
    *,
    device: str | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[EmbeddingSet]:
    """The project's embeddings for ``model_name``: the cache when it holds every image (no
    file is touched), else ``embed_project`` now. What discovery, training and the map use."""
    cached = load_embeddings(project, model_name)
    if cached is not None:
        return cached
    yield Progress(0, 0, "embedding images")
    return (yield from embed_project(project, model_name, device=device, cancel=cancel))


def embed_project(
    project: object,
    model_name: str = "demo",
    *,
    device: str | None = None,
    batch_size: int = 64,
    num_workers: int | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[EmbeddingSet]:
    """Embed the project's images with ``model_name``, reusing every cached embedding."""
    require_range("The batch size", batch_size, 1, MAX_BATCH)
    dataset = project.dataset  # type: ignore[attr-defined]
    paths = dataset.table["path"].astype(str).tolist()
    root = str(dataset.root)
    files = [os.path.join(root, p) for p in paths]  # 5x faster than Path joins at 100k
    sizes, mtimes = yield from file_fingerprints(files, cancel)
    info = resolve_model(model_name)
    folder = model_folder(project.embeddings_dir, info.model_id)  # type: ignore[attr-defined]
    cached, parts = read_cache(folder), read_parts(folder)
    wanted = pd.DataFrame({"path": paths, "size": sizes, "mtime_ns": mtimes})
    if cached is not None and parts is None and _is_current(cached, wanted):
        yield Progress(len(paths), len(paths), "all embeddings are cached")
        return _as_set(info.model_id, cached, computed=0)

    sources = known_rows([cached, parts], wanted)
    missing = sizes < 0
    plan = _Plan(
        paths, sources, _start_index(wanted, sources, missing), _rows_to_embed(sources, missing)
    )
    loaded: LoadedModel | None = None
    if len(plan.todo) or (cached is None and parts is None):  # else the model gives the dimension
        yield Progress(0, len(plan.todo), f"loading {info.display_name}")
        loaded = engine_model(model_name, info.model_id, device)
    dim = loaded.embed_dim if loaded is not None else next(c.dim for c, _ in sources)
    result = yield from _write_generation(
        CacheWriter(folder, len(paths), dim),
        plan,
        loaded,
        dataset.root,
        batch_size=batch_size,
        num_workers=num_workers,
        cancel=cancel,
    )
    return _as_set(info.model_id, result, computed=len(plan.todo))


@dataclass
class _Plan:
    """One embedding job's work: the image paths, the cached sources and each path's row there,
    the new generation's index (reused rows filled in) and the rows still to embed."""

    paths: list[str]
    sources: list[tuple[CachedEmbeddings, np.ndarray]]
    index: pd.DataFrame
    todo: np.ndarray


def _rows_to_embed(
    sources: list[tuple[CachedEmbeddings, np.ndarray]], missing: np.ndarray
) -> np.ndarray:
    """The rows no source holds, less the files that are missing."""
    known = np.zeros(len(missing), dtype=bool)
    for _, rows in sources:
        known |= rows >= 0
    return np.flatnonzero(~known & ~missing)


def _write_generation(
    writer: CacheWriter,
    plan: _Plan,
    loaded: LoadedModel | None,
    root: Path,
    *,
    batch_size: int,
    num_workers: int | None,
    cancel: CancelToken,
) -> Job[CachedEmbeddings]:
    """Fill the next cache generation (reused vectors copied, the rest embedded) and commit it,
    merging away the parts of torchrun ranks. A cancel commits what was computed, so the next run
    continues from there; any other failure leaves the previous generation as it was."""
    try:
        for source, rows in plan.sources:
            _copy_reused(writer.vectors, source, rows)
        if len(plan.todo):
            assert loaded is not None
            yield from embed_files(
                [plan.paths[i] for i in plan.todo],
                loaded,
                _index_sink(writer, plan),
                batch_size=batch_size,
                num_workers=num_workers,
                cancel=cancel,
                root=DatasetRoot.of(root),
            )
    except JobCancelled:
        writer.commit(plan.index)  # keep what was computed; the next run continues from there
        remove_parts(writer.folder)
        raise
    except BaseException:
        writer.abort()
        raise
    result = writer.commit(plan.index)
    remove_parts(writer.folder)  # merged into the generation just committed
    return result


def _index_sink(writer: CacheWriter, plan: _Plan) -> BatchSink:
    """Where embedded batches go: vectors into the writer (zeros for undecodable images), their
    validity and problems into the plan's index."""
    todo, index = plan.todo, plan.index

    def sink(pos: np.ndarray, vecs: np.ndarray, codes: list[str], notes: list[str]) -> None:
        ids = todo[pos]
        ok = np.array([c == "" for c in codes], dtype=bool)
        writer.vectors[ids] = np.where(ok[:, None], vecs, 0).astype(np.float16)
        index.loc[ids, "valid"] = ok
        index.loc[ids, "problem"] = codes
        index.loc[ids, "detail"] = notes
        index.loc[ids, "done"] = True

    return sink


def embed_files(
    files: Sequence[str],
    loaded: LoadedModel,
    sink: BatchSink,
    *,
    batch_size: int = 64,
    num_workers: int | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
    encoder: ImageEncoder | None = None,
    root: DatasetRoot | None = None,
) -> Job[ImageEncoder | None]:
    """Embed image files batch by batch, handing each batch to ``sink``; returns the encoder.

    ``files`` are relative to the dataset folder ``root`` (opened through its containment
    check); without ``root`` they are full paths."""
    if not files:
        return encoder
    with job_budget("embed", items=len(files), device=loaded.device.type) as budget:
        return (
            yield from _embed_batches(
                files,
                loaded,
                sink,
                batch_size=batch_size,
                num_workers=budget.workers if num_workers is None else num_workers,
                cancel=cancel,
                encoder=encoder,
                root=root,
            )
        )


def _embed_batches(
    files: Sequence[str],
    loaded: LoadedModel,
    sink: BatchSink,
    *,
    batch_size: int,
    num_workers: int,
    cancel: CancelToken,
    encoder: ImageEncoder | None,
    root: DatasetRoot | None,
) -> Job[ImageEncoder | None]:
    size = loaded.image_size
    dataset = ImageFiles(
        files, loaded.preprocess, min_side=size, shape=_input_shape(loaded), root=root
    )
    loader = make_loader(
        dataset,
        batch_size=batch_size,
        num_workers=num_workers,
        pin_memory=loaded.device.type == "cuda",
    )
    total, done = len(files), 0
    batches = iter(loader)
    try:
        for positions, images, codes, notes in batches:
            cancel.raise_if_cancelled()
            if encoder is None:
                encoder = _pick_encoder(loaded, images, codes, total)
            vectors = encoder(images)
            sink(positions.numpy(), vectors, list(codes), list(notes))
            done += len(positions)
            yield Progress(done, total, f"embedded {done}/{total} images ({encoder.precision})")
        cancel.raise_if_cancelled()
    finally:
        del batches  # shuts the worker processes down, also on cancel
    return encoder


# ---- helpers -----------------------------------------------------------------------------------
def file_fingerprints(files: list[str], cancel: CancelToken) -> Job[tuple[np.ndarray, np.ndarray]]:
    """(size, mtime_ns) of every file; -1 for files that are gone."""
    sizes = np.full(len(files), -1, dtype=np.int64)
    mtimes = np.full(len(files), -1, dtype=np.int64)
    for i, path in enumerate(files):
        try:
            stat = os.stat(path)
        except OSError:
            continue
        sizes[i], mtimes[i] = stat.st_size, stat.st_mtime_ns
        if i % 20_000 == 19_999:
            cancel.raise_if_cancelled()
            yield Progress(i + 1, len(files), "checking files")
    return sizes, mtimes


def _is_current(cached: CachedEmbeddings, wanted: pd.DataFrame) -> bool:
    index = cached.index
    return (
        len(index) == len(wanted)
        and bool(index["done"].all())
        and np.array_equal(index["path"].to_numpy(), wanted["path"].to_numpy())
        and _fingerprints_equal(index, wanted)
    )


def _fingerprints_equal(index: pd.DataFrame, table: pd.DataFrame) -> bool:
    return all(
        np.array_equal(index[c].to_numpy(np.int64), table[c].to_numpy(np.int64))
        for c in ("size", "mtime_ns")
    )


def _match_rows(index: pd.DataFrame, wanted: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """For each wanted row, the cache row with the same fingerprint (``-1``: none)."""
    have = index.loc[index["done"].astype(bool), keys].copy()
    have["row"] = have.index.to_numpy(np.int64)
    have = have.drop_duplicates(subset=keys, keep="last")
    probe = wanted[keys].copy()
    for key in keys:
        if key != "path":
            probe[key] = probe[key].astype(np.int64)
            have[key] = have[key].astype(np.int64)
    probe["path"] = probe["path"].astype(str)
    have["path"] = have["path"].astype(str)
    merged = probe.merge(have, on=keys, how="left", sort=False)
    return merged["row"].fillna(-1).to_numpy(np.int64)


def known_rows(
    sources: Sequence[CachedEmbeddings | None], wanted: pd.DataFrame
) -> list[tuple[CachedEmbeddings, np.ndarray]]:
    """Each existing source with, per wanted row, its row there (-1: none or an earlier
    source has it): the committed cache first, then the parts of torchrun ranks."""
    found: list[tuple[CachedEmbeddings, np.ndarray]] = []
    taken = np.zeros(len(wanted), dtype=bool)
    for source in sources:
        if source is None:
            continue
        rows = _match_rows(source.index, wanted, ["path", "size", "mtime_ns"]).copy()
        rows[taken] = -1
        taken |= rows >= 0
        found.append((source, rows))
    return found


def _start_index(
    wanted: pd.DataFrame,
    sources: list[tuple[CachedEmbeddings, np.ndarray]],
    missing: np.ndarray,
) -> pd.DataFrame:
    """The new index: reused rows copied from the sources, missing files marked, the rest to do."""
    n = len(wanted)
    index = wanted.copy()
    index["done"] = np.zeros(n, dtype=bool)
    index["valid"] = np.zeros(n, dtype=bool)
    index["problem"] = np.full(n, "", dtype=object)
    index["detail"] = np.full(n, "", dtype=object)
    for cached, rows in sources:
        reused = np.flatnonzero(rows >= 0)
        if len(reused):
            source = cached.index.iloc[rows[reused]]
            for column in ("valid", "problem", "detail"):
                index.loc[reused, column] = source[column].to_numpy()
            index.loc[reused, "done"] = True
    index.loc[missing, ["done", "valid", "problem", "detail"]] = [True, False, "missing", ""]
    index.loc[missing, "detail"] = "file not found"
    return index


def _copy_reused(target: np.ndarray, cached: CachedEmbeddings, rows: np.ndarray) -> None:
    reused = np.flatnonzero(rows >= 0)
    for start in range(0, len(reused), COPY_CHUNK):
        part = reused[start : start + COPY_CHUNK]
        target[part] = cached.vectors[rows[part]]


def engine_model(model_name: str, model_id: str, device: str | None) -> LoadedModel:
    key = (model_id, str(resolve_device(device)))
    if key not in _ENGINE_MODELS:
        _ENGINE_MODELS[key] = load_model(model_name, device)
        while len(_ENGINE_MODELS) > _KEEP_MODELS:
            _ENGINE_MODELS.popitem(last=False)
    _ENGINE_MODELS.move_to_end(key)
    return _ENGINE_MODELS[key]


def _pick_encoder(
    loaded: LoadedModel, images: torch.Tensor, codes: Sequence[str], total: int
) -> ImageEncoder:
    """The precision for this job: measured (once per machine and model) for big jobs only."""
    good = [i for i, c in enumerate(codes) if c == ""][:PROBE_SAMPLE]
    measure = total >= PROBE_MIN_IMAGES and len(good) >= 4
    return choose_encoder(loaded, images[good], measure=measure)


def _input_shape(loaded: LoadedModel) -> tuple[int, int, int]:
    size = getattr(loaded.model.visual, "image_size", loaded.image_size)
    if isinstance(size, (tuple, list)):
        return (3, int(size[0]), int(size[1]))
    return (3, int(size), int(size))


def _as_set(model_id: str, cached: CachedEmbeddings, computed: int) -> EmbeddingSet:
    return EmbeddingSet(
        model_id=model_id,
        vectors=cached.vectors,
        valid=cached.index["valid"].to_numpy(bool),
        problems=_problems(cached.index),
        computed=computed,
    )


def _problems(index: pd.DataFrame) -> list[ImageProblem]:
    bad = index.loc[~index["valid"].astype(bool)]
    return [
        ImageProblem(str(p), str(c), str(d))
        for p, c, d in zip(bad["path"], bad["problem"], bad["detail"], strict=True)
    ]
