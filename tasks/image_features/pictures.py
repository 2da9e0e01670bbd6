"""image_features' pictures: a day's detections as a grid, a similarity query's contact sheet.

Pure rendering over the primitives of :mod:`lakesight.pictures`; publish and
``lakesight similar`` decide what to draw and where it goes.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from lakesight.pictures import BLANK, annotate, grid, png


def detection_sheet(rows: Sequence[dict], read_image: Callable[[dict], np.ndarray],
                    *, size: int = 256, columns: int = 4) -> tuple[bytes, list[bytes]]:  # fmt: skip
    """A grid of annotated images and each annotated image on its own (PNG bytes).

    ``rows`` carry the contract's ``path``, ``detections`` and ``top``;
    ``read_image(row)`` returns RGB pixels. An unreadable image gets a dark-red tile.
    """
    tiles, captions, singles = [], [], []
    for row in rows:
        try:
            tile = annotate(read_image(row), row["detections"] or [], row["top"])
        except Exception:  # a picture must never fail the stage that draws it
            tile = Image.new("RGB", (size, size), BLANK)
        tiles.append(tile)
        singles.append(png(tile))
        captions.append(str(row["path"]).rsplit("/", 1)[-1])
    return grid(tiles, captions, size, columns), singles


def contact_sheet(query_image: np.ndarray, results: Sequence[dict],
                  read_image: Callable[[dict], np.ndarray], size: int = 128) -> bytes:  # fmt: skip
    """PNG: the query (first, outlined in red), then its results with Hamming distance and cosine."""
    tiles, captions = [Image.fromarray(query_image)], ["query"]
    for result in results:
        try:
            tiles.append(Image.fromarray(read_image(result)))
        except Exception:  # a result whose file is gone still gets its slot
            tiles.append(Image.new("RGB", (size, size), BLANK))
        captions.append(f"d={result['distance']} cos={result['score']:.2f}")
    sheet = Image.open(io.BytesIO(grid(tiles, captions, size, columns=len(tiles))))
    ImageDraw.Draw(sheet).rectangle([0, 0, size - 1, size - 1], outline=(220, 0, 0), width=3)
    return png(sheet)
