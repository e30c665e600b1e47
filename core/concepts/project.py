"""Discovery on a project: its embeddings, its concept bank, a model's text tower, the store.

The arrays-only method lives in ``core.concepts.discovery``; this module gathers its inputs
(embeddings through core.embed.engine, computed when not cached; concept vectors from the
cached text embeddings or from exemplar folders) and writes the result to the project's
``discoveries`` table. The model is loaded only when a prompt or an exemplar folder is not
cached yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from debias_studio.core.concepts.bank import ConceptBank, bank_from_dict, load_bank
from debias_studio.core.concepts.cav import cav_from_folder, exemplar_files, model_image_embedder
from debias_studio.core.concepts.discovery import DiscoveryParams, discover_arrays
from debias_studio.core.concepts.probe import check_class_sizes
from debias_studio.core.concepts.result import DiscoveryResult
from debias_studio.core.concepts.text_cache import concept_text_vectors, text_cache_file
from debias_studio.core.errors import StudioError
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress, delegate
from debias_studio.core.store.discoveries import latest_discovery as stored_discovery
from debias_studio.core.store.discoveries import save_discovery
from debias_studio.core.store.exclusions import excluded_mask
from debias_studio.core.store.relabels import final_label_codes
from debias_studio.core.store.runs import run_probabilities
from debias_studio.core.threads import budgeted

BANK_META_KEY = "concept_bank"
STORE_TOP_PER_CLASS = 200
"""Rows per class kept in the project's discoveries table (the full table is returned)."""
CAV_NEGATIVES = 500


# ---- the project's concept bank ---------------------------------------------------------------
def project_bank(project: Any) -> ConceptBank:
    """The project's edited bank when it has one, else the built-in bank."""
    stored = project.get_meta(BANK_META_KEY)
    return bank_from_dict(stored, source="the project's concept list") if stored else load_bank()


def save_project_bank(project: Any, bank: ConceptBank) -> None:
    bank_from_dict(bank.to_dict(), source="the edited concept list")  # refuse an empty bank
    project.set_meta(BANK_META_KEY, bank.to_dict())


def resolve_bank(project: Any, concepts: ConceptBank | str | Path | None) -> ConceptBank:
    if isinstance(concepts, ConceptBank):
        bank_from_dict(concepts.to_dict(), source="the concept list")
        return concepts
    return load_bank(concepts) if concepts is not None else project_bank(project)


# ---- models and vectors -----------------------------------------------------------------------
class LazyModel:
    """Loads the model on first use only (cached text embeddings need no model at all)."""

    def __init__(self, model_name: str, device: str | None) -> None:
        self.model_name, self.device = model_name, device
        self._loaded: Any = None

    @property
    def loaded(self) -> Any:
        if self._loaded is None:
            from debias_studio.core.models.registry import load_model

            self._loaded = load_model(self.model_name, self.device)
        return self._loaded

    def encode_text(self, texts: list[str]) -> np.ndarray:
        return self.loaded.encode_text(texts)


def model_id_of(model_name: str) -> str:
    from debias_studio.core.models.registry import resolve_model

    return resolve_model(model_name).model_id


def concept_vectors(
    project: Any,
    bank: ConceptBank,
    model: LazyModel,
    embeddings: Any,
    *,
    seed: int = 0,
) -> np.ndarray:
    """(K, d) unit concept directions in bank order: text embeddings, or CAVs for concepts with
    an exemplar folder (negatives: a seeded sample of the project's images)."""
    for name, folder in bank.exemplars.items():
        exemplar_files(folder, name)  # a missing or empty folder fails before any work
    cache = text_cache_file(project.embeddings_dir / "text", model_id_of(model.model_name))
    text_bank = bank.subset([n for n in bank.names if n not in bank.exemplars])
    vectors: dict[str, np.ndarray] = {}
    if len(text_bank):
        for name, vector in zip(
            text_bank.names, concept_text_vectors(text_bank, model.encode_text, cache), strict=True
        ):
            vectors[name] = vector
    if bank.exemplars:
        negatives = _negative_sample(embeddings, seed)
        embed = model_image_embedder(model.loaded)
        for name, folder in bank.exemplars.items():
            vectors[name] = cav_from_folder(name, folder, embed, negatives).vector
    return np.stack([vectors[name] for name in bank.names]).astype(np.float32)


