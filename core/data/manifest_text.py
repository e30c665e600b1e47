"""The text of a CSV manifest, read the way the tools that write manifests write it.

Encodings: UTF-8 (with or without Excel's byte-order mark), and UTF-16 or UTF-32 when a
byte-order mark says so (Excel's "Unicode text", PowerShell). Anything else is refused with a clear
message rather than guessed: a wrong guess turns every non-ASCII file name into a missing file.

Separators: a ``.tsv`` file is tab-separated; a ``.csv`` file uses the first of ``, ; TAB |`` its
header line holds (Excel writes ``;`` where the decimal mark is a comma).

A line that cannot be read (more fields than the header has) is one bad row, reported on its own;
it never sinks the other rows. Every cell is text; "" where a cell is empty or missing.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from debias_studio.core.errors import DatasetError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE, whose mark it starts with
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
SEPARATORS = (",", ";", "\t", "|")


@dataclass
class CsvTable:
    """Every cell as text, and the rows whose line could not be read (row index -> why)."""

    frame: pd.DataFrame
    bad_rows: dict[int, str] = field(default_factory=dict)


def read_csv_text(path: Path, *, tabs: bool) -> CsvTable:
    """Read a CSV (or, with ``tabs``, TSV) manifest; ``DatasetError`` when no row can be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"Cannot read the manifest {path.name}: {exc.strerror or exc}.") from exc
    text = _decoded(data, path.name)
    if not text.strip():
        raise DatasetError(f"The manifest {path.name} is empty.")
    separator = "\t" if tabs else _separator(text)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=separator,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError as exc:
        raise DatasetError(f"The manifest {path.name} is empty.") from exc
    except (pd.errors.ParserError, ValueError, OverflowError):
        return _line_by_line(text, separator, path.name)
    return CsvTable(frame)


def _decoded(data: bytes, name: str) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise DatasetError(
                    f"The manifest {name} starts like {encoding.upper()} text but is not."
                ) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(
            f"The manifest {name} is not UTF-8 text (byte {exc.start + 1} is not); save it as "
            "UTF-8, for example with Excel's 'CSV UTF-8'."
        ) from exc


def _separator(text: str) -> str:
    header = text.lstrip("\ufeff").split("\n", 1)[0]
    for separator in SEPARATORS:
        if separator in header:
            return separator
    return ","


def _line_by_line(text: str, separator: str, name: str) -> CsvTable:
    """The slow, tolerant reading: a line with too many fields becomes an empty bad row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, skipinitialspace=True)
    rows: list[list[str]] = []
    bad: dict[int, str] = {}
    try:
        header = next(reader, [])
        width = len(header)
        for fields in reader:
            if not fields or fields == [""]:
                continue
            if len(fields) > width:
                bad[len(rows)] = f"has {len(fields)} fields where the header has {width}"
                fields = []
            rows.append(fields + [""] * (width - len(fields)))
    except csv.Error as exc:
        raise DatasetError(
            f"Cannot read the manifest {name}: line {reader.line_num}: {exc}."
        ) from exc
    if not header:
        raise DatasetError(f"The manifest {name} is empty.")
    return CsvTable(pd.DataFrame(rows, columns=unique_names(header), dtype=object), bad)


def unique_names(header: list[str]) -> list[str]:
    """Header names as pandas would make them: blank ones numbered, repeated ones suffixed."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for i, raw in enumerate(header):
        name = raw.strip() or f"Unnamed: {i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}.{seen[name]}"
        seen.setdefault(name, 0)
        names.append(name)
    return names
