"""Model registry over open_clip (contracts.md, "debias_studio.core.models").

Names: ``demo`` (bundled demo CLIP), ``ARCH/TAG`` (open_clip pretrained), ``ARCH@/path/file``
(local weights), ``local-dir:/folder`` (open_clip folder), ``hf-hub:org/repo``.
"""

from debias_studio.core.models.device import default_device, resolve_device
from debias_studio.core.models.loaded import LoadedModel
from debias_studio.core.models.names import ModelSpec, parse_model_name
from debias_studio.core.models.registry import (
    DEMO_DISPLAY_NAME,
    ModelInfo,
    is_cached,
    list_architectures,
    list_pretrained,
    load_model,
    resolve_model,
)

__all__ = [
    "DEMO_DISPLAY_NAME",
    "LoadedModel",
    "ModelInfo",
    "ModelSpec",
    "default_device",
    "is_cached",
    "list_architectures",
    "list_pretrained",
    "load_model",
    "parse_model_name",
    "resolve_device",
    "resolve_model",
]
