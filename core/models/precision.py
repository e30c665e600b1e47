"""Picking the fastest faithful way to run the image tower on this machine.

On CUDA: autocast (bf16, or fp16 where bf16 is missing) - always faster, never measured.
On CPU the answer depends on the chip (PERFORMANCE.md):

* ``bf16`` weights and ``bf16amp`` (fp32 weights under bf16 autocast: LayerNorm, softmax and
  the final projection stay fp32, so it is the more faithful of the two) are several times
  faster than fp32 where the CPU computes bf16 in hardware (AVX512-BF16, AMX), and many times
  *slower* where it must emulate them (e.g. AMD Zen 3: ~0.1x). Whether it does is probed, not
  read from the CPU flags: one bf16 and one fp32 matrix product are timed (milliseconds), and
  the bf16 candidates are measured on the model only when bf16 won.
* ``int8``: dynamic int8 quantisation of every linear layer (``core.models.int8``); on AVX2 CPUs
  ~1.2-1.7x fp32. Used only when its embeddings stay faithful (min cosine to fp32 >= 0.99).
* ``fp32``: the reference.

The choice is measured once on a real batch (alternating runs, best of two) and remembered
per machine, torch version, thread count and model id in the user cache (``cpu_precision.json``).
``DEBIAS_STUDIO_CPU_PRECISION=fp32|int8|bf16|auto`` overrides it.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from debias_studio.core.models import usercache
from debias_studio.core.models.int8 import quantize_image_tower
from debias_studio.core.models.loaded import LoadedModel

CACHE_FILE = "cpu_precision.json"
MIN_COSINE = 0.99
MIN_SPEEDUP = 1.1  # below this, timing noise on a shared machine could be the whole "gain"
CHOICES = ("fp32", "int8", "bf16", "bf16amp")
PROBE_MATRIX = 512
ROUNDS = 2


@dataclass
class ImageEncoder:
    """Preprocessed batch -> L2-normalised float32 embeddings, in one chosen precision."""

    precision: str
    forward: Callable[[torch.Tensor], torch.Tensor]
    device: torch.device
    measured: dict[str, Any] = field(default_factory=dict)

    def __call__(self, batch: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            features = self.forward(batch.to(self.device, non_blocking=True))
        return F.normalize(features.float(), dim=-1).cpu().numpy()


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when a bf16 matrix product beats the fp32 one here (bf16 in hardware, not emulated).

    Probed once per process (CPU time, as ``measure_precisions``): best of three products of
    ``PROBE_MATRIX``-square matrices."""
    a = torch.randn(PROBE_MATRIX, PROBE_MATRIX)
    best = {}
    for dtype in (torch.float32, torch.bfloat16):
        x = a.to(dtype)
        torch.mm(x, x)  # kernel selection outside the timing
        times = []
        for _ in range(3):
            start = time.process_time()
            torch.mm(x, x)
            times.append(time.process_time() - start)
        best[dtype] = min(times)
    return best[torch.bfloat16] < best[torch.float32]


def build_encoder(loaded: LoadedModel, precision: str) -> ImageEncoder:
    """An encoder for ``precision`` (``fp32``/``int8``/``bf16`` on CPU; CUDA uses autocast).

    Built once per loaded model and precision (quantising a ViT-B takes seconds), then reused
    by every later job in this process."""
    built = loaded.info.setdefault("encoders", {})
    if precision not in built:
        built[precision] = _build(loaded, precision)
    return built[precision]


