"""What the generated photos show: building parts, sky and ground, trees, fences, cars,
streets and rooms, drawn with the primitives of :mod:`.drawing`.

The house photos (:mod:`.houses`) and the places the backbone is pretrained on
(:mod:`.places`) are drawn from this one vocabulary, so that the features the backbone
learns on places are the ones the house photos are made of. A change here changes both
training sets; ``tests/models/tagging/test_drawing_pins.py`` pins a few photos of each.

Building parts draw into a :class:`~.drawing.Sketch` in metres (x right, y up from
grade); scenery, streets and rooms draw into an (H, W, 3) uint8 image in pixels (x
right, y down). Every random choice comes from the ``rng`` passed in, in a fixed order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lakesight.models.tagging.drawing import (
    BARK,
    CAR_COLOURS,
    CAR_GLASS,
    FABRICS,
    FOLIAGE,
    GLASS,
    GRASS,
    SNOW,
    TYRE,
    WHITE,
    WOODS,
    Colour,
    Rng,
    Sketch,
    apply_texture,
    box_points,
    ellipse,
    line,
    mix,
    pick,
    polygon,
    rect,
    rgb,
    scale,
    trap,
    vary,
)

# The rooms :func:`room` furnishes.
ROOMS: tuple[str, ...] = ("living_room", "bedroom", "kitchen", "dining")

# --------------------------------------------------------------------------- building parts


def window(sk: Sketch, x0, y0, x1, y1, frame: Colour, glass: Colour, *, cols: int = 1,
           rows: int = 1, arch: bool = False, shutters: Colour | None = None, bar: float = 0.08,
           sill: bool = True) -> None:  # fmt: skip
    """A window: frame, glass with the sky's reflection, muntins, optional shutters and arch."""
    w, h = x1 - x0, y1 - y0
    if shutters is not None:
        sw = min(0.5 * w, 0.55)
        sk.rect(x0 - bar - sw, y0, x0 - bar, y1, shutters)
        sk.rect(x1 + bar, y0, x1 + bar + sw, y1, shutters)
    if arch:
        r = w / 2
        sk.ellipse((x0 + r, y1), (r + bar, r + bar), frame, 180, 360)
        sk.ellipse((x0 + r, y1), (r, r), glass, 180, 360)
    sk.rect(x0 - bar, y0 - bar, x1 + bar, y1 + (0 if arch else bar), frame)
    sk.rect(x0, y0, x1, y1, glass)
    # The sky's reflection: a lighter wedge from the top corner, as real glass shows.
    sk.fill(((x0, y1), (x0 + 0.7 * w, y1), (x0, y0 + 0.35 * h)), mix(glass, (210, 220, 230), 0.3))
    for i in range(1, cols):
        sk.line((x0 + w * i / cols, y0), (x0 + w * i / cols, y1), frame, 0.05)
    for j in range(1, rows):
        sk.line((x0, y0 + h * j / rows), (x1, y0 + h * j / rows), frame, 0.05)
    if sill:
        sk.rect(x0 - 2 * bar, y0 - bar - 0.1, x1 + 2 * bar, y0 - bar, frame)


def door(sk: Sketch, x0, y0, x1, y1, colour: Colour, frame: Colour, glass=None) -> None:
    """A door in its frame: two panels, or a tall glass strip when ``glass`` is given."""
    sk.rect(x0 - 0.12, y0, x1 + 0.12, y1 + 0.12, frame)
    sk.rect(x0, y0, x1, y1, colour)
    w, h = x1 - x0, y1 - y0
    if glass is not None:
        sk.rect(x0 + 0.2 * w, y0 + 0.15 * h, x0 + 0.4 * w, y1 - 0.1 * h, glass)
    else:
        panel = scale(colour, 0.82)
        sk.rect(x0 + 0.18 * w, y0 + 0.1 * h, x1 - 0.18 * w, y0 + 0.45 * h, panel)
        sk.rect(x0 + 0.18 * w, y0 + 0.55 * h, x1 - 0.18 * w, y1 - 0.1 * h, panel)
    sk.rect(x1 - 0.22 * w, y0 + 0.48 * h, x1 - 0.12 * w, y0 + 0.53 * h, (200, 180, 110))


def garage_door(sk: Sketch, x0, x1, height, colour: Colour, frame: Colour, flush=False) -> None:
    """A sectional door (four horizontal panels) or a flush one (vertical seams)."""
    sk.rect(x0 - 0.15, 0.0, x1 + 0.15, height + 0.15, frame)
    sk.rect(x0, 0.0, x1, height, colour)
    seam = scale(colour, 0.8)
    if flush:
        for x in np.linspace(x0, x1, 7)[1:-1]:
            sk.line((x, 0.0), (x, height), seam, 0.03)
    else:
        for y in np.linspace(0, height, 5)[1:-1]:
            sk.line((x0, y), (x1, y), seam, 0.05)


def snow_cap(sk: Sketch, pts, coverage: float = 0.8) -> None:
    """Snow on a roof face: the polygon's upper ``coverage``, leaving the eave line dark."""
    snow = np.array(pts, np.float64)
    lo, hi = snow[:, 1].min(), snow[:, 1].max()
    snow[:, 1] = np.maximum(snow[:, 1], hi - (hi - lo) * coverage)
    sk.fill(snow, SNOW)


