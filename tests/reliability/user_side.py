"""What a reliability test needs to act as a user: run the CLI, make small datasets and hostile
files, and watch which files the process opens.

``opened_files`` uses a Python audit hook (PEP 578): every ``open`` of the process - built-in
``open``, ``os.open``, PIL's reads - is seen, so a test can prove a file was never opened, not
only that its bytes did not end up in an output.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from debias_studio.cli.main import main

_RECORDING: list[list[str]] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if event == "open" and _RECORDING and isinstance(args[0], (str, bytes, os.PathLike)):
        for record in _RECORDING:
            record.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # once per process; it records only inside ``opened_files``


@contextlib.contextmanager
def opened_files() -> Iterator[list[str]]:
    """Every path this process opens inside the block (threads included)."""
    record: list[str] = []
    _RECORDING.append(record)
    try:
        yield record
    finally:
        _RECORDING.remove(record)


def never_opened(record: list[str], secret: Path) -> bool:
    """True when no recorded open reached ``secret`` (directly or through a link)."""
    target = os.path.realpath(secret)
    return all(os.path.realpath(path) != target for path in record)


@dataclass
class Outcome:
    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], *argv: object) -> Outcome:
    """``debias-studio ARGV`` in this process. A traceback (any exception the CLI lets out) is
    exit code -1 with the traceback as ``err``, so that tests can assert there is none."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    except BaseException:
        captured = capsys.readouterr()
        return Outcome(-1, captured.out, captured.err + traceback.format_exc())
    captured = capsys.readouterr()
    return Outcome(code, captured.out, captured.err)


def one_line_error(outcome: Outcome) -> str:
    """The CLI's promise for bad input: exit code 1 and one error line on stderr, after any
    progress lines (printed as log lines when stderr is not a terminal), and no traceback."""
    assert outcome.code == 1, outcome
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("debias-studio: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], outcome.err
    assert "Traceback" not in outcome.err, outcome.err
    return errors[0]


def write_png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def tiny_dataset(root: Path, per_class: int = 8, side: int = 16) -> list[Path]:
    """``root/{a,b}/<i>.png``: class a reddish, class b bluish noise (learnable, decodable)."""
    rng = np.random.default_rng(0)
    written = []
    for k, name in enumerate(("a", "b")):
        for i in range(per_class):
            pixels = rng.integers(0, 90, (side, side, 3), dtype=np.uint8)
            pixels[..., 0 if k == 0 else 2] += 150
            written.append(write_png(root / name / f"{i:02d}.png", pixels))
    return written


def secret_image(path: Path) -> Path:
    """A valid image outside every dataset: if anything decodes or copies it, it shows."""
    return write_png(path, np.full((16, 16, 3), (0, 255, 0), dtype=np.uint8))


def files_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def holding_bytes(folder: Path, data: bytes) -> list[Path]:
    """Files below ``folder`` (links followed) whose content is ``data``."""
    found = []
    for path in files_below(folder):
        with contextlib.suppress(OSError):
            if path.read_bytes() == data:
                found.append(path)
    return found
