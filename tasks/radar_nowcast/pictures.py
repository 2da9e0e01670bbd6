"""radar_nowcast's pictures: radar frames in a rain-rate palette, forecast panels, CSI charts.

Pure rendering over the primitives of :mod:`lakesight.pictures` (numpy and dicts in,
PNG bytes out); the stages decide what to draw and where it goes.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw

from lakesight.pictures import PALETTE, label_colour, png
from lakesight.radar_nowcast.encoding import ZR, pixel_to_rain

Colour = tuple[int, int, int]
HKO_ZR = ZR()  # the default Z-R relation (a module constant: a call in a default is evaluated once)

NO_ECHO: Colour = (20, 20, 20)  # below the first bin (< 0.1 mm/h) and P = 0
NOT_OBSERVED: Colour = (128, 128, 128)  # a lead whose valid time has no frame yet

# (lower edge in mm/h, colour): a bin runs from its edge up to the next one, the last is
# open-ended. The verification thresholds (THRESHOLDS_MM_H) are all edges, so a colour
# change is exactly an event boundary ("rain >= t", as in encoding).
RAIN_BINS: tuple[tuple[float, Colour], ...] = (
    (0.1, (160, 220, 250)),  # pale blue
    (0.5, (70, 150, 240)),  # light blue
    (1.0, (20, 60, 200)),  # blue
    (2.0, (30, 170, 60)),  # green
    (5.0, (250, 225, 30)),  # yellow
    (10.0, (255, 140, 0)),  # orange
    (20.0, (225, 30, 30)),  # red
    (30.0, (150, 0, 40)),  # dark red
    (50.0, (220, 0, 220)),  # magenta
)

# forecast_panels layout, in pixels; the sheet's size follows from these alone.
TITLE_H = 20  # the issue-time line
HEADER_H = 16  # a line of column headers ("+6 min", "t-24 min")
LEGEND_H = 24  # the colour bins
LABEL_W = 128  # the row-label column ("observed", model names)
GAP = 2  # between tiles
LEGEND_ENTRY_W = 64  # one swatch and its label
LEGEND_W = GAP + (len(RAIN_BINS) + 1) * LEGEND_ENTRY_W + 40  # every bin, then "mm/h"
INK = (0, 0, 0)


def legend_bins() -> list[tuple[str, Colour]]:
    """The palette as (mm/h label, colour), from no echo up: what the legend shows."""
    edges = [lower for lower, _ in RAIN_BINS]
    labels = [f"< {_num(edges[0])}"]
    labels += [f"{_num(lo)}-{_num(hi)}" for lo, hi in itertools.pairwise(edges)]
    labels.append(f"{_num(edges[-1])}+")
    return list(zip(labels, [NO_ECHO, *(c for _, c in RAIN_BINS)], strict=True))


@lru_cache(maxsize=8)
def _lut(zr: ZR) -> np.ndarray:
    """(256, 3) uint8: the colour of every pixel value; the colour is a function of the pixel."""
    rain = pixel_to_rain(np.arange(256, dtype=np.uint8), zr)
    edges = np.array([lower for lower, _ in RAIN_BINS], dtype=np.float32)
    # side="right": a rain rate equal to an edge falls in the bin above it (rain >= t).
    index = np.searchsorted(edges, rain, side="right")
    colours = np.array([NO_ECHO, *(c for _, c in RAIN_BINS)], dtype=np.uint8)
    lut = colours[index]
    lut.flags.writeable = False  # shared by every call through the cache
    return lut


def colourise(pixels: np.ndarray, zr: ZR = HKO_ZR) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an encoded (H, W) uint8 radar frame in the rain-rate palette."""
    pixels = np.asarray(pixels)
    if pixels.ndim != 2 or pixels.dtype != np.uint8:
        raise ValueError(f"pixels must be (H, W) uint8, got {pixels.shape} {pixels.dtype}")
    return _lut(zr)[pixels]