def _build(loaded: LoadedModel, precision: str) -> ImageEncoder:
    visual = loaded.model.visual
    if loaded.device.type == "cuda":

        def forward_autocast(batch: torch.Tensor) -> torch.Tensor:
            with loaded.autocast():
                return visual(batch)

        return ImageEncoder("autocast", forward_autocast, loaded.device)
    if precision == "int8":
        tower = quantize_image_tower(visual)
        return ImageEncoder("int8", tower, loaded.device)
    if precision == "bf16":
        import copy

        tower_bf16 = copy.deepcopy(visual).to(torch.bfloat16)
        return ImageEncoder("bf16", lambda b: tower_bf16(b.to(torch.bfloat16)), loaded.device)
    if precision == "bf16amp":

        def forward_bf16_autocast(batch: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return visual(batch)

        return ImageEncoder("bf16amp", forward_bf16_autocast, loaded.device)
    return ImageEncoder("fp32", visual, loaded.device)


def choose_encoder(loaded: LoadedModel, sample: torch.Tensor, *, measure: bool) -> ImageEncoder:
    """The encoder to use for ``loaded`` on this machine.

    CUDA: autocast. CPU: the ``DEBIAS_STUDIO_CPU_PRECISION`` setting if given, else the choice
    measured earlier for this machine and model, else (``measure``) a measurement on ``sample``
    (a few real preprocessed images), else fp32.
    """
    if loaded.device.type == "cuda":
        return build_encoder(loaded, "autocast")
    forced = os.environ.get("DEBIAS_STUDIO_CPU_PRECISION", "auto").strip().lower()
    if forced in CHOICES:
        return build_encoder(loaded, forced)
    key = _decision_key(loaded)
    known = usercache.read_json(CACHE_FILE).get(key)
    if isinstance(known, dict) and known.get("choice") in CHOICES:
        encoder = build_encoder(loaded, known["choice"])
        encoder.measured = known
        return encoder
    if not measure:
        return build_encoder(loaded, "fp32")
    encoder, decision = measure_precisions(loaded, sample)
    with contextlib.suppress(OSError):  # read-only cache: we measure again next time
        usercache.update_json(CACHE_FILE, key, decision)
    return encoder


def measure_precisions(
    loaded: LoadedModel, sample: torch.Tensor
) -> tuple[ImageEncoder, dict[str, Any]]:
    """Time fp32 and each candidate on ``sample``; the fastest faithful one wins.

    Runs alternate between the encoders (fp32, int8, fp32, int8, ...) and the best of
    ``ROUNDS`` counts. Times are CPU seconds of this process (all its threads), not wall time:
    on a busy machine wall time measures the other processes' load (measured beside 16
    runnable threads on 2 cores, wall-clock timing chose fp32 over bf16), CPU time the work."""
    encoders = {"fp32": build_encoder(loaded, "fp32")}
    decision: dict[str, Any] = {"choice": "fp32"}
    for name in ["int8"] + (["bf16", "bf16amp"] if cpu_has_native_bf16() else []):
        try:
            encoders[name] = build_encoder(loaded, name)
            encoders[name](sample[:2])  # warm-up, and proof that the kernels exist here
        except (RuntimeError, NotImplementedError) as exc:  # e.g. no quantized engine
            encoders.pop(name, None)
            decision[f"{name}_error"] = str(exc)[:200]
    encoders["fp32"](sample[:2])
    best_s = dict.fromkeys(encoders, float("inf"))
    vectors: dict[str, np.ndarray] = {}
    for _ in range(ROUNDS):
        for name, encoder in encoders.items():
            start = time.process_time()
            vectors[name] = encoder(sample)
            best_s[name] = min(best_s[name], time.process_time() - start)
    decision["fp32_img_s"] = round(len(sample) / best_s["fp32"], 2)
    choice = "fp32"
    for name in encoders:
        if name == "fp32":
            continue
        cosine = float(np.min(np.sum(vectors[name] * vectors["fp32"], axis=1)))
        decision[f"{name}_img_s"] = round(len(sample) / best_s[name], 2)
        decision[f"{name}_min_cosine"] = round(cosine, 5)
        if cosine >= MIN_COSINE and best_s[name] * MIN_SPEEDUP < best_s[choice]:
            choice = name
    decision["choice"] = choice
    encoders[choice].measured = decision
    return encoders[choice], decision


def _decision_key(loaded: LoadedModel) -> str:
    return "|".join(
        (
            _cpu_name(),
            f"cores {os.cpu_count()}",
            f"threads {torch.get_num_threads()}",
            f"torch {torch.__version__}",
            loaded.model_id,
        )
    )


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
