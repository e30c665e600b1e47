"""Concept activation vectors learnt from exemplar images, DISC's way, but in CLIP space.

DISC (after Yuksekgonul et al.'s CCE) fits a linear SVM with C = 0.1 separating a concept's
exemplar images from negatives and uses the normal of the separating hyperplane as the concept's
direction. We do the same on CLIP image embeddings, so a concept the text tower cannot name (a
hospital's ruler, a lab's stain) is scored exactly like a word: s_ik = z_i . v_k.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from debias_studio.core.data.scan import IMAGE_EXTENSIONS
from debias_studio.core.errors import StudioError

SVM_C = 0.1
"""DISC's regulariser for the concept SVMs."""
MAX_EXEMPLARS = 500

ImageEmbedder = Callable[[list[Path]], np.ndarray]
"""Image files -> L2-normalised embeddings (n, d) float32; rows of unreadable files all zero."""


@dataclass(frozen=True)
class Cav:
    """One learnt concept: ``vector`` is the unit normal (d,), ``max_margin`` DISC's scale (the
    largest signed distance of a training exemplar), ``train_accuracy`` how separable it was."""

    vector: np.ndarray
    intercept: float
    max_margin: float
    train_accuracy: float
    n_positive: int


def learn_cav(
    positives: np.ndarray, negatives: np.ndarray, *, c: float = SVM_C, name: str = "concept"
) -> Cav:
    """Linear SVM (C=``c``) of exemplars vs negatives; refuses too few examples on either side."""
    from sklearn.svm import SVC

    positives = np.asarray(positives, dtype=np.float32)
    negatives = np.asarray(negatives, dtype=np.float32)
    if len(positives) == 0:
        raise StudioError(f"The concept '{name}' has no exemplar images to learn from.")
    if len(negatives) == 0:
        raise StudioError(f"The concept '{name}' needs negative images to learn a direction.")
    x = np.concatenate([positives, negatives])
    y = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    svm = SVC(C=c, kernel="linear")
    svm.fit(x, y)
    coef = np.asarray(svm.coef_, dtype=np.float64).ravel()
    norm = float(np.linalg.norm(coef))
    if norm == 0.0:
        raise StudioError(f"The exemplars of '{name}' cannot be told apart from the negatives.")
    margins = (x @ coef + float(svm.intercept_[0])) / norm
    return Cav(
        vector=(coef / norm).astype(np.float32),
        intercept=float(svm.intercept_[0]) / norm,
        max_margin=float(margins.max()),
        train_accuracy=float(svm.score(x, y)),
        n_positive=len(positives),
    )


def exemplar_files(folder: str | Path, name: str = "concept") -> list[Path]:
    """The image files of an exemplar folder (sorted, at most ``MAX_EXEMPLARS``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise StudioError(f"The exemplar folder of '{name}' ({folder}) does not exist.")
    files = sorted(
        folder / f
        for f in os.listdir(folder)
        if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS and (folder / f).is_file()
    )
    if not files:
        raise StudioError(f"The exemplar folder of '{name}' ({folder}) holds no images.")
    return files[:MAX_EXEMPLARS]


def cav_from_folder(
    name: str,
    folder: str | Path,
    embed: ImageEmbedder,
    negatives: np.ndarray,
    *,
    c: float = SVM_C,
) -> Cav:
    """Embed a concept's exemplar folder and learn its CAV against ``negatives``."""
    vectors = np.asarray(embed(exemplar_files(folder, name)), dtype=np.float32)
    usable = vectors[np.linalg.norm(vectors, axis=1) > 0]
    if len(usable) == 0:
        raise StudioError(f"None of the exemplar images of '{name}' could be read.")
    return learn_cav(usable, negatives, c=c, name=name)


def model_image_embedder(loaded: object, batch_size: int = 32) -> ImageEmbedder:
    """An ``ImageEmbedder`` over a ``core.models.LoadedModel`` (decoding with core.data.imageio)."""
    import torch

    from debias_studio.core.data.imageio import ImageReadError, open_image

    def embed(files: list[Path]) -> np.ndarray:
        dim = int(loaded.embed_dim)  # type: ignore[attr-defined]
        out = np.zeros((len(files), dim), dtype=np.float32)
        size = int(loaded.image_size)  # type: ignore[attr-defined]
        for start in range(0, len(files), batch_size):
            tensors, rows = [], []
            for i, path in enumerate(files[start : start + batch_size], start=start):
                try:
                    image = open_image(path.parent, path.name, min_side=size)
                except ImageReadError:
                    continue
                tensors.append(loaded.preprocess(image))  # type: ignore[attr-defined]
                rows.append(i)
            if tensors:
                out[rows] = loaded.encode_images(torch.stack(tensors))  # type: ignore[attr-defined]
        return out

    return embed
