"""A tiny random-weight open_clip model saved in the local-dir layout, shared by the model and
embedding tests (seconds, not minutes), plus tests of saving and loading it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from debias_studio.core.models.registry import load_model
from debias_studio.core.models.save import create_model, save_local_dir

TINY_CFG = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 16, "head_width": 16},
    "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 16, "heads": 1, "layers": 1},
}
TINY_PREPROCESS = {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}


def save_tiny_model(folder: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    return save_local_dir(create_model(TINY_CFG), folder, TINY_CFG, TINY_PREPROCESS)


@pytest.fixture(autouse=True)
def _user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBIAS_STUDIO_CACHE", str(tmp_path / "user-cache"))


def test_saved_local_dir_loads_with_same_weights(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "tiny")
    loaded = load_model(f"local-dir:{folder}", "cpu")
    torch.manual_seed(0)
    expected = create_model(TINY_CFG).state_dict()
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, expected[key]), key
    assert loaded.image_size == 32 and loaded.embed_dim == 16
    text = loaded.encode_text(["a red square", "a blue circle", "x"])
    assert text.shape == (3, 16) and text.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(text, axis=1), 1.0, rtol=1e-5)
