"""Writing a model as an open_clip ``local-dir`` folder, the layout ``local-dir:`` names load.

Used by scripts/train_demo_clip.py for the bundled demo model, by the tests (tiny random models)
and by the benchmark. Weights go to safetensors only, so loading them never runs code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from debias_studio.core.models.offline import HF_CONFIG_NAME, HF_SAFE_WEIGHTS_NAME
from debias_studio.core.models.usercache import write_json_atomic


def create_model(model_cfg: dict[str, Any]) -> torch.nn.Module:
    """A randomly initialised open_clip CLIP for an explicit architecture config."""
    from open_clip import CLIP, CustomTextCLIP

    cfg = dict(model_cfg)
    custom_text = bool(cfg.pop("custom_text", False))
    model = (CustomTextCLIP if custom_text else CLIP)(**cfg)
    return model.eval()


def save_local_dir(
    model: torch.nn.Module,
    folder: Path,
    model_cfg: dict[str, Any],
    preprocess_cfg: dict[str, Any] | None = None,
) -> Path:
    """Write ``open_clip_config.json`` and ``open_clip_model.safetensors`` into ``folder``."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    weights = folder / HF_SAFE_WEIGHTS_NAME
    tmp = weights.with_suffix(".tmp")
    save_file(state, str(tmp))
    tmp.replace(weights)
    config = {"model_cfg": model_cfg, "preprocess_cfg": dict(preprocess_cfg or {})}
    write_json_atomic(folder / HF_CONFIG_NAME, config)
    return folder
