"""Picture primitives every pipeline draws with: PNG bytes, fitted tiles, captioned grids, boxes.

Pure rendering (pixels and rows in, PNG bytes out); each pipeline's own
``pictures`` module decides what to draw, and its stages where it goes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

# One colour per label, stable across pictures and runs (ColorBrewer Set1).
PALETTE = ((228, 26, 28), (55, 126, 184), (77, 175, 74), (152, 78, 163), (255, 127, 0),
           (166, 86, 40), (247, 129, 191), (153, 153, 153))  # fmt: skip
BLANK = (80, 0, 0)  # a tile whose image could not be read


def label_colour(label: str) -> tuple[int, int, int]:
    return PALETTE[sum(label.encode()) % len(PALETTE)]


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def fit(image: Image.Image, size: int, background=(24, 24, 24)) -> Image.Image:
    """``image`` scaled to fit a ``size`` square, centred."""
    image = image.copy()
    image.thumbnail((size, size))
    canvas = Image.new("RGB", (size, size), background)
    canvas.paste(image, ((size - image.width) // 2, (size - image.height) // 2))
    return canvas


def annotate(pixels: np.ndarray, detections: Sequence[dict], top: dict | None,
             *, min_score: float = 0.3, scale: float = 2.0) -> Image.Image:  # fmt: skip
    """The image (enlarged ``scale``×) with every detection above ``min_score`` boxed and
    labelled; the described one (``top``) drawn thicker, or a "whole image" note without one."""
    image = Image.fromarray(pixels)
    image = image.resize((round(image.width * scale), round(image.height * scale)))
    draw = ImageDraw.Draw(image)
    w, h = image.size
    for detection in sorted(detections, key=lambda d: d["score"]):
        if detection["score"] < min_score:
            continue
        box = [detection["x_min"] * w, detection["y_min"] * h, detection["x_max"] * w,
               detection["y_max"] * h]  # fmt: skip
        colour = label_colour(detection["label"])
        chosen = top is not None and all(detection[k] == top[k] for k in ("label", "score"))
        draw.rectangle(box, outline=colour, width=4 if chosen else 2)
        text = f"{detection['label']} {detection['score']:.2f}"
        tx, ty = box[0], max(0, box[1] - 12)
        draw.rectangle([tx, ty, tx + 6 * len(text) + 4, ty + 12], fill=colour)
        draw.text((tx + 2, ty), text, fill=(255, 255, 255))
    if top is None:
        draw.text((4, h - 14), "no object: whole image described", fill=(255, 255, 0))
    return image


def grid(tiles: Sequence[Image.Image], captions: Sequence[str], size: int, columns: int) -> bytes:
    """PNG of ``size``-square tiles with one caption line each, ``columns`` per row."""
    rows = -(-len(tiles) // columns) if tiles else 1
    cell_h = size + 16
    sheet = Image.new("RGB", (size * min(columns, max(1, len(tiles))), cell_h * rows), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (tile, caption) in enumerate(zip(tiles, captions, strict=True)):
        x, y = (i % columns) * size, (i // columns) * cell_h
        sheet.paste(fit(tile, size), (x, y))
        draw.text((x + 4, y + size + 2), caption[: size // 6], fill=(0, 0, 0))
    return png(sheet)
