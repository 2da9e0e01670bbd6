"""The drawing toolkit pinned: a few generated photos keep their exact pixels.

The house photos (:mod:`lakesight.models.tagging.houses`) train the taggers and the
places (:mod:`lakesight.models.tagging.places`) pretrain their backbone; both are drawn
with :mod:`lakesight.models.tagging.drawing` and :mod:`lakesight.models.tagging.scenery`.
An edit to a palette, a texture or the camera changes both training sets, so these
hashes make it a decision: change the pins in the same commit, saying why.

The pins hold for the pinned numpy and OpenCV (``constraints.txt``): if only those
changed, look at a few photos before pinning the new hashes.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import numpy as np
import pytest

from lakesight.models.tagging import houses, places, scenery
from lakesight.models.tagging.houses import (
    STYLES,
    VIEWS,
    draw_house,
    render_labelled,
    render_photo,
)
from lakesight.models.tagging.places import (
    PLACE_CATEGORIES,
    render_place,
    render_places,
)

pytestmark = pytest.mark.unit


def sha256(pixels: np.ndarray) -> str:
    return hashlib.sha256(pixels.tobytes()).hexdigest()


# (style, stories, view): sha256 of the photo, drawn from default_rng([7, style, view]).
HOUSE_PINS = {
    ("colonial", 1, "front"): "96717631c1fee9ad6d388fae9b42d36dea8d50f99076b07dd174bbeafc957a83",
    ("victorian", 3, "back"): "8a3e5fc65ce811a07c43758c2aa2f7e79f0eebcdeeea9bdbd2060e7d85c617cb",
    ("ranch", 2, "interior"): "a6d0d30358943ea430f1d4b8222e3d34a9ab8fae6b331dde77c292691a1bd478",
    ("modern", 1, "street"): "22a219314ca2c1cc479a22bcdaa8f348fa7361f91293a13fae67c38eb18f793d",
}
# category: sha256 of the photo, drawn from default_rng([11, category]).
PLACE_PINS = {
    "church": "48344c399d413fe59c154bbf518df68bc5e600abefb8ca30fa26d7223c12968f",
    "office_tower": "487f623b020ff242819683dd03b8600158002a052a9c6c9a74a82cab037b8bf6",
    "kitchen": "a709df3860a1763870acf510e722c98332b075be3e5246c0be4b3c8b0ae7217d",
    "mountain": "36630fc04b7333aafa8815ea4672c85897366992de40d716281997054229e40f",
    "motel": "eb3f845c89fb0f57afc9db7df92ea6c7297c253ddcf9b49a1ab199117964a2b1",
}
# The training sets' own entry points, small: every place category and each style once.
LABELLED_STYLE_PIN = "74bbec89b18f93a9d64c8704af711c1475a9d891f3a11dc6ac7b931fe1194312"
PLACES_SET_PIN = "ffff9705c55f0dffa9e21ef986c1ed6014647c338dec43029eca0075b75cfde2"
CHANGED = "the generated pixels changed: the taggers' and the backbone's training data with them"


@pytest.mark.parametrize(("style", "stories", "view"), list(HOUSE_PINS))
def test_house_photos_keep_their_pixels(style: str, stories: int, view: str):
    rng = np.random.default_rng([7, STYLES.index(style), VIEWS.index(view)])
    photo = render_photo(draw_house(rng, style=style, stories=stories), view, rng)
    assert photo.shape == (144, 192, 3) and photo.dtype == np.uint8
    assert sha256(photo) == HOUSE_PINS[style, stories, view], CHANGED


@pytest.mark.parametrize("category", list(PLACE_PINS))
def test_place_photos_keep_their_pixels(category: str):
    photo = render_place(category, np.random.default_rng([11, PLACE_CATEGORIES.index(category)]))
    assert photo.shape == (144, 192, 3) and photo.dtype == np.uint8
    assert sha256(photo) == PLACE_PINS[category], CHANGED


def test_training_sets_keep_their_pixels():
    images, labels = render_labelled(3, 2, "style", size=(96, 128))
    assert images.shape == (8, 96, 128, 3) and labels.tolist() == [0, 1, 2, 3] * 2
    assert sha256(images) == LABELLED_STYLE_PIN, CHANGED
    images, labels = render_places(5, 1, size=(96, 128))
    assert images.shape == (len(PLACE_CATEGORIES), 96, 128, 3)
    assert sha256(images) == PLACES_SET_PIN, CHANGED


def private_imports(source: str) -> list[str]:
    """Underscore names ``source`` takes from other modules: ``from m import _x`` and
    ``m._x`` on a name an import bound (``__future__`` and dunders are not private)."""
    tree = ast.parse(source)
    found, modules = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{node.module}.{alias.name}")
                modules.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            modules |= {a.asname or a.name.split(".")[0] for a in node.names}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_the_private_import_check_finds_both_forms():
    source = "from __future__ import annotations\nfrom m import _x, y\nimport n\nn._z(y.__doc__)\n"
    assert private_imports(source) == ["m._x", "n._z"]


@pytest.mark.parametrize("module", [places, houses, scenery], ids=lambda m: m.__name__)
def test_generators_use_only_public_drawing_names(module):
    """places and houses drew on each other's private names once: a texture edit for the
    houses silently changed the backbone's data. They share :mod:`.drawing` instead."""
    assert private_imports(Path(module.__file__).read_text()) == []
