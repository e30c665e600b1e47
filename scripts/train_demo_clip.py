"""Train the bundled demo CLIP on rendered synthetic image-caption pairs, on the CPU.

    python scripts/train_demo_clip.py --out resources/models/demo-clip

The result is a small open_clip model (a ViT image tower and a 3-layer text tower) that knows the
demo's concepts — ten colours, eight objects, the grass/gravel/brick backgrounds, the handwritten
digits, a few everyday photos — and nothing else. It is written as an open_clip ``local-dir``
folder (``open_clip_config.json``, fp16 ``open_clip_model.safetensors``, ``MODEL_CARD.md``).

How it is trained, and why:

* Images come from ``core.demo.clip.corpus`` (the same drawing code as the demo data) with
  attributes drawn independently, so colour, object, digit and background are separate concepts.
  A fixed pool is rendered once; captions are drawn afresh at every step
  (``core.demo.clip.captions``), in the concept bank's prompt templates among other phrasings.
* open_clip's own ``CLIP`` model and ``ClipLoss`` do the learning.
* A third of the batches hold a single colour, and a sixth a single background, so within them
  only the digit or object tells captions apart: the contrastive loss then has to learn shape,
  which it otherwise postpones in favour of the easier colour.
* Image artefacts (film grain, blur) are overlays on any kind of picture, captioned as such, so
  the bank's artefact words learn the overlay: taught on bare noise renders alone, "grainy" had
  learned "high-frequency texture" and outranked "gravel" as the shortcut of gravel-bound objects.
* Concept-bank names the renders never show ("bicycle", "sky"...) are still trained: at each
  step a few of them are encoded and the variance of their similarity over the batch's (detached)
  images is penalised. That turns them away from every direction in which the images differ, so
  they score all images alike and discovery never finds them tied to a demo class by chance.
* Training uses a compact vocabulary (only the tokens the captions and the bank use, plus an
  "unknown" row trained like an unseen name); on export the full 49,408-row table is rebuilt with
  every never-trained token set to that row, so a word the model never saw means "nothing here"
  rather than a random direction.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from debias_studio.core.demo.clip.captions import DEFAULT_TEMPLATES, caption, unseen_names
from debias_studio.core.demo.clip.corpus import render, sample_scene
from debias_studio.core.demo.clip.evaluate import zero_shot_accuracy
from debias_studio.core.models.save import save_local_dir

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGE_SIZE = 40
MODEL_CFG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {
        "image_size": IMAGE_SIZE,
        "patch_size": 8,
        "width": 96,
        "layers": 4,
        "head_width": 32,
        "mlp_ratio": 4.0,
    },
    "text_cfg": {
        "context_length": 24,
        "vocab_size": 49408,
        "width": 64,
        "heads": 4,
        "layers": 3,
    },
}
PREPROCESS_CFG: dict[str, Any] = {
    "size": IMAGE_SIZE,
    "mode": "RGB",
    "mean": list(OPENAI_MEAN),
    "std": list(OPENAI_STD),
    "interpolation": "bicubic",
    "resize_mode": "shortest",
    "fill_color": 0,
}
REPO = Path(__file__).resolve().parents[1]
DEFAULT_BANK = REPO / "resources" / "concepts" / "concept_bank.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "resources" / "models" / "demo-clip")
    parser.add_argument("--bank", type=Path, default=DEFAULT_BANK, help="concept_bank.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--unseen-batch", type=int, default=32)
    parser.add_argument("--pool", type=int, default=12000, help="images rendered once")
    parser.add_argument("--lr", type=float, default=1.5e-3)
    parser.add_argument("--threads", type=int, default=2)
    return parser.parse_args(argv)


def read_bank(path: Path) -> tuple[list[str], list[str]]:
    """(prompt templates, every concept name) of the concept bank."""
    if not path.is_file():
        raise SystemExit(f"The concept bank {path} does not exist; pass --bank FILE.")
    data = json.loads(path.read_text(encoding="utf-8"))
    templates = [t for t in data.get("prompt_templates", []) if "{}" in t] or list(
        DEFAULT_TEMPLATES
    )
    names = [n for group in data["categories"].values() for n in group]
    return templates, names


def render_pool(n: int, seed: int) -> tuple[torch.Tensor, list[Any]]:
    """``n`` random scenes drawn once, as uint8 (n, 3, S, S) at the model's input size: drawn at
    the demo data's sizes (digits 48 px, the rest 64 px) and resized the way open_clip's
    preprocess resizes them (PIL bicubic), so training pixels match what the model is shown."""
    rng = np.random.default_rng([seed, 10])
    scenes = [sample_scene(rng) for _ in range(n)]
    pixels = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    start = time.time()
    for i, scene in enumerate(scenes):
        size = 48 if scene.kind == "digit" else 64
        image = render(scene, rng, size=size)
        if size != IMAGE_SIZE:
            image = np.asarray(
                Image.fromarray(image).resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BICUBIC)
            )
        pixels[i] = image
        if (i + 1) % 2000 == 0:
            print(f"rendered {i + 1}/{n} images ({time.time() - start:.0f} s)", flush=True)
    return torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous(), scenes


class CompactVocab:
    """Maps open_clip token ids onto the few thousand the training text uses.

    Order is kept (pad 0 first, then the used ids ascending, so end-of-text stays the largest id,
    which open_clip's text pooling relies on); id 1 is the "unknown" row."""

    UNK = 1

    def __init__(self, tokenizer: Any, texts: list[str], vocab_size: int) -> None:
        used = torch.unique(tokenizer(texts).flatten())
        used = used[used != 0]
        self.kept = torch.cat([torch.tensor([0]), used])  # full ids of compact rows 0, 2, 3...
        self.lut = torch.full((vocab_size,), self.UNK, dtype=torch.long)
        self.lut[0] = 0
        self.lut[used] = torch.arange(2, 2 + len(used))
        self.size = 2 + len(used)

    def __call__(self, full_ids: torch.Tensor) -> torch.Tensor:
        return self.lut[full_ids]

    def full_table(self, compact: torch.Tensor, vocab_size: int) -> torch.Tensor:
        """The (vocab_size, width) embedding table: trained rows where trained, else UNK's."""
        table = compact[self.UNK].repeat(vocab_size, 1)
        table[0] = compact[0]
        table[self.kept[1:]] = compact[2:]
        return table


def unseen_tokens(
    names: list[str], templates: list[str], vocab: CompactVocab, tokenizer: Any, rng: Any
) -> torch.Tensor:
    """Prompts of unseen names; in a third of them the name's own tokens are replaced by UNK,
    which teaches the unknown row the same "says nothing" meaning."""
    chosen = [templates[int(rng.integers(len(templates)))] for _ in names]
    tokens = vocab(tokenizer([t.format(n) for t, n in zip(chosen, names, strict=True)]))
    for row, (template, name) in enumerate(zip(chosen, names, strict=True)):
        if rng.random() < 1 / 3:
            own = set(vocab(torch.tensor(tokenizer.encode(name), dtype=torch.long)).tolist())
            frame = set(
                vocab(
                    torch.tensor(tokenizer.encode(template.format("")), dtype=torch.long)
                ).tolist()
            )
            for col in range(tokens.shape[1]):
                if int(tokens[row, col]) in own - frame:
                    tokens[row, col] = CompactVocab.UNK
    return tokens


def batch_themes(scenes: list[Any]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pool indices of the digits and objects of each colour, and of each demo background."""
    by_colour: dict[str, list[int]] = {}
    by_ground: dict[str, list[int]] = {}
    for i, scene in enumerate(scenes):
        if scene.kind in ("digit", "object"):
            by_colour.setdefault(scene.colour, []).append(i)
            if not scene.background.startswith("plain "):
                by_ground.setdefault(scene.background, []).append(i)
    return [np.array(by_colour[c]) for c in sorted(by_colour)], [
        np.array(by_ground[b]) for b in sorted(by_ground)
    ]


def pick_theme(
    themes: tuple[list[np.ndarray], list[np.ndarray]], rng: Any, pool: int
) -> np.ndarray | int:
    """What to draw a batch from: one colour (30 %), one background (15 %) or the whole pool."""
    colours, grounds = themes
    roll = rng.random()
    if roll < 0.3:
        return colours[int(rng.integers(len(colours)))]
    if roll < 0.45:
        return grounds[int(rng.integers(len(grounds)))]
    return pool


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Weight decay on matrices only (not gains, biases, embeddings or the temperature)."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        no_decay = p.ndim < 2 or "embedding" in name or "logit_scale" in name
        (plain if no_decay else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0}]


def train(args: argparse.Namespace, out: Path) -> dict[str, Any]:
    import open_clip

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng([args.seed, 11])
    templates, bank_names = read_bank(args.bank)
    unseen = unseen_names(bank_names)
    print(f"{len(bank_names)} bank concepts, {len(unseen)} not shown by any render", flush=True)

    with tempfile.TemporaryDirectory() as staging:
        (Path(staging) / "open_clip_config.json").write_text(
            json.dumps({"model_cfg": MODEL_CFG, "preprocess_cfg": PREPROCESS_CFG}), "utf-8"
        )
        tokenizer = open_clip.get_tokenizer(f"local-dir:{staging}")
        full, _, preprocess = open_clip.create_model_and_transforms(
            f"local-dir:{staging}", load_weights=False, pretrained_text=False
        )

    pool, scenes = render_pool(args.pool, args.seed)
    vocab_texts = [caption(scenes[i], rng, templates) for i in rng.integers(0, args.pool, 40000)]
    vocab_texts += [t.format(n) for n in bank_names for t in templates]
    vocab = CompactVocab(tokenizer, vocab_texts, MODEL_CFG["text_cfg"]["vocab_size"])
    compact_cfg = json.loads(json.dumps(MODEL_CFG))
    compact_cfg["text_cfg"]["vocab_size"] = vocab.size
    model = open_clip.CLIP(**compact_cfg).train()
    print(f"compact vocabulary: {vocab.size} tokens", flush=True)

    loss_fn = open_clip.ClipLoss()
    optimizer = torch.optim.AdamW(param_groups(model, 0.05), lr=args.lr, betas=(0.9, 0.98))
    warmup = max(1, args.steps // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))
        ),
    )
    mean = torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(OPENAI_STD).view(1, 3, 1, 1)
    themes = batch_themes(scenes)
    start = time.time()
    for step in range(args.steps):
        idx = rng.choice(pick_theme(themes, rng, args.pool), args.batch_size, replace=False)
        images = (pool[idx].float() / 255.0 - mean) / std
        texts = vocab(tokenizer([caption(scenes[i], rng, templates) for i in idx]))
        names = [unseen[int(k)] for k in rng.integers(0, len(unseen), args.unseen_batch)]
        texts = torch.cat([texts, unseen_tokens(names, templates, vocab, tokenizer, rng)])
        image_f = model.encode_image(images, normalize=True)
        text_f = model.encode_text(texts, normalize=True)
        scale = model.logit_scale.exp()
        loss = loss_fn(image_f, text_f[: args.batch_size], scale)
        sims = scale.detach() * image_f.detach() @ text_f[args.batch_size :].T
        loss_unseen = sims.var(dim=0).mean()
        optimizer.zero_grad(set_to_none=True)
        (loss + loss_unseen).backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % 25 == 0 or step == args.steps - 1:
            elapsed = time.time() - start
            eta = elapsed / (step + 1) * (args.steps - step - 1)
            print(
                f"step {step + 1}/{args.steps} loss {loss.item():.3f} "
                f"unseen {loss_unseen.item():.3f} scale {scale.item():.1f} "
                f"({elapsed:.0f} s, {eta:.0f} s left)",
                flush=True,
            )
    state = model.state_dict()
    state["token_embedding.weight"] = vocab.full_table(
        state["token_embedding.weight"], MODEL_CFG["text_cfg"]["vocab_size"]
    )
    full.load_state_dict(state)
    save_local_dir(full.half(), out, MODEL_CFG, PREPROCESS_CFG)
    return {
        "seconds": round(time.time() - start),
        "bank_concepts": len(bank_names),
        "unseen_concepts": len(unseen),
        "vocab": vocab.size,
        "templates": templates,
        "preprocess": preprocess,
    }


def evaluate(out: Path, templates: list[str]) -> dict[str, float]:
    """Zero-shot accuracy of the model as saved (fp16 weights loaded the open_clip way)."""
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{out}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{out}")
    return zero_shot_accuracy(model.float().eval(), tokenizer, preprocess, templates)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out: Path = args.out
    info = train(args, out)
    accuracy = evaluate(out, info["templates"])
    print(json.dumps({"zero_shot": accuracy, "train_seconds": info["seconds"]}), flush=True)
    write_card(out, args, info, accuracy)
    return 0


def write_card(
    out: Path, args: argparse.Namespace, info: dict[str, Any], accuracy: dict[str, float]
) -> None:
    from debias_studio.core.demo.clip.evaluate import TASKS

    weights = out / "open_clip_model.safetensors"
    v, t = MODEL_CFG["vision_cfg"], MODEL_CFG["text_cfg"]
    rows = "\n".join(
        f"| {task} | {len(TASKS[task])} | {100 * acc:.1f} % | {100 / len(TASKS[task]):.0f} % |"
        for task, acc in accuracy.items()
    )
    weak = [task for task, acc in accuracy.items() if acc < 2.0 / len(TASKS[task])]
    limits = (
        "**Limits:** this version has not learned "
        + ", ".join(weak)
        + " (accuracy below twice chance): use it for the colour and background demos, and a "
        "pretrained model where those concepts matter."
        if weak
        else "**Limits:** only the concepts above, on images like the renders."
    )
    text = f"""# Demo CLIP (not pretrained CLIP)

A **tiny demo model** for Debias Studio's built-in demo data. It was trained from scratch, on the
CPU, on about {args.steps * args.batch_size:,} synthetic image-caption pairs rendered by
`scripts/train_demo_clip.py`: handwritten digits (scikit-learn) in ten colours, eight objects
(scikit-image's horse silhouette and drawn shapes), crops of scikit-image's grass, gravel and brick
photos, plain colours, a few everyday photos shipped with scikit-image, and noise; 15 % of the
pictures carry film grain or blur laid over them. It has **never
seen a real-world image collection**. It is not OpenAI CLIP, not LAION CLIP and not a substitute
for them: use a pretrained open_clip model (e.g. `ViT-B-32/openai`) for real data.

What it was taught: the colour, object, digit and background words above, and the artefact words
"grainy", "noise", "blurry", "out of focus" for the overlays, in captions such as "a red digit
seven on grass", "a photo of gravel" or "grainy: a red star on bricks". It learns the overlays only
weakly (they are subtle at 40 px); what the demos need is that no artefact word stands for a
background texture, as "grainy" did for gravel when it was taught on noise renders alone.
The other {info["unseen_concepts"]} of the concept bank's {info["bank_concepts"]} names were
trained only to say *nothing* about images
(they score all images alike), and every word outside its {info["vocab"]:,}-token training
vocabulary maps to the same "unknown" embedding.

## Architecture

open_clip `CLIP`: ViT image tower ({v["image_size"]} px input, patch {v["patch_size"]}, width
{v["width"]}, {v["layers"]} layers), text transformer (context {t["context_length"]}, width
{t["width"]}, {t["layers"]} layers), {MODEL_CFG["embed_dim"]}-d joint embedding. Weights are fp16
safetensors
({weights.stat().st_size / 1e6:.1f} MB); load with
`open_clip.create_model_and_transforms("local-dir:<this folder>")` or Debias Studio's model name
`demo`.

## Zero-shot accuracy on fresh renders

Prompt ensemble over the concept bank's templates; 20 images per class.

| task | classes | accuracy | chance |
|---|---|---|---|
{rows}

{limits}

## Rebuild

`python scripts/train_demo_clip.py --out resources/models/demo-clip` (seed {args.seed},
{args.steps} steps of batch {args.batch_size}, about {info["seconds"] // 60 + 1} minutes on 2 CPU
cores).
"""
    (out / "MODEL_CARD.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