def forecast_panels(
    issued_at: str,
    leads_min: Sequence[int],
    observed: Sequence[np.ndarray | None],
    forecasts: dict[str, np.ndarray],
    *,
    inputs: np.ndarray | None = None,
    tile: int = 128,
    zr: ZR = HKO_ZR,
    cadence_min: int = 6,
) -> bytes:
    """PNG: one column per lead, a row of observed frames then one row per model, a legend.

    ``observed[i]`` is the (H, W) frame valid at ``leads_min[i]`` or None (drawn as a grey
    "not yet observed" tile); ``forecasts[model]`` is (len(leads_min), H, W) uint8 in the
    same lead order. ``inputs`` (T, H, W), oldest first, adds a row above, "t-..." to
    "t0" at ``cadence_min`` steps (the last ``len(leads_min)`` if there are more).
    """
    n = len(leads_min)
    if n == 0:
        raise ValueError("leads_min is empty: nothing to draw")
    if len(observed) != n:
        raise ValueError(f"observed has {len(observed)} frames for {n} leads_min")
    for model, frames in forecasts.items():
        if np.shape(frames)[:1] != (n,):
            raise ValueError(f"forecasts[{model!r}] has shape {np.shape(frames)} for {n} leads")
    step = tile + GAP
    rows = ["observed", *forecasts]
    in_h = HEADER_H + step if inputs is not None else 0
    width = max(LABEL_W + n * step, LEGEND_W)  # the legend is one line, whatever n
    height = TITLE_H + in_h + HEADER_H + len(rows) * step + LEGEND_H
    sheet = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((4, 4), f"radar nowcast issued {issued_at}", fill=INK)
    y = TITLE_H
    if inputs is not None:
        shown = list(inputs)[-n:]
        ages = [(len(shown) - 1 - i) * cadence_min for i in range(len(shown))]
        headers = [f"t-{a} min" if a else "t0" for a in ages]
        _header(draw, headers, y, tile)
        _row(sheet, draw, "input", [_tile(f, tile, zr) for f in shown], y + HEADER_H, tile)
        y += in_h
    _header(draw, [f"+{lead} min" for lead in leads_min], y, tile)
    y += HEADER_H
    for label, frames in zip(rows, [observed, *forecasts.values()], strict=True):
        _row(sheet, draw, label, [_tile(f, tile, zr) for f in frames], y, tile)
        y += step
    _legend(draw, y)
    return png(sheet)


def _tile(frame: np.ndarray | None, size: int, zr: ZR) -> Image.Image:
    """A frame colourised and scaled to fit a ``size`` square; grey and labelled if None."""
    if frame is None:
        tile = Image.new("RGB", (size, size), NOT_OBSERVED)
        draw = ImageDraw.Draw(tile)
        text = "not yet observed"
        if draw.textlength(text) > size - 4:  # two lines on a small tile
            text = "not yet\nobserved"
        draw.multiline_text((size / 2, size / 2), text, fill="white", anchor="mm", align="center")
        return tile
    image = Image.fromarray(colourise(frame, zr))
    scale = size / max(image.size)
    # Nearest neighbour: any smoothing would invent colours that are not in the palette.
    image = image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
        Image.Resampling.NEAREST,
    )
    tile = Image.new("RGB", (size, size), NO_ECHO)
    tile.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
    return tile


def _header(draw: ImageDraw.ImageDraw, headers: Sequence[str], y: int, tile: int) -> None:
    for i, text in enumerate(headers):
        draw.text(
            (LABEL_W + i * (tile + GAP) + tile / 2, y + HEADER_H / 2), text, fill=INK, anchor="mm"
        )


def _row(
    sheet: Image.Image,
    draw: ImageDraw.ImageDraw,
    label: str,
    tiles: Sequence[Image.Image],
    y: int,
    tile: int,
) -> None:
    draw.text((4, y + tile / 2), _elide(draw, label, LABEL_W - 8), fill=INK, anchor="lm")
    for i, image in enumerate(tiles):
        sheet.paste(image, (LABEL_W + i * (tile + GAP), y))


def _legend(draw: ImageDraw.ImageDraw, y: int) -> None:
    """The colour bins in one line: a swatch and its mm/h range each, then the unit."""
    for i, (label, colour) in enumerate(legend_bins()):
        x = GAP + i * LEGEND_ENTRY_W
        draw.rectangle([x + 2, y + 6, x + 14, y + 18], fill=colour, outline=INK)
        draw.text((x + 18, y + 12), label, fill=INK, anchor="lm")
    draw.text((GAP + len(legend_bins()) * LEGEND_ENTRY_W, y + 12), "mm/h", fill=INK, anchor="lm")


def _elide(draw: ImageDraw.ImageDraw, text: str, width: float) -> str:
    """``text`` cut (with "..") to fit ``width`` pixels."""
    if draw.textlength(text) <= width:
        return text
    while text and draw.textlength(text + "..") > width:
        text = text[:-1]
    return text + ".."


def _num(value: float) -> str:
    return f"{value:g}"


def model_colours(models: Sequence[str]) -> dict[str, Colour]:
    """A colour per model: its ``label_colour`` (stable across pictures) unless an earlier
    model (in sorted order) took it, then the first free palette colour."""
    colours: dict[str, Colour] = {}
    for model in sorted(models):
        colour = label_colour(model)
        if colour in colours.values():
            free = [c for c in PALETTE if c not in colours.values()]
            colour = free[0] if free else colour  # more models than colours: share
        colours[model] = colour
    return colours


