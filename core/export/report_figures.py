"""Plots for the report, drawn with Pillow: grouped bars, lines, a count matrix, image strips.

The report must be one self-contained HTML file with its plots as images; Pillow is already a
dependency and draws these few chart types in milliseconds, so the engine needs no plotting
library. Every plot takes plain lists (the same data the report's JSON holds) and returns an RGB
image.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

PALETTE = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
BACKGROUND = (255, 255, 255)
INK = (40, 40, 40)
GRID = (225, 225, 225)
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 34, 70


def font(size: int = 12) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    title: str,
    *,
    y_max: float | None = None,
    y_label: str = "",
    width: int | None = None,
    height: int = 300,
) -> Image.Image:
    """Grouped bars: one group per category, one bar per series (None: no bar)."""
    n_series = max(1, len(series))
    width = width or max(360, min(1400, 90 + len(categories) * (14 * n_series + 14)))
    width = _fit_title(width, title)
    image, draw = _canvas(width, height, title)
    top = y_max or max([v for vals in series.values() for v in vals if v is not None] + [1.0])
    legend = _legend(draw, list(series), width)
    x0, y0, x1, y1 = _axes(draw, width, height, top, y_label, legend=legend)
    slot = (x1 - x0) / max(1, len(categories))
    bar = max(2.0, (slot - 6) / n_series)
    for s, (_name, values) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        for c, value in enumerate(values):
            if value is None:
                continue
            left = x0 + c * slot + 3 + s * bar
            yv = y1 - (y1 - y0) * min(float(value), top) / top
            draw.rectangle([left, yv, left + bar - 1, y1], fill=colour)
    small = font(10)
    for c, name in enumerate(categories):
        _rotated_label(image, str(name), x0 + (c + 0.5) * slot, y1 + 4, small)
    return image


def line_chart(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    title: str,
    *,
    y_label: str = "",
    y_max: float | None = None,
    width: int = 560,
    height: int = 300,
) -> Image.Image:
    """One polyline (with point marks) per series of (x, y)."""
    width = _fit_title(width, title)
    image, draw = _canvas(width, height, title)
    xs = [x for xv, _ in series.values() for x in xv] or [0.0, 1.0]
    ys = [y for _, yv in series.values() for y in yv if y is not None and math.isfinite(y)]
    top = y_max or (max(ys) * 1.05 if ys and max(ys) > 0 else 1.0)
    x_lo, x_hi = min(xs), max(xs)
    x_span = (x_hi - x_lo) or 1.0
    legend = _legend(draw, list(series), width)
    x0, y0, x1, y1 = _axes(draw, width, height, top, y_label, bottom=40, legend=legend)
    for s, (_name, (xv, yv)) in enumerate(series.items()):
        colour = PALETTE[s % len(PALETTE)]
        points = [
            (x0 + (x1 - x0) * (x - x_lo) / x_span, y1 - (y1 - y0) * min(y, top) / top)
            for x, y in zip(xv, yv, strict=True)
            if y is not None and math.isfinite(y)
        ]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for px, py in points:
            draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=colour)
    small = font(10)
    for tick in _ticks(x_lo, x_hi):
        px = x0 + (x1 - x0) * (tick - x_lo) / x_span
        draw.text((px, y1 + 4), f"{tick:g}", fill=INK, font=small, anchor="ma")
    return image


def count_matrix(
    counts: Sequence[Sequence[int]],
    rows: Sequence[str],
    columns: Sequence[str],
    title: str,
    *,
    marked: Sequence[int] | None = None,
) -> Image.Image:
    """A table of counts shaded by size; ``marked[r]`` is the column of row r to outline (the
    bias-aligned group of each class)."""
    cell_w, cell_h, head_w, head_h = 84, 26, 120, 40
    width = head_w + cell_w * max(1, len(columns)) + 12
    height = MARGIN_TOP + head_h + cell_h * max(1, len(rows)) + 10
    image, draw = _canvas(width, height, title)
    peak = max([v for row in counts for v in row] + [1])
    small = font(11)
    top = MARGIN_TOP + head_h
    for j, name in enumerate(columns):
        draw.text(
            (head_w + (j + 0.5) * cell_w, top - 6),
            _short(name, 12),
            fill=INK,
            font=small,
            anchor="md",
        )
    for i, name in enumerate(rows):
        y = top + i * cell_h
        draw.text((head_w - 6, y + cell_h / 2), _short(name, 16), fill=INK, font=small, anchor="rm")
        for j, value in enumerate(counts[i]):
            x = head_w + j * cell_w
            shade = int(235 - 150 * (value / peak))
            draw.rectangle([x, y, x + cell_w - 2, y + cell_h - 2], fill=(shade, shade + 10, 255))
            if marked is not None and marked[i] == j:
                draw.rectangle(
                    [x, y, x + cell_w - 2, y + cell_h - 2], outline=(214, 39, 40), width=2
                )
            ink = (255, 255, 255) if shade < 140 else INK
            draw.text(
                (x + cell_w / 2, y + cell_h / 2), str(value), fill=ink, font=small, anchor="mm"
            )
    return image


def image_strip(
    root: Path, relatives: Sequence[str], side: int = 56, gap: int = 3
) -> Image.Image | None:
    """Thumbnails of dataset files side by side (unreadable files, and files that lead out of
    the dataset folder, are skipped; None when none could be read)."""
    from debias_studio.core.data.access import as_root
    from debias_studio.core.data.imageio import ImageReadError, open_image

    base = as_root(root)
    tiles = []
    for relative in relatives:
        try:
            tile = open_image(base, relative, min_side=side)
        except ImageReadError:
            continue
        tile.thumbnail((side, side))
        tiles.append(tile)
    if not tiles:
        return None
    strip = Image.new("RGB", (len(tiles) * (side + gap) - gap, side), BACKGROUND)
    for k, tile in enumerate(tiles):
        strip.paste(tile, (k * (side + gap) + (side - tile.width) // 2, (side - tile.height) // 2))
    return strip


# ---- pieces ------------------------------------------------------------------------------------
def _fit_title(width: int, title: str) -> int:
    return max(width, int(font(14).getlength(title)) + 24)


def _canvas(width: int, height: int, title: str) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((10, 8), title, fill=INK, font=font(14))
    return image, draw


def _axes(
    draw: ImageDraw.ImageDraw,
    width: int,
    height: int,
    top: float,
    y_label: str,
    bottom: int = MARGIN_BOTTOM,
    legend: int = 0,
) -> tuple[float, float, float, float]:
    x0, y0 = MARGIN_LEFT, MARGIN_TOP + legend + 18
    x1, y1 = width - MARGIN_RIGHT, height - bottom
    small = font(10)
    for k in range(5):
        value = top * k / 4
        y = y1 - (y1 - y0) * k / 4
        draw.line([(x0, y), (x1, y)], fill=GRID)
        draw.text((x0 - 4, y), _number(value), fill=INK, font=small, anchor="rm")
    draw.line([(x0, y0), (x0, y1), (x1, y1)], fill=INK)
    if y_label:
        draw.text((x0, y0 - 4), y_label, fill=INK, font=small, anchor="ld")
    return x0, y0, x1, y1


def _legend(draw: ImageDraw.ImageDraw, names: list[str], width: int) -> int:
    """Colour keys in rows under the title; returns the height they take."""
    if len(names) < 2:
        return 0
    small = font(10)
    x, y, row_h = 10.0, MARGIN_TOP - 4, 14
    for s, name in enumerate(names):
        label = _short(name, 40)
        step = draw.textlength(label, font=small) + 24
        if x + step > width - MARGIN_RIGHT and x > 10:
            x, y = 10.0, y + row_h
        draw.rectangle([x, y, x + 10, y + 10], fill=PALETTE[s % len(PALETTE)])
        draw.text((x + 13, y + 5), label, fill=INK, font=small, anchor="lm")
        x += step
    return int(y + row_h - (MARGIN_TOP - 4))


def _rotated_label(image: Image.Image, text: str, x: float, y: float, face: object) -> None:
    text = _short(text, 18)
    probe = ImageDraw.Draw(image)
    w = int(probe.textlength(text, font=face)) + 4  # type: ignore[arg-type]
    label = Image.new("RGBA", (w, 14), (255, 255, 255, 0))
    ImageDraw.Draw(label).text((0, 0), text, fill=INK, font=face)  # type: ignore[arg-type]
    rotated = label.rotate(40, expand=True)
    image.paste(rotated, (int(x - rotated.width + 6), int(y)), rotated)


def _ticks(lo: float, hi: float, most: int = 8) -> list[float]:
    if hi <= lo:
        return [lo]
    step = max(1, math.ceil((hi - lo) / most)) if hi - lo >= 1 else (hi - lo) / 4
    out, value = [], lo
    while value <= hi + 1e-9:
        out.append(value)
        value += step
    return out


def _number(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.2f}" if value < 10 and value != int(value) else f"{value:g}"


def _short(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def value_matrix(
    values: Sequence[Sequence[float | None]],
    rows: Sequence[str],
    columns: Sequence[str],
    title: str,
) -> Image.Image:
    """A heat map of fractions in [0, 1] (red low, green high; blank where None), one cell per
    (row, column): readable at 10 x 10 and beyond, where bars are not."""
    cell_w, cell_h, head_w, head_h = 56, 22, 120, 40
    width = _fit_title(head_w + cell_w * max(1, len(columns)) + 12, title)
    height = MARGIN_TOP + head_h + cell_h * max(1, len(rows)) + 10
    image, draw = _canvas(width, height, title)
    small = font(10)
    top = MARGIN_TOP + head_h
    for j, name in enumerate(columns):
        x = head_w + (j + 0.5) * cell_w
        draw.text((x, top - 6), _short(str(name), 8), fill=INK, font=small, anchor="md")
    for i, name in enumerate(rows):
        y = top + i * cell_h
        draw.text((head_w - 6, y + cell_h / 2), _short(str(name), 16), fill=INK, font=small,
                  anchor="rm")  # fmt: skip
        for j, value in enumerate(values[i]):
            x = head_w + j * cell_w
            if value is None:
                draw.rectangle([x, y, x + cell_w - 2, y + cell_h - 2], outline=GRID)
                continue
            v = min(1.0, max(0.0, float(value)))
            fill = (int(230 - 180 * v), int(80 + 140 * v), 90)
            draw.rectangle([x, y, x + cell_w - 2, y + cell_h - 2], fill=fill)
            draw.text((x + cell_w / 2, y + cell_h / 2), f"{v:.2f}", fill=(255, 255, 255),
                      font=small, anchor="mm")  # fmt: skip
    return image
