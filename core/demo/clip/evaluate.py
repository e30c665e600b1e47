"""Zero-shot checks of the demo CLIP on fresh renders of the demo's concepts.

Used by scripts/train_demo_clip.py (figures for the model card) and by the tests. Class text
embeddings are prompt ensembles (mean over templates, re-normalised), as discovery builds them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from debias_studio.core.demo.clip.captions import DEFAULT_TEMPLATES, DIGIT_WORDS
from debias_studio.core.demo.clip.corpus import Scene, render
from debias_studio.core.demo.palette import DIGIT_COLOURS, NAMED_COLOURS
from debias_studio.core.demo.shapes import SHAPES
from debias_studio.core.demo.textures import BACKGROUNDS

TASKS: dict[str, tuple[str, ...]] = {
    "colour": DIGIT_COLOURS,
    "plain_colour": tuple(NAMED_COLOURS),
    "background": BACKGROUNDS,
    "object_background": BACKGROUNDS,
    "digit": DIGIT_WORDS,
    "shape": SHAPES,
}
"""Task -> the class names it is scored over."""


@torch.no_grad()
def text_embeddings(
    model: Any,
    tokenizer: Callable[[list[str]], torch.Tensor],
    names: Sequence[str],
    templates: Sequence[str],
) -> torch.Tensor:
    """(len(names), d) L2-normalised prompt-ensemble embeddings."""
    prompts = [t.format(n) for n in names for t in templates]
    feats = model.encode_text(tokenizer(prompts), normalize=True).float()
    feats = feats.reshape(len(names), len(templates), -1).mean(dim=1)
    return torch.nn.functional.normalize(feats, dim=-1)


@torch.no_grad()
def image_embeddings(
    model: Any, preprocess: Callable[[Image.Image], torch.Tensor], images: Sequence[np.ndarray]
) -> torch.Tensor:
    """(n, d) L2-normalised embeddings of uint8 RGB arrays, through the model's own preprocess."""
    batch = torch.stack([preprocess(Image.fromarray(im)) for im in images])
    return model.encode_image(batch, normalize=True).float()


def task_scenes(task: str, n: int, rng: np.random.Generator) -> tuple[list[Scene], np.ndarray]:
    """``n`` scenes for ``task`` with their true class index, every other attribute random."""
    names = TASKS[task]
    truth = np.arange(n) % len(names)
    scenes: list[Scene] = []
    colours = tuple(NAMED_COLOURS)
    for k in truth:
        if task == "colour":
            digit = int(rng.integers(10))
            scenes.append(Scene("digit", colour=names[k], digit=digit, background="dark"))
        elif task == "plain_colour":
            scenes.append(Scene("plain", colour=names[k]))
        elif task == "background":
            scenes.append(Scene("texture", background=names[k]))
        elif task == "object_background":
            colour = str(rng.choice(["white", "yellow", "orange", "pink", "cyan", "blue"]))
            shape = str(rng.choice(["horse", "star", "heart"]))
            scenes.append(Scene("object", colour=colour, shape=shape, background=names[k]))
        elif task == "digit":
            colour = str(rng.choice(DIGIT_COLOURS))
            scenes.append(Scene("digit", colour=colour, digit=int(k), background="dark"))
        else:
            colour = str(rng.choice([c for c in colours if c != "black"]))
            scenes.append(Scene("object", colour=colour, shape=names[k], background="dark"))
    return scenes, truth


def zero_shot_accuracy(
    model: Any,
    tokenizer: Callable[[list[str]], torch.Tensor],
    preprocess: Callable[[Image.Image], torch.Tensor],
    templates: Sequence[str] = DEFAULT_TEMPLATES,
    *,
    per_class: int = 20,
    seed: int = 12345,
) -> dict[str, float]:
    """Accuracy of each task in TASKS on fresh renders (chance = 1 / number of classes)."""
    rng = np.random.default_rng(seed)
    result: dict[str, float] = {}
    model.eval()
    for task, names in TASKS.items():
        scenes, truth = task_scenes(task, per_class * len(names), rng)
        images = [render(s, rng, size=48 if s.kind == "digit" else 64) for s in scenes]
        sims = (
            image_embeddings(model, preprocess, images)
            @ text_embeddings(model, tokenizer, names, templates).T
        )
        result[task] = float((sims.argmax(dim=1).numpy() == truth).mean())
    return result


def concept_association(
    image_features: torch.Tensor,
    labels: np.ndarray,
    concept_features: torch.Tensor,
) -> np.ndarray:
    """Per concept, the strongest one-vs-rest ROC-AUC of its score for any class (0.5 = none).

    A quick stand-in for discovery's association signal: with the demo's planted bias the true
    confounder's words should top this list and words the model never saw should sit near 0.5."""
    from sklearn.metrics import roc_auc_score

    scores = (image_features @ concept_features.T).numpy()
    best = np.full(scores.shape[1], 0.5)
    for label in np.unique(labels):
        is_class = labels == label
        for k in range(scores.shape[1]):
            best[k] = max(best[k], roc_auc_score(is_class, scores[:, k]))
    return best
