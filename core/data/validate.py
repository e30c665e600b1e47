"""Checking that each listed file is a usable image, in parallel, and fingerprinting it.

Decoding dominates (about 1 ms per image), and PIL's decoders and the file system calls release
the GIL, so a thread pool scales with the cores without the start-up cost of processes. The file
fingerprint (size, mtime_ns) is taken from the same ``stat`` and lets the embedding cache notice a
changed file later.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from debias_studio.core.data.imageio import MAX_PIXELS, ImageReadError, check_image
from debias_studio.core.data.rootpaths import DatasetRoot
from debias_studio.core.jobs import NEVER_CANCELLED, CancelToken, Job, Progress
from debias_studio.core.threads import usable_cores

CHUNK = 256
"""Files per progress report and cancel check (a fraction of a second of work)."""


@dataclass(frozen=True)
class FileCheck:
    """Result for one file: its fingerprint and size as shown, or the problem that makes it
    unusable."""

    size: int = -1
    mtime_ns: int = -1
    problem: str = ""
    detail: str = ""
    width: int = 0
    height: int = 0

    @property
    def ok(self) -> bool:
        return not self.problem


def default_workers() -> int:
    """Two threads per usable core (core.threads): decoding is CPU-bound, but reads from slow
    disks overlap with it."""
    return max(2, min(16, 2 * usable_cores()))


def inspect_file(
    relative: str, root: DatasetRoot, *, decode: bool = True, max_pixels: int = MAX_PIXELS
) -> FileCheck:
    """Check one file (path relative to ``root``, opened through ``core.data.access``). Never
    raises for a bad file."""
    try:
        info = check_image(root, relative, max_pixels=max_pixels, decode=decode)
    except ImageReadError as exc:
        return FileCheck(problem=exc.problem, detail=exc.detail)
    except Exception as exc:
        # A decoder failing in a way we did not foresee is still one bad file, not a failed scan.
        return FileCheck(
            problem="unreadable", detail=f"cannot decode ({type(exc).__name__}: {exc})"
        )
    return FileCheck(size=info.size, mtime_ns=info.mtime_ns, width=info.width, height=info.height)


def check_files(
    relatives: Sequence[str],
    root: DatasetRoot,
    *,
    decode: bool = True,
    max_pixels: int = MAX_PIXELS,
    workers: int | None = None,
    cancel: CancelToken = NEVER_CANCELLED,
    what: str = "images",
) -> Job[list[FileCheck]]:
    """Check every file; results in the order given. Yields progress once per ``CHUNK`` files."""
    total = len(relatives)
    results: list[FileCheck] = []
    yield Progress(0, total, f"checking {total:,} {what}")
    if total == 0:
        return results
    check = partial(inspect_file, root=root, decode=decode, max_pixels=max_pixels)
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        for start in range(0, total, CHUNK):
            cancel.raise_if_cancelled()
            results.extend(pool.map(check, relatives[start : start + CHUNK]))
            yield Progress(len(results), total, f"checked {len(results):,} of {total:,} {what}")
    return results
