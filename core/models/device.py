"""Which device runs the models: a setting, not an assumption (ARCHITECTURE.md, rule 7).

Default: ``cuda`` when a CUDA GPU is present, else ``cpu``. ``DEBIAS_STUDIO_DEVICE`` overrides
the default for the whole app (e.g. to keep a shared GPU free); an explicit ``device`` argument
overrides both.
"""

from __future__ import annotations

import os

import torch

from debias_studio.core.errors import StudioError


def default_device() -> str:
    """The device used when none is asked for."""
    setting = os.environ.get("DEBIAS_STUDIO_DEVICE", "").strip()
    if setting:
        return resolve_device(setting).type
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Turn a device setting into a ``torch.device``, refusing ones this machine lacks."""
    if device is None:
        return torch.device(default_device())
    try:
        resolved = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise StudioError(f"'{device}' is not a device name; use 'cpu' or 'cuda'.") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise StudioError("A CUDA GPU was asked for, but none is available; use 'cpu'.")
    if resolved.type not in ("cpu", "cuda"):
        raise StudioError(f"Device '{device}' is not supported; use 'cpu' or 'cuda'.")
    return resolved