def roof_band(sk: Sketch, x0, x1, eave, rise, inset, *, roof: Colour, trim: Colour,
              overhang: float, snow: bool) -> None:  # fmt: skip
    """A sloped roof seen from the front: a side gable (small inset) or a hip (large)."""
    o = overhang
    pts = (
        (x0 - o, eave),
        (x1 + o, eave),
        (x1 + o - inset, eave + rise),
        (x0 - o + inset, eave + rise),
    )
    sk.fill(pts, roof, "asphalt")
    if snow:
        snow_cap(sk, pts, 0.85)
    sk.rect(x0 - o, eave - 0.05, x1 + o, eave + 0.18, trim)
    sk.shade(x0, eave - 0.05, x1, eave - 0.5, 0.78)


def small_house(rng: Rng, wall: Colour, roof: Colour, glass: Colour, *, stories: int = 0,
                kind: str = "", snow: bool = False) -> Sketch:  # fmt: skip
    """A house far away or at the edge of a photo: box, roof (gable, hip, front gable or
    flat), a few windows, a door."""
    sk = Sketch()
    stories = stories or int(rng.integers(1, 3))
    kind = kind or pick(rng, ("gable", "gable", "hip", "front", "flat"))
    w = rng.uniform(8, 14)
    top = 0.3 + 2.9 * stories
    sk.rect(0, 0, w, top, wall)
    rise = rng.uniform(1.5, 3.5)
    if kind == "flat":
        pts = ((-0.3, top), (w + 0.3, top), (w + 0.3, top + 0.4), (-0.3, top + 0.4))
    elif kind == "front":
        pts = ((-0.4, top), (w + 0.4, top), (w / 2, top + w * 0.5))
    else:
        i = rise * (2.2 if kind == "hip" else 0.1)
        pts = ((-0.5, top), (w + 0.5, top), (w + 0.5 - i, top + rise), (-0.5 + i, top + rise))
    sk.fill(pts, roof)
    if snow:
        snow_cap(sk, pts, 0.8)
    n = max(2, int(w // 3))
    door_slot = int(rng.integers(n))
    for f in range(stories):
        y0 = 0.3 + f * 2.9 + 0.9
        for i in range(n):
            xc = w * (i + 0.5) / n
            if f == 0 and i == door_slot:
                sk.rect(xc - 0.5, 0.3, xc + 0.5, 2.4, scale(wall, 0.55))
            else:
                sk.rect(xc - 0.55, y0, xc + 0.55, y0 + 1.3, glass)
    return sk


def glass_colour(rng: Rng, sky: Colour = (200, 210, 220)) -> Colour:
    """Window glass: dark, tinted by the sky it reflects."""
    return mix(pick(rng, GLASS), sky, rng.uniform(0.05, 0.35))


# --------------------------------------------------------------------------- outdoors


def sky_and_ground(img: np.ndarray, horizon: float, season: str, rng: Rng) -> Colour:
    """Sky above ``horizon``, lawn (or snow) below; returns the sky's colour low down."""
    sky = sky_gradient(img, horizon, season, rng)
    ground(img, horizon, season, rng)
    return sky


# Clear, hazy and evening skies: ranges of the colour at the top and near the horizon.
_SKIES = {
    0: (((55, 100, 180), (100, 150, 230)), ((165, 195, 220), (205, 225, 248))),
    1: (((130, 160, 195), (170, 190, 215)), ((205, 210, 215), (232, 234, 236))),
    3: (((60, 80, 140), (110, 120, 180)), ((220, 160, 110), (250, 200, 150))),
}


def sky_gradient(img: np.ndarray, horizon: float, season: str, rng: Rng) -> Colour:
    """Sky from the top to ``horizon``: clear, hazy, overcast or evening, with clouds.

    Returns the colour near the horizon, which windows reflect."""
    height, width = img.shape[:2]
    hz = int(np.clip(round(horizon), 1, height))
    kind = rng.choice(4, p=(0.25, 0.2, 0.45, 0.1) if season == "winter" else (0.5, 0.2, 0.2, 0.1))
    if kind == 2:  # overcast: grey, a little lighter low down
        g = rng.uniform(150, 215)
        top, bottom = np.array((g - 18, g - 12, g - 6)), np.array((g + 12, g + 14, g + 16))
    else:
        (top_lo, top_hi), (bottom_lo, bottom_hi) = _SKIES[kind]
        top, bottom = rng.uniform(top_lo, top_hi), rng.uniform(bottom_lo, bottom_hi)
    t = np.linspace(0, 1, hz, dtype=np.float32)[:, None]
    img[:hz] = (top[None] * (1 - t) + bottom[None] * t).clip(0, 255).astype(np.uint8)[:, None, :]
    if kind != 2:
        for _ in range(int(rng.integers(0, 5))):
            cx, cy = rng.uniform(-0.1, 1.1) * width, rng.uniform(0.05, 0.7) * hz
            r = rng.uniform(0.03, 0.09) * width
            lo, hi = ((230, 190, 170), (250, 220, 200)) if kind == 3 else ((232,) * 3, (252,) * 3)
            white = rgb(rng.uniform(lo, hi))
            for _ in range(int(rng.integers(3, 6))):
                c = (cx + rng.uniform(-1.5, 1.5) * r, cy + rng.uniform(-0.3, 0.3) * r)
                ellipse(img, c, (r * rng.uniform(0.6, 1.2), r * rng.uniform(0.35, 0.6)), white)
    return rgb(bottom)


def ground(img: np.ndarray, top: float, season: str, rng: Rng) -> None:
    """Lawn (or snow) from row ``top`` down, lighter towards the camera."""
    height, width = img.shape[:2]
    y0 = int(np.clip(round(top), 0, height))
    if y0 >= height:
        return
    base = np.array(SNOW if season == "winter" else vary(rng, GRASS[season], 14), np.float32)
    t = np.linspace(0.85, 1.08, height - y0, dtype=np.float32)[:, None]
    img[y0:] = (base[None] * t).clip(0, 255).astype(np.uint8)[:, None, :]
    texture = "stucco" if season == "winter" else "grass"
    apply_texture(img, box_points(0, y0, width, height), texture, 3, rng)


def band(img: np.ndarray, y0: float, y1: float, colour: Colour) -> None:
    """Rows [y0, y1) in one colour."""
    a, b = int(np.clip(round(y0), 0, img.shape[0])), int(np.clip(round(y1), 0, img.shape[0]))
    img[a:b] = colour


def treeline(img: np.ndarray, y: float, season: str, rng: Rng) -> None:
    """Distant trees along row ``y``: a bumpy band."""
    width = img.shape[1]
    r_max = img.shape[0] * rng.uniform(0.03, 0.08)
    colour = {"winter": (112, 104, 100), "autumn": vary(rng, (130, 96, 56), 15)}.get(
        season, vary(rng, (48, 78, 46), 12)
    )
    # One draw of 64 crowns (radius, height, shade, spacing), reused round the line.
    crowns = rng.uniform((0.4, 0.9, 0.9, 0.7), (1.0, 1.6, 1.1, 1.4), (64, 4))
    x, i = rng.uniform(-r_max, 0), 0
    while x < width + r_max:
        radius, tall, shade, step = crowns[i % 64]
        r = radius * r_max
        ellipse(img, (x, y), (r, r * tall), scale(colour, shade))
        x, i = x + r * step, i + 1


def leaf_colour(rng: Rng, season: str, evergreen: bool = False) -> Colour:
    """Leaves of ``season``: spring green to autumn red; evergreens stay dark green."""
    if evergreen and season in ("winter", "autumn"):
        return vary(rng, (44, 82, 50), 10)
    return vary(rng, pick(rng, FOLIAGE.get(season, FOLIAGE["summer"])), 12)


def tree(img: np.ndarray, x: float, y: float, h: float, season: str, rng: Rng) -> None:
    """A tree with its foot at (x, y), ``h`` pixels tall: leafy, bare in winter, or a conifer."""
    if rng.random() < 0.25:  # a conifer: stacked tiers, snow on them in winter
        green = vary(rng, (36, 72, 46), 10)
        rect(img, x - h * 0.03, y - h * 0.15, x + h * 0.03, y, BARK)
        for i in range(4):
            top, half = y - h * (0.35 + 0.2 * i), h * 0.22 * (1 - 0.2 * i)
            trap(img, top + h * 0.25, x - half, x + half, top - h * 0.05, x, x, green)
            if season == "winter":
                trap(
                    img, top + h * 0.06, x - half * 0.4, x + half * 0.4, top - h * 0.05, x, x, SNOW
                )
        return
    trunk = h * rng.uniform(0.04, 0.07)
    trap(img, y, x - trunk, x + trunk, y - h * 0.55, x - trunk / 2, x + trunk / 2, BARK)
    crown_y, crown_r = y - h * 0.62, h * rng.uniform(0.22, 0.32)
    if season == "winter" or (season == "autumn" and rng.random() < 0.3):
        for _ in range(int(rng.integers(4, 7))):  # bare branches, each with two twigs
            a = rng.uniform(-2.4, -0.7)
            start = (x, y - h * rng.uniform(0.35, 0.6))
            end = (x + np.cos(a) * crown_r * 1.3, start[1] + np.sin(a) * crown_r * 1.3)
            line(img, start, end, scale(BARK, 0.9), max(1, int(trunk * 0.5)))
            for b in a + rng.uniform(-0.6, 0.6, 2):
                tip = (end[0] + np.cos(b) * crown_r * 0.5, end[1] + np.sin(b) * crown_r * 0.5)
                line(img, end, tip, scale(BARK, 1.1), 1)
        return
    base = leaf_colour(rng, season)
    for i in range(int(rng.integers(4, 8))):  # darker clumps below, lit ones on top
        c = (x + rng.uniform(-0.7, 0.7) * crown_r, crown_y + rng.uniform(-0.7, 0.5) * crown_r)
        r = crown_r * rng.uniform(0.5, 0.8)
        ellipse(img, c, (r, r * 0.9), scale(base, 0.8 + 0.06 * i))
    if season == "spring" and rng.random() < 0.3:  # blossom
        for dx, dy in rng.uniform(-1, 1, (6, 2)):
            c = (x + dx * crown_r, crown_y + dy * 0.7 * crown_r)
            ellipse(img, c, (crown_r * 0.15, crown_r * 0.15), (240, 200, 215))


def bush(img: np.ndarray, x, y, w, h, colour: Colour, rng: Rng) -> None:
    """Three overlapping clumps standing on row ``y``."""
    for i in range(3):
        c = (x + (i - 1) * w * 0.3 + rng.uniform(-0.1, 0.1) * w, y - h * rng.uniform(0.4, 0.6))
        ellipse(img, c, (w * 0.35, h * 0.55), scale(colour, 0.85 + 0.1 * i))


def hedge(img: np.ndarray, y: float, s: float, season: str, rng: Rng) -> None:
    """A clipped hedge across the foreground, its top bumpy; snow on it in winter."""
    height, width = img.shape[:2]
    top = y - s * 1.2
    colour = leaf_colour(rng, season, evergreen=True)
    rect(img, 0, top, width, height, colour)
    for x in np.arange(0, width + s, s * 0.8):
        ellipse(img, (x, top), (s * 0.5, s * 0.3), colour)
    apply_texture(
        img, box_points(0, top - s * 0.3, width, height), "foliage", max(3, round(s * 0.4)), rng
    )
    if season == "winter":
        band(img, top - s * 0.25, top + s * 0.1, SNOW)


def fence_colour(rng: Rng) -> Colour:
    """A fence's paint or stain: wood browns, grey, or white."""
    return vary(rng, pick(rng, ((150, 112, 78), (118, 104, 92), (236, 234, 226), (96, 72, 54))), 10)


def fence(img: np.ndarray, x0, x1, y0, y1, colour: Colour, rng: Rng) -> None:
    """A board fence (solid, vertical boards) or pointed pickets with gaps, rails behind."""
    board = max(3, int((y1 - y0) / rng.uniform(5, 9)))
    if rng.random() < 0.6:
        rect(img, x0, y0, x1, y1, colour)
        apply_texture(img, box_points(x0, y0, x1, y1), "board_batten", board, rng)
        return
    rail = scale(colour, 0.8)
    for yy in (y0 + (y1 - y0) * 0.25, y0 + (y1 - y0) * 0.75):
        rect(img, x0, yy - 1, x1, yy + 1, rail)
    for x in np.arange(x0, x1, board * 1.8):
        polygon(img, (x, y1) + _PICKET * (board, y1 - y0), colour)


_PICKET = np.array(((0, 0), (1, 0), (1, -1 + 0.5 / 8), (0.5, -1), (0, -1 + 0.5 / 8)))


def side_fence(img: np.ndarray, rng: Rng, gy: float, s: float) -> None:
    """A fence from the house towards the camera along one side of the yard."""
    height, width = img.shape[:2]
    left = rng.random() < 0.5
    xa = width * (rng.uniform(0.0, 0.18) if left else rng.uniform(0.82, 1.0))
    xb, yb = width * (-0.1 if left else 1.1), height * 0.8
    ha, hb = s * 1.8, s * 1.8 * 2.2
    colour = fence_colour(rng)
    polygon(img, [(xa, gy), (xa, gy - ha), (xb, yb - hb), (xb, yb)], colour)
    for t in np.linspace(0, 1, 14) ** 1.5:  # boards, closer together in the distance
        x = xa + (xb - xa) * t
        line(
            img,
            (x, gy - ha + (yb - hb - gy + ha) * t),
            (x, gy + (yb - gy) * t),
            scale(colour, 0.75),
        )


def railing(img: np.ndarray, x0, x1, y, s, colour: Colour) -> None:
    """A deck railing a metre high standing on row ``y``: top rail and balusters."""
    top = y - s
    rect(img, x0, top - 1, x1, top + 1, colour)
    for x in np.arange(x0, x1, max(3.0, s * 0.25)):
        line(img, (x, top), (x, y), colour)


def patio_furniture(img: np.ndarray, rng: Rng, x: float, y: float, s: float) -> None:
    """A table with two chairs, and an umbrella or a barbecue, standing on row ``y``."""
    colour = vary(rng, pick(rng, ((60, 60, 60), (230, 230, 226), (140, 100, 70))), 10)
    tw, leg = s * rng.uniform(1.2, 1.8), max(1, round(s * 0.08))
    rect(img, x - tw / 2, y - s * 0.8, x + tw / 2, y - s * 0.72, colour)
    for lx in (x - tw * 0.4, x + tw * 0.4):
        line(img, (lx, y - s * 0.72), (lx, y), colour, leg)
    for side in (-1, 1):
        cx = x + side * (tw / 2 + s * 0.5)
        rect(img, cx - s * 0.25, y - s * 0.5, cx + s * 0.25, y - s * 0.4, colour)
        rect(img, cx + side * s * 0.2, y - s * 1.0, cx + side * s * 0.28, y, colour)
    if rng.random() < 0.5:
        cloth = pick(rng, ((200, 60, 50), (236, 230, 200), (60, 110, 150), (90, 130, 80)))
        line(img, (x, y - s * 0.8), (x, y - s * 2.4), (80, 80, 80), leg)
        trap(img, y - s * 2.0, x - s * 1.4, x + s * 1.4, y - s * 2.6, x, x, cloth)
    elif rng.random() < 0.5:
        bx = x + rng.choice((-1, 1)) * s * 3
        rect(img, bx - s * 0.4, y - s * 1.0, bx + s * 0.4, y - s * 0.5, (30, 30, 32))
        rect(img, bx - s * 0.32, y - s * 0.5, bx - s * 0.26, y, (30, 30, 32))
        rect(img, bx + s * 0.26, y - s * 0.5, bx + s * 0.32, y, (30, 30, 32))


# --------------------------------------------------------------------------- streets

# Cars as unit shapes: x right and y down in car lengths (side) or widths (rear), from
# the middle of the wheels' contact line.
_CAR_BODY = np.array(((0, -0.09), (1, -0.09), (1, -0.28), (0.96, -0.32), (0.04, -0.32), (0, -0.26)))
_CAR_CABIN = np.array(((0.2, -0.32), (0.82, -0.32), (0.7, -0.5), (0.32, -0.5)))
_CAR_WINDOWS = np.array(((0.25, -0.32), (0.77, -0.32), (0.68, -0.47), (0.34, -0.47)))
_REAR_BODY = np.array(((-0.5, -0.5), (0.5, -0.5), (0.5, -0.08), (-0.5, -0.08)))
_REAR_CABIN = np.array(((-0.42, -0.5), (0.42, -0.5), (0.34, -0.78), (-0.34, -0.78)))
_REAR_WINDOW = np.array(((-0.36, -0.52), (0.36, -0.52), (0.3, -0.74), (-0.3, -0.74)))


def car(img: np.ndarray, x: float, y: float, length: float, colour: Colour, rng: Rng) -> None:
    """A car from the side, from column ``x``, its wheels on row ``y``."""
    at = np.array((x, y))
    polygon(img, at + _CAR_BODY * length, colour)
    cabin = _CAR_CABIN * (1, 1.0 if rng.random() < 0.7 else 1.16)  # saloon or SUV
    polygon(img, at + cabin * length, colour)
    polygon(img, at + _CAR_WINDOWS * (1, cabin[2, 1] / -0.5) * length, CAR_GLASS)
    for wx in (0.2, 0.8):
        c = at + np.array((wx, -0.09)) * length
        ellipse(img, c, (length * 0.09, length * 0.09), TYRE)
        ellipse(img, c, (length * 0.04, length * 0.04), (150, 150, 150))


def car_rear(img: np.ndarray, x: float, y: float, w: float, colour: Colour) -> None:
    """A car from behind, ``w`` pixels wide, centred on ``x`` with its wheels on row ``y``."""
    rect(img, x - w * 0.45, y - w * 0.12, x - w * 0.32, y, TYRE)
    rect(img, x + w * 0.32, y - w * 0.12, x + w * 0.45, y, TYRE)
    at = np.array((x, y))
    polygon(img, at + _REAR_BODY * w, colour)
    polygon(img, at + _REAR_CABIN * w, colour)
    polygon(img, at + _REAR_WINDOW * w, CAR_GLASS)
    for side in (-1, 1):
        rect(img, x + side * w * 0.44 - w * 0.05, y - w * 0.38, x + side * w * 0.44 + w * 0.05,
             y - w * 0.3, (200, 30, 30))  # fmt: skip


def street_bands(img: np.ndarray, rng: Rng, y: float, season: str, s: float) -> None:
    """From row ``y`` down: pavement, kerb, road with its centre line and cars, kerb,
    pavement; ``s`` pixels a metre on the road."""
    height, width = img.shape[:2]
    pave = vary(rng, (176, 174, 168), 10)
    kerb = scale(pave, 1.12)
    rows = np.cumsum([y, s * 2.0, s * 0.3, s * rng.uniform(6, 9), s * 0.4])
    band(img, rows[0], rows[1], SNOW if season == "winter" and rng.random() < 0.6 else pave)
    band(img, rows[1], rows[2], kerb)
    band(img, rows[2], rows[3], vary(rng, (82, 84, 88), 10))
    band(img, rows[3], rows[4], kerb)
    band(img, rows[4], height, pave)
    mid, dash = (rows[2] + rows[3]) / 2, max(3, round(s * 3))
    paint = pick(rng, ((230, 200, 60), WHITE))
    for x in range(int(rng.integers(0, dash * 2)), width, dash * 2):
        rect(img, x, mid - s * 0.1, x + dash, mid + s * 0.15, paint)
    for _ in range(int(rng.integers(1, 4))):
        lane = rng.uniform(0.45, 0.95)
        length = s * rng.uniform(4.2, 5.0) * (1 + lane * 0.2)
        car(img, rng.uniform(-0.1, 0.9) * width, rows[2] + (rows[3] - rows[2]) * lane, length,
            pick(rng, CAR_COLOURS), rng)  # fmt: skip
    if rng.random() < 0.5:  # a street lamp on the near pavement
        x, t = rng.uniform(0.05, 0.95) * width, max(1, round(s * 0.25))
        line(img, (x, rows[4] + s), (x, rows[4] - s * 7), (60, 62, 64), t)
        line(img, (x, rows[4] - s * 7), (x + s * 1.5, rows[4] - s * 7), (60, 62, 64), t)


# --------------------------------------------------------------------------- rooms


@dataclass(frozen=True)
class RoomBox:
    """A room in one-point perspective: the vanishing point and the back wall, pixels."""

    vp: np.ndarray  # (x, y)
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def w(self) -> float:
        return self.x1 - self.x0

    @property
    def h(self) -> float:
        return self.y1 - self.y0


def room(
    img: np.ndarray, rng: Rng, kind: str, wall: Colour, floor_finish: str, season: str
) -> None:
    """A room in one-point perspective: back wall, side walls, floor, ceiling, a window,
    and the furniture of ``kind`` (one of :data:`ROOMS`) as boxes."""
    r = room_shell(img, rng, wall, floor_finish, season)
    _ROOM_FURNISHERS[kind](img, rng, r)
    if rng.random() < 0.4:  # ceiling light
        ellipse(img, (r.vp[0], r.y0 * 0.5), (r.w * 0.06, r.h * 0.03), (250, 248, 235))


def room_shell(img: np.ndarray, rng: Rng, wall: Colour, floor_finish: str, season: str) -> RoomBox:
    """Walls, floor, ceiling, skirting, a window onto the season, a picture, a side door."""
    height, width = img.shape[:2]
    vp = np.array((width * rng.uniform(0.38, 0.62), height * rng.uniform(0.38, 0.5)))
    bw, bh = width * rng.uniform(0.42, 0.62), height * rng.uniform(0.42, 0.56)
    x0, y0 = vp[0] - bw * rng.uniform(0.35, 0.65), vp[1] - bh * rng.uniform(0.45, 0.6)
    r = RoomBox(vp, x0, y0, x0 + bw, y0 + bh)
    img[:] = wall  # under the anti-aliased seams between the surfaces
    light = rng.uniform(0.8, 1.05)  # the window's side is the brighter wall
    trap(img, 0, 0, width, r.y0, r.x0, r.x1, scale(wall, 1.08))  # ceiling
    polygon(img, [(0, 0), (r.x0, r.y0), (r.x0, r.y1), (0, height)], scale(wall, light))
    polygon(
        img, [(width, 0), (r.x1, r.y0), (r.x1, r.y1), (width, height)], scale(wall, 1.85 - light)
    )
    rect(img, r.x0, r.y0, r.x1, r.y1, wall)
    _floor(img, rng, r, floor_finish)
    for p, q in (
        ((r.x0, r.y1), (r.x1, r.y1)),
        ((r.x0, r.y1), (0, height)),
        ((r.x1, r.y1), (width, height)),
    ):
        line(img, p, q, WHITE)  # skirting
    if rng.random() < 0.7:  # a window on the back wall: sky, and the yard in its season
        ww, wh = bw * rng.uniform(0.25, 0.45), bh * rng.uniform(0.3, 0.5)
        wx, wy = r.x0 + rng.uniform(0.05, 0.95 - ww / bw) * bw, r.y0 + bh * rng.uniform(0.1, 0.2)
        rect(img, wx - 2, wy - 2, wx + ww + 2, wy + wh + 2, WHITE)
        rect(img, wx, wy, wx + ww, wy + wh * 0.55, vary(rng, (170, 200, 230), 15))
        rect(
            img,
            wx,
            wy + wh * 0.55,
            wx + ww,
            wy + wh,
            SNOW if season == "winter" else leaf_colour(rng, season),
        )
        line(img, (wx + ww / 2, wy), (wx + ww / 2, wy + wh), WHITE)
        if rng.random() < 0.5:
            curtain = vary(
                rng, pick(rng, ((180, 60, 50), (60, 90, 130), (220, 210, 180), (110, 130, 90)))
            )
            rect(img, wx - ww * 0.2, wy - 3, wx + ww * 0.08, wy + wh * 1.1, curtain)
            rect(img, wx + ww * 0.92, wy - 3, wx + ww * 1.2, wy + wh * 1.1, curtain)
    if rng.random() < 0.5:  # a picture on the back wall
        px, py, pw = (
            r.x0 + bw * rng.uniform(0.1, 0.7),
            r.y0 + bh * rng.uniform(0.1, 0.25),
            bw * 0.15,
        )
        rect(img, px, py, px + pw, py + pw * 0.75, (40, 36, 32))
        rect(img, px + 2, py + 2, px + pw - 2, py + pw * 0.75 - 2, vary(rng, (150, 150, 150), 60))
    if rng.random() < 0.4:  # a door in the left wall: its edges run to the vanishing point
        t0, t1 = rng.uniform(0.15, 0.45), rng.uniform(0.55, 0.75)
        top = [np.array((r.x0, r.y0)) * (1 - t) + np.array((0, 0)) * t for t in (t0, t1)]
        bottom = [np.array((r.x0, r.y1)) * (1 - t) + np.array((0, height)) * t for t in (t0, t1)]
        lintel = [b + (a - b) * 0.78 for a, b in zip(top, bottom, strict=True)]
        polygon(
            img,
            [lintel[0], lintel[1], bottom[1], bottom[0]],
            vary(rng, pick(rng, (WHITE, (150, 110, 76)))),
        )
    return r


def _floor(img: np.ndarray, rng: Rng, r: RoomBox, finish: str) -> None:
    """The floor in ``finish`` (wood, tile or carpet), its joints running to the vanishing point."""
    height, width = img.shape[:2]
    colours = {
        "wood": ((152, 106, 66), (186, 146, 100), (110, 74, 48)),
        "tile": ((220, 214, 204), (170, 166, 160), (200, 190, 170)),
        "carpet": ((170, 160, 146), (120, 120, 130), (190, 180, 160)),
    }[finish]
    colour = vary(rng, pick(rng, colours), 10)
    trap(img, r.y1, r.x0, r.x1, height, 0, width, colour)
    if finish == "carpet":
        apply_texture(img, box_points(0, r.y1, width, height), "stucco", 3, rng)
        return
    seam = scale(colour, 0.78 if finish == "wood" else 1.12)
    for x in np.linspace(r.x0, r.x1, 9 if finish == "wood" else 6):  # joints meet at the vp
        bottom = r.vp + (np.array((x, r.y1)) - r.vp) * (height - r.vp[1]) / max(r.y1 - r.vp[1], 1)
        line(img, (x, r.y1), bottom, seam)
    if finish == "tile":
        for t in (0.12, 0.3, 0.55, 0.85):
            y = r.y1 + (height - r.y1) * t
            line(img, (0, y), (width, y), seam)


def box3d(img: np.ndarray, vp: np.ndarray, x0, x1, y, h, depth, colour: Colour) -> None:
    """A box on the floor: front face [x0, x1] x [y - h, y], reaching ``depth`` (0..1) of
    the way to the vanishing point ``vp``; its top and visible side shaded."""
    front = np.array(((x0, y - h), (x1, y - h), (x1, y), (x0, y)), np.float64)
    back = vp + (front - vp) * (1 - depth)
    if vp[0] < x0:
        polygon(img, [front[0], back[0], back[3], front[3]], scale(colour, 0.75))
    elif vp[0] > x1:
        polygon(img, [front[1], back[1], back[2], front[2]], scale(colour, 0.75))
    if vp[1] > y - h:
        polygon(img, [front[0], front[1], back[1], back[0]], scale(colour, 1.15))
    polygon(img, front, colour)


def _living_room(img: np.ndarray, rng: Rng, r: RoomBox) -> None:
    """A sofa against the back wall, a rug and a low table, a floor lamp."""
    height, width = img.shape[:2]
    fabric = vary(rng, pick(rng, (*FABRICS, (220, 214, 200))), 12)
    sw = r.w * rng.uniform(0.5, 0.75)
    sx, y, bh = r.x0 + (r.w - sw) * rng.uniform(0.2, 0.8), r.y1 + (height - r.y1) * 0.08, r.h
    box3d(img, r.vp, sx, sx + sw, y - bh * 0.22, bh * 0.2, 0.1, scale(fabric, 0.9))  # back
    box3d(img, r.vp, sx, sx + sw, y, bh * 0.22, 0.12, fabric)  # seat
    box3d(img, r.vp, sx - sw * 0.06, sx, y, bh * 0.3, 0.12, scale(fabric, 0.85))  # arms
    box3d(img, r.vp, sx + sw, sx + sw * 1.06, y, bh * 0.3, 0.12, scale(fabric, 0.85))
    rug = vary(rng, pick(rng, ((180, 60, 50), (200, 190, 170), (70, 80, 110))), 15)
    ry = r.y1 + (height - r.y1) * 0.45
    trap(img, y + 2, sx, sx + sw, ry + (height - ry) * 0.6, sx - sw * 0.2, sx + sw * 1.2, rug)
    tx = sx + sw * rng.uniform(0.2, 0.4)
    box3d(
        img,
        r.vp,
        tx,
        tx + sw * 0.45,
        ry,
        (height - r.y1) * 0.18,
        0.15,
        vary(rng, pick(rng, WOODS), 10),
    )
    if rng.random() < 0.6:  # a floor lamp
        lx = sx + sw * 1.2 if sx + sw * 1.25 < width else sx - sw * 0.2
        line(img, (lx, y), (lx, y - bh * 0.75), (40, 40, 40))
        trap(img, y - bh * 0.72, lx - bh * 0.08, lx + bh * 0.08, y - bh * 0.88, lx - bh * 0.05,
             lx + bh * 0.05, (236, 226, 196))  # fmt: skip


def _bedroom(img: np.ndarray, rng: Rng, r: RoomBox) -> None:
    """A bed, head to the back wall, with pillows and a cover; night stands with lamps."""
    height = img.shape[0]
    bw, bh = r.w * rng.uniform(0.4, 0.55), r.h
    bx = r.x0 + (r.w - bw) * rng.uniform(0.3, 0.7)
    head = vary(rng, pick(rng, WOODS), 10)
    box3d(img, r.vp, bx, bx + bw, r.y1, bh * 0.45, 0.05, head)
    cover = vary(
        rng, pick(rng, ((236, 236, 232), (120, 150, 190), (200, 170, 160), (150, 170, 130))), 10
    )
    y, spread = r.y1 + (height - r.y1) * rng.uniform(0.6, 0.85), bw * 0.35
    trap(img, r.y1 - bh * 0.15, bx, bx + bw, y - bh * 0.2, bx - spread, bx + bw + spread, cover)
    rect(img, bx - spread, y - bh * 0.2, bx + bw + spread, y, scale(cover, 0.82))
    for k in (0.26, 0.73):
        ellipse(img, (bx + bw * k, r.y1 - bh * 0.17), (bw * 0.17, bh * 0.06), (246, 246, 244))
    for nx in (bx - bw * 0.22, bx + bw * 1.02):
        box3d(img, r.vp, nx, nx + bw * 0.2, r.y1 + 2, bh * 0.22, 0.1, scale(head, 0.9))
        ellipse(img, (nx + bw * 0.1, r.y1 - bh * 0.3), (bw * 0.05, bh * 0.06), (240, 226, 190))


def _kitchen(img: np.ndarray, rng: Rng, r: RoomBox) -> None:
    """Base and wall cabinets along the back wall, a tiled splashback, a fridge, an island."""
    height = img.shape[0]
    cab = vary(
        rng, pick(rng, (WHITE, (60, 70, 90), (150, 110, 76), (110, 130, 110), (200, 200, 196))), 8
    )
    top = vary(rng, pick(rng, ((40, 40, 42), (220, 218, 212), (140, 130, 120))), 8)
    bh, ch = r.h, r.h * 0.3
    splash = (r.x0, r.y1 - ch - bh * 0.35, r.x1, r.y1 - ch)
    rect(img, *splash, vary(rng, (220, 220, 214), 10))
    apply_texture(img, box_points(*splash), "tile", max(3, round(bh * 0.06)), rng)
    rect(img, r.x0, r.y1 - ch, r.x1, r.y1, cab)
    rect(img, r.x0, r.y1 - ch - 3, r.x1, r.y1 - ch + 1, top)
    rect(img, r.x0, splash[1] - bh * 0.3, r.x1, splash[1], cab)  # wall cabinets
    for x in np.linspace(r.x0, r.x1, int(rng.integers(4, 7)))[1:-1]:
        line(img, (x, r.y1 - ch + 2), (x, r.y1), scale(cab, 0.75))
        line(img, (x, splash[1] - bh * 0.3), (x, splash[1]), scale(cab, 0.75))
    fx = r.x0 if rng.random() < 0.5 else r.x1 - r.w * 0.18
    box3d(img, r.vp, fx, fx + r.w * 0.18, r.y1, bh * 0.85, 0.1, (186, 188, 192))  # fridge
    if rng.random() < 0.6:  # an island with its top
        y, ix = r.y1 + (height - r.y1) * rng.uniform(0.55, 0.8), r.x0 + r.w * rng.uniform(0.1, 0.3)
        box3d(img, r.vp, ix, ix + r.w * 0.6, y, bh * 0.45, 0.2, scale(cab, 0.92))
        rect(img, ix - 2, y - bh * 0.45 - 3, ix + r.w * 0.6 + 2, y - bh * 0.45, top)


def _dining(img: np.ndarray, rng: Rng, r: RoomBox) -> None:
    """A table with chairs behind it and a pendant lamp above."""
    height = img.shape[0]
    wood = vary(rng, pick(rng, WOODS), 10)
    bh, tw = r.h, r.w * rng.uniform(0.55, 0.8)
    y = r.y1 + (height - r.y1) * rng.uniform(0.45, 0.65)
    tx = (r.x0 + r.x1) / 2 - tw / 2 + rng.uniform(-0.1, 0.1) * tw
    for cx in np.linspace(tx + tw * 0.1, tx + tw * 0.9, int(rng.integers(2, 4))):
        box3d(
            img,
            r.vp,
            cx - tw * 0.08,
            cx + tw * 0.08,
            y - bh * 0.12,
            bh * 0.5,
            0.08,
            scale(wood, 0.8),
        )
    trap(img, y - bh * 0.45, tx, tx + tw, y - bh * 0.3, tx - tw * 0.12, tx + tw * 1.12, wood)
    for lx in (tx - tw * 0.05, tx + tw * 1.05):
        line(img, (lx, y - bh * 0.3), (lx, y + bh * 0.05), scale(wood, 0.7), max(1, int(bh * 0.03)))
    line(img, (r.vp[0], 0), (r.vp[0], y - bh * 1.1), (40, 40, 40))
    ellipse(img, (r.vp[0], y - bh * 1.1), (bh * 0.12, bh * 0.06), (236, 226, 196), 180, 360)


_ROOM_FURNISHERS: dict[str, Callable[[np.ndarray, Rng, RoomBox], None]] = {
    "living_room": _living_room,
    "bedroom": _bedroom,
    "kitchen": _kitchen,
    "dining": _dining,
}
