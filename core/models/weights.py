"""Reading weight files safely, and naming them by content.

Weights are data, never code: safetensors is read as is; ``.pt``/``.bin``/``.pth`` files only
through ``torch.load(weights_only=True)``, which refuses pickled objects. A weights file's short
content hash goes into the model id, so a retrained demo model (or an edited local file) never
reuses embeddings cached for the old weights. The hash is remembered per (path, size, mtime) so
a large file is read once, not at every start.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import torch

from debias_studio.core.errors import ModelUnavailableError
from debias_studio.core.models import usercache

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".pt", ".pth", ".bin")
HASH_CACHE = "weights_hashes.json"
SHORT_HASH = 10


def weights_hash(path: Path) -> str:
    """Short sha256 of the file's bytes (cached per path, size, modification time and inode:
    a file replaced by rename gets a new inode even within one coarse timestamp tick)."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
    known = usercache.read_json(HASH_CACHE).get(key)
    if isinstance(known, str):
        return known
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    short = digest.hexdigest()[:SHORT_HASH]
    with contextlib.suppress(OSError):  # a read-only cache only costs a re-hash next time
        usercache.update_json(HASH_CACHE, key, short)
    return short


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file, without ever running pickled code."""
    if not path.is_file():
        raise ModelUnavailableError(f"The weights file {path} does not exist.")
    suffix = path.suffix.lower()
    try:
        if suffix in SAFE_SUFFIXES:
            from safetensors.torch import load_file

            state: Any = load_file(str(path), device="cpu")
        elif suffix in PICKLE_SUFFIXES:
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise ModelUnavailableError(
                f"{path.name} is not a weights file we read; use .safetensors (or .pt/.bin/.pth)."
            )
    except ModelUnavailableError:
        raise
    except Exception as exc:  # the readers raise many types for damaged or unsafe files
        raise ModelUnavailableError(
            f"Cannot read weights from {path.name}: the file is damaged or holds more than plain "
            f"tensors ({type(exc).__name__})."
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise ModelUnavailableError(f"{path.name} holds no tensors.")
    if all(isinstance(k, str) and k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def load_into(model: torch.nn.Module, path: Path, label: str) -> None:
    """Load ``path`` into an open_clip model, adapting known layouts, or explain the mismatch."""
    from open_clip.factory import convert_state_dict, convert_to_custom_text_state_dict
    from open_clip.model import resize_pos_embed, resize_text_pos_embed

    state = read_state_dict(path)
    try:
        state = convert_state_dict(model, state)
        if "positional_embedding" in state and not hasattr(model, "positional_embedding"):
            state = convert_to_custom_text_state_dict(state)
        for key in ("logit_scale", "logit_bias"):
            target = getattr(model, key, None)
            if key in state and target is not None and target.ndim != state[key].ndim:
                state[key] = state[key].reshape(target.shape)
        if getattr(model, "logit_bias", None) is not None and "logit_bias" not in state:
            bias = model.logit_bias
            assert isinstance(bias, torch.Tensor)
            state["logit_bias"] = torch.zeros_like(bias)
        resize_pos_embed(state, model)
        resize_text_pos_embed(state, model)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, KeyError, ValueError, AssertionError) as exc:
        own = set(model.state_dict())
        missing, unexpected = len(own - set(state)), len(set(state) - own)
        raise ModelUnavailableError(
            f"The weights in {path.name} do not fit {label} ({missing} missing and {unexpected} "
            "unexpected tensors, or tensors of another shape)."
        ) from exc
