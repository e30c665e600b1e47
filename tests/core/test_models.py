"""Model registry: names, listing, offline failures, local weights, model ids."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from debias_studio.core.errors import ModelUnavailableError
from debias_studio.core.models import offline, registry
from debias_studio.core.models.names import parse_model_name
from debias_studio.core.models.registry import (
    list_architectures,
    list_pretrained,
    load_model,
    resolve_model,
)
from tests.core.test_models_tiny import TINY_CFG, save_tiny_model


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBIAS_STUDIO_CACHE", str(tmp_path / "user-cache"))


def test_names_parse() -> None:
    assert parse_model_name("demo").kind == "demo"
    spec = parse_model_name("ViT-B-32/openai")
    assert (spec.kind, spec.arch, spec.tag) == ("pretrained", "ViT-B-32", "openai")
    spec = parse_model_name("ViT-B-32@/w/model.safetensors")
    assert (spec.kind, spec.arch, spec.path) == ("file", "ViT-B-32", Path("/w/model.safetensors"))
    assert parse_model_name("local-dir:/m").path == Path("/m")
    assert parse_model_name("hf-hub:org/repo").repo == "org/repo"
    for bad in ("", "ViT-B-32", "hf-hub:justone", "a/b/c", "local-dir:"):
        with pytest.raises(ModelUnavailableError):
            parse_model_name(bad)


def test_listing_follows_open_clip() -> None:
    archs = list_architectures()
    assert "ViT-B-32" in archs and "RN50" in archs
    tags = list_pretrained("ViT-B-32")
    assert "ViT-B-32/openai" in tags and all(t.startswith("ViT-B-32/") for t in tags)
    assert len(list_pretrained()) > len(tags)
    with pytest.raises(ModelUnavailableError, match="Unknown model architecture"):
        list_pretrained("ViT-Nope-99")


def test_offline_hub_model_fails_fast_with_clear_message(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError) as caught:
        load_model("ViT-B-32/laion2b_s34b_b79k", "cpu", cache_dir=tmp_path / "hub")
    assert time.monotonic() - start < 10
    message = str(caught.value)
    assert "HF_HUB_OFFLINE" in message and "demo" in message and "\n" not in message
    with pytest.raises(ModelUnavailableError, match="switched off"):
        load_model("hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K", "cpu", cache_dir=tmp_path)


def test_unreachable_network_fails_fast_without_offline_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with socket.socket() as closed:  # a port nobody listens on: the probe must say "no"
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="cannot be reached"):
        load_model("ViT-B-32/laion2b_s34b_b79k", "cpu", cache_dir=tmp_path / "hub")
    assert time.monotonic() - start < 10


def test_probe_gives_up_within_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server (or DNS lookup) that never answers cannot hold the probe past its timeout."""

    def never_answers(*args: object, **kwargs: object) -> None:
        time.sleep(30)
        raise OSError("timed out")  # as urlopen would, long after the probe gave up

    monkeypatch.setattr(offline.urllib.request, "urlopen", never_answers)
    start = time.monotonic()
    assert not offline.can_reach("https://huggingface.co", timeout=0.5)
    assert time.monotonic() - start < 2


def test_cached_pretrained_file_is_used_without_network(tmp_path: Path) -> None:
    """A file already in open_clip's URL cache loads although downloads are off."""
    cfg = {"url": "https://example.invalid/weights/tiny.safetensors"}
    target = offline.url_cache_path(cfg["url"], tmp_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"x")
    assert registry._cached_pretrained(cfg, tmp_path) == target
    assert registry._cached_pretrained({"url": cfg["url"]}, tmp_path / "empty") is None


