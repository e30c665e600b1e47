"""Natural sort order, so that "class 2" comes before "class 10" wherever names are listed."""

from __future__ import annotations

import re

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key: digit runs compare as numbers, the rest case-insensitively.

    Each part is tagged (0 = number, 1 = text) so that numbers and words never get compared with
    each other, whatever the names look like."""
    parts: list[tuple[int, int | str]] = []
    for i, piece in enumerate(_DIGITS.split(text)):
        if i % 2:
            parts.append((0, int(piece)))
        elif piece:
            parts.append((1, piece.casefold()))
    # Ties between names that differ only in case or leading zeros: fall back to the raw text.
    parts.append((1, text))
    return tuple(parts)


def natural_sorted(names: list[str] | set[str]) -> list[str]:
    return sorted(names, key=natural_key)
