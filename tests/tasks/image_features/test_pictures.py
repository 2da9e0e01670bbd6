"""image_features' pictures: sheets that survive bad files, the query first on a contact sheet."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from lakesight.image_features.pictures import contact_sheet, detection_sheet
from lakesight.pictures import BLANK

pytestmark = pytest.mark.unit

STAR = {"label": "star", "score": 0.9, "x_min": 0.25, "y_min": 0.5, "x_max": 0.75, "y_max": 1.0}


def test_detection_sheet_gives_a_grid_and_one_png_per_image_even_when_one_is_unreadable():
    rows = [
        {"path": "file:/lake/a.jpg", "detections": [STAR], "top": STAR},
        {"path": "file:/lake/gone.jpg", "detections": [], "top": None},
    ]

    def read_image(row):
        if "gone" in row["path"]:
            raise FileNotFoundError(row["path"])
        return np.zeros((64, 64, 3), np.uint8)

    sheet, singles = detection_sheet(rows, read_image, size=64, columns=4)
    grid = Image.open(io.BytesIO(sheet))
    assert grid.size == (128, 64 + 16)
    assert len(singles) == 2 and all(s.startswith(b"\x89PNG") for s in singles)
    assert Image.open(io.BytesIO(singles[1])).getpixel((5, 5)) == BLANK


def test_contact_sheet_puts_the_query_first_and_one_tile_per_result():
    results = [{"path": f"p{i}", "distance": i, "score": 0.5} for i in range(3)]
    sheet = contact_sheet(
        np.zeros((32, 32, 3), np.uint8), results, lambda r: np.zeros((8, 8, 3), np.uint8), size=50
    )
    image = Image.open(io.BytesIO(sheet)).convert("RGB")
    assert image.size == (4 * 50, 50 + 16)
    assert image.getpixel((0, 0)) == (220, 0, 0)  # the query's outline
