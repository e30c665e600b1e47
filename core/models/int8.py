"""Dynamic int8 quantisation of an open_clip image tower, for CPUs without fast bf16.

``torch.ao.quantization.quantize_dynamic`` only converts ``nn.Linear`` modules, but open_clip's
ViT blocks compute q/k/v inside ``nn.MultiheadAttention`` from a bare parameter, which stays fp32
and keeps a third of the FLOPs out of reach. ``SelfAttention`` re-expresses the same attention as
two plain ``nn.Linear`` layers around ``scaled_dot_product_attention`` (identical in fp32), so
every large matrix product can run in int8. The caller checks that the result stays faithful
(cosine to fp32) before using it.
"""

from __future__ import annotations

import copy
import warnings
from typing import TypeGuard

import torch
import torch.nn.functional as F
from torch import nn

PACKING_ENGINE = "onednn"


class SelfAttention(nn.Module):
    """Drop-in for a batch-first / seq-first ``nn.MultiheadAttention`` used as self-attention."""

    def __init__(self, mha: nn.MultiheadAttention) -> None:
        super().__init__()
        dim = mha.embed_dim
        self.heads = mha.num_heads
        self.batch_first = mha.batch_first
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        with torch.no_grad():
            self.qkv.weight.copy_(mha.in_proj_weight)
            self.qkv.bias.copy_(mha.in_proj_bias)
            self.out.weight.copy_(mha.out_proj.weight)
            self.out.bias.copy_(mha.out_proj.bias)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor | None = None,
        value: torch.Tensor | None = None,
        need_weights: bool = False,
        attn_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, None]:
        x = query if self.batch_first else query.transpose(0, 1)
        batch, length, dim = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, dim // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        out = self.out(attended.transpose(1, 2).reshape(batch, length, dim))
        return (out if self.batch_first else out.transpose(0, 1)), None


def _is_plain_self_attention(module: nn.Module) -> TypeGuard[nn.MultiheadAttention]:
    return (
        isinstance(module, nn.MultiheadAttention)
        and module._qkv_same_embed_dim
        and module.in_proj_bias is not None
        and module.bias_k is None
        and not module.add_zero_attn
        and module.dropout == 0.0
    )


def quantize_image_tower(visual: nn.Module) -> nn.Module:
    """An int8 copy of ``visual`` (the original is left untouched). CPU only."""
    tower = copy.deepcopy(visual).float().eval()
    for parent in list(tower.modules()):
        for child_name, child in list(parent.named_children()):
            if _is_plain_self_attention(child):
                setattr(parent, child_name, SelfAttention(child))
    engines = torch.backends.quantized.supported_engines
    previous = torch.backends.quantized.engine
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        from torch.ao.quantization import quantize_dynamic

        try:
            # oneDNN's int8 kernels measured ~15% faster than fbgemm's on AVX2 (Zen 3). The
            # engine only matters while weights are packed: the packed layers keep their
            # kernels whatever the global setting is later, so it is restored at once.
            if PACKING_ENGINE in engines:
                torch.backends.quantized.engine = PACKING_ENGINE
            # torch.ao.quantization is not annotated; the result is the quantized module
            quantized: nn.Module = quantize_dynamic(  # type: ignore[no-untyped-call]
                tower, {nn.Linear}, dtype=torch.qint8
            )
            return quantized
        finally:
            torch.backends.quantized.engine = previous
