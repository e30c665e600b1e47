"""Finding concepts in a bank: by category, by part of a name, and the near misses of a typo.

CLIP scores any text, so a misspelt concept ('grene') would quietly become a confounder built
on the embedding of a word nobody meant. Clients check the names a user typed with
``unknown_concepts`` before any work and say which bank names were probably meant.
"""

from __future__ import annotations

import difflib

from debias_studio.core.concepts.bank import ConceptBank
from debias_studio.core.errors import StudioError

CLOSE_ENOUGH = 0.7
"""difflib's similarity from which a bank name is offered as "did you mean": grene/green 0.8,
bleu/blue 0.75, yelow/yellow 0.91; grene/tree 0.67 is not."""
RUNNER_UP = 0.05
"""Further suggestions only when they are nearly as close as the best one (grene: green 0.8,
garden 0.73 is left out)."""


def close_names(name: str, candidates: list[str], n: int = 3) -> list[str]:
    """The candidates most like ``name`` (case ignored), best first."""
    lowered = {c.lower(): c for c in candidates}
    wanted = name.lower()
    scored = sorted(
        ((difflib.SequenceMatcher(None, wanted, c).ratio(), c) for c in lowered),
        key=lambda pair: -pair[0],
    )
    best = scored[0][0] if scored else 0.0
    return [lowered[c] for ratio, c in scored[:n] if ratio >= max(CLOSE_ENOUGH, best - RUNNER_UP)]


def did_you_mean(name: str, candidates: list[str]) -> str:
    """``"; did you mean 'green'?"`` or an empty string when nothing is close."""
    close = close_names(name, candidates)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def unknown_concepts(bank: ConceptBank, names: list[str]) -> str | None:
    """One sentence about the names that are not in ``bank`` (with suggestions), or None."""
    unknown = [name for name in names if name not in bank]
    if not unknown:
        return None
    if len(unknown) == 1:
        hint = did_you_mean(unknown[0], bank.names)
        return f"The concept '{unknown[0]}' is not in the concept bank{hint}"
    parts = [f"'{name}'{_suggestion(name, bank)}" for name in unknown]
    return f"The concepts {', '.join(parts)} are not in the concept bank"


def _suggestion(name: str, bank: ConceptBank) -> str:
    close = close_names(name, bank.names, n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def search(
    bank: ConceptBank, text: str | None = None, category: str | None = None
) -> dict[str, list[str]]:
    """Category -> its concepts that contain ``text`` (case ignored), in bank order; only
    ``category`` when given (an unknown one is refused with suggestions)."""
    if category is not None and category not in bank.categories:
        raise StudioError(
            f"There is no category '{category}' in the concept bank"
            f"{did_you_mean(category, list(bank.categories))} (categories: "
            f"{', '.join(bank.categories)})."
        )
    needle = (text or "").strip().lower()
    found: dict[str, list[str]] = {}
    for name, members in bank.categories.items():
        if category is not None and name != category:
            continue
        matching = [m for m in members if needle in m.lower()]
        if matching:
            found[name] = matching
    return found
