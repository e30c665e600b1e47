"""Small image files, good and bad, written into a test's tmp_path (nothing is downloaded)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, *, seed: int = 0, size: int = 16, fmt: str | None = None) -> Path:
    """A small noisy RGB image (noise, so that JPEG cannot shrink it to a few bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def write_classes(root: Path, counts: dict[str, int], ext: str = "png") -> list[Path]:
    """``root/<class>/<i>.<ext>`` for each class."""
    written = []
    for c, (name, n) in enumerate(counts.items()):
        for i in range(n):
            written.append(write_image(root / name / f"{i}.{ext}", seed=1000 * c + i))
    return written


def write_truncated(path: Path, fmt: str = "JPEG") -> Path:
    """A real image cut in half: the header reads, the pixels do not."""
    write_image(path, size=64, fmt=fmt)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def write_png_header(path: Path, width: int, height: int) -> Path:
    """A valid PNG that claims ``width x height`` pixels in a few bytes: a decompression bomb
    for any reader that trusts the header (only the header is ever read from it)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    body = zlib.compress(b"\x00" * 64)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_png16(path: Path, values: np.ndarray) -> Path:
    """A 16-bit PNG of ``values`` (uint16; (H, W) grey or (H, W, 3) RGB), written by hand:
    PIL writes 16-bit grey but not 16-bit RGB."""
    values = np.asarray(values, dtype=np.uint16)
    colour_type = 2 if values.ndim == 3 else 0
    height, width = values.shape[:2]
    rows = values.reshape(height, -1).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    return path


def write_float_tiff(path: Path, values: np.ndarray) -> Path:
    """A 32-bit float greyscale TIFF (PIL mode F)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(values, dtype=np.float32)).save(path, format="TIFF")
    return path


def write_turned_jpeg(path: Path, orientation: int = 6) -> Path:
    """A 24 x 16 JPEG stored sideways: left half red, right half blue, with EXIF ``orientation``
    (6: a viewer turns it 90 degrees clockwise, so it shows 16 x 24, red on top)."""
    pixels = np.zeros((16, 24, 3), dtype=np.uint8)
    pixels[:, :12] = (255, 0, 0)
    pixels[:, 12:] = (0, 0, 255)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=95, exif=exif)
    return path
