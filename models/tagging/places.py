"""Procedural photos of places: the source task that pretrains the taggers' backbone.

The house taggers reuse a frozen backbone, as MLSListings reused a Places365 network.
Places365 cannot be downloaded on the development and CI machines, so the backbone
is pretrained here on :data:`PLACE_CATEGORIES`: a different task from the house tags
(no category is a house style, a storey count or a listing view), whose features
transfer to them. Telling a barn from a church or a warehouse needs the roof's shape;
a cabin from a barn, the wall's material; an apartment block from an office tower, the
window grid and the height; a cottage (one floor) from a motel (two, with a walkway)
or a row of townhouses (three, narrow and attached), the number of floors, whatever the
roof and the walls; a kitchen from a forest, indoors from outdoors.

The photos are drawn with the house photos' own vocabulary, the toolkit of
:mod:`.drawing` (sketches in metres, textures, the camera and its exposure) and
:mod:`.scenery` (roofs, windows, doors, sky, ground, trees, seasons, rooms, cars), so
low-level features are shared; within a category, materials, colours, roofs and
heights vary wherever the category allows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lakesight.models.tagging.drawing import (
    BRICK,
    CAR_COLOURS,
    DEFAULT_SIZE,
    INTERIOR_WALLS,
    ROOFS,
    SEASONS,
    SNOW,
    TRIMS,
    WHITE,
    Rng,
    Sketch,
    apply_texture,
    box_points,
    ellipse,
    frame,
    line,
    photograph,
    pick,
    polygon,
    rect,
    scale,
    trap,
    vary,
)
from lakesight.models.tagging.scenery import (
    band,
    bush,
    car,
    car_rear,
    door,
    fence,
    fence_colour,
    garage_door,
    glass_colour,
    ground,
    roof_band,
    room,
    sky_and_ground,
    sky_gradient,
    small_house,
    snow_cap,
    street_bands,
    tree,
    treeline,
    window,
)

PLACE_CATEGORIES: tuple[str, ...] = (
    "barn", "church", "apartment_block", "office_tower", "cabin", "warehouse", "shop_street",
    "garage", "kitchen", "bedroom", "living_room", "forest", "beach", "mountain", "field",
    "parking_lot", "cottage", "motel", "townhouses",
)  # fmt: skip

_METAL = ((186, 188, 190), (150, 162, 176), (206, 196, 170), (120, 130, 124), (210, 210, 206))
_CONCRETE = ((182, 180, 174), (206, 200, 188), (150, 150, 148), (222, 214, 196))


def render_place(category: str, rng: Rng, size: tuple[int, int] = DEFAULT_SIZE) -> np.ndarray:
    """A photo of a place of ``category``: (H, W, 3) uint8 RGB, ``size`` = (H, W)."""
    if category not in _PAINTERS:
        raise ValueError(f"unknown place {category!r}; known: {', '.join(PLACE_CATEGORIES)}")
    season = "summer" if category == "beach" else pick(rng, SEASONS)
    return photograph(lambda img: _PAINTERS[category](img, rng, season), rng, size)


def render_places(
    seed: int, n_per_class: int, size: tuple[int, int] = DEFAULT_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """A balanced set: images (N, H, W, 3) uint8 and labels (N,) int64 indexing
    :data:`PLACE_CATEGORIES`, interleaved by class, each photo keyed by (seed, class, index)."""
    k = len(PLACE_CATEGORIES)
    images = np.empty((n_per_class * k, *size, 3), np.uint8)
    for i in range(n_per_class):
        for c, category in enumerate(PLACE_CATEGORIES):
            rng = np.random.default_rng(np.random.SeedSequence([seed, c, i]))
            images[i * k + c] = render_place(category, rng, size)
    return images, np.tile(np.arange(k, dtype=np.int64), n_per_class)


# --------------------------------------------------------------------------- buildings


def _building(img: np.ndarray, rng: Rng, sk: Sketch, season: str, **framing) -> tuple:
    """Sky, ground and tree line, then ``sk`` framed on the ground: returns (ox, gy, s)."""
    height = img.shape[0]
    gy = height * rng.uniform(0.76, 0.92)
    sky_and_ground(img, gy - height * rng.uniform(0.03, 0.12), season, rng)
    if rng.random() < 0.7:
        treeline(img, gy - height * rng.uniform(0.03, 0.1), season, rng)
    ox, s = frame(img, rng, sk, gy, **framing)
    sk.render(img, ox, gy, s, rng)
    return ox, gy, s


def _paint_barn(img: np.ndarray, rng: Rng, season: str) -> None:
    """A gambrel roof over board walls, big doors with X bracing, a hayloft door, a silo."""
    sk = Sketch()
    w, top = rng.uniform(10, 16), rng.uniform(4.0, 5.5)
    wall = vary(
        rng, pick(rng, ((150, 42, 36), (130, 38, 34), (132, 126, 114), (226, 222, 212))), 10
    )
    trim = pick(rng, (WHITE, (236, 230, 214), (60, 56, 52)))
    roof = vary(rng, pick(rng, (*ROOFS, (150, 152, 150), (60, 90, 70))), 8)
    if rng.random() < 0.45:  # a silo beside it
        sx, sw = (w + 1.0, rng.uniform(3.5, 5)) if rng.random() < 0.5 else (-5.0, 4.0)
        sh = top * rng.uniform(1.8, 2.6)
        metal = vary(rng, pick(rng, _METAL), 8)
        sk.rect(sx, 0, sx + sw, sh, metal, "corrugated")
        for y in np.arange(1.5, sh, 1.8):
            sk.line((sx, y), (sx + sw, y), scale(metal, 0.8), 0.06)
        sk.ellipse((sx + sw / 2, sh), (sw / 2, sw * 0.45), scale(metal, 1.05), 180, 360)
    if rng.random() < 0.4:  # a lean-to shed on one side
        lx = -4.0 if rng.random() < 0.5 else w
        sk.rect(lx, 0, lx + 4.0, top * 0.6, scale(wall, 0.9), "wood")
        sk.trap(top * 0.6, lx - 0.3, lx + 4.3, top * 0.85, lx + (4.3 if lx > 0 else -0.3),
                lx + (4.3 if lx > 0 else -0.3), roof)  # fmt: skip
    sk.rect(0, 0, w, top, wall, "wood", 0.4)
    r1, r2 = rng.uniform(2.5, 3.5), rng.uniform(1.5, 2.5)
    gambrel = ((-0.4, top), (w + 0.4, top), (w * 0.86, top + r1), (w / 2, top + r1 + r2),
               (w * 0.14, top + r1))  # fmt: skip
    sk.fill(gambrel, roof, "seam" if rng.random() < 0.5 else "asphalt")
    inner = ((0.3, top), (w - 0.3, top), (w * 0.84, top + r1 - 0.2), (w / 2, top + r1 + r2 - 0.4),
             (w * 0.16, top + r1 - 0.2))  # fmt: skip
    sk.fill(inner, wall, "wood", 0.4)
    if season == "winter":
        snow_cap(sk, gambrel, 0.35)
    for p, q in zip(inner, inner[2:] + inner[:2], strict=False):
        sk.line(p, q, trim, 0.15)
    dw, dh = w * rng.uniform(0.25, 0.35), top * rng.uniform(0.65, 0.8)
    x0 = w / 2 - dw / 2
    sk.rect(x0 - 0.15, 0, x0 + dw + 0.15, dh + 0.15, trim)
    sk.rect(x0, 0, x0 + dw, dh, scale(wall, 0.85), "wood", 0.4)
    for a, b in (((x0, 0), (x0 + dw, dh)), ((x0, dh), (x0 + dw, 0)), ((w / 2, 0), (w / 2, dh))):
        sk.line(a, b, trim, 0.15)
    lw, ly = 1.6, top + r1 * 0.3
    sk.rect(w / 2 - lw / 2, ly, w / 2 + lw / 2, ly + 1.6, (40, 30, 26))  # hayloft door
    sk.line((w / 2 - lw / 2, ly), (w / 2 + lw / 2, ly + 1.6), trim, 0.12)
    for x in (w * 0.15, w * 0.85 - 1):
        window(
            sk, x, top * 0.45, x + 1.0, top * 0.45 + 1.0, trim, glass_colour(rng), cols=2, rows=2
        )
    _, gy, s = _building(img, rng, sk, season, fill=(0.45, 0.85))
    if rng.random() < 0.6:  # a split-rail fence across the foreground
        y = gy + (img.shape[0] - gy) * rng.uniform(0.4, 0.8)
        colour = vary(rng, (120, 96, 70), 10)
        for yy in (y - s * 1.1, y - s * 0.5):
            rect(img, 0, yy - 1, img.shape[1], yy + 1, colour)
        for x in np.arange(rng.uniform(0, s * 3), img.shape[1], s * 3):
            rect(img, x - 1, y - s * 1.3, x + 1, y, colour)


def _paint_church(img: np.ndarray, rng: Rng, season: str) -> None:
    """A steep nave with pointed windows and a steeple: tower, belfry, spire, cross."""
    sk = Sketch()
    w, top = rng.uniform(9, 14), rng.uniform(6, 9)
    stone = rng.random() < 0.4
    wall = vary(
        rng,
        pick(rng, ((190, 184, 170), (150, 146, 138))) if stone else pick(rng, (WHITE, *BRICK[:3])),
        8,
    )
    texture = "stone" if stone else ("brick" if sum(wall) < 500 else "clapboard")
    roof = vary(rng, pick(rng, ROOFS), 8)
    trim = pick(rng, (WHITE, (60, 60, 64)))
    glass = vary(rng, pick(rng, ((60, 80, 130), (110, 60, 90), (70, 100, 90))), 15)  # stained
    sk.rect(0, 0, w, top, wall, texture)
    rise = w * rng.uniform(0.55, 0.8)
    gable = ((-0.5, top), (w + 0.5, top), (w / 2, top + rise))
    sk.fill(gable, roof, "asphalt")
    sk.trap(top, 0.3, w - 0.3, top + rise - 0.6, w / 2, w / 2, wall, texture)
    if season == "winter":
        snow_cap(sk, gable, 0.9)
    tower_centre = rng.random() < 0.65
    tw = w * rng.uniform(0.25, 0.35)
    tx = w / 2 - tw / 2 if tower_centre else pick(rng, (-tw * 0.8, w - tw * 0.2))
    th = top + rise + rng.uniform(1.0, 4.0)
    sk.rect(tx, 0, tx + tw, th, scale(wall, 0.95), texture)
    sk.rect(tx - 0.2, th - 0.3, tx + tw + 0.2, th, trim)
    bw = tw * 0.3  # belfry opening
    window(
        sk,
        tx + tw / 2 - bw,
        th - 3.2,
        tx + tw / 2 + bw,
        th - 1.5,
        trim,
        (30, 30, 34),
        arch=True,
        sill=False,
    )
    spire = th + tw * rng.uniform(1.8, 3.0)
    sk.trap(th, tx - 0.3, tx + tw + 0.3, spire, tx + tw / 2, tx + tw / 2, roof, "asphalt")
    cx = tx + tw / 2
    sk.line((cx, spire), (cx, spire + 1.4), (200, 180, 80), 0.15)
    sk.line((cx - 0.45, spire + 0.95), (cx + 0.45, spire + 0.95), (200, 180, 80), 0.15)
    n = int(rng.integers(2, 4))
    for i in range(n):  # pointed windows along the front, skipping the tower
        xc = w * (i + 0.5) / n
        if tx - 0.5 < xc < tx + tw + 0.5:
            continue
        window(sk, xc - 0.5, top * 0.3, xc + 0.5, top * 0.75, trim, glass, rows=3, arch=True)
    if tower_centre:
        door(sk, cx - 0.9, 0, cx + 0.9, 3.0, vary(rng, (110, 70, 44), 10), trim)
        sk.ellipse((cx, 3.0), (0.9, 0.9), vary(rng, (110, 70, 44), 10), 180, 360)
    else:
        door(sk, w / 2 - 0.9, 0, w / 2 + 0.9, 3.0, vary(rng, (110, 70, 44), 10), trim)
        sk.ellipse((w / 2, top + rise * 0.35), (1.1, 1.1), trim)  # rose window
        sk.ellipse((w / 2, top + rise * 0.35), (0.9, 0.9), glass)
    _building(img, rng, sk, season, fill=(0.35, 0.75), margin=(0.03, 0.1))


def _paint_apartment_block(img: np.ndarray, rng: Rng, season: str) -> None:
    """A flat-roofed block of 4-8 storeys: a grid of windows, balconies, an entrance."""
    sk = Sketch()
    floors, floor = int(rng.integers(4, 9)), rng.uniform(2.8, 3.1)
    cols = int(rng.integers(5, 11))
    w, top = cols * rng.uniform(2.8, 3.6), 0.6 + floors * floor
    texture = pick(rng, ("brick", "concrete", "stucco"))
    wall = vary(rng, pick(rng, BRICK if texture == "brick" else _CONCRETE), 10)
    trim = pick(rng, (WHITE, (90, 90, 92), (180, 176, 168)))
    glass = glass_colour(rng)
    sk.rect(0, 0, w, top, wall, texture)
    sk.rect(-0.2, top, w + 0.2, top + 0.9, scale(wall, 0.85))  # parapet
    if season == "winter":
        sk.rect(-0.2, top + 0.9, w + 0.2, top + 1.05, SNOW)
    ww, wh = rng.uniform(1.0, 1.6), rng.uniform(1.3, 1.6)
    balconies = rng.random() < 0.5
    entrance = int(rng.integers(cols))
    for f in range(floors):
        y0 = 0.6 + f * floor + 0.8
        for i in range(cols):
            xc = w * (i + 0.5) / cols
            if f == 0 and i == entrance:
                continue
            window(sk, xc - ww / 2, y0, xc + ww / 2, y0 + wh, trim, glass, cols=2, sill=False)
            if balconies and f > 0 and i % 2 == 1:
                sk.rect(xc - 1.3, y0 - 0.75, xc + 1.3, y0 - 0.6, scale(wall, 0.8))
                sk.stripes(xc - 1.3, y0 - 0.6, xc + 1.3, y0 + 0.4, 0.25, trim)
                sk.rect(xc - 1.3, y0 + 0.35, xc + 1.3, y0 + 0.45, trim)
    xc = w * (entrance + 0.5) / cols
    door(sk, xc - 0.9, 0, xc + 0.9, 2.4, scale(glass, 0.8), trim, glass=glass)
    sk.rect(xc - 1.6, 2.6, xc + 1.6, 2.85, trim)  # canopy
    _building(img, rng, sk, season, fill=(0.5, 0.95), margin=(0.02, 0.12))


def _paint_office_tower(img: np.ndarray, rng: Rng, season: str) -> None:
    """Glass and steel towers seen from below: curtain walls or window bands, many floors."""
    height, width = img.shape[:2]
    gy = height * rng.uniform(0.85, 1.0)
    sky_gradient(img, gy, season, rng)
    band(img, gy, height, vary(rng, (150, 150, 146), 10))
    n = int(rng.integers(2, 5))
    for depth, pos in enumerate(rng.uniform(-0.1, 1.1, n)):  # far to near, nearer is larger
        sk = Sketch()
        floors = int(rng.integers(15, 40))
        w, top = rng.uniform(25, 45), floors * 3.6
        if rng.random() < 0.55:  # curtain wall
            glass = pick(rng, ((70, 100, 130), (60, 80, 90), (120, 140, 150), (90, 110, 100)))
            glass = vary(rng, glass, 12)
            sk.rect(0, 0, w, top, glass, "glass_grid", 3.6)
            sk.fill(((0, top), (w * 0.6, top), (0, top * 0.7)), scale(glass, 1.25))  # sky in it
        else:  # concrete frame and ribbon windows
            glass = vary(rng, pick(rng, _CONCRETE), 10)
            sk.rect(0, 0, w, top, glass)
            dark = glass_colour(rng)
            for f in range(floors):
                sk.rect(0.6, f * 3.6 + 1.0, w - 0.6, f * 3.6 + 2.8, dark)
        if rng.random() < 0.5:  # a setback crown
            sk.rect(w * 0.2, top, w * 0.8, top + 6, scale(glass, 0.9))
        # Pixels a metre: the nearest tower is a third to two thirds of the width.
        s = width * rng.uniform(0.3, 0.65) / w * (0.5 + 0.5 * depth / max(1, n - 1))
        sk.render(img, pos * width - w / 2 * s, gy, s, rng)
    for _ in range(int(rng.integers(0, 4))):
        tree(
            img, rng.uniform(0, width), height * 1.02, height * rng.uniform(0.25, 0.4), season, rng
        )


def _paint_cabin(img: np.ndarray, rng: Rng, season: str) -> None:
    """Log walls under a front gable, a porch, a stone chimney, in the woods."""
    height, width = img.shape[:2]
    sk = Sketch()
    w, top = rng.uniform(6, 10), rng.uniform(2.6, 3.2)
    logs = vary(rng, pick(rng, ((128, 86, 54), (150, 108, 66), (100, 70, 48), (170, 130, 86))), 10)
    roof = vary(rng, pick(rng, (*ROOFS, (60, 90, 70), (120, 50, 40))), 8)
    rise = w * rng.uniform(0.35, 0.6)
    cx = pick(rng, (-1.4, w + 0.2))
    sk.rect(cx, 0, cx + 1.4, top + rise + 0.8, vary(rng, (150, 146, 138), 12), "stone")
    sk.rect(0, 0, w, top, logs, "logs")
    gable = ((-0.6, top), (w + 0.6, top), (w / 2, top + rise))
    sk.fill(gable, roof, pick(rng, ("seam", "asphalt")))
    sk.trap(top, 0.3, w - 0.3, top + rise - 0.4, w / 2, w / 2, logs, "logs")
    if season == "winter":
        snow_cap(sk, gable, 0.9)
    sk.line(gable[0], gable[2], scale(logs, 0.6), 0.2)
    sk.line(gable[1], gable[2], scale(logs, 0.6), 0.2)
    trim = pick(rng, ((236, 230, 214), scale(logs, 0.7), (60, 90, 70)))
    glass = glass_colour(rng)
    for x in (w * 0.12, w * 0.7):
        window(sk, x, 1.0, x + 1.1, 2.2, trim, glass, cols=2, rows=2)
    window(
        sk, w / 2 - 0.5, top + rise * 0.2, w / 2 + 0.5, top + rise * 0.2 + 0.9, trim, glass, cols=2
    )
    door(sk, w * 0.45, 0, w * 0.45 + 0.95, 2.0, scale(logs, 0.75), trim)
    if rng.random() < 0.6:  # a porch roof on posts
        sk.trap(2.3, -0.3, w + 0.3, 2.9, 0.2, w - 0.2, roof)
        for x in np.linspace(0, w - 0.25, 4):
            sk.rect(x, 0, x + 0.25, 2.3, scale(logs, 0.85))
    gy = height * rng.uniform(0.78, 0.92)
    sky_and_ground(img, gy - height * 0.06, season, rng)
    for _ in range(int(rng.integers(5, 10))):  # the woods behind
        tree(
            img,
            rng.uniform(0, width),
            gy - height * rng.uniform(0, 0.06),
            height * rng.uniform(0.5, 0.9),
            season,
            rng,
        )
    ox, s = frame(img, rng, sk, gy, fill=(0.4, 0.75))
    sk.render(img, ox, gy, s, rng)


def _paint_warehouse(img: np.ndarray, rng: Rng, season: str) -> None:
    """Wide and low: corrugated metal, roll-up loading doors, a strip of high windows."""
    height, width = img.shape[:2]
    sk = Sketch()
    w, top = rng.uniform(35, 70), rng.uniform(7, 10)
    metal = vary(rng, pick(rng, _METAL), 10)
    sk.rect(0, 0, w, top, metal, "corrugated")
    if rng.random() < 0.5:  # low gable
        rise = rng.uniform(1.0, 2.5)
        roof = ((-0.4, top), (w + 0.4, top), (w / 2, top + rise))
        sk.fill(roof, vary(rng, pick(rng, _METAL), 10), "seam")
        if season == "winter":
            snow_cap(sk, roof, 0.8)
    else:
        sk.rect(-0.3, top, w + 0.3, top + 0.6, scale(metal, 0.8))
    n = int(rng.integers(3, 8))
    door_colour = vary(
        rng, pick(rng, ((200, 200, 196), (60, 90, 140), (180, 60, 40), (90, 90, 92))), 8
    )
    for i in range(n):
        xc = w * (i + 0.5) / n
        garage_door(sk, xc - 2, xc + 2, 4.5, door_colour, scale(metal, 0.7))
        sk.rect(xc - 2.6, 0, xc + 2.6, 1.1, (50, 50, 52))  # dock
    if rng.random() < 0.6:
        sk.rect(0.5, top - 1.6, w - 0.5, top - 0.8, glass_colour(rng), "glass_grid", 0.8)
    gy = height * rng.uniform(0.6, 0.8)
    sky_and_ground(img, gy - height * 0.05, season, rng)
    treeline(img, gy - height * 0.05, season, rng)
    ox, s = frame(img, rng, sk, gy, fill=(0.8, 1.4))
    sk.render(img, ox, gy, s, rng)
    band(img, gy, height, vary(rng, (96, 98, 100), 10))  # asphalt yard
    for _ in range(int(rng.integers(0, 3))):
        x = rng.uniform(0, width)
        car_rear(
            img,
            x,
            gy + (height - gy) * rng.uniform(0.4, 0.9),
            s * rng.uniform(2.5, 3.0),
            pick(rng, CAR_COLOURS),
        )


def _paint_shop_street(img: np.ndarray, rng: Rng, season: str) -> None:
    """A terrace of shops: display windows under striped awnings, signs, flats above."""
    height, width = img.shape[:2]
    gy = height * rng.uniform(0.62, 0.75)
    sky_gradient(img, gy, season, rng)
    s = height * rng.uniform(0.045, 0.07)
    x = -rng.uniform(0, 4) * s
    while x < width:
        sk = Sketch()
        w, floors = rng.uniform(6, 10), int(rng.integers(2, 4))
        top = 4.2 + (floors - 1) * 3.0
        texture = pick(rng, ("brick", "stucco", "clapboard"))
        wall = vary(
            rng,
            pick(
                rng,
                BRICK if texture == "brick" else (*_CONCRETE, (200, 170, 130), (150, 170, 160)),
            ),
            10,
        )
        sk.rect(0, 0, w, top, wall, texture)
        sk.rect(-0.1, top, w + 0.1, top + 0.6, scale(wall, 0.8))  # cornice
        trim = pick(rng, (WHITE, (40, 40, 42), (90, 40, 40), (40, 70, 60)))
        glass = glass_colour(rng)
        sk.rect(0.3, 0.2, w - 0.3, 3.2, trim)  # shopfront
        sk.rect(0.5, 0.4, w * 0.62, 3.0, scale(glass, 1.3))
        door(sk, w * 0.68, 0.2, w * 0.68 + 1.1, 2.6, trim, trim, glass=glass)
        sign = vary(
            rng,
            pick(
                rng, ((180, 40, 40), (40, 60, 120), (230, 200, 60), (40, 40, 42), (236, 236, 230))
            ),
            10,
        )
        sk.rect(0.3, 3.3, w - 0.3, 4.1, sign)
        for k in range(int(rng.integers(3, 7))):  # the sign's lettering as blocks
            sk.rect(
                0.8 + k * 0.6,
                3.5,
                1.2 + k * 0.6,
                3.9,
                scale(sign, 0.4 if sum(sign) > 400 else 2.5),
            )
        stripe = vary(
            rng, pick(rng, ((200, 40, 40), (40, 100, 60), (40, 60, 130), (230, 180, 40))), 10
        )
        sk.trap(3.2, 0.2, w - 0.2, 2.4, -0.2, w + 0.2, stripe)  # awning
        for f in range(1, floors):
            y0 = 4.2 + (f - 1) * 3.0 + 0.8
            for i in range(3):
                xc = w * (i + 0.5) / 3
                window(sk, xc - 0.55, y0, xc + 0.55, y0 + 1.6, WHITE, glass, rows=2)
        sk.render(img, x, gy, s, rng)
        x += w * s
    street_bands(img, rng, gy, season, s * 1.2)
    if rng.random() < 0.5:  # a car parked at the kerb
        car(img, rng.uniform(0, 0.7) * width, gy + s * 4.5, s * 5.5, pick(rng, CAR_COLOURS), rng)


def _paint_garage(img: np.ndarray, rng: Rng, season: str) -> None:
    """A detached garage: one or two doors under a gable or a flat roof, a driveway."""
    sk = Sketch()
    doors = int(rng.integers(1, 3))
    w, top = doors * 3.3 + rng.uniform(0.8, 2.0), rng.uniform(2.6, 3.2)
    texture = pick(rng, ("clapboard", "brick", "board_batten", "stucco"))
    wall = vary(
        rng,
        pick(rng, BRICK if texture == "brick" else (*TRIMS, (196, 172, 132), (150, 160, 170))),
        10,
    )
    trim = pick(rng, (WHITE, (90, 90, 92)))
    roof = vary(rng, pick(rng, ROOFS), 8)
    sk.rect(0, 0, w, top, wall, texture)
    if rng.random() < 0.7:
        rise = w * rng.uniform(0.2, 0.4)
        gable = ((-0.4, top), (w + 0.4, top), (w / 2, top + rise))
        sk.fill(gable, roof, "asphalt")
        if season == "winter":
            snow_cap(sk, gable, 0.9)
        sk.trap(top, 0.2, w - 0.2, top + rise - 0.3, w / 2, w / 2, wall, texture)
    else:
        roof_band(
            sk, 0, w, top, 0.3, 0.0, roof=roof, trim=trim, overhang=0.2, snow=season == "winter"
        )
    gap = (w - doors * 2.8) / (doors + 1)
    door_colour = pick(rng, (trim, wall, (120, 80, 50)))
    for i in range(doors):
        x0 = gap + i * (2.8 + gap)
        garage_door(sk, x0, x0 + 2.8, 2.2, door_colour, trim)
    ox, gy, s = _building(img, rng, sk, season, fill=(0.45, 0.8))
    height = img.shape[0]
    spread = w * s * rng.uniform(0.2, 0.5)
    trap(
        img,
        gy,
        ox,
        ox + w * s,
        height,
        ox - spread,
        ox + w * s + spread,
        vary(rng, (150, 148, 144), 12),
    )
    if rng.random() < 0.4:
        car_rear(img, ox + w * s / 2, gy + (height - gy) * 0.7, s * 1.8, pick(rng, CAR_COLOURS))
    for x in (ox - s * 1.5, ox + w * s + s * 1.5):
        if rng.random() < 0.5:
            bush(img, x, gy + 2, s * 1.8, s * 1.3, vary(rng, (60, 100, 50), 12), rng)


# --------------------------------------------------------------------------- housing by floors
# Places365 tells a cottage from a motel or a row of town houses; so must the backbone. Their
# roofs and walls are drawn at random here, so what tells them apart is how many floors
# of windows there are and how the building is laid out.

_WALL_TEXTURES = ("brick", "clapboard", "stucco", "board_batten", "stone", "concrete")


def _random_wall(rng: Rng) -> tuple:
    texture = pick(rng, _WALL_TEXTURES)
    palette = BRICK if texture == "brick" else (*TRIMS, (196, 172, 132), (150, 160, 170),
                                                 (120, 140, 110), (200, 190, 160), (90, 90, 96))  # fmt: skip
    return vary(rng, pick(rng, palette), 12), texture


def _floors_block(sk: Sketch, rng: Rng, x0: float, w: float, floors: int, wall, texture,
                  glass, trim, *, per_floor: int, door_x: float | None) -> float:  # fmt: skip
    """A box of ``floors`` floors with a row of windows on each; returns its top."""
    floor = rng.uniform(2.7, 3.1)
    top = 0.3 + floors * floor
    sk.rect(x0, 0, x0 + w, top, wall, texture)
    ww, wh = min(1.4, w / per_floor * 0.5), rng.uniform(1.1, 1.5)
    for f in range(floors):
        y0 = 0.3 + f * floor + 0.9
        for i in range(per_floor):
            xc = x0 + w * (i + 0.5) / per_floor
            if f == 0 and door_x is not None and abs(xc - door_x) < w / per_floor / 2:
                continue
            window(sk, xc - ww / 2, y0, xc + ww / 2, y0 + wh, trim, glass, cols=2, sill=False)
    if door_x is not None:
        door(sk, door_x - 0.5, 0, door_x + 0.5, 2.2, vary(rng, (110, 80, 60), 20), trim)
    return top


def _random_roof(sk: Sketch, rng: Rng, x0: float, x1: float, top: float, season: str) -> None:
    roof = vary(rng, pick(rng, ROOFS), 8)
    kind = pick(rng, ("gable", "hip", "flat", "front"))
    w = x1 - x0
    if kind == "flat":
        pts = ((x0 - 0.3, top), (x1 + 0.3, top), (x1 + 0.3, top + 0.5), (x0 - 0.3, top + 0.5))
    elif kind == "front":
        pts = (
            (x0 - 0.4, top),
            (x1 + 0.4, top),
            ((x0 + x1) / 2, top + min(4.0, w * rng.uniform(0.3, 0.5))),
        )
    else:
        rise = min(w * 0.35, rng.uniform(1.5, 3.0))
        inset = rise * (1.6 if kind == "hip" else 0.05)
        pts = ((x0 - 0.5, top), (x1 + 0.5, top), (x1 + 0.5 - inset, top + rise),
               (x0 - 0.5 + inset, top + rise))  # fmt: skip
    sk.fill(pts, roof, "asphalt" if kind != "flat" else None)
    if season == "winter":
        snow_cap(sk, pts, 0.85)


def _paint_cottage(img: np.ndarray, rng: Rng, season: str) -> None:
    """One floor: a small house behind its garden fence, whatever its roof and walls."""
    sk = Sketch()
    wall, texture = _random_wall(rng)
    w = rng.uniform(7, 12)
    trim, glass = pick(rng, (*TRIMS, (90, 90, 92))), glass_colour(rng)
    top = _floors_block(sk, rng, 0, w, 1, wall, texture, glass, trim,
                        per_floor=int(rng.integers(2, 5)), door_x=w * rng.uniform(0.3, 0.7))  # fmt: skip
    _random_roof(sk, rng, 0, w, top, season)
    _, gy, s = _building(img, rng, sk, season, fill=(0.45, 0.85))
    if rng.random() < 0.7:  # the garden fence in front
        fence(img, 0, img.shape[1], gy + s * 0.2, gy - s * 1.0, fence_colour(rng), rng)


def _paint_motel(img: np.ndarray, rng: Rng, season: str) -> None:
    """Two floors, long and low: a door and a window per room, a walkway along the upper
    floor behind a railing, stairs at the end, cars parked in front."""
    sk = Sketch()
    wall, texture = _random_wall(rng)
    rooms = int(rng.integers(5, 10))
    w = rooms * rng.uniform(3.0, 3.8)
    trim, glass = pick(rng, (*TRIMS, (90, 90, 92))), glass_colour(rng)
    floor = rng.uniform(2.8, 3.1)
    top = 0.3 + 2 * floor
    sk.rect(0, 0, w, top, wall, texture)
    door_colour = vary(
        rng, pick(rng, ((150, 40, 40), (40, 80, 120), (60, 100, 70), (200, 160, 60))), 15
    )
    for f in range(2):
        y = 0.3 + f * floor
        for i in range(rooms):
            x = w * i / rooms + 0.5
            door(sk, x, y, x + 0.9, y + 2.1, door_colour, trim)
            window(sk, x + 1.3, y + 0.9, x + 2.4, y + 1.9, trim, glass, sill=False)
        if f == 1:  # the walkway: a slab and its railing
            sk.rect(-0.3, y - 0.25, w + 0.3, y, scale(wall, 0.7))
            sk.stripes(-0.3, y, w + 0.3, y + 1.0, 0.3, trim)
            sk.rect(-0.3, y + 0.95, w + 0.3, y + 1.05, trim)
    sk.trap(0, w + 0.3, w + 3.0, floor + 0.3, w + 0.3, w + 0.6, scale(wall, 0.75))  # stairs
    _random_roof(sk, rng, 0, w, top, season)
    ox, gy, s = _building(img, rng, sk, season, fill=(0.7, 0.98), margin=(0.08, 0.2))
    for _ in range(int(rng.integers(0, 4))):
        car(img, ox + rng.uniform(0, w) * s, gy + s * rng.uniform(2.5, 4.0), s * 4.5,
            pick(rng, CAR_COLOURS), rng)  # fmt: skip


def _paint_townhouses(img: np.ndarray, rng: Rng, season: str) -> None:
    """A row of three-floor houses wall to wall, each narrow, its own colour, door and roof."""
    sk = Sketch()
    units = int(rng.integers(3, 6))
    x = 0.0
    glass = glass_colour(rng)
    for _ in range(units):
        w = rng.uniform(4.5, 6.0)
        wall, texture = _random_wall(rng)
        trim = pick(rng, (*TRIMS, (90, 90, 92)))
        top = _floors_block(sk, rng, x, w, 3, wall, texture, glass, trim,
                            per_floor=int(rng.integers(1, 3)), door_x=x + w * 0.3)  # fmt: skip
        _random_roof(sk, rng, x, x + w, top, season)
        sk.rect(x + w * 0.3 - 0.8, 0, x + w * 0.3 + 0.8, 0.3, scale(wall, 0.7))  # the stoop
        x += w
    _building(img, rng, sk, season, fill=(0.6, 0.95))


def _paint_room(kind: str) -> Callable[[np.ndarray, Rng, str], None]:
    def paint(img: np.ndarray, rng: Rng, season: str) -> None:
        wall = vary(rng, pick(rng, INTERIOR_WALLS), 10)
        room(img, rng, kind, wall, pick(rng, ("wood", "wood", "carpet", "tile")), season)

    return paint


# --------------------------------------------------------------------------- landscapes


def _paint_forest(img: np.ndarray, rng: Rng, season: str) -> None:
    """Among trees: trunks at every depth, crowns closing over, a path sometimes."""
    height, width = img.shape[:2]
    gy = height * rng.uniform(0.55, 0.75)
    sky_and_ground(img, gy, season, rng)
    if season != "winter":
        band(img, gy, height, vary(rng, (90, 80, 50) if season == "autumn" else (60, 90, 44), 12))
        ground(img, gy + (height - gy) * 0.02, season, rng)
    treeline(img, gy, season, rng)
    if rng.random() < 0.4:
        c = width * rng.uniform(0.3, 0.7)
        trap(
            img,
            gy,
            c - 2,
            c + 2,
            height,
            c - width * 0.2,
            c + width * 0.2,
            vary(rng, (150, 130, 100), 12),
        )
    for depth in np.linspace(0, 1, int(rng.integers(10, 18))):  # far to near
        y = gy + (height - gy) * depth * rng.uniform(0.8, 1.1)
        tree(img, rng.uniform(-0.05, 1.05) * width, y, height * (0.35 + 0.9 * depth), season, rng)


def _paint_beach(img: np.ndarray, rng: Rng, season: str) -> None:
    """Sea to the horizon, waves breaking on sand, umbrellas and towels."""
    height, width = img.shape[:2]
    horizon = height * rng.uniform(0.3, 0.5)
    sky_gradient(img, horizon, season, rng)
    sea = vary(rng, pick(rng, ((40, 100, 150), (50, 130, 160), (30, 80, 120))), 12)
    shore = horizon + (height - horizon) * rng.uniform(0.25, 0.5)
    t = np.linspace(0, 1, max(1, round(shore - horizon)), dtype=np.float32)[:, None]
    img[round(horizon) : round(horizon) + len(t)] = (
        np.array(sea, np.float32) * (0.8 + 0.35 * t)
    ).astype(np.uint8)[:, None, :]
    for _ in range(int(rng.integers(4, 10))):  # white crests
        y = horizon + (shore - horizon) * rng.uniform(0.1, 1.0)
        x = rng.uniform(0, width)
        rect(img, x, y, x + rng.uniform(5, 30), y + 1, (230, 236, 240))
    sand = vary(rng, (222, 200, 150), 12)
    band(img, shore, height, sand)
    apply_texture(img, box_points(0, shore, width, height), "stucco", 3, rng)
    band(img, shore - 1, shore + 2, (240, 244, 246))  # foam
    for _ in range(int(rng.integers(0, 4))):
        x, y = rng.uniform(0, width), shore + (height - shore) * rng.uniform(0.3, 0.9)
        s = (y - horizon) * 0.12
        cloth = pick(rng, ((220, 60, 50), (240, 200, 60), (60, 120, 190), (240, 240, 236)))
        rect(img, x - 0.5, y - s * 2, x + 0.5, y, (80, 80, 80))
        trap(img, y - s * 1.6, x - s * 1.4, x + s * 1.4, y - s * 2.2, x, x, cloth)
        rect(img, x + s, y - s * 0.15, x + s * 2.2, y + s * 0.35, pick(rng, CAR_COLOURS))


def _paint_mountain(img: np.ndarray, rng: Rng, season: str) -> None:
    """Ranges of peaks, paler with distance, snow on the summits; forest or meadow below."""
    height, width = img.shape[:2]
    base = height * rng.uniform(0.6, 0.8)
    sky_gradient(img, base, season, rng)
    ranges = int(rng.integers(2, 4))
    for k in range(ranges):  # far to near
        haze = 1 - k / ranges
        colour = vary(rng, (110 + 60 * haze, 120 + 55 * haze, 140 + 50 * haze), 8)
        peak_y = height * rng.uniform(0.1, 0.35) + k * height * 0.08
        xs = np.linspace(-0.1 * width, 1.1 * width, int(rng.integers(4, 8)))
        ys = rng.uniform(peak_y, base - height * 0.05, len(xs))
        ridge = _ridge(rng, xs, ys, width)
        foot = ((1.1 * width, base + 2), (-0.1 * width, base + 2))
        # Snow above a ragged snow line: the whole range in snow, then the rock below it.
        snow_line = peak_y + (base - peak_y) * (0.45 if season == "winter" else 0.2)
        ragged = snow_line + rng.uniform(-0.03, 0.03, len(ridge)) * height
        rock = np.stack([ridge[:, 0], np.maximum(ridge[:, 1], ragged)], axis=1)
        polygon(img, np.vstack([ridge, foot]), SNOW)
        polygon(img, np.vstack([rock, foot]), colour)
    ground(img, base, season, rng)
    treeline(img, base, season, rng)
    if rng.random() < 0.5:
        for _ in range(int(rng.integers(2, 6))):
            tree(
                img,
                rng.uniform(0, width),
                height * rng.uniform(0.9, 1.05),
                height * rng.uniform(0.3, 0.5),
                season,
                rng,
            )


def _ridge(rng: Rng, xs: np.ndarray, ys: np.ndarray, width: int) -> np.ndarray:
    """A jagged ridge line through the control points: midpoint displacement, 3 rounds."""
    pts = np.stack([xs, ys], axis=1)
    amp = width * 0.06
    for _ in range(3):
        mids = (pts[:-1] + pts[1:]) / 2
        mids[:, 1] += rng.uniform(-amp, amp, len(mids))
        out = np.empty((len(pts) + len(mids), 2))
        out[0::2], out[1::2] = pts, mids
        pts, amp = out, amp / 2
    return pts


def _paint_field(img: np.ndarray, rng: Rng, season: str) -> None:
    """Open farmland: crop rows running to the horizon, a fence, hay bales, a far farm."""
    height, width = img.shape[:2]
    horizon = height * rng.uniform(0.35, 0.55)
    sky = sky_and_ground(img, horizon, season, rng)
    treeline(img, horizon, season, rng)
    if rng.random() < 0.35:
        sk = small_house(
            rng,
            vary(rng, pick(rng, TRIMS)),
            pick(rng, ROOFS),
            glass_colour(rng, sky),
            snow=season == "winter",
        )
        sk.render(img, rng.uniform(0.1, 0.8) * width, horizon + 1, height * 0.012, rng)
    if season != "winter" and rng.random() < 0.8:  # crop rows converging on the horizon
        vx = width * rng.uniform(0.2, 0.8)
        crop = vary(rng, pick(rng, ((120, 150, 60), (190, 170, 90), (140, 110, 70))), 12)
        for x in np.linspace(-width, 2 * width, int(rng.integers(20, 40))):
            trap(img, horizon + 1, vx, vx, height, x, x + width * 0.03, crop)
    if rng.random() < 0.6:  # hay bales
        for _ in range(int(rng.integers(1, 6))):
            t = rng.uniform(0.1, 0.9)
            y, r = horizon + (height - horizon) * t, height * 0.06 * t + 1
            x = rng.uniform(0, width)
            straw = vary(rng, (200, 170, 100), 12)
            rect(img, x - r, y - 2 * r, x + r * 0.6, y, scale(straw, 0.85))
            ellipse(img, (x + r * 0.6, y - r), (r * 0.6, r), straw)
    if rng.random() < 0.5:
        y = height * rng.uniform(0.8, 0.95)
        fence(img, 0, width, y - height * 0.12, y, fence_colour(rng), rng)


def _paint_parking_lot(img: np.ndarray, rng: Rng, season: str) -> None:
    """Asphalt with painted bays in perspective, parked cars, lamp posts, a store behind."""
    height, width = img.shape[:2]
    horizon = height * rng.uniform(0.35, 0.5)
    sky = sky_gradient(img, horizon, season, rng)
    treeline(img, horizon, season, rng)
    sk = Sketch()  # a low store with a sign along the back
    sw = rng.uniform(40, 80)
    sk.rect(0, 0, sw, 6, vary(rng, pick(rng, _CONCRETE), 10), "concrete")
    sk.rect(sw * 0.3, 0, sw * 0.45, 3, glass_colour(rng, sky))
    sk.rect(
        sw * 0.25,
        4,
        sw * 0.5,
        5.5,
        vary(rng, pick(rng, ((180, 40, 40), (40, 60, 120), (230, 200, 60))), 10),
    )
    sk.render(
        img, rng.uniform(-0.5, 0.3) * width, horizon + 2, width * rng.uniform(1.0, 2.0) / sw, rng
    )
    asphalt = vary(rng, (88, 90, 94), 10)
    band(img, horizon + 2, height, asphalt)
    if season == "winter":
        band(img, horizon + 2, horizon + 4, SNOW)
    vx = width * rng.uniform(0.3, 0.7)
    paint = pick(rng, (WHITE, (230, 200, 60)))
    for row_y in (0.25, 0.6):  # two rows of bays: their side lines run to the vanishing point
        y = horizon + (height - horizon) * row_y
        for x in np.linspace(-width, 2 * width, 16):
            bx = vx + (x - vx) * row_y
            line(
                img, (bx, y), (vx + (x - vx) * (row_y + 0.25), y + (height - horizon) * 0.25), paint
            )
    for _ in range(int(rng.integers(2, 6))):
        t = rng.uniform(0.2, 0.85)
        car_rear(
            img,
            rng.uniform(0, width),
            horizon + (height - horizon) * t,
            width * 0.2 * t,
            pick(rng, CAR_COLOURS),
        )
    if rng.random() < 0.6:  # lamp posts
        for x in rng.uniform(0, width, int(rng.integers(1, 3))):
            rect(
                img,
                x - 1,
                horizon - height * 0.25,
                x + 1,
                horizon + (height - horizon) * 0.4,
                (70, 72, 74),
            )
            rect(
                img,
                x - 6,
                horizon - height * 0.25 - 2,
                x + 6,
                horizon - height * 0.25 + 1,
                (70, 72, 74),
            )
    if season != "winter" and rng.random() < 0.5:
        bush(
            img,
            rng.uniform(0, width),
            height,
            width * 0.3,
            height * 0.15,
            vary(rng, (60, 100, 50)),
            rng,
        )


_PAINTERS: dict[str, Callable[[np.ndarray, Rng, str], None]] = {
    "barn": _paint_barn,
    "church": _paint_church,
    "apartment_block": _paint_apartment_block,
    "office_tower": _paint_office_tower,
    "cabin": _paint_cabin,
    "warehouse": _paint_warehouse,
    "shop_street": _paint_shop_street,
    "garage": _paint_garage,
    "kitchen": _paint_room("kitchen"),
    "bedroom": _paint_room("bedroom"),
    "living_room": _paint_room("living_room"),
    "forest": _paint_forest,
    "beach": _paint_beach,
    "mountain": _paint_mountain,
    "field": _paint_field,
    "parking_lot": _paint_parking_lot,
    "cottage": _paint_cottage,
    "motel": _paint_motel,
    "townhouses": _paint_townhouses,
}