def _negative_sample(embeddings: Any, seed: int) -> np.ndarray:
    valid = np.flatnonzero(np.asarray(embeddings.valid, dtype=bool))
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(valid, min(CAV_NEGATIVES, len(valid)), replace=False))
    return np.asarray(embeddings.vectors[picked], dtype=np.float32)


# ---- discovery --------------------------------------------------------------------------------
@budgeted("discover")
def discover(
    project: Any,
    model_name: str = "demo",
    *,
    concepts: ConceptBank | str | Path | None = None,
    run_id: str | None = None,
    probabilities: np.ndarray | None = None,
    device: str | None = None,
    split: str = "train",
    params: DiscoveryParams | None = None,
    store: bool = True,
    cleaned: bool = True,
    cancel: CancelToken = NEVER_CANCELLED,
) -> Job[DiscoveryResult]:
    """Discover the spurious concepts of the project's ``split`` ("train" or "all").

    Predictions to explain: the reference probe (default), a finished run (``run_id``), or
    any ``probabilities`` (N, C) given directly. The result is stored in ``discoveries``.
    ``cleaned``: leave out the images the user excluded and use the labels they gave (relabels);
    False looks at the dataset as it was imported.
    """
    bank = resolve_bank(project, concepts)
    dataset = project.dataset
    _check_labels(dataset, split)
    if run_id is not None and probabilities is None:
        probabilities = run_probabilities(project, run_id)
    embeddings, vectors = yield from _embedded_inputs(project, bank, model_name, device, cancel)
    rows, labels = _rows_and_labels(project, embeddings, split, probabilities, cleaned)
    result = yield from delegate(
        discover_arrays(
            embeddings.vectors,
            labels,
            vectors,
            classes=list(dataset.classes),
            concepts=bank.names,
            categories=bank.category_list(),
            rows=rows,
            probabilities=probabilities,
            predictions=f"run:{run_id}" if run_id else "probe",
            params=params,
            cancel=cancel,
        ),
        45,
        55,
        100,
    )
    result.model_id = embeddings.model_id
    result.params["split"] = split
    result.params["cleaned"] = cleaned
    if store:
        store_discovery(project, result)
    return result


def _embedded_inputs(
    project: Any, bank: ConceptBank, model_name: str, device: str | None, cancel: CancelToken
) -> Job[tuple[Any, np.ndarray]]:
    """The images' embeddings (cached or computed now: the first 40% of the progress) and the
    bank's concept vectors in the same space."""
    from debias_studio.core.embed.engine import cached_or_embedded

    embeddings = yield from delegate(
        cached_or_embedded(project, model_name, device=device, cancel=cancel), 0, 40, 100
    )
    yield Progress(40, 100, f"embedding {len(bank)} concepts")
    model = LazyModel(model_name, device)
    vectors = concept_vectors(project, bank, model, embeddings)
    cancel.raise_if_cancelled()
    return embeddings, vectors


