"""house_similarity's pictures: a query's contact sheet (the photo, then its listings with their tags)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image

from lakesight.imaging import ImageRejected
from lakesight.lake import StorageError
from lakesight.pictures import grid

TILE = 192


def query_caption(query) -> str:
    if query.is_house:
        return f"query: {query.style}, {query.stories} st"
    return f"query: not a house ({query.exterior_probability:.2f})"


def result_caption(result: dict) -> str:
    tags = f"{result['style']} {result['stories']}st" if result["style"] else "no front"
    return f"{result['listing_id'][-9:]} {tags} {result['score']:.2f}"


def contact_sheet(query_pixels: np.ndarray, query, results: Sequence[dict],
                  read_image: Callable[[str], np.ndarray]) -> bytes:  # fmt: skip
    """PNG: the query photo, then each result's best-matching photo, captioned with its tags."""
    tiles = [Image.fromarray(query_pixels)]
    captions = [query_caption(query)]
    for result in results:
        try:
            tiles.append(Image.fromarray(read_image(result["photo"])))
        except (OSError, ImageRejected, StorageError):  # deleted or replaced since publishing
            tiles.append(Image.new("RGB", (TILE, TILE), (200, 200, 200)))
        captions.append(result_caption(result))
    return grid(tiles, captions, TILE, columns=min(6, len(tiles)))
