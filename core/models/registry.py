"""The model registry: which models exist, what they are called, and loading them.

Shaped like open_clip's own API (architectures as data, a separate list of pretrained tags) so a
name that works in open_clip works here: ``ViT-B-32/openai`` is ``create_model("ViT-B-32",
pretrained="openai")``. Differences, all on purpose:

* weights are always loaded by us (``core.models.weights``): safetensors, or pickles only with
  ``weights_only=True``;
* downloads happen only after the local cache is checked and the network is known to be there,
  so offline use fails in seconds with one sentence (``core.models.offline``);
* every model gets a ``model_id`` that changes when its weights change.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from debias_studio.core.errors import ModelUnavailableError
from debias_studio.core.jobs import Progress
from debias_studio.core.models import offline
from debias_studio.core.models.device import resolve_device
from debias_studio.core.models.loaded import LoadedModel
from debias_studio.core.models.names import ModelSpec, parse_model_name
from debias_studio.core.models.offline import ProgressCallback
from debias_studio.core.models.weights import load_into, weights_hash
from debias_studio.core.resources import DEMO_MODEL_DIR

DEMO_DISPLAY_NAME = "Demo CLIP (small model trained on synthetic images; not pretrained CLIP)"
LOCAL_DIR_WEIGHTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "pytorch_model.bin",
)


@dataclass(frozen=True)
class ModelInfo:
    """What a model name refers to, known without loading any weights."""

    name: str
    kind: str
    model_id: str
    display_name: str
    is_demo: bool
    weights_path: Path | None  # None: pretrained weights not downloaded yet


# ---- listing ---------------------------------------------------------------------------------
def list_architectures() -> list[str]:
    """open_clip architecture names (e.g. ``ViT-B-32``), usable before ``/TAG`` or ``@FILE``."""
    import open_clip

    return list(open_clip.list_models())


def list_pretrained(arch: str | None = None) -> list[str]:
    """Pretrained weights open_clip knows, as model names ``ARCH/TAG`` (all, or one arch's)."""
    import open_clip

    if arch is not None:
        _check_arch(arch)
    return [f"{a}/{t}" for a, t in open_clip.list_pretrained() if arch is None or a == arch]


def is_cached(name: str, *, cache_dir: Path | None = None) -> bool:
    """True when ``name`` loads without a download (bundled, local, or already cached)."""
    try:
        return resolve_model(name, cache_dir=cache_dir).weights_path is not None
    except ModelUnavailableError:
        return False


# ---- resolving (cheap) -----------------------------------------------------------------------
def resolve_model(name: str = "demo", *, cache_dir: Path | None = None) -> ModelInfo:
    """Name -> ``ModelInfo`` (id, display name, weights file if local) without loading weights."""
    spec = parse_model_name(name)
    if spec.kind == "demo":
        weights = _local_dir_weights(_demo_folder())
        folder_hash = _folder_hash(_demo_folder(), weights)
        return ModelInfo(name, "demo", f"demo-clip-{folder_hash}", DEMO_DISPLAY_NAME, True, weights)
    if spec.kind == "local_dir":
        folder = _checked_folder(spec.path)
        weights = _local_dir_weights(folder)
        model_id = _safe_id(f"{folder.name}-{_folder_hash(folder, weights)}")
        display = f"open_clip model in {folder}"
        return ModelInfo(name, "local_dir", model_id, display, False, weights)
    if spec.kind == "file":
        _check_arch(spec.arch)
        path = spec.path
        if path is None or not path.is_file():
            raise ModelUnavailableError(f"The weights file {path} does not exist.")
        model_id = _safe_id(f"{spec.arch}.{path.stem}-{weights_hash(path)}")
        display = f"{spec.arch} with weights from {path.name}"
        return ModelInfo(name, "file", model_id, display, False, path)
    if spec.kind == "pretrained":
        cfg = _pretrained_cfg(spec)
        tag = _clean_tag(spec.tag)
        model_id = _safe_id(f"{spec.arch}.{tag}")
        display = f"{spec.arch} pretrained ({tag}, open_clip)"
        cached = _cached_pretrained(cfg, cache_dir)
        return ModelInfo(name, "pretrained", model_id, display, False, cached)
    repo = spec.repo
    cached = offline.cached_hub_file(repo, offline.hub_weight_candidates(None), cache_dir)
    model_id = _safe_id(f"hf-{repo.replace('/', '-')}")
    return ModelInfo(name, "hf_hub", model_id, f"hf-hub:{repo} (open_clip)", False, cached)


# ---- loading ---------------------------------------------------------------------------------
def load_model(
    name: str = "demo",
    device: str | torch.device | None = None,
    *,
    progress: ProgressCallback | None = None,
    cache_dir: Path | None = None,
) -> LoadedModel:
    """Load a model by name onto ``device`` (default: cuda when present, else cpu).

    Pretrained weights not in the local cache are downloaded with ``progress`` reports (bytes) if
    the network is reachable; otherwise ``ModelUnavailableError`` is raised within seconds.
    Every call returns a new model that the caller owns (training may change it in place);
    the embedding engine keeps its own private copy between jobs.
    """
    info = resolve_model(name, cache_dir=cache_dir)
    target = resolve_device(device)
    spec = parse_model_name(name)
    _report(progress, f"loading {info.display_name}")
    if spec.kind in ("demo", "local_dir", "hf_hub"):
        model, preprocess, tokenizer, weights = _build_from_folder(spec, info, cache_dir, progress)
    else:
        model, preprocess, tokenizer, weights = _build_from_arch(spec, info, cache_dir, progress)
    model.eval().to(target)
    loaded = LoadedModel(
        name=name,
        model_id=info.model_id,
        display_name=info.display_name,
        is_demo=info.is_demo,
        model=model,
        preprocess=preprocess,
        tokenizer=tokenizer,
        image_size=_image_size(model),
        embed_dim=_embed_dim(model, target),
        device=target,
        weights_path=weights,
    )
    _report(progress, f"loaded {info.display_name}")
    return loaded


def _build_from_folder(
    spec: ModelSpec, info: ModelInfo, cache_dir: Path | None, progress: ProgressCallback | None
) -> tuple[Any, Any, Any, Path]:
    """demo / local-dir / hf-hub: an open_clip folder with open_clip_config.json + weights."""
    import open_clip

    if spec.kind == "hf_hub":
        weights, folder = _hub_files(spec.repo, info, cache_dir, progress)
    else:
        folder = _demo_folder() if spec.kind == "demo" else _checked_folder(spec.path)
        weights = info.weights_path or _local_dir_weights(folder)
    try:
        with _quiet_random_init_warning():
            model, _, preprocess = open_clip.create_model_and_transforms(
                f"local-dir:{folder}", load_weights=False, pretrained_text=False
            )
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise ModelUnavailableError(
            f"The model configuration in {folder} is not a valid open_clip configuration."
        ) from exc
    _report(progress, f"reading weights {weights.name}")
    load_into(model, weights, f"the architecture in {folder / offline.HF_CONFIG_NAME}")
    tokenizer = _tokenizer(f"local-dir:{folder}", info.display_name)
    return model, preprocess, tokenizer, weights


def _build_from_arch(
    spec: ModelSpec, info: ModelInfo, cache_dir: Path | None, progress: ProgressCallback | None
) -> tuple[Any, Any, Any, Path]:
    """ARCH/TAG and ARCH@FILE: a built-in open_clip architecture plus a weights file."""
    import open_clip

    overrides: dict[str, Any] = {}
    if spec.kind == "pretrained":
        cfg = _pretrained_cfg(spec)
        weights = info.weights_path or _download_pretrained(cfg, info, cache_dir, progress)
        overrides["force_quick_gelu"] = bool(cfg.get("quick_gelu", False))
        preprocess_keys = ("mean", "std", "interpolation", "resize_mode")
        overrides["force_preprocess_cfg"] = {k: cfg[k] for k in preprocess_keys if k in cfg}
    else:
        assert info.weights_path is not None
        weights = info.weights_path
    if weights.suffix == ".npy":
        raise ModelUnavailableError(
            f"{weights.name}: numpy weights must be a big_vision .npz archive (SigLIP); "
            "a single .npy array holds no model."
        )
    with _quiet_random_init_warning():
        model, _, preprocess = open_clip.create_model_and_transforms(
            spec.arch, pretrained=None, pretrained_text=False, **overrides
        )
    _report(progress, f"reading weights {weights.name}")
    if weights.suffix == ".npz":
        _load_numpy_weights(model, weights, spec.arch)
    else:
        load_into(model, weights, f"architecture {spec.arch}")
    return model, preprocess, _tokenizer(spec.arch, info.display_name), weights


def _load_numpy_weights(model: Any, weights: Path, arch: str) -> None:
    """big_vision (SigLIP) numpy weights (never unpickled), or a ``ModelUnavailableError`` that
    says why they do not fit: damaged, not an archive, or another architecture's."""
    from open_clip.convert import load_big_vision_weights

    try:
        load_big_vision_weights(model, str(weights))
    except Exception as exc:  # numpy and the converter raise many types for a file that misfits
        raise ModelUnavailableError(
            f"Cannot load {weights.name} into architecture {arch}: the file is damaged, holds "
            f"pickled data, or is not big_vision SigLIP weights for it ({type(exc).__name__})."
        ) from exc


def _hub_files(
    repo: str, info: ModelInfo, cache_dir: Path | None, progress: ProgressCallback | None
) -> tuple[Path, Path]:
    config_names = [offline.HF_CONFIG_NAME]
    config = offline.cached_hub_file(repo, config_names, cache_dir)
    if config is None:
        config = offline.download_hub_file(repo, config_names, cache_dir, info.name, progress)
    weights = info.weights_path
    if weights is None:
        candidates = offline.hub_weight_candidates(None)
        weights = offline.download_hub_file(repo, candidates, cache_dir, info.name, progress)
    if weights.parent != config.parent:  # different snapshots: use the config's own folder
        weights = offline.cached_hub_file(repo, [weights.name], cache_dir) or weights
    return weights, config.parent


def _download_pretrained(
    cfg: dict[str, Any], info: ModelInfo, cache_dir: Path | None, progress: ProgressCallback | None
) -> Path:
    hub = cfg.get("hf_hub", "")
    if hub:
        repo, filename = _split_hub(hub)
        names = offline.hub_weight_candidates(filename or None)
        return offline.download_hub_file(repo, names, cache_dir, info.name, progress)
    url = cfg.get("url", "")
    if url:
        return offline.download_url_file(url, cache_dir, info.name, progress)
    raise ModelUnavailableError(f"open_clip lists no download source for {info.name}.")


def _cached_pretrained(cfg: dict[str, Any], cache_dir: Path | None) -> Path | None:
    if cfg.get("file"):
        path = Path(cfg["file"])
        return path if path.is_file() else None
    hub = cfg.get("hf_hub", "")
    if hub:
        repo, filename = _split_hub(hub)
        names = offline.hub_weight_candidates(filename or None)
        found = offline.cached_hub_file(repo, names, cache_dir)
        if found is not None:
            return found
    url = cfg.get("url", "")
    return offline.cached_url_file(url, cache_dir) if url else None


# ---- helpers ---------------------------------------------------------------------------------
def _check_arch(arch: str) -> None:
    known = list_architectures()
    if arch not in known:
        close = difflib.get_close_matches(arch, known, n=5, cutoff=0.5) or known[:5]
        raise ModelUnavailableError(
            f"Unknown model architecture '{arch}'; known ones include {', '.join(close)} "
            f"({len(known)} in all, see `list_architectures()`)."
        )


def _pretrained_cfg(spec: ModelSpec) -> dict[str, Any]:
    import open_clip

    _check_arch(spec.arch)
    cfg = open_clip.get_pretrained_cfg(spec.arch, spec.tag)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(spec.arch)
        hint = f"known tags: {', '.join(tags)}" if tags else "open_clip has no pretrained weights"
        raise ModelUnavailableError(
            f"'{spec.tag}' is not a pretrained tag of {spec.arch} ({hint})."
        )
    return dict(cfg)


def _split_hub(hub: str) -> tuple[str, str]:
    """open_clip's ``hf_hub`` entry ``org/repo/[file]`` -> (``org/repo``, ``file`` or "")."""
    repo, _, filename = hub.strip().rpartition("/")
    return repo, filename


def _clean_tag(tag: str) -> str:
    return tag.lower().replace("-", "_")


def _demo_folder() -> Path:
    if not (DEMO_MODEL_DIR / offline.HF_CONFIG_NAME).is_file():
        raise ModelUnavailableError(
            "The bundled demo model is missing from resources/models/demo-clip; rebuild it with "
            "`python scripts/train_demo_clip.py`."
        )
    return DEMO_MODEL_DIR


def _checked_folder(path: Path | None) -> Path:
    if path is None or not path.is_dir():
        raise ModelUnavailableError(f"The model folder {path} does not exist.")
    config = path / offline.HF_CONFIG_NAME
    if not config.is_file():
        raise ModelUnavailableError(
            f"{path} is not an open_clip model folder (no {offline.HF_CONFIG_NAME})."
        )
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"{config} is not readable JSON.") from exc
    if not isinstance(data, dict) or "model_cfg" not in data:
        raise ModelUnavailableError(f"{config} has no 'model_cfg' section.")
    return path.resolve()


