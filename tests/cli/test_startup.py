"""Start-up without waiting: ``--help`` and early errors load none of the engine's heavy
libraries (checked by what a fresh process imported, not by a clock), and every command's
help explains itself with examples."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

from debias_studio.cli.main import build_parser
from debias_studio.core.train.config import BACKBONES, METHODS
from tests.cli.projects import HEAVY_MODULES, clean_env

IMPORTED = (
    "import atexit, sys\n"
    "atexit.register(lambda: sys.stderr.write('\\nIMPORTED ' + repr(sorted("
    f"m for m in {HEAVY_MODULES!r} if m in sys.modules))))\n"
    "from debias_studio.cli.main import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _run(*args: str) -> tuple[int, str, str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env(),
    )
    stderr, _, imported = done.stderr.rpartition("\nIMPORTED ")
    return done.returncode, done.stdout, stderr, ast.literal_eval(imported)


def test_help_imports_no_engine_library() -> None:
    for args in (["--help"], ["train", "--help"], ["export", "--help"], ["--version"]):
        code, out, _err, imported = _run(*args)
        assert code == 0 and out
        assert imported == [], (args, imported)


def test_a_bad_path_fails_at_once_and_says_how_to_make_a_project(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    code, _out, err, imported = _run("gui", str(missing))
    assert code == 1
    assert err.count("\n") == 1 and "does not exist" in err
    assert f"debias-studio new {missing} --images" in err
    assert imported == []  # neither Qt nor the engine was loaded to say so
    code, _out, err, _imported = _run("info", str(tmp_path))
    assert code == 1
    assert f"debias-studio new {tmp_path.parent / (tmp_path.name + '-project')}" in err
    assert f"--images {tmp_path}" in err


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, object]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[f"{prefix}{name}"] = sub
                found.update(_commands(sub, f"{prefix}{name} "))
    return found


def test_every_command_has_a_description_and_examples() -> None:
    commands = _commands(build_parser())
    assert {"train", "discover", "concepts", "confounder add", "gui", "export", "new"} <= set(
        commands
    )
    for name, parser in commands.items():
        assert isinstance(parser, argparse.ArgumentParser)
        text = parser.format_help()
        assert parser.description, name
        assert "examples:\n  debias-studio " in text, name
    train = commands["train"].format_help()  # type: ignore[attr-defined]
    for word in (*METHODS, *BACKBONES):  # a new method or backbone gets its line
        assert f"\n  {word} " in train, word
