"""Model names, as users type them (contracts.md).

One string names a model everywhere (CLI ``--model``, GUI combo box, project settings), so the
parsing lives in one place:

* ``demo``                              the bundled demo CLIP (resources/models/demo-clip)
* ``ARCH/TAG``                          open_clip pretrained weights, e.g. ``ViT-B-32/openai``
* ``ARCH@/path/weights.safetensors``    an open_clip architecture with weights from a local file
* ``local-dir:/folder``                 an open_clip folder (open_clip_config.json + weights)
* ``hf-hub:org/repo``                   an open_clip model published on the Hugging Face hub
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from debias_studio.core.errors import ModelUnavailableError

ModelKind = Literal["demo", "pretrained", "file", "local_dir", "hf_hub"]

DEMO_NAME = "demo"
LOCAL_DIR_PREFIX = "local-dir:"
HF_HUB_PREFIX = "hf-hub:"


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model name. Only the fields that matter for ``kind`` are set."""

    name: str
    kind: ModelKind
    arch: str = ""
    tag: str = ""
    path: Path | None = None
    repo: str = ""


def parse_model_name(name: str) -> ModelSpec:
    """Split a model name into its parts; syntax errors become one readable sentence."""
    text = name.strip()
    if not text:
        raise ModelUnavailableError(
            "No model name was given; use 'demo' or e.g. 'ViT-B-32/openai'."
        )
    if text == DEMO_NAME:
        return ModelSpec(name=text, kind="demo")
    if text.startswith(LOCAL_DIR_PREFIX):
        folder = text[len(LOCAL_DIR_PREFIX) :].strip()
        if not folder:
            raise ModelUnavailableError("'local-dir:' must be followed by a folder path.")
        return ModelSpec(name=text, kind="local_dir", path=Path(folder).expanduser())
    if text.startswith(HF_HUB_PREFIX):
        repo = text[len(HF_HUB_PREFIX) :].strip().strip("/")
        if repo.count("/") != 1:
            raise ModelUnavailableError(
                f"'{text}' is not a hub model name; write it as 'hf-hub:organisation/repository'."
            )
        return ModelSpec(name=text, kind="hf_hub", repo=repo)
    if "@" in text:
        arch, _, file = text.partition("@")
        if not arch or not file:
            raise ModelUnavailableError(
                f"'{text}' is not a local weights name; "
                "write it as 'ARCH@/path/weights.safetensors'."
            )
        return ModelSpec(name=text, kind="file", arch=arch.strip(), path=Path(file).expanduser())
    if "/" in text:
        arch, _, tag = text.partition("/")
        if not arch or not tag or "/" in tag:
            raise ModelUnavailableError(
                f"'{text}' is not a pretrained model name; write it as 'ARCH/TAG', "
                "e.g. 'ViT-B-32/openai'."
            )
        return ModelSpec(name=text, kind="pretrained", arch=arch, tag=tag)
    raise ModelUnavailableError(
        f"'{text}' names no weights: use 'demo', 'ARCH/TAG' (e.g. 'ViT-B-32/openai'), "
        "'ARCH@/path/weights.safetensors', 'local-dir:/folder' or 'hf-hub:org/repo'."
    )
