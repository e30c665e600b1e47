"""Synthetic images for training the demo CLIP: every concept the demo data shows, rendered.

A ``Scene`` says what an image holds (a coloured handwritten digit, a coloured object on a
background, a bare texture, a plain colour, an everyday photo or noise), and whether an image
artefact (film grain, blur) lies over it; ``render`` draws it with
the same code the demo data uses (core.demo), so the model sees exactly the kind of pixels it will
be asked about. Scenes mix the attributes freely (any digit in any colour, any object on any
background) so that the model learns colour, shape, digit and background as separate concepts and
not the demo's planted pairings. Captions are written by ``core.demo.clip.captions``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageFilter

from debias_studio.core.demo.backgrounds import composite
from debias_studio.core.demo.digits import BACKGROUND as DARK
from debias_studio.core.demo.digits import handwritten_digits, stroke_alpha, tint
from debias_studio.core.demo.palette import DIGIT_COLOURS, NAMED_COLOURS, jittered, rgb
from debias_studio.core.demo.photos import PHOTOS, random_view
from debias_studio.core.demo.shapes import SHAPES, place
from debias_studio.core.demo.textures import BACKGROUNDS, random_crop

SIZE = 64
COLOURS: tuple[str, ...] = tuple(NAMED_COLOURS)
KIND_WEIGHTS: dict[str, float] = {
    "digit": 0.30,
    "object": 0.32,
    "texture": 0.12,
    "plain": 0.10,
    "photo": 0.10,
    "noise": 0.06,
}
"""How often each kind of scene is drawn."""
ARTEFACTS: tuple[str, ...] = ("grain", "blur")
ARTEFACT_RATE = 0.15
"""Share of the digit, object, texture, plain and photo scenes that get an artefact overlay. An
artefact is a property of the picture, not of what it shows: laid over every kind of content, the
words for it ("grainy", "blurry") learn the overlay and not a texture that merely looks like it
(gravel is not "grainy" unless grain lies over it)."""


@dataclass(frozen=True)
class Scene:
    """What one training image shows; ``None`` where an attribute does not apply."""

    kind: str
    colour: str | None = None
    shape: str | None = None
    background: str | None = None  # BACKGROUNDS, "dark", "plain <colour>"; noise: its variant
    digit: int | None = None
    photo: str | None = None
    artefact: str | None = None  # ARTEFACTS


def sample_scene(rng: np.random.Generator) -> Scene:
    """A random scene; every attribute independent of the others."""
    scene = _sample_content(rng)
    if scene.kind != "noise" and rng.random() < ARTEFACT_RATE:
        return replace(scene, artefact=_pick(rng, ARTEFACTS))
    return scene


def _sample_content(rng: np.random.Generator) -> Scene:
    kinds = list(KIND_WEIGHTS)
    kind = kinds[int(rng.choice(len(kinds), p=np.array(list(KIND_WEIGHTS.values()))))]
    if kind == "digit":
        colour = _pick(rng, DIGIT_COLOURS) if rng.random() < 0.85 else _pick(rng, COLOURS)
        digit = int(rng.integers(10))
        return Scene(kind, colour=colour, digit=digit, background=_ground(rng, colour))
    if kind == "object":
        colour = _pick(rng, COLOURS)
        return Scene(kind, colour=colour, shape=_pick(rng, SHAPES), background=_ground(rng, colour))
    if kind == "texture":
        return Scene(kind, background=_pick(rng, BACKGROUNDS))
    if kind == "plain":
        return Scene(kind, colour=_pick(rng, COLOURS))
    if kind == "photo":
        return Scene(kind, photo=_pick(rng, tuple(PHOTOS)))
    return Scene(kind, background=_pick(rng, ("static", "blobs")))


def render(scene: Scene, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """Draw ``scene`` as uint8 RGB (size, size, 3)."""
    if scene.kind in ("digit", "object"):
        assert scene.colour is not None
        alpha = (
            _digit_alpha(scene, rng, size)
            if scene.kind == "digit"
            else place(str(scene.shape), size, rng, scale=(0.45, 0.9))
        )
        ground = _ground_pixels(str(scene.background), size, rng)
        if scene.kind == "digit" and scene.background == "dark":
            pixels = tint(alpha, jittered(scene.colour, rng), rng)
        else:
            pixels = composite(ground, alpha, jittered(scene.colour, rng))
    elif scene.kind == "texture":
        pixels = random_crop(str(scene.background), size, rng)
    elif scene.kind == "plain":
        pixels = _plain(str(scene.colour), size, rng)
    elif scene.kind == "photo":
        pixels = random_view(str(scene.photo), size, rng)
    else:
        pixels = _noise(str(scene.background), size, rng)
    if scene.artefact is not None:
        pixels = _overlay(scene.artefact, np.clip(pixels, 0.0, 1.0), rng)
    return (np.clip(pixels, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _overlay(artefact: str, pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Film grain (grey, per pixel) or a Gaussian blur over a finished picture."""
    size = pixels.shape[0]
    if artefact == "grain":
        sigma = rng.uniform(0.08, 0.16)
        return pixels + rng.normal(0.0, sigma, size=(size, size, 1)).astype(np.float32)
    image = Image.fromarray((pixels * 255.0 + 0.5).astype(np.uint8))
    radius = rng.uniform(1.2, 2.2) * size / 64
    blurred = image.filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(blurred, dtype=np.float32) / 255.0


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _ground(rng: np.random.Generator, colour: str) -> str:
    """Where a digit or object of ``colour`` sits: mostly a dark backdrop or a demo background
    photo; never a ground of its own colour, on which it would vanish."""
    roll = rng.random()
    if roll < 0.4 and colour != "black":
        return "dark"
    if roll < 0.85:
        return _pick(rng, BACKGROUNDS)
    return "plain " + _pick(rng, tuple(c for c in COLOURS if c != colour))


def _digit_alpha(scene: Scene, rng: np.random.Generator, size: int) -> np.ndarray:
    images, labels = handwritten_digits()
    choices = np.flatnonzero(labels == scene.digit)
    return stroke_alpha(images[int(rng.choice(choices))], size, rng)


def _ground_pixels(background: str, size: int, rng: np.random.Generator) -> np.ndarray:
    if background == "dark":
        return np.broadcast_to(DARK, (size, size, 3)).astype(np.float32)
    if background.startswith("plain "):
        return _plain(background.removeprefix("plain "), size, rng)
    return random_crop(background, size, rng)


def _plain(colour: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A flat colour field with a gentle shading and sensor noise."""
    base = rgb(colour) * rng.uniform(0.9, 1.0)
    ramp = np.linspace(-0.05, 0.05, size, dtype=np.float32) * rng.choice([-1.0, 1.0])
    field = base[None, None, :] + (
        ramp[:, None, None] if rng.random() < 0.5 else ramp[None, :, None]
    )
    return field + rng.normal(0.0, 0.015, size=(size, size, 3)).astype(np.float32)


def _noise(variant: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Random static or smooth random blobs: images that show none of the demo's concepts."""
    if variant == "static":
        return rng.random((size, size, 3), dtype=np.float32)
    coarse = rng.random((4, 4, 3), dtype=np.float32)

    channels = [
        np.asarray(
            Image.fromarray(coarse[..., c], mode="F").resize((size, size), Image.Resampling.BICUBIC)
        )
        for c in range(3)
    ]
    return np.stack(channels, axis=2)
