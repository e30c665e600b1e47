"""Real objects on real scenes, built the way Waterbirds was: cut-outs composited onto scene
photographs, the scene travelling with the class in training only.

Objects (core.demo.cutouts: coins, a flower, a person, segmented from bundled photos) are pasted
at a random position, scale (45-75 % of the side), tilt (+-15 degrees) and mirror onto a patch of
a scene category (core.demo.scenes). Their colour is jittered (a third kept, a third greyscale, a
third tinted) so that colour does not name the class. In training, class k sits on scene k in the
``aligned`` fraction of its images; validation and test are balanced over scenes. Each image
keeps its compositing alpha as its mask, as Waterbirds kept the CUB segmentation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from debias_studio.core.demo.bias import planted_values
from debias_studio.core.demo.cutouts import OBJECT_CLASSES, Cutout, cutouts
from debias_studio.core.demo.scenes import SCENE_NAMES, scene_patch


@dataclass
class SceneObjects:
    """The images (N, S, S, 3) and masks (N, S, S) as uint8, with labels, scene values and split
    names per image."""

    images: np.ndarray
    masks: np.ndarray
    labels: np.ndarray
    values: np.ndarray
    splits: np.ndarray
    classes: tuple[str, ...] = OBJECT_CLASSES
    scenes: tuple[str, ...] = SCENE_NAMES


def build_scene_objects(
    seed: int = 0,
    *,
    size: int = 64,
    train_per_class: int = 400,
    held_out_per_group: int = 30,
    aligned: float = 0.95,
) -> SceneObjects:
    """A full set: ``train_per_class`` training images per class, ``held_out_per_group`` images
    of every (class, scene) group in validation and in test. Deterministic by ``seed``."""
    n_classes, n_scenes = len(OBJECT_CLASSES), len(SCENE_NAMES)
    held_out = held_out_per_group * n_scenes
    per_class = train_per_class + 2 * held_out
    labels = np.repeat(np.arange(n_classes), per_class)
    one_class = ["train"] * train_per_class + ["val"] * held_out + ["test"] * held_out
    splits = np.array(one_class * n_classes, dtype=object)
    values = planted_values(labels, splits, n_scenes, aligned, np.random.default_rng([seed, 11]))
    rng = np.random.default_rng([seed, 12])
    images = np.empty((len(labels), size, size, 3), dtype=np.uint8)
    masks = np.empty((len(labels), size, size), dtype=np.uint8)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        background = scene_patch(SCENE_NAMES[value], size, rng)
        instances = cutouts(OBJECT_CLASSES[label])
        rgb, alpha = place_object(instances[int(rng.integers(len(instances)))], size, rng)
        a = alpha[..., None]
        images[i] = np.round((background * (1.0 - a) + rgb * a) * 255.0).astype(np.uint8)
        masks[i] = np.round(alpha * 255.0).astype(np.uint8)
    return SceneObjects(images, masks, labels, values, splits)


def place_object(
    cutout: Cutout, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The cut-out jittered and placed on a ``size`` canvas: (RGB, alpha), both float."""
    rgba = np.concatenate([jitter_colour(cutout.rgb, rng), cutout.alpha[..., None]], axis=2)
    image = Image.fromarray(np.round(rgba * 255.0).astype(np.uint8), "RGBA")
    if rng.random() < 0.5:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    image = image.rotate(float(rng.uniform(-15, 15)), Image.Resampling.BILINEAR, expand=True)
    longest = rng.uniform(0.45, 0.75) * size
    scale = longest / max(image.size)
    w, h = max(int(image.size[0] * scale), 1), max(int(image.size[1] * scale), 1)
    image = image.resize((w, h), Image.Resampling.LANCZOS)
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    canvas.paste(image, (int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))))
    pixels = np.asarray(canvas, dtype=np.float32) / 255.0
    return pixels[..., :3], pixels[..., 3]


def jitter_colour(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Kept, greyscale or tinted (a third each), then brightness x U(0.75, 1.25)."""
    grey = (rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32))[..., None]
    mode = int(rng.integers(3))
    if mode == 1:
        rgb = np.repeat(grey, 3, axis=2)
    elif mode == 2:
        tint = rng.uniform(0.3, 1.0, size=3).astype(np.float32)
        rgb = grey * tint / tint.max() * 1.2
    return np.clip(rgb * rng.uniform(0.75, 1.25), 0.0, 1.0)
