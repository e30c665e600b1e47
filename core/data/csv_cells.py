"""CSV cells that a spreadsheet cannot run: the OWASP rule for formula injection, and its inverse.

A cell that starts with ``=``, ``+``, ``-``, ``@``, TAB or CR is taken for a formula by Excel,
LibreOffice and Google Sheets; a label or file name such as ``=HYPERLINK(...)`` in an exported CSV
would run when the file is opened. Every CSV the app writes passes its text cells through
``neutralise_cell``, which puts a single quote in front of such a cell (spreadsheets show it as
text). To keep this reversible, a cell that already starts with quotes followed by one of those
characters gets one more quote, and ``restore_cell`` (used when a CSV manifest is read) removes
exactly one: what was exported comes back exactly. Parquet files are written as they are.
"""

from __future__ import annotations

import re

import pandas as pd

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTE = re.compile(r"^'*[=+\-@\t\r]")
_QUOTED = re.compile(r"^'+[=+\-@\t\r]")


def neutralise_cell(value: object) -> object:
    """``value`` with a leading ``'`` when a spreadsheet would read it as a formula; other
    values (numbers, safe text) unchanged."""
    if isinstance(value, str) and _NEEDS_QUOTE.match(value):
        return "'" + value
    return value


def restore_cell(value: str) -> str:
    """The inverse of ``neutralise_cell`` for a cell read back as text."""
    return value[1:] if _QUOTED.match(value) else value


def neutralise_frame(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` whose text cells (and column names) are neutralised."""
    out = table.copy()
    for column in out.columns:
        if out[column].dtype == object or pd.api.types.is_string_dtype(out[column].dtype):
            out[column] = out[column].map(neutralise_cell)
    out.columns = [neutralise_cell(str(c)) for c in out.columns]
    return out


def restore_frame(table: pd.DataFrame) -> pd.DataFrame:
    """The inverse of ``neutralise_frame`` for a CSV read with every cell as text."""
    out = table.copy()
    out.columns = [restore_cell(str(c)) for c in out.columns]
    for column in out.columns:
        out[column] = [restore_cell(v) if isinstance(v, str) else v for v in out[column].tolist()]
    return out
