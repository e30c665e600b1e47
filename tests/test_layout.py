"""The house's shape, as docs/ARCHITECTURE.md states it and CI keeps it: no function or method in
core/, gui/ or cli/ runs over 60 lines, and every package ``__init__.py`` there holds a docstring
only (no re-exports, no version, no code). Each failure names every offender."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("core", "gui", "cli")
MAX_FUNCTION_LINES = 60
"""Lines from ``def`` to the function's last line (decorators not counted), nested ones too."""


def _python_files(root: Path) -> list[Path]:
    return [path for folder in SOURCES for path in sorted((root / folder).rglob("*.py"))]


def long_functions(root: Path) -> list[str]:
    """``path:line name (N lines)`` for every function longer than the limit under ``root``."""
    found = []
    for path in _python_files(root):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    where = path.relative_to(root).as_posix()
                    found.append(f"{where}:{node.lineno} {node.name} ({length} lines)")
    return found


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def crowded_package_inits(root: Path) -> list[str]:
    """``path:line statement`` for every statement besides the docstring in a package
    ``__init__.py`` under ``root``."""
    found = []
    for path in _python_files(root):
        if path.name != "__init__.py":
            continue
        body = ast.parse(path.read_text(encoding="utf-8")).body
        extra = body[1:] if body and _is_docstring(body[0]) else body
        where = path.relative_to(root).as_posix()
        found += [f"{where}:{s.lineno} {type(s).__name__}" for s in extra]
    return found


def test_no_function_is_longer_than_the_limit() -> None:
    offenders = long_functions(REPO)
    assert offenders == [], (
        f"functions over {MAX_FUNCTION_LINES} lines; split them into named helpers:\n"
        + "\n".join(offenders)
    )


def test_package_inits_hold_a_docstring_only() -> None:
    offenders = crowded_package_inits(REPO)
    assert offenders == [], (
        "package __init__.py files hold a docstring only; move these statements into a module:\n"
        + "\n".join(offenders)
    )


def test_the_checks_name_what_breaks_the_rules(tmp_path: Path) -> None:
    """The two scans above find a planted long function, a long method and crowded inits, and
    pass what keeps the rules (a function of exactly the limit, empty and docstring-only inits)."""
    body = "".join(f"    x = {i}\n" for i in range(MAX_FUNCTION_LINES - 1))
    (tmp_path / "core" / "stage").mkdir(parents=True)
    (tmp_path / "gui").mkdir()
    (tmp_path / "cli").mkdir()
    (tmp_path / "core" / "__init__.py").write_text('"""Engine."""\n__version__ = "1"\n')
    (tmp_path / "core" / "stage" / "__init__.py").write_text('"""A stage."""\n')
    (tmp_path / "gui" / "__init__.py").write_text("")
    (tmp_path / "cli" / "__init__.py").write_text("import sys\n")
    (tmp_path / "core" / "stage" / "work.py").write_text(
        f"def fits():\n{body}\n\ndef too_long():\n{body}    y = 0\n"
    )
    method = "".join(f"        x = {i}\n" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "gui" / "panel.py").write_text(
        f"class Panel:\n    async def build(self):\n{method}"
    )

    assert long_functions(tmp_path) == [
        f"core/stage/work.py:{MAX_FUNCTION_LINES + 3} too_long ({MAX_FUNCTION_LINES + 1} lines)",
        f"gui/panel.py:2 build ({MAX_FUNCTION_LINES + 1} lines)",
    ]
    assert crowded_package_inits(tmp_path) == [
        "core/__init__.py:2 Assign",
        "cli/__init__.py:1 Import",
    ]
