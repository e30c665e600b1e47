"""The concept vocabulary: named categories of concept words, the prompt ensemble that turns a word
into text for CLIP, and optional exemplar folders (a concept learnt from images, DISC's way).

The built-in bank is ``resources/concepts/concept_bank.json``; a user's edited bank is the same
format (contracts.md). A concept's name is unique across categories, so a name alone identifies it
everywhere (discovery rows, confounders, CAVs). Editing returns nothing and raises ``StudioError``
for a bad edit, leaving the bank as it was.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from debias_studio.core.errors import StudioError
from debias_studio.core.resources import CONCEPT_BANK_FILE

BUILTIN_BANK = CONCEPT_BANK_FILE
BANK_VERSION = 1
DEFAULT_TEMPLATES: tuple[str, ...] = ("a photo of {}.", "{}", "a photo with {} in it.")


@dataclass
class ConceptBank:
    """Categories of concepts plus how to prompt for them. Order is kept (it is the column order
    of every score array)."""

    prompt_templates: list[str] = field(default_factory=lambda: list(DEFAULT_TEMPLATES))
    categories: dict[str, list[str]] = field(default_factory=dict)
    prompts: dict[str, list[str]] = field(default_factory=dict)
    """Per-concept prompt ensembles that replace the templates for that concept."""
    exemplars: dict[str, str] = field(default_factory=dict)
    """Concept -> folder of exemplar images; such a concept is a CAV, not a text embedding."""

    # ---- reading -----------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [name for members in self.categories.values() for name in members]

    def __len__(self) -> int:
        return sum(len(members) for members in self.categories.values())

    def __contains__(self, name: object) -> bool:
        return any(name in members for members in self.categories.values())

    def category_of(self, name: str) -> str:
        for category, members in self.categories.items():
            if name in members:
                return category
        raise StudioError(f"The concept '{name}' is not in the concept bank.")

    def category_list(self) -> list[str]:
        """Category of each concept, aligned with ``names``."""
        return [c for c, members in self.categories.items() for _ in members]

    def prompts_for(self, name: str) -> list[str]:
        """The prompt ensemble of one concept (its own prompts, else the shared templates)."""
        if name in self.prompts:
            return list(self.prompts[name])
        return [template.format(name) for template in self.prompt_templates]

    def subset(self, names: Iterable[str]) -> ConceptBank:
        """A bank with only ``names`` (in bank order), keeping categories and prompts."""
        wanted = set(names)
        missing = wanted.difference(self.names)
        if missing:
            raise StudioError(f"Unknown concept(s): {', '.join(sorted(missing))}.")
        categories = {
            c: [n for n in members if n in wanted] for c, members in self.categories.items()
        }
        return ConceptBank(
            list(self.prompt_templates),
            {c: m for c, m in categories.items() if m},
            {k: list(v) for k, v in self.prompts.items() if k in wanted},
            {k: v for k, v in self.exemplars.items() if k in wanted},
        )

    # ---- editing -----------------------------------------------------------------------------
    def add_category(self, category: str) -> None:
        category = _clean(category, "category")
        if category in self.categories:
            raise StudioError(f"The category '{category}' already exists.")
        self.categories[category] = []

    def remove_category(self, category: str) -> None:
        members = self._members(category)
        for name in members:
            self.prompts.pop(name, None)
            self.exemplars.pop(name, None)
        del self.categories[category]

    def rename_category(self, old: str, new: str) -> None:
        self._members(old)
        new = _clean(new, "category")
        if new in self.categories and new != old:
            raise StudioError(f"The category '{new}' already exists.")
        self.categories = {(new if c == old else c): m for c, m in self.categories.items()}

    def add_concept(
        self,
        name: str,
        category: str,
        *,
        prompts: list[str] | None = None,
        exemplar_folder: str | Path | None = None,
    ) -> None:
        """Add a concept (creating its category when new)."""
        name = _clean(name, "concept")
        category = _clean(category, "category")
        if name in self:
            raise StudioError(f"The concept '{name}' is already in the bank.")
        if prompts is not None:
            self._check_prompts(name, prompts)
        self.categories.setdefault(category, []).append(name)
        if prompts is not None:
            self.prompts[name] = list(prompts)
        if exemplar_folder is not None:
            self.exemplars[name] = str(exemplar_folder)

    def remove_concept(self, name: str) -> None:
        category = self.category_of(name)
        self.categories[category].remove(name)
        self.prompts.pop(name, None)
        self.exemplars.pop(name, None)

    def edit_concept(
        self,
        name: str,
        *,
        new_name: str | None = None,
        category: str | None = None,
        prompts: list[str] | None = None,
        exemplar_folder: str | Path | None = None,
    ) -> None:
        """Rename a concept, move it to another category, or set its prompts / exemplar folder
        (an empty prompt list or folder "" resets to the templates / the text embedding)."""
        old_category = self.category_of(name)
        target = _clean(new_name, "concept") if new_name is not None else name
        if target != name and target in self:
            raise StudioError(f"The concept '{target}' is already in the bank.")
        if prompts:
            self._check_prompts(target, prompts)
        members = self.categories[old_category]
        members[members.index(name)] = target
        for table in (self.prompts, self.exemplars):
            if name in table:
                table[target] = table.pop(name)  # type: ignore[assignment]
        if category is not None and _clean(category, "category") != old_category:
            members.remove(target)
            self.categories.setdefault(_clean(category, "category"), []).append(target)
        if prompts is not None:
            if prompts:
                self.prompts[target] = list(prompts)
            else:
                self.prompts.pop(target, None)
        if exemplar_folder is not None:
            if str(exemplar_folder):
                self.exemplars[target] = str(exemplar_folder)
            else:
                self.exemplars.pop(target, None)

    def set_templates(self, templates: list[str]) -> None:
        if not templates or any("{}" not in t for t in templates):
            raise StudioError("Every prompt template must contain '{}' where the concept goes.")
        self.prompt_templates = list(templates)

    # ---- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "version": BANK_VERSION,
            "prompt_templates": list(self.prompt_templates),
            "categories": copy.deepcopy(self.categories),
        }
        if self.prompts:
            data["prompts"] = copy.deepcopy(self.prompts)
        if self.exemplars:
            data["exemplars"] = dict(self.exemplars)
        return data

    def save(self, path: str | Path) -> None:
        """Write the bank as JSON (to a temporary name first, so a crash never leaves half)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    def _members(self, category: str) -> list[str]:
        if category not in self.categories:
            raise StudioError(f"There is no category '{category}' in the concept bank.")
        return self.categories[category]

    @staticmethod
    def _check_prompts(name: str, prompts: list[str]) -> None:
        if not prompts or any(not str(p).strip() for p in prompts):
            raise StudioError(f"The concept '{name}' needs at least one non-empty prompt.")


