"""A model ready to embed: the open_clip network plus what the rest of the engine needs to know.

``model_id`` is the cache key for everything derived from the model (image embeddings, text
embeddings, concept scores): two models with different weights never share an id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

TEXT_BATCH = 256


@dataclass
class LoadedModel:
    name: str  # the name it was asked for, e.g. "demo" or "ViT-B-32/openai"
    model_id: str  # stable cache key, safe as a file name
    display_name: str  # what the GUI shows; the demo model says it is one
    is_demo: bool
    model: Any  # open_clip CLIP / CustomTextCLIP, in eval mode on ``device``
    preprocess: Callable[[Any], torch.Tensor]  # PIL image -> (3, H, W) float tensor
    tokenizer: Callable[..., torch.Tensor]
    image_size: int  # the side the preprocess resizes to (largest, if not square)
    embed_dim: int
    device: torch.device
    weights_path: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def autocast(self) -> Any:
        """Mixed precision on CUDA (bf16 where supported, else fp16); none on CPU, where
        autocast re-casts the weights at every call and is slower than fp32 (PERFORMANCE.md)."""
        if self.device.type != "cuda":
            return nullcontext()
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)

    def encode_images(self, batch: torch.Tensor) -> np.ndarray:
        """Preprocessed images (n, 3, H, W) -> L2-normalised float32 embeddings (n, d)."""
        with torch.inference_mode(), self.autocast():
            features = self.model.encode_image(batch.to(self.device, non_blocking=True))
        return _normalised(features)

    def encode_text(self, texts: Sequence[str]) -> np.ndarray:
        """Prompts -> L2-normalised float32 embeddings (n, d), in batches of ``TEXT_BATCH``."""
        if len(texts) == 0:
            return np.zeros((0, self.embed_dim), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), TEXT_BATCH):
            tokens = self.tokenizer(list(texts[start : start + TEXT_BATCH])).to(self.device)
            with torch.inference_mode(), self.autocast():
                parts.append(_normalised(self.model.encode_text(tokens)))
        return np.concatenate(parts, axis=0)


def _normalised(features: torch.Tensor) -> np.ndarray:
    return F.normalize(features.float(), dim=-1).cpu().numpy()
