"""Embedding throughput: the notebook way vs our engine, on the same JPEG files.

    python bench/embed.py [--images 256] [--size 512]

* plain: PIL ``Image.open`` -> open_clip preprocess -> fp32 ``encode_image``, batch 32, one
  process (what a notebook does), under ``torch.no_grad`` with the model in eval mode;
* ours: ``core.embed.engine.embed_files`` end to end from the same files (DataLoader workers, JPEG
  draft decode, the CPU precision measured for this machine). Reported twice: the first run on a
  machine includes the one-time precision measurement; ``ours_img_s`` is the steady state,
  timed alternately with plain on chunks of 64 files (a shared machine's load hits both alike).

The model is ViT-B/32-sized with random weights (``open_clip.create_model("ViT-B-32")``): timing
does not depend on the weights. Also printed: model-only throughput per precision, decode-only
throughput, and how faithful our embeddings are to the plain ones (cosine per image).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debias_studio.core.data.imageio import open_image
from debias_studio.core.embed.engine import embed_files
from debias_studio.core.jobs import run_quiet
from debias_studio.core.models.loaded import LoadedModel
from debias_studio.core.models.precision import build_encoder, cpu_has_native_bf16

PLAIN_BATCH = 32
CHUNK = 64


def write_images(folder: Path, count: int, size: int) -> list[Path]:
    """Synthetic photos: smooth colour fields with shapes and noise, saved as JPEG (q=90)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    paths = []
    for i in range(count):
        a, b, c = rng.uniform(0, 255, 3)
        field = np.stack([a * xx + b * (1 - yy), b * yy + c * xx, c * (1 - xx) + a * yy], -1)
        field += rng.normal(0, 12, field.shape)
        cy, cx, r = [*rng.uniform(0.2, 0.8, 2).tolist(), rng.uniform(0.05, 0.25)]
        field[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.uniform(0, 255, 3)
        path = folder / f"img_{i:04d}.jpg"
        Image.fromarray(np.clip(field / 2, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def plain(paths: list[Path], model: torch.nn.Module, preprocess: Any) -> tuple[float, np.ndarray]:
    out = []
    start = time.perf_counter()
    for i in range(0, len(paths), PLAIN_BATCH):
        batch = torch.stack([preprocess(Image.open(p)) for p in paths[i : i + PLAIN_BATCH]])
        with torch.no_grad():
            out.append(torch.nn.functional.normalize(model.encode_image(batch), dim=-1))
    seconds = time.perf_counter() - start
    return seconds, torch.cat(out).numpy()


def ours(paths: list[Path], loaded: LoadedModel) -> tuple[float, np.ndarray, str]:
    vectors = np.zeros((len(paths), loaded.embed_dim), dtype=np.float16)

    def sink(pos: np.ndarray, vecs: np.ndarray, codes: list[str], notes: list[str]) -> None:
        vectors[pos] = vecs

    start = time.perf_counter()
    encoder = run_quiet(embed_files([str(p) for p in paths], loaded, sink, batch_size=64))
    seconds = time.perf_counter() - start
    return seconds, vectors, encoder.precision if encoder else "?"


def model_only(loaded: LoadedModel, batch: torch.Tensor) -> dict[str, float]:
    rates: dict[str, float] = {}
    for name in ("fp32", "int8", "bf16", "bf16amp"):  # emulated bf16 is slow: timed on 4 images
        sample = batch if name != "bf16" or cpu_has_native_bf16() else batch[:4]
        encoder = build_encoder(loaded, name)
        encoder(sample[:2])
        start = time.perf_counter()
        encoder(sample)
        rates[f"model_{name}_img_s"] = round(len(sample) / (time.perf_counter() - start), 2)
    return rates


def decode_only(paths: list[Path], size: int) -> dict[str, float]:
    start = time.perf_counter()
    for p in paths:
        Image.open(p).convert("RGB")
    full = time.perf_counter() - start
    start = time.perf_counter()
    for p in paths:
        open_image(p.parent, p.name, min_side=size)
    draft = time.perf_counter() - start
    return {
        "decode_full_ms": round(1000 * full / len(paths), 2),
        "decode_draft_ms": round(1000 * draft / len(paths), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()

    import open_clip

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DEBIAS_STUDIO_CACHE"] = str(Path(tmp) / "user-cache")  # fresh measurement
        os.environ.pop("DEBIAS_STUDIO_CPU_PRECISION", None)
        folder = Path(tmp) / "images"
        folder.mkdir()
        paths = write_images(folder, args.images, args.size)
        for p in paths:  # warm the page cache so both sides read from memory
            p.read_bytes()

        torch.manual_seed(0)
        model, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32")
        model.eval()
        loaded = LoadedModel(
            name="bench ViT-B-32",
            model_id="bench-ViT-B-32-random",
            display_name="ViT-B-32 (random weights)",
            is_demo=False,
            model=model,
            preprocess=preprocess,
            tokenizer=open_clip.get_tokenizer("ViT-B-32"),
            image_size=224,
            embed_dim=512,
            device=torch.device("cpu"),
        )

        with torch.no_grad():  # warm-up (kernel selection) outside the timed runs, both sides
            model.encode_image(torch.zeros(2, 3, 224, 224))
        first_s, _, _ = ours(paths, loaded)  # a first run on this machine measures precision
        print(f"ours, first run (measures precision): {len(paths) / first_s:.1f} img/s")

        # Steady state, side by side: the two alternate on chunks of the same files, so load
        # from other processes on a shared machine hits both alike.
        plain_s = ours_s = 0.0
        plain_parts, ours_parts = [], []
        precision = "?"
        for k, start in enumerate(range(0, len(paths), CHUNK)):
            chunk = paths[start : start + CHUNK]
            for side in ("plain", "ours") if k % 2 == 0 else ("ours", "plain"):
                if side == "plain":
                    seconds, vecs = plain(chunk, model, preprocess)
                    plain_s += seconds
                    plain_parts.append(vecs)
                else:
                    seconds, vecs, precision = ours(chunk, loaded)
                    ours_s += seconds
                    ours_parts.append(vecs)
            print(f"  chunk {k}: plain {plain_s:.1f}s, ours {ours_s:.1f}s so far", flush=True)
        plain_vecs, ours_vecs = np.concatenate(plain_parts), np.concatenate(ours_parts)
        print(f"plain: {len(paths) / plain_s:.1f} img/s; ours ({precision}): ", end="")
        print(f"{len(paths) / ours_s:.1f} img/s", flush=True)

        cosine = np.sum(plain_vecs * ours_vecs.astype(np.float32), axis=1)
        batch = torch.stack([preprocess(Image.open(p)) for p in paths[:PLAIN_BATCH]])
        extra = model_only(loaded, batch)
        extra.update(decode_only(paths[:64], 224))
        from debias_studio.core.models import usercache

        decision = next(iter(usercache.read_json("cpu_precision.json").values()), {})

    result = {
        "plain_img_s": round(len(paths) / plain_s, 2),
        "ours_img_s": round(len(paths) / ours_s, 2),
        "ratio": round(plain_s / ours_s, 2),
        "ours_first_run_img_s": round(len(paths) / first_s, 2),
        "ours_precision": precision,
        "cosine_ours_vs_plain_min": round(float(cosine.min()), 4),
        "cosine_ours_vs_plain_mean": round(float(cosine.mean()), 4),
        **extra,
        "precision_probe": decision,
        "images": len(paths),
        "image_side": args.size,
        "torch_threads": torch.get_num_threads(),
        "cpu_native_bf16_probed": cpu_has_native_bf16(),
        "ceiling_ratio": round(
            (len(paths) / ours_s) / max(v for k, v in extra.items() if k.startswith("model_")), 2
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
