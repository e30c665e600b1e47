"""How much memory this machine can give a request, and refusing one that would not fit.

A request that would allocate more than the machine has (a 30,000-pixel counterfactual side, a
huge training image size) is refused up front with the figures, instead of swapping the machine
to a halt or dying half-way.
"""

from __future__ import annotations

import os

from debias_studio.core.errors import StudioError

GIB = 1024**3
SHARE = 0.8
"""Part of the available memory one array may take."""


def available_bytes() -> int | None:
    """Memory available to a new allocation now (Linux: MemAvailable), else the physical memory;
    None where neither can be read."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def require_memory(n_bytes: int, what: str, hint: str) -> None:
    """Raise ``StudioError`` when ``n_bytes`` for ``what`` would exceed what the machine has;
    ``hint`` says what to change ("use a smaller --image-size")."""
    available = available_bytes()
    if available is None or n_bytes <= SHARE * available:
        return
    raise StudioError(
        f"{what} would need {n_bytes / GIB:.1f} GB of memory, but this machine has "
        f"{available / GIB:.1f} GB available; {hint}."
    )
