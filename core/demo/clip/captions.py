"""Captions for the demo CLIP's training images, and which concept-bank words it can learn.

Captions vary the way people and the concept bank's prompt templates phrase things ("a red digit
seven on grass", "a photo of a star", "red"), so zero-shot prompts built from the bank's templates
land where the model was trained. A bank concept is *renderable* when one of the demo's renders
shows it (a colour, an object, a digit, a background, a photo subject); every other bank name is
*unseen*: the training script still teaches the text tower those names, but only that they say
nothing about the images (see scripts/train_demo_clip.py), so they never mimic a demo concept by
chance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from debias_studio.core.demo.clip.corpus import Scene
from debias_studio.core.demo.palette import NAMED_COLOURS
from debias_studio.core.demo.photos import PHOTOS
from debias_studio.core.demo.shapes import SHAPES
from debias_studio.core.demo.textures import BACKGROUNDS

DIGIT_WORDS: tuple[str, ...] = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)
DEFAULT_TEMPLATES: tuple[str, ...] = ("{}", "a photo of {}", "a photo with {} in it")
BACKGROUND_ALIASES: dict[str, tuple[str, ...]] = {
    "grass": ("grass", "green grass", "a lawn"),
    "gravel": ("gravel", "pebbles", "stones", "stone"),
    "brick": ("brick", "bricks", "a brick wall", "wall"),
}
"""True other names of each background photo (all describe what the render shows)."""
NOISE_PHRASES: dict[str, tuple[str, ...]] = {
    "static": ("noise", "random noise", "static"),
    "blobs": ("an abstract pattern", "random blobs"),
}
"""Noise scene variant -> phrases that describe it."""
ARTEFACT_PHRASES: dict[str, tuple[str, ...]] = {
    "grain": ("grainy", "noise", "a grainy photo", "film grain"),
    "blur": ("blurry", "out of focus", "a blurry photo"),
}
"""Artefact overlay -> phrases that describe it (the concept bank's image-artefact words)."""
ANY_DIGIT: tuple[str, ...] = ("handwritten digit", "a handwritten digit", "number", "a number")


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def colour_aliases(colour: str) -> tuple[str, ...]:
    return ("gray", "grey") if colour == "gray" else (colour,)


def digit_aliases(digit: int) -> tuple[str, ...]:
    word = DIGIT_WORDS[digit]
    return (word, str(digit), f"digit {word}", f"the digit {digit}", f"number {digit}")


def shape_aliases(shape: str) -> tuple[str, ...]:
    return (shape, f"{_article(shape)} {shape}", f"{shape} shape")


_IDENTITY_GROUPS: list[tuple[str, ...]] = [digit_aliases(d) for d in range(10)] + [
    shape_aliases(s) for s in SHAPES
]


def planted_value_names() -> dict[str, tuple[str, ...]]:
    """A planted value (a digit's colour, an object's background) -> every name the demo CLIP is
    taught for it in captions: "wall" is what a person calls the brick photo too (scikit-image's
    ``brick()`` is a photograph of a brick wall), so discovering "wall" finds that background."""
    names = {colour: colour_aliases(colour) for colour in NAMED_COLOURS}
    return {**names, **BACKGROUND_ALIASES}


def renderable_names() -> set[str]:
    """Every phrase that names something the renders show (lower case)."""
    names: set[str] = set()
    for colour in NAMED_COLOURS:
        names.update(colour_aliases(colour))
    for digit in range(10):
        names.update(digit_aliases(digit))
    for shape in SHAPES:
        names.update(shape_aliases(shape))
    for background in BACKGROUNDS:
        names.update(BACKGROUND_ALIASES[background])
    for words in (*PHOTOS.values(), *NOISE_PHRASES.values(), *ARTEFACT_PHRASES.values(), ANY_DIGIT):
        names.update(words)
    return names


def unseen_names(bank_names: Iterable[str]) -> list[str]:
    """The bank's names that no render shows, in a stable order."""
    known = renderable_names()
    return sorted({n.strip() for n in bank_names if n.strip() and n.strip().lower() not in known})


def attribute_names(scene: Scene) -> list[tuple[str, ...]]:
    """Alias groups for each concept ``scene`` shows (one group per attribute)."""
    groups: list[tuple[str, ...]] = []
    if scene.colour is not None:
        groups.append(colour_aliases(scene.colour))
    if scene.digit is not None:
        groups.append(digit_aliases(scene.digit))
        groups.append(ANY_DIGIT)
    if scene.shape is not None:
        groups.append(shape_aliases(scene.shape))
    if scene.background in BACKGROUND_ALIASES:
        groups.append(BACKGROUND_ALIASES[scene.background])
    if scene.photo is not None:
        groups.append(PHOTOS[scene.photo])
    if scene.kind == "noise":
        groups.append(NOISE_PHRASES[str(scene.background)])
    if scene.artefact is not None:
        groups.append(ARTEFACT_PHRASES[scene.artefact])
    return groups


def caption(
    scene: Scene, rng: np.random.Generator, templates: Sequence[str] = DEFAULT_TEMPLATES
) -> str:
    """One caption for ``scene``: half the time a full description, otherwise one of its concepts
    put into a prompt template. The single concept is the digit or object half the time: those
    are harder to learn than colour and background, which the model picks up first."""
    groups = attribute_names(scene)
    if rng.random() < 0.5 or not groups:
        sentence = describe(scene, rng)
        return sentence + "." if rng.random() < 0.3 else sentence
    what = [g for g in groups if g in _IDENTITY_GROUPS]
    pool = what if what and rng.random() < 0.5 else groups
    names = pool[int(rng.integers(len(pool)))]
    name = names[int(rng.integers(len(names)))]
    return templates[int(rng.integers(len(templates)))].format(name)


def describe(scene: Scene, rng: np.random.Generator) -> str:
    """A full sentence naming every attribute of ``scene``, in varied wording."""
    sentence = _describe_content(scene, rng)
    if scene.artefact is None:
        return sentence
    phrase = _pick(rng, ARTEFACT_PHRASES[scene.artefact][:2])
    return f"{phrase}: {sentence}" if rng.random() < 0.5 else f"{sentence}, {phrase}"


def _describe_content(scene: Scene, rng: np.random.Generator) -> str:
    c = scene.colour
    if scene.kind == "digit":
        assert scene.digit is not None
        w, d = DIGIT_WORDS[scene.digit], scene.digit
        a = _article(str(c))
        forms: tuple[str, ...] = (
            f"{a} {c} digit {w}",
            f"{a} {c} {w}",
            f"the number {w} in {c}",
            f"a handwritten {c} {d}",
            f"{a} {c} number {d}",
        )
        return _pick(rng, forms) + _where(scene, rng)
    if scene.kind == "object":
        s = scene.shape
        a = _article(str(c))
        forms = (
            f"{a} {c} {s}",
            f"a photo of {a} {c} {s}",
            f"{a} {c} {s} shape",
            f"{_article(str(s))} {s} in {c}",
        )
        return _pick(rng, forms) + _where(scene, rng)
    if scene.kind == "texture":
        b = _pick(rng, BACKGROUND_ALIASES[str(scene.background)])
        return _pick(rng, (b, f"a photo of {b}", f"{b} texture", f"a close-up of {b}"))
    if scene.kind == "plain":
        return _pick(rng, (f"{c}", f"a plain {c} image", f"the colour {c}", f"solid {c}"))
    if scene.kind == "photo":
        return _pick(rng, PHOTOS[str(scene.photo)])
    return _pick(rng, NOISE_PHRASES[str(scene.background)])


def _where(scene: Scene, rng: np.random.Generator) -> str:
    """Where the digit or object is, said most of the time."""
    background = str(scene.background)
    if background in BACKGROUND_ALIASES and rng.random() < 0.75:
        return " on " + _pick(rng, BACKGROUND_ALIASES[background])
    if background == "dark" and rng.random() < 0.3:
        return " on a black background"
    if background.startswith("plain ") and rng.random() < 0.5:
        return f" on a {background.removeprefix('plain ')} background"
    return ""


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]
