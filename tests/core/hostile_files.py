"""Hypothesis strategies for hostile inputs: manifests (columns, encodings, separators, quoting,
paths that try to leave the dataset, odd labels, damaged bytes) and image files (odd modes,
damaged bytes), plus the dataset folder they are tried against.

The folder (``HostileLayout``): ``data/`` holds good images, a unicode-named one, a link inside
the dataset and a link out of it; ``outside/`` holds valid images that no loader may accept.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import strategies as st
from PIL import Image

from debias_studio.core.data.manifest import COLUMN_ALIASES
from debias_studio.core.data.rootpaths import is_within

GOOD = ["a/0.png", "a/1.png", "b/0.png", "b/1.png", "ü ñ/2.png"]


@dataclass(frozen=True)
class HostileLayout:
    base: Path

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def outside(self) -> Path:
        return self.base / "outside"

    def create(self) -> HostileLayout:
        pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
        for relative in GOOD:
            (self.data / relative).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(self.data / relative)
        self.outside.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(self.outside / "secret.png")
        (self.data / "a" / "link-out.png").symlink_to(self.outside / "secret.png")
        (self.data / "a" / "link-in.png").symlink_to(self.data / "a" / "0.png")
        (self.data / "out").symlink_to(self.outside, target_is_directory=True)
        return self

    def candidate_paths(self) -> list[str]:
        """Paths a manifest may list: good ones, and every way out we know of."""
        secret = self.outside / "secret.png"
        return [
            *GOOD,
            "a/link-in.png",
            "a\\1.png",
            "./b/0.png",
            "a//0.png",
            str(self.data / "a" / "0.png"),
            str(secret),
            "../outside/secret.png",
            "a/../../outside/secret.png",
            "a/link-out.png",
            "out/secret.png",
            "/etc/passwd",
            "..",
            ".",
            "",
            "a/0.png\x00",
            "C:\\Windows\\win.ini",
            "~/secret.png",
        ]

    def accepted_inside(self, relative: str) -> bool:
        """A path a loaded dataset lists must lead, links resolved, into ``data/``."""
        real = os.path.realpath(self.data / relative)
        return is_within(real, os.path.realpath(self.data))


LABELS = st.one_of(
    st.sampled_from(["a", "b"]),
    st.sampled_from(["a", "b", "NaN", "nan", "", " ", "None", "#N/A", "=1+1", "ü", "a\x00"]),
    st.text(max_size=6),
)
TEXT = st.text(max_size=8)


@st.composite
def manifest_rows(draw: st.DrawFn, layout: HostileLayout) -> pd.DataFrame:
    """A table with a path and a label column (under any alias), maybe a mask, split and extra
    columns with random names and values."""
    n = draw(st.integers(1, 8))
    paths = st.one_of(st.sampled_from(GOOD), st.sampled_from(layout.candidate_paths()), TEXT)
    columns: dict[str, list[object]] = {
        draw(st.sampled_from(COLUMN_ALIASES["path"])): draw(
            st.lists(paths, min_size=n, max_size=n)
        ),
        draw(st.sampled_from(COLUMN_ALIASES["label"])): draw(
            st.lists(LABELS, min_size=n, max_size=n)
        ),
    }
    if draw(st.booleans()):
        columns["mask"] = draw(st.lists(paths, min_size=n, max_size=n))
    if draw(st.booleans()):
        splits = st.sampled_from(["train", "val", "test", "", "0", "TRAIN"])
        columns["split"] = draw(st.lists(splits, min_size=n, max_size=n))
    for name in draw(st.lists(TEXT, max_size=3)):
        columns.setdefault(name, draw(st.lists(TEXT, min_size=n, max_size=n)))
    return pd.DataFrame(columns)


@st.composite
def csv_bytes(draw: st.DrawFn, table: pd.DataFrame) -> tuple[bytes, str]:
    """(content, file name): ``table`` as CSV the way some tool might write it, possibly
    damaged; tab-separated ones are often named ``.tsv``."""
    buffer = io.StringIO()
    separator = draw(st.sampled_from([",", ";", "\t", "|"]))
    name = draw(st.sampled_from(["m.tsv", "m.csv"])) if separator == "\t" else "M.CSV"
    writer = csv.writer(
        buffer,
        delimiter=separator,
        quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC])),
        lineterminator=draw(st.sampled_from(["\n", "\r\n"])),
    )
    writer.writerow([str(c) for c in table.columns])
    writer.writerows(table.astype(str).to_numpy().tolist())
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1"]))
    data = buffer.getvalue().encode(encoding, errors="replace")
    return draw(damaged(data)), name


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` as is, cut short, or with a few bytes overwritten or inserted."""
    how = draw(st.sampled_from(["intact"] * 5 + ["cut", "overwrite", "insert"]))
    if how == "intact" or not data:
        return data
    at = draw(st.integers(0, len(data) - 1))
    if how == "cut":
        return data[:at]
    noise = draw(st.binary(min_size=1, max_size=8))
    if how == "overwrite":
        return data[:at] + noise + data[at + len(noise) :]
    return data[:at] + noise + data[at:]


MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr", "I", "I;16", "F"]
FORMATS = ["PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP"]


@st.composite
def image_bytes(draw: st.DrawFn) -> tuple[bytes, str]:
    """(file content, extension): an image of an odd mode in some format, maybe damaged; or
    random bytes named like an image."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=256)), draw(st.sampled_from([".png", ".jpg", ".tif"]))
    mode, fmt = draw(st.sampled_from(MODES)), draw(st.sampled_from(FORMATS))
    width, height = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    seed = draw(st.integers(0, 2**16))
    image = Image.fromarray(
        np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    )
    try:
        image = image.convert(mode) if mode not in ("I;16",) else image.convert("L").convert(mode)
        buffer = io.BytesIO()
        options = {}
        if fmt in ("JPEG", "PNG", "WEBP", "TIFF") and draw(st.booleans()):
            exif = image.getexif()
            exif[0x0112] = draw(st.integers(0, 9))
            options["exif"] = exif
        image.save(buffer, format=fmt, **options)
    except (OSError, ValueError, KeyError, TypeError):
        return draw(st.binary(max_size=64)), ".png"  # this mode cannot be written so
    return draw(damaged(buffer.getvalue())), "." + fmt.lower()
