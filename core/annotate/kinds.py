"""Which kind a confounder is, when the user does not say: from the concept's category in the
concept bank, or from a column's name and values (colour names -> colour)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from debias_studio.core.annotate.model import KINDS
from debias_studio.core.concepts.bank import ConceptBank
from debias_studio.core.errors import StudioError

KIND_BY_CATEGORY: dict[str, str] = {
    "colour": "colour",
    "color": "colour",
    "texture": "texture",
    "nature": "background",
    "city": "background",
    "lighting": "background",
    "household": "object",
    "people": "object",
    "animal": "object",
    "food": "object",
    "vehicle": "object",
    "shape": "object",
    "digit": "object",
}
"""Bank category -> kind; every other category (artefact, medical, custom) is 'other'."""

KIND_BY_COLUMN: dict[str, str] = {
    "color": "colour",
    "colour": "colour",
    "background": "background",
    "bg": "background",
    "place": "background",
    "scene": "background",
    "texture": "texture",
}


def check_kind(kind: str) -> str:
    kind = {"color": "colour"}.get(kind.strip().lower(), kind.strip().lower())
    if kind not in KINDS:
        raise StudioError(f"Unknown confounder kind '{kind}'; use one of {', '.join(KINDS)}.")
    return kind


def kind_of_concepts(names: Iterable[str], bank: ConceptBank) -> str:
    """The kind most of ``names`` point to through their categories (ties: first seen)."""
    kinds = [_kind_of_word(name, bank) for name in names]
    if not kinds:
        return "other"
    return Counter(kinds).most_common(1)[0][0]


def kind_of_column(column: str, values: Iterable[str], bank: ConceptBank) -> str:
    """From the column's name when it says (color, background, ...), else from its values."""
    by_name = KIND_BY_COLUMN.get(column.strip().lower())
    if by_name is not None:
        return by_name
    kinds = {_kind_of_word(v, bank) for v in values}
    return kinds.pop() if len(kinds) == 1 else "other"


def _kind_of_word(word: str, bank: ConceptBank) -> str:
    """The kind of a bank concept's category; for free text ("a red car"), of its first word
    that is a bank concept."""
    word = " ".join(str(word).lower().split())
    if word in bank:
        return KIND_BY_CATEGORY.get(bank.category_of(word), "other")
    for part in word.split():
        if part in bank:
            return KIND_BY_CATEGORY.get(bank.category_of(part), "other")
    return "other"