def _rows_and_labels(
    project: Any,
    embeddings: Any,
    split: str,
    probabilities: np.ndarray | None,
    cleaned: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """The rows discovery looks at and every image's label code: when ``cleaned``, without the
    images the user excluded and with the labels they gave."""
    dataset = project.dataset
    rows = _scope(dataset, embeddings, split, probabilities)
    labels = dataset.labels
    if cleaned:
        rows = rows[~excluded_mask(project)[rows]]
        labels = final_label_codes(project)
    return rows, labels


def _check_labels(dataset: Any, split: str) -> None:
    """Refuse a split without images or with one class before embedding anything (measured: a
    one-class project embedded for 18 s before discovery said no)."""
    labels = dataset.labels if split == "all" else dataset.labels[dataset.split_mask(split)]
    if len(labels) == 0:
        raise StudioError(f"The project has no usable images in the '{split}' split.")
    check_class_sizes(labels, list(dataset.classes))


def _scope(
    dataset: Any, embeddings: Any, split: str, probabilities: np.ndarray | None
) -> np.ndarray:
    """Images discovery looks at: embedded, in ``split``, and predicted (when predictions are
    given)."""
    keep = np.asarray(embeddings.valid, dtype=bool)
    if split != "all":
        keep = keep & dataset.split_mask(split)
    if probabilities is not None:
        keep = keep & ~np.isnan(probabilities).any(axis=1)
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        raise StudioError(f"The project has no usable images in the '{split}' split.")
    return rows


def store_discovery(
    project: Any, result: DiscoveryResult, top_per_class: int = STORE_TOP_PER_CLASS
) -> int:
    """Write ``result`` to the project's ``discoveries`` table; returns its id."""
    payload = result.to_json(top_per_class)
    return save_discovery(project, result.model_id, result.params, payload)


def latest_discovery(project: Any) -> dict[str, Any] | None:
    """The last stored discovery (JSON as written by ``DiscoveryResult.to_json``), or None."""
    stored = stored_discovery(project)
    if stored is None:
        return None
    data = stored.result
    data["id"] = stored.id
    return data


# ---- single concepts (thresholds, sorting the grid) --------------------------------------------
def concept_scores(
    project: Any,
    concept: str,
    model_name: str = "demo",
    *,
    device: str | None = None,
    concepts: ConceptBank | str | Path | None = None,
) -> np.ndarray:
    """Standardised score of one concept for every image (N,) float32, z-scored over the
    usable images (NaN where an image has no embedding). ``concept`` may be any text: words
    outside the bank use its prompt templates. Embeddings must be computed already."""
    return several_concept_scores(project, [concept], model_name, device=device, concepts=concepts)[
        :, 0
    ]


def several_concept_scores(
    project: Any,
    names: list[str],
    model_name: str = "demo",
    *,
    device: str | None = None,
    concepts: ConceptBank | str | Path | None = None,
) -> np.ndarray:
    """``concept_scores`` of a few concepts at once (N, len(names)), loading the model at most
    once (a confounder's value set; not meant for a whole bank: see ``discover``)."""
    from debias_studio.core.embed.engine import load_embeddings

    names = [" ".join(str(name).split()) for name in names]
    if not names or not all(names):
        raise StudioError("Name the concept to score.")
    embeddings = load_embeddings(project, model_name)
    if embeddings is None:
        raise StudioError("The images are not embedded with this model yet: run embed first.")
    bank = resolve_bank(project, concepts)
    known = bank.subset([n for n in names if n in bank]) if any(n in bank for n in names) else None
    free = [n for n in names if n not in bank]
    wanted = ConceptBank(
        list(bank.prompt_templates),
        {**(known.categories if known else {}), **({"custom": free} if free else {})},
        dict(known.prompts) if known else {},
        dict(known.exemplars) if known else {},
    )
    model = LazyModel(model_name, device)
    vectors = concept_vectors(project, wanted, model, embeddings)
    order = [wanted.names.index(n) for n in names]
    return np.stack(
        [standardised_scores(embeddings.vectors, embeddings.valid, vectors[k]) for k in order],
        axis=1,
    )


def standardised_scores(
    vectors: np.ndarray, valid: np.ndarray, concept: np.ndarray, chunk: int = 65_536
) -> np.ndarray:
    """z-scores of z . t over the valid rows (NaN elsewhere), streamed in chunks."""
    t = np.asarray(concept, dtype=np.float32)
    out = np.full(len(vectors), np.nan, dtype=np.float32)
    for start in range(0, len(vectors), chunk):
        out[start : start + chunk] = np.asarray(vectors[start : start + chunk], np.float32) @ t
    valid = np.asarray(valid, dtype=bool)
    out[~valid] = np.nan
    if valid.any():
        mean, std = float(out[valid].mean()), float(out[valid].std())
        out = (out - mean) / (std if std > 0 else 1.0)
    return out.astype(np.float32)