def _local_dir_weights(folder: Path) -> Path:
    for name in LOCAL_DIR_WEIGHTS:
        if (folder / name).is_file():
            return folder / name
    others = sorted(folder.glob("*.safetensors"))
    if others:
        return others[0]
    raise ModelUnavailableError(
        f"The model folder {folder} holds no weights (expected open_clip_model.safetensors)."
    )


def _folder_hash(folder: Path, weights: Path) -> str:
    """Short hash over the config and the weights: either changing means another model."""
    config = (folder / offline.HF_CONFIG_NAME).read_bytes()
    digest = hashlib.sha256(config + weights_hash(weights).encode()).hexdigest()
    return digest[:10]


def _safe_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")


def _tokenizer(source: str, display: str) -> Any:
    import open_clip

    try:
        return open_clip.get_tokenizer(source)
    except Exception as exc:  # HF tokenizers may need files we do not have offline
        raise ModelUnavailableError(
            f"The text tokenizer of {display} cannot be loaded ({type(exc).__name__}); "
            "it may need a download."
        ) from exc


def _image_size(model: Any) -> int:
    size = getattr(getattr(model, "visual", None), "image_size", 224)
    return int(max(size)) if isinstance(size, (tuple, list)) else int(size)


def _embed_dim(model: Any, device: torch.device) -> int:
    dim = getattr(getattr(model, "visual", None), "output_dim", None)
    if isinstance(dim, int):
        return dim
    size = _image_size(model)
    with torch.inference_mode():
        return int(model.encode_image(torch.zeros(1, 3, size, size, device=device)).shape[-1])


@contextmanager
def _quiet_random_init_warning() -> Iterator[None]:
    """open_clip logs "initialized randomly" for every model we create empty and then fill
    with our own weight loader; that line would mislead users, so it is dropped here."""

    def keep(record: logging.LogRecord) -> bool:
        return "initialized randomly" not in record.getMessage()

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def _report(progress: ProgressCallback | None, message: str) -> None:
    if progress is not None:
        progress(Progress(0, 0, message))
