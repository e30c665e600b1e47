"""One owner per table: SQL runs only in core/store/, and there each table's statements live in
exactly one module. Read from the source (AST), so a new query anywhere else fails CI."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import debias_studio.core.store.project as store_project

REPO = Path(__file__).resolve().parents[2]
STORE = REPO / "core" / "store"
SCANNED = ("core", "gui", "cli", "bench", "scripts", "tests")
STORE_TESTS = ("test_store.py", "test_store_lock.py", "test_store_migrations.py")
"""Tests of the store itself may reach below the owners (raw sqlite3 on the file, the private
helpers); every other test goes through the owners' functions."""
FORGERS = ("forged_project.py",)
"""Test helpers that forge a project file as someone else could have (tests/reliability/): a
hostile project is by definition not written through our owners."""

OWNERS = {
    "meta": "project",
    "images": "project",
    "problems": "project",
    "confounders": "confounders",
    "overrides": "confounders",
    "history": "history",
    "exclusions": "exclusions",
    "relabels": "relabels",
    "tags": "tags",
    "discoveries": "discoveries",
    "runs": "runs",
}
SQL_CALLS = {"execute", "executemany", "executescript", "read_sql", "read_sql_query", "to_sql"}
PRIVATE = {"_rows", "_write", "_db"}
SQL_TEXT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|PRAGMA)\b")
DML_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)")


def sql_uses(source: str) -> list[str]:
    """What in ``source`` runs SQL or reaches the store's private connection, one line each."""
    found = []
    for node in ast.walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Call):
            func = node.func
            method = func.attr if isinstance(func, ast.Attribute) else ""
            name = method or getattr(func, "id", "")
            if name in SQL_CALLS or method in PRIVATE:
                found.append(f"{line}: {name}(")
        elif isinstance(node, ast.Attribute) and node.attr == "_db":
            found.append(f"{line}: ._db")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if SQL_TEXT.match(node.value):
                found.append(f"{line}: SQL text {node.value.split()[0]}")
        elif isinstance(node, ast.Import) and any(a.name == "sqlite3" for a in node.names):
            found.append(f"{line}: import sqlite3")
        elif isinstance(node, ast.ImportFrom) and node.module == "sqlite3":
            found.append(f"{line}: from sqlite3 import")
    return found


def _scanned_files() -> list[Path]:
    files = []
    for folder in SCANNED:
        for path in sorted((REPO / folder).rglob("*.py")):
            exempt = (*STORE_TESTS, *FORGERS, Path(__file__).name)
            if STORE in path.parents or path.name in exempt:
                continue
            files.append(path)
    return files


def test_nothing_outside_core_store_runs_sql() -> None:
    offenders = {
        str(path.relative_to(REPO)): uses
        for path in _scanned_files()
        if (uses := sql_uses(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}, "SQL outside core/store/: call the table's owner module instead"


@pytest.mark.parametrize(
    "snippet",
    [
        "project._rows('SELECT 1')",
        "with project._write() as db:\n    pass",
        "db.execute(sql)",
        "pd.read_sql(sql, con)",
        "x = 'DELETE FROM exclusions'",
        "import sqlite3",
        "from sqlite3 import connect",
        "conn = project._db",
    ],
)
def test_the_check_sees_sql(snippet: str) -> None:
    assert sql_uses(snippet)


def test_plain_code_is_not_taken_for_sql() -> None:
    plain = "tree.query([[0, 0]], k=1)\ntext = 'Select the images'\n_execute(job)\n_write(x)"
    assert not sql_uses(plain)


def test_each_table_has_exactly_one_owner_module() -> None:
    tables: dict[str, set[str]] = {}
    for path in sorted(STORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value.lstrip().startswith("CREATE"):
                    continue  # the schema's migrations: DDL, not access
                for table in DML_TABLE.findall(node.value):
                    if not table.startswith("sqlite_"):  # SQLite's own catalogue
                        tables.setdefault(table, set()).add(path.stem)
    found = {table: sorted(modules) for table, modules in tables.items()}
    assert found == {table: [owner] for table, owner in OWNERS.items()}


def test_every_table_of_the_schema_has_an_owner() -> None:
    ddl = store_project._V1 + "\n".join(store_project._V2)
    schema = set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", ddl))
    assert schema | {"images"} == set(OWNERS)