def load_bank(path: str | Path | None = None) -> ConceptBank:
    """The bank in ``path`` (default: the built-in bank), validated."""
    path = Path(path) if path is not None else BUILTIN_BANK
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise StudioError(f"The concept file {path} does not exist.") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StudioError(f"The concept file {path} is not valid JSON: {exc}.") from exc
    bank = bank_from_dict(data, source=str(path))
    base = path.parent
    bank.exemplars = {
        k: str(Path(v) if Path(v).is_absolute() else base / v) for k, v in bank.exemplars.items()
    }
    return bank


def bank_from_dict(data: Any, *, source: str = "the concept list") -> ConceptBank:
    """Validate the JSON structure of contracts.md; refuse an empty or ambiguous bank."""
    if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
        raise StudioError(f"{source} needs a 'categories' object of concept lists.")
    if int(data.get("version", BANK_VERSION)) > BANK_VERSION:
        raise StudioError(f"{source} was written by a newer version (version {data['version']}).")
    templates = data.get("prompt_templates") or list(DEFAULT_TEMPLATES)
    if not isinstance(templates, list) or any(
        not isinstance(t, str) or "{}" not in t for t in templates
    ):
        raise StudioError(f"Every prompt template in {source} must be text containing '{{}}'.")
    categories: dict[str, list[str]] = {}
    seen: set[str] = set()
    for category, members in data["categories"].items():
        if not isinstance(members, list) or any(not isinstance(m, str) for m in members):
            raise StudioError(f"The category '{category}' in {source} must be a list of words.")
        cleaned = [_clean(m, "concept") for m in members]
        duplicate = seen.intersection(cleaned) or {m for m in cleaned if cleaned.count(m) > 1}
        if duplicate:
            raise StudioError(
                f"The concept '{sorted(duplicate)[0]}' appears twice in {source}; names are unique."
            )
        seen.update(cleaned)
        categories[_clean(category, "category")] = cleaned
    if not seen:
        raise StudioError(f"{source} holds no concepts; discovery needs at least one.")
    prompts = {str(k): [str(p) for p in v] for k, v in (data.get("prompts") or {}).items()}
    exemplars = {str(k): str(v) for k, v in (data.get("exemplars") or {}).items()}
    unknown = (set(prompts) | set(exemplars)) - seen
    if unknown:
        raise StudioError(
            f"{source} gives prompts or exemplars for unknown concept(s): "
            f"{', '.join(sorted(unknown))}."
        )
    return ConceptBank(list(templates), categories, prompts, exemplars)


def _clean(value: str | None, what: str) -> str:
    text = " ".join(str(value or "").split())
    if not text:
        raise StudioError(f"A {what} name cannot be empty.")
    return text