def csi_plot(
    summary: dict,
    *,
    thresholds: Sequence[str] | None = None,
    size: tuple[int, int] = (280, 200),
    columns: int = 3,
) -> bytes:
    """PNG: one CSI-by-lead panel per threshold (each ``size``), a line per model, a legend.

    ``summary`` is ``{"leads_min": [6, ...], "csi": {model: {"0.5": [csi or None per lead],
    ...}}}``; None (or NaN) is a gap in the line. ``thresholds`` defaults to every key present.
    """
    leads, csi = list(summary["leads_min"]), summary["csi"]
    if thresholds is None:
        thresholds = sorted({k for per in csi.values() for k in per}, key=float)
    colours = model_colours(list(csi))
    columns = max(1, min(columns, len(thresholds)))
    rows = max(1, -(-len(thresholds) // columns))
    width = columns * size[0]
    legend = _model_legend(colours, width)
    legend_h = 18 * (1 + max((line for line, _, _ in legend), default=0)) + 4
    sheet = Image.new("RGB", (width, rows * size[1] + legend_h), "white")
    draw = ImageDraw.Draw(sheet)
    for i, key in enumerate(thresholds):
        origin = ((i % columns) * size[0], (i // columns) * size[1])
        series = {m: per[key] for m, per in csi.items() if key in per}
        _csi_panel(draw, origin, size, f"CSI >= {key} mm/h", leads, series, colours)
    for line, x, model in legend:
        y = rows * size[1] + 11 + 18 * line
        draw.line([x, y, x + 16, y], fill=colours[model], width=3)
        draw.text((x + 20, y), model, fill=INK, anchor="lm")
    return png(sheet)


def _model_legend(colours: dict[str, Colour], width: int) -> list[tuple[int, int, str]]:
    """(line, x, model) of each legend entry, wrapped to ``width``."""
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    entries, line, x = [], 0, 8
    for model in colours:
        entry_w = 32 + round(measure.textlength(model))
        if x > 8 and x + entry_w > width:
            line, x = line + 1, 8
        entries.append((line, x, model))
        x += entry_w
    return entries


def _csi_panel(
    draw: ImageDraw.ImageDraw,
    origin: tuple[int, int],
    size: tuple[int, int],
    title: str,
    leads: Sequence[int],
    series: dict[str, Sequence[float | None]],
    colours: dict[str, Colour],
) -> None:
    """One chart: CSI 0..1 (gridlines every 0.2) against lead time, a line per model."""
    left, top = origin[0] + 34, origin[1] + 20
    right, bottom = origin[0] + size[0] - 10, origin[1] + size[1] - 30
    draw.text(((left + right) / 2, origin[1] + 10), title, fill=INK, anchor="mm")
    for tick in range(6):
        y = bottom - tick / 5 * (bottom - top)
        draw.line([left, y, right, y], fill=(225, 225, 225))
        draw.text((left - 4, y), f"{tick / 5:.1f}", fill=INK, anchor="rm")
    lo, hi = min(leads, default=0), max(leads, default=0)

    def x_of(lead: float) -> float:  # a single lead sits in the middle
        return (left + right) / 2 if hi == lo else left + (lead - lo) / (hi - lo) * (right - left)

    every = max(1, -(-len(leads) // 8))  # at most ~8 tick labels, so they do not overlap
    for j, lead in enumerate(leads):
        draw.line([x_of(lead), bottom, x_of(lead), bottom + 3], fill=INK)
        if j % every == 0:
            draw.text((x_of(lead), bottom + 5), str(lead), fill=INK, anchor="mt")
    draw.text(((left + right) / 2, bottom + 18), "lead (min)", fill=INK, anchor="mt")
    draw.rectangle([left, top, right, bottom], outline=INK)
    for model, values in series.items():
        if len(values) != len(leads):
            raise ValueError(f"csi[{model!r}] has {len(values)} values for {len(leads)} leads")
        _polyline(draw, values, leads, x_of, lambda v: bottom - v * (bottom - top), colours[model])


def _polyline(draw, values, leads, x_of, y_of, colour) -> None:
    """Line segments between consecutive known points (a None breaks the line), and a
    marker on each point, so an isolated point still shows."""
    points = [
        None if v is None or not math.isfinite(v) else (x_of(lead), y_of(min(max(v, 0.0), 1.0)))
        for lead, v in zip(leads, values, strict=True)
    ]
    for a, b in itertools.pairwise(points):
        if a is not None and b is not None:
            draw.line([a, b], fill=colour, width=2)
    for point in points:
        if point is not None:
            draw.ellipse([point[0] - 3, point[1] - 3, point[0] + 3, point[1] + 3], fill=colour)
