"""Finding pretrained weights locally, and downloading them only when that can work.

Rule 6 of ARCHITECTURE.md: models load offline; with no network the app says so in one sentence
and never hangs on retries. Order of business for hub/URL weights:

1. the local cache (open_clip's: the Hugging Face hub cache, or ~/.cache/clip for URL weights);
2. offline mode (``HF_HUB_OFFLINE=1``) -> fail at once;
3. a ~3 s HTTP probe of the download host (in a daemon thread, so a stuck DNS lookup cannot hold
   us either) -> fail fast when unreachable;
4. the download itself, reporting bytes through ``Progress``.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from debias_studio.core.errors import ModelUnavailableError
from debias_studio.core.jobs import Progress

ProgressCallback = Callable[[Progress], None]

PROBE_TIMEOUT_S = 3.0
HF_WEIGHTS_NAME = "open_clip_pytorch_model.bin"
HF_SAFE_WEIGHTS_NAME = "open_clip_model.safetensors"
HF_CONFIG_NAME = "open_clip_config.json"
OFFLINE_HINT = "use the bundled 'demo' model or a local weights file"


def is_offline() -> bool:
    """True when the user switched downloads off (``HF_HUB_OFFLINE``, read at call time)."""
    value = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return value in ("1", "true", "yes", "on")


def hub_endpoint() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def can_reach(url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """Whether ``url``'s server answers an HTTP HEAD request within ``timeout`` seconds.

    Any HTTP answer counts (even 404); only no answer means no network. A bare TCP connect is
    not enough: transparent proxies accept connections to anywhere."""
    parsed = urlparse(url)
    root = f"{parsed.scheme}://{parsed.netloc}/"
    result: list[bool] = []

    def attempt() -> None:
        try:
            with urllib.request.urlopen(
                urllib.request.Request(root, method="HEAD"), timeout=timeout
            ):
                result.append(True)
        except urllib.error.HTTPError:
            result.append(True)
        except (OSError, ValueError, http.client.HTTPException):
            result.append(False)

    worker = threading.Thread(target=attempt, name="network-probe", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)  # DNS is not covered by the socket timeout: bound it here
    return bool(result and result[0])


def require_network(what: str, url: str) -> None:
    """Raise ``ModelUnavailableError`` quickly unless a download from ``url`` can start."""
    if is_offline():
        raise ModelUnavailableError(
            f"{what} is not in the local model cache and downloads are switched off "
            f"(HF_HUB_OFFLINE=1); {OFFLINE_HINT}."
        )
    if not can_reach(url):
        host = urlparse(url).hostname
        raise ModelUnavailableError(
            f"{what} is not in the local model cache and {host} cannot be reached (no network?); "
            f"{OFFLINE_HINT}."
        )


# ---- Hugging Face hub ------------------------------------------------------------------------
def hub_weight_candidates(filename: str | None) -> list[str]:
    """File names open_clip would use for a hub repo, safetensors first."""
    name = filename or HF_WEIGHTS_NAME
    names = []
    if name == HF_WEIGHTS_NAME:
        names.append(HF_SAFE_WEIGHTS_NAME)
    elif name.endswith((".bin", ".pth")):
        names.append(name[:-4] + ".safetensors")
    names.append(name)
    return names


def cached_hub_file(repo: str, filenames: list[str], cache_dir: Path | None) -> Path | None:
    """The first of ``filenames`` already in the hub cache, without touching the network."""
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(repo, filename, cache_dir=cache_dir)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def download_hub_file(
    repo: str,
    filenames: list[str],
    cache_dir: Path | None,
    what: str,
    progress: ProgressCallback | None,
) -> Path:
    """Fetch the first of ``filenames`` that exists in ``repo`` into the hub cache."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError

    require_network(what, hub_endpoint())
    last: Exception | None = None
    for filename in filenames:
        try:
            path = hf_hub_download(
                repo,
                filename,
                cache_dir=cache_dir,
                etag_timeout=PROBE_TIMEOUT_S,
                tqdm_class=_progress_tqdm(progress, f"downloading {what}"),
            )
            return Path(path)
        except EntryNotFoundError as exc:
            last = exc
        except Exception as exc:  # network, auth, disk: one readable sentence for the user
            raise ModelUnavailableError(
                f"Downloading {what} from the hub failed ({type(exc).__name__}); {OFFLINE_HINT}."
            ) from exc
    raise ModelUnavailableError(f"The hub repository {repo} holds no open_clip weights.") from last


def _progress_tqdm(progress: ProgressCallback | None, message: str) -> Any:
    """A tqdm class that forwards byte counts to ``progress`` (huggingface_hub's hook)."""
    from tqdm.auto import tqdm

    if progress is None:
        return None
    report = progress  # a name the class body sees as not None

    class ForwardingTqdm(tqdm):  # type: ignore[type-arg]  # tqdm[T] needs the iterable type
        def update(self, n: float | None = 1) -> bool | None:
            shown = super().update(n)
            report(Progress(int(self.n), int(self.total or 0), message))
            return shown

    return ForwardingTqdm


# ---- plain URLs (open_clip's ~/.cache/clip) --------------------------------------------------
def url_cache_path(url: str, cache_dir: Path | None) -> Path:
    folder = cache_dir if cache_dir is not None else Path.home() / ".cache" / "clip"
    return folder / os.path.basename(urlparse(url).path)


def cached_url_file(url: str, cache_dir: Path | None) -> Path | None:
    path = url_cache_path(url, cache_dir)
    return path if path.is_file() and path.stat().st_size > 0 else None


def download_url_file(
    url: str, cache_dir: Path | None, what: str, progress: ProgressCallback | None
) -> Path:
    """Download ``url`` into open_clip's URL cache (atomic), checking its sha256 when known."""
    require_network(what, url)
    target = url_cache_path(url, cache_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    expected = _expected_sha256(url)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        with urllib.request.urlopen(url, timeout=10) as source, os.fdopen(fd, "wb") as out:
            total = int(source.headers.get("Content-Length") or 0)
            done = 0
            while chunk := source.read(1 << 20):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(Progress(done, total, f"downloading {what}"))
        if expected and not digest.hexdigest().startswith(expected):
            raise ModelUnavailableError(f"The download of {what} is corrupt (checksum mismatch).")
        os.replace(tmp, target)
    except ModelUnavailableError:
        Path(tmp).unlink(missing_ok=True)
        raise
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ModelUnavailableError(f"Downloading {what} failed ({exc}); {OFFLINE_HINT}.") from exc
    return target


def _expected_sha256(url: str) -> str:
    """open_clip's URLs carry their checksum (OpenAI: a path part; mlfoundations: a suffix)."""
    parts = urlparse(url).path.split("/")
    if "openaipublic" in url and len(parts) >= 2:
        return parts[-2]
    if "mlfoundations" in url:
        return os.path.splitext(parts[-1])[0].split("-")[-1]
    return ""