def test_unknown_architecture_and_tag_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="Unknown model architecture 'ViT-Q-99'"):
        load_model("ViT-Q-99/openai", "cpu")
    with pytest.raises(ModelUnavailableError, match="not a pretrained tag of ViT-B-32"):
        load_model("ViT-B-32/no-such-tag", "cpu")
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        load_model(f"ViT-B-32@{tmp_path / 'missing.safetensors'}", "cpu")
    with pytest.raises(ModelUnavailableError, match="does not exist"):
        load_model(f"local-dir:{tmp_path / 'nowhere'}", "cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailableError, match=r"no open_clip_config\.json"):
        load_model(f"local-dir:{tmp_path / 'empty'}", "cpu")


def test_local_file_loads_and_mismatch_is_explained(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "tiny")
    weights = folder / "open_clip_model.safetensors"
    with pytest.raises(ModelUnavailableError, match="do not fit architecture ViT-S-32"):
        load_model(f"ViT-S-32@{weights}", "cpu")
    # the same weights as a pickle-free .pt file load into the right architecture
    from debias_studio.core.models.weights import read_state_dict

    state = read_state_dict(weights)
    pt_file = tmp_path / "tiny.pt"
    torch.save({"state_dict": state}, pt_file)
    from debias_studio.core.models.save import create_model
    from debias_studio.core.models.weights import load_into

    model = create_model(TINY_CFG)
    load_into(model, pt_file, "tiny")
    assert torch.equal(model.visual.conv1.weight, state["visual.conv1.weight"])


def test_pickled_code_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hook": Path("/x")}, evil)
    from debias_studio.core.models.weights import read_state_dict

    with pytest.raises(ModelUnavailableError, match="more than plain tensors"):
        read_state_dict(evil)


def test_model_id_is_stable_and_follows_the_weights(tmp_path: Path) -> None:
    folder = save_tiny_model(tmp_path / "tiny", seed=0)
    first = resolve_model(f"local-dir:{folder}").model_id
    assert first == resolve_model(f"local-dir:{folder}").model_id
    save_tiny_model(folder, seed=1)  # "retrained": same folder, new weights
    assert resolve_model(f"local-dir:{folder}").model_id != first
    assert resolve_model("ViT-B-32/openai").model_id == "ViT-B-32.openai"


def test_demo_model_labels_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = save_tiny_model(tmp_path / "demo-clip")
    monkeypatch.setattr(registry, "DEMO_MODEL_DIR", folder)
    loaded = load_model("demo", "cpu")
    assert loaded.is_demo and loaded.model_id.startswith("demo-clip-")
    assert "demo" in loaded.display_name.lower()
    assert "not pretrained" in loaded.display_name.lower()
    monkeypatch.setattr(registry, "DEMO_MODEL_DIR", tmp_path / "gone")
    with pytest.raises(ModelUnavailableError, match="train_demo_clip"):
        resolve_model("demo")


def test_encoders_agree_across_cpu_precisions(tmp_path: Path) -> None:
    from debias_studio.core.models.precision import (
        build_encoder,
        cpu_has_native_bf16,
        measure_precisions,
    )

    loaded = load_model(f"local-dir:{save_tiny_model(tmp_path / 'tiny')}", "cpu")
    batch = torch.randn(6, 3, 32, 32)
    reference = loaded.encode_images(batch)
    np.testing.assert_allclose(np.linalg.norm(reference, axis=1), 1.0, rtol=1e-5)
    for name in ("fp32", "int8", "bf16", "bf16amp"):
        vectors = build_encoder(loaded, name)(batch)
        assert np.min(np.sum(vectors * reference, axis=1)) >= 0.99, name
    encoder, decision = measure_precisions(loaded, batch)
    assert decision["choice"] == encoder.precision
    assert decision["int8_min_cosine"] >= 0.99
    if cpu_has_native_bf16():  # probed: bf16 candidates are measured only where bf16 is fast
        assert decision["bf16amp_min_cosine"] >= 0.99


def test_device_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from debias_studio.core.errors import StudioError
    from debias_studio.core.models.device import default_device, resolve_device

    monkeypatch.setenv("DEBIAS_STUDIO_DEVICE", "cpu")
    assert default_device() == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(StudioError, match="no"):
            resolve_device("cuda")
    with pytest.raises(StudioError):
        resolve_device("toaster")


def test_hub_model_in_local_cache_loads_offline(tmp_path: Path) -> None:
    """hf-hub names use the Hugging Face cache first: no network needed once downloaded."""
    snapshot = tmp_path / "hub" / "models--someone--tiny-clip" / "snapshots" / "0123abcd"
    save_tiny_model(snapshot)
    refs = tmp_path / "hub" / "models--someone--tiny-clip" / "refs"
    refs.mkdir()
    (refs / "main").write_text("0123abcd")
    loaded = load_model("hf-hub:someone/tiny-clip", "cpu", cache_dir=tmp_path / "hub")
    assert loaded.model_id == "hf-someone-tiny-clip" and not loaded.is_demo
    assert loaded.weights_path == snapshot / "open_clip_model.safetensors"
    assert loaded.encode_text(["red"]).shape == (1, 16)
