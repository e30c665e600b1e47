"""The README's set-up section stays true to the package: the two set-up commands name an
extra and commands that exist, the Python it states is the one declared, and the CPU-only
install pins the same torch/torchvision pair as the dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from debias_studio.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
SET_UP = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e . && "
    "debias-studio gui --demo digits",
    "python3 -m venv .venv && . .venv/bin/activate && pip install -e '.[dev]' && pytest -q",
)


def _readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def _project() -> dict:  # type: ignore[type-arg]
    with (REPO / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]  # type: ignore[no-any-return]


def test_the_two_set_up_commands_name_what_exists() -> None:
    readme = _readme()
    for command in SET_UP:
        assert f"```bash\n{command}\n```" in readme, command
    assert "pytest" in " ".join(_project()["optional-dependencies"]["dev"])
    args = build_parser().parse_args(["gui", "--demo", "digits"])
    assert args.command == "gui" and args.demo == "digits"


def test_the_stated_python_is_the_declared_one() -> None:
    floor = _project()["requires-python"]
    assert f'`requires-python = "{floor}"`' in _readme()


def test_the_cpu_only_install_pins_the_declared_pair() -> None:
    pins = dict(d.split("==") for d in _project()["dependencies"] if d.startswith("torch"))
    cpu_line = re.search(r"^pip install torch==.*--index-url (\S+)$", _readme(), re.M)
    assert cpu_line is not None and cpu_line.group(1).endswith("/whl/cpu")
    for name, version in pins.items():
        assert f"{name}=={version} " in cpu_line.group(0), name
    assert set(pins) == {"torch", "torchvision"}
