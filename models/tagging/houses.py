"""Procedural listing photos of houses with known style, storeys and view: the taggers' data.

Listing photos and public pretrained weights cannot be downloaded on the development
and CI machines, so lakesight trains its house taggers on photos it draws. A
:class:`House` is drawn once per listing (:func:`draw_house`) and photographed many
times (:func:`render_photo`), so that the photos of one listing show one house.

What tells the classes apart is what tells them apart for a person looking at a
front photo, never a colour code:

- **style** (:data:`STYLES`): the roof's shape (side gable; steep front gable with a
  turret or a gabled bay; low hip or low gable with deep eaves; flat slabs), the
  facade (brick or clapboard; fish-scale shingles and bold paint; brick wainscot or
  board-and-batten; stucco, concrete and wood cladding) and the windows (a symmetric
  grid with shutters round a central door; tall and narrow; wide and low by a picture
  window; floor-to-ceiling glass). Colours overlap between styles and every style
  varies its proportions, door position, garage and chimney, so that no style can be
  read off the mean colour.
- **storeys** (:data:`STORIES`): rows of windows and the facade's height. Nothing else
  adds a row of windows (no dormers, no raised basements), and a garage wing is always
  one storey, as it is in the street.
- **view** (:data:`VIEWS`): only ``front`` shows the whole house from the street;
  ``back`` is the back yard with part of the rear wall, ``interior`` a room, ``street``
  the street with the house among others, far away.

Each photo varies what a camera and a day vary: framing (scale, offset, a slight
perspective and roll), light (exposure, contrast, colour temperature, a shadow side),
the season (grass, bare or leafy trees, snow on roofs and ground), the background
(sky, clouds, tree lines, a neighbour at the edge), sensor noise and blur.

Drawing is numpy and OpenCV at the output size: about 2 ms a 144x192 photo on one
core (p99 under 4 ms) once the material textures, drawn on first use, are cached.
The same house, view and random stream always give the same pixels.

This module holds what only a house photo draws (the styles' elevations, the views,
the yard); the primitives, textures and camera are in :mod:`.drawing` and the sky,
trees, cars, building parts and rooms it shares with :mod:`.places` in :mod:`.scenery`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lakesight.models.tagging.drawing import (
    BRICK,
    CAR_COLOURS,
    DEFAULT_SIZE,
    INTERIOR_WALLS,
    ROOFS,
    SEASONS,
    SNOW,
    TEXTURES,
    TRIMS,
    WHITE,
    Colour,
    Rng,
    Sketch,
    frame,
    line,
    photograph,
    pick,
    rect,
    scale,
    trap,
    vary,
)
from lakesight.models.tagging.scenery import (
    ROOMS,
    bush,
    car_rear,
    door,
    fence,
    fence_colour,
    garage_door,
    glass_colour,
    ground,
    hedge,
    leaf_colour,
    patio_furniture,
    railing,
    roof_band,
    room,
    side_fence,
    sky_and_ground,
    small_house,
    street_bands,
    tree,
    treeline,
    window,
)

STYLES: tuple[str, ...] = ("colonial", "victorian", "ranch", "modern")
STORIES: tuple[int, ...] = (1, 2, 3)
VIEWS: tuple[str, ...] = ("front", "back", "interior", "street")
OTHER_VIEWS: tuple[str, ...] = ("back", "interior", "street")
# The heads' classes, in label order: render_labelled's labels index these.
HEAD_CLASSES: dict[str, tuple[str, ...]] = {
    "exterior": ("other", "exterior"),
    "style": STYLES,
    "stories": tuple(str(s) for s in STORIES),
}


@dataclass(frozen=True)
class House:
    """One house as built: what every photo of it shows. Lengths in metres."""

    style: str  # one of STYLES
    stories: int  # one of STORIES
    season: str  # one photo shoot per listing: all its photos share the season
    width: float  # the main block's facade width
    floor: float  # storey height
    base: float  # foundation above grade
    rise: float  # eaves to ridge or apex; a flat roof's slab thickness
    overhang: float  # eaves beyond the walls
    material: str  # the facade: brick, clapboard, brick_wainscot, board_batten, stucco, concrete
    wall: Colour
    trim: Colour  # window frames, fascia, corner boards, porch posts
    roof: Colour
    accent: Colour  # shutters and door; victorian gable shingles; ranch wainscot; modern cladding
    window: tuple[float, float]  # one window's width and height
    bays: int  # window columns across the main block
    door: float  # the front door's centre, as a fraction of the main width
    garage: int = 0  # a one-storey garage wing: -1 left, 1 right, 0 none
    chimney: int = 0  # -1 left end, 1 right end, 2 both ends, 0 none
    shutters: bool = False
    porch: float = 0.0  # share of the main width under a porch roof (colonial: a portico)
    turret: int = 1  # victorian: the side of the turret or gabled bay, -1 or 1
    tower: bool = True  # victorian: a round turret (else a projecting gabled bay)
    hip: bool = True  # ranch: a hip roof (else a low side gable)
    arched: bool = False  # victorian: arched window heads
    volumes: tuple[tuple[float, float], ...] = ()  # modern: (x0, x1) of each storey's box
    cladding: tuple[int, ...] = ()  # modern: the boxes clad in the accent material
    foundation: Colour = (150, 150, 145)
    interior: Colour = (225, 220, 205)  # the rooms' wall colour
    floor_finish: str = "wood"  # the rooms' floor: wood, carpet or tile
    detail: int = 0  # seed of the per-house details (window placement), so photos agree


# --------------------------------------------------------------------------- palettes
# What tells a style's facade: the shared palettes (brick, roofs, trims) are in :mod:`.drawing`.

_COLONIAL_SIDING = (
    (238, 236, 228), (236, 226, 196), (230, 214, 150), (200, 203, 200), (176, 196, 212),
    (172, 184, 152), (150, 60, 52), (72, 86, 110),
)  # fmt: skip
_VICTORIAN_WALL = (
    (62, 122, 122), (112, 72, 110), (200, 160, 62), (132, 152, 100), (192, 122, 126),
    (132, 48, 48), (52, 68, 104), (160, 142, 182), (122, 162, 192), (236, 232, 222),
)  # fmt: skip
_RANCH_WALL = (
    (198, 172, 132), (216, 202, 172), (142, 140, 102), (132, 102, 78), (186, 186, 180),
    (230, 228, 220), (172, 182, 152), (222, 206, 150), (150, 160, 170),
)  # fmt: skip
_MODERN_WALL = ((240, 240, 236), (212, 212, 210), (168, 168, 162), (64, 66, 70), (222, 214, 198))
_MODERN_CLADDING = ((162, 112, 70), (178, 124, 82), (112, 78, 52), (56, 58, 62), (142, 78, 48))
_SHUTTERS = ((30, 30, 34), (36, 72, 48), (36, 46, 82), (102, 32, 38), (72, 74, 78), (236, 236, 230))


# --------------------------------------------------------------------------- houses


def draw_house(rng: Rng, style: str | None = None, stories: int | None = None) -> House:
    """A house of ``style`` and ``stories`` (random when None), with its own look."""
    if style is None:
        style = pick(rng, STYLES)
    elif style not in STYLES:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    if stories is None:
        stories = pick(rng, STORIES)
    elif stories not in STORIES:
        raise ValueError(f"stories must be one of {STORIES}, got {stories!r}")
    common = {
        "style": style,
        "stories": int(stories),
        "season": pick(rng, SEASONS),
        "interior": vary(rng, pick(rng, INTERIOR_WALLS), 8),
        "floor_finish": pick(rng, ("wood", "wood", "carpet", "tile")),
        "foundation": vary(rng, (150, 150, 145), 15),
        "detail": int(rng.integers(2**31)),
    }
    return _STYLE_DRAWERS[style](rng, common)


def _draw_colonial(rng: Rng, common: dict) -> House:
    brick = rng.random() < 0.4
    width = rng.uniform(9.5, 14.5)
    return House(
        **common,
        width=width,
        floor=rng.uniform(2.8, 3.2),
        base=rng.uniform(0.4, 0.8),
        rise=rng.uniform(2.4, 3.8),
        overhang=rng.uniform(0.2, 0.4),
        material="brick" if brick else "clapboard",
        wall=vary(rng, pick(rng, BRICK if brick else _COLONIAL_SIDING), 10),
        trim=vary(rng, pick(rng, TRIMS), 5),
        roof=vary(rng, pick(rng, ROOFS[:5]), 8),
        accent=vary(rng, pick(rng, _SHUTTERS[:5]), 5),
        window=(rng.uniform(0.85, 1.05), rng.uniform(1.45, 1.75)),
        bays=5 if width > rng.uniform(10.5, 12.5) else 3,
        door=0.5,
        garage=pick(rng, (-1, 0, 0, 0, 1)),
        chimney=pick(rng, (0, -1, 1, 2, 2)),
        shutters=rng.random() < 0.8,
        porch=pick(rng, (0.0, 0.0, rng.uniform(0.16, 0.24))),
    )


def _draw_victorian(rng: Rng, common: dict) -> House:
    width = rng.uniform(7.5, 10.5)
    wall = pick(rng, _VICTORIAN_WALL)
    trim = pick(rng, (*TRIMS, (236, 226, 206), (70, 44, 60), (40, 60, 56)))
    if sum(wall) > 600:  # a white house gets a coloured trim, as painted ladies do
        trim = pick(rng, ((62, 92, 92), (112, 52, 62), (52, 68, 104)))
    return House(
        **common,
        width=width,
        floor=rng.uniform(3.2, 3.6),
        base=rng.uniform(0.6, 1.0),
        rise=width * rng.uniform(0.55, 0.8),
        overhang=rng.uniform(0.3, 0.5),
        material="clapboard",
        wall=vary(rng, wall, 10),
        trim=vary(rng, trim, 5),
        roof=vary(rng, pick(rng, (*ROOFS, (118, 46, 44))), 8),
        accent=vary(rng, pick(rng, [c for c in _VICTORIAN_WALL if c != wall]), 10),
        window=(rng.uniform(0.7, 0.85), rng.uniform(1.8, 2.1)),
        bays=pick(rng, (2, 2, 3)),
        door=rng.uniform(0.15, 0.3),
        chimney=pick(rng, (0, 0, -1, 1)),
        porch=rng.uniform(0.55, 1.0),
        turret=pick(rng, (-1, 1)),
        tower=rng.random() < 0.7,
        arched=rng.random() < 0.5,
    )


def _draw_ranch(rng: Rng, common: dict) -> House:
    material = pick(rng, ("brick_wainscot", "brick_wainscot", "board_batten", "brick", "stucco"))
    wall = pick(rng, BRICK) if material == "brick" else pick(rng, _RANCH_WALL)
    width = rng.uniform(12.0, 17.0)
    return House(
        **common,
        width=width,
        floor=rng.uniform(2.6, 2.9),
        base=rng.uniform(0.15, 0.35),
        rise=rng.uniform(1.1, 2.0),
        overhang=rng.uniform(0.6, 0.95),
        material=material,
        wall=vary(rng, wall, 10),
        trim=vary(rng, pick(rng, (*TRIMS, (120, 92, 70), (90, 90, 88))), 6),
        roof=vary(rng, pick(rng, ROOFS), 8),
        accent=vary(rng, pick(rng, BRICK + _SHUTTERS[:3]), 8),
        window=(rng.uniform(1.7, 2.5), rng.uniform(1.0, 1.25)),
        bays=max(3, round(width / rng.uniform(3.6, 4.4))),
        door=rng.uniform(0.3, 0.62),
        garage=pick(rng, (-1, 1, 1, 0)),
        chimney=pick(rng, (0, 0, -1, 1)),
        shutters=rng.random() < 0.2,
        hip=rng.random() < 0.7,
    )


def _draw_modern(rng: Rng, common: dict) -> House:
    width = rng.uniform(10.0, 15.0)
    volumes = [(0.0, width)]
    for _ in range(common["stories"] - 1):
        # Upper boxes slide over the one below: the cantilevers of modern houses.
        w = width * rng.uniform(0.6, 1.0)
        x0 = rng.uniform(-0.25 * width, width - 0.6 * w)
        volumes.append((x0, x0 + w))
    n = len(volumes)
    # Several boxes: some wear the cladding. One box: a clad panel (see _sketch_modern).
    cladding = tuple(i for i in range(n) if rng.random() < 0.45) or (int(rng.integers(n)),)
    return House(
        **common,
        width=width,
        floor=rng.uniform(3.0, 3.4),
        base=rng.uniform(0.05, 0.25),
        rise=rng.uniform(0.28, 0.45),
        overhang=rng.uniform(0.3, 1.6),
        material=pick(rng, ("stucco", "stucco", "concrete")),
        wall=vary(rng, pick(rng, _MODERN_WALL), 6),
        trim=pick(rng, ((38, 38, 40), (238, 238, 236), (120, 122, 124))),
        roof=vary(rng, pick(rng, ((236, 236, 234), (60, 62, 66), (130, 130, 128))), 5),
        accent=vary(rng, pick(rng, _MODERN_CLADDING), 8),
        window=(rng.uniform(2.0, 4.2), 0.0),
        bays=pick(rng, (1, 2, 2, 3)),
        door=rng.uniform(0.15, 0.85),
        garage=pick(rng, (-1, 0, 1, 1)),
        volumes=tuple(volumes),
        cladding=cladding if n > 1 else (),
    )


_STYLE_DRAWERS: dict[str, Callable[[Rng, dict], House]] = {
    "colonial": _draw_colonial,
    "victorian": _draw_victorian,
    "ranch": _draw_ranch,
    "modern": _draw_modern,
}


# --------------------------------------------------------------------------- photos


def render_photo(
    house: House, view: str, rng: Rng, size: tuple[int, int] = DEFAULT_SIZE
) -> np.ndarray:
    """A photo of ``house`` from ``view``: (H, W, 3) uint8 RGB, ``size`` = (H, W)."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")
    return photograph(lambda img: _VIEW_PAINTERS[view](img, rng, house), rng, size)


def render_labelled(
    seed: int, n_per_class: int, head: str, size: tuple[int, int] = DEFAULT_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """A balanced labelled set for one head: images (N, H, W, 3) uint8 and labels (N,) int64.

    ``exterior``: 0 = back, interior or street (in turn), 1 = front; ``style`` and
    ``stories``: front photos, labels index ``HEAD_CLASSES[head]``. The other attributes
    are drawn at random, so that no head can lean on another's cue. Samples are
    interleaved by class (every run of ``len(classes)`` is balanced), and each has its
    own random stream keyed by (seed, head, class, index): sets of any size agree.
    """
    if head not in HEAD_CLASSES:
        raise ValueError(f"unknown head {head!r}; known: {', '.join(HEAD_CLASSES)}")
    k = len(HEAD_CLASSES[head])
    head_key = list(HEAD_CLASSES).index(head)
    images = np.empty((n_per_class * k, *size, 3), np.uint8)
    labels = np.tile(np.arange(k, dtype=np.int64), n_per_class)
    for i in range(n_per_class):
        for c in range(k):
            rng = np.random.default_rng(np.random.SeedSequence([seed, head_key, c, i]))
            view = "front"
            if head == "style":
                house = draw_house(rng, style=STYLES[c])
            elif head == "stories":
                house = draw_house(rng, stories=STORIES[c])
            else:
                house = draw_house(rng)
                view = "front" if c == 1 else OTHER_VIEWS[i % len(OTHER_VIEWS)]
            images[i * k + c] = render_photo(house, view, rng, size)
    return images, labels


# --------------------------------------------------------------------------- sketches


def _wall_top(h: House) -> float:
    return h.base + h.stories * h.floor


def _wall_texture(material: str) -> str:
    return {"brick_wainscot": "clapboard"}.get(material, material)


def _house_roof(sk: Sketch, h: House, x0, x1, eave, rise, inset) -> None:
    roof_band(sk, x0, x1, eave, rise, inset, roof=h.roof, trim=h.trim, overhang=h.overhang,
              snow=h.season == "winter")  # fmt: skip


def chimney(sk: Sketch, x: float, y0: float, y1: float, colour: Colour, width=0.9) -> None:
    sk.rect(x, y0, x + width, y1, colour, "brick")
    sk.rect(x - 0.08, y1 - 0.15, x + width + 0.08, y1, scale(colour, 0.7))


def _fixed_rng(h: House, part: int) -> Rng:
    """The house's own stream for ``part``: the same in every photo of the house."""
    return np.random.default_rng([h.detail, part])


def _sketch_colonial(h: House, glass: Colour) -> Sketch:
    """Symmetric: a side gable over a grid of shuttered windows, the door in the middle."""
    sk = Sketch()
    w, top, tex = h.width, _wall_top(h), h.material
    if h.garage:
        gx0 = -6.2 if h.garage < 0 else w
        gtop = h.base + 2.9
        sk.rect(gx0, 0, gx0 + 6.2, gtop, scale(h.wall, 0.9), tex)  # set back: in shade
        garage_door(sk, gx0 + 0.7, gx0 + 5.5, 2.2, h.trim, h.trim)
        _house_roof(sk, h, gx0, gx0 + 6.2, gtop, 1.6, 0.1)
        sk.anchors["garage"] = (gx0 + 0.7, gx0 + 5.5)
    sk.rect(0, 0, w, h.base, h.foundation, "stone")
    sk.rect(0, h.base, w, top, h.wall, tex)
    if h.material == "clapboard":  # corner boards
        sk.rect(0, h.base, 0.18, top, h.trim)
        sk.rect(w - 0.18, h.base, w, top, h.trim)
    brick = pick(_fixed_rng(h, 1), BRICK)
    for x in {-1: (0.5,), 1: (w - 1.4,), 2: (0.5, w - 1.4)}.get(h.chimney, ()):
        chimney(sk, x, top, top + h.rise + 0.9, brick)
    _house_roof(sk, h, 0, w, top, h.rise, 0.12 * h.rise)
    ww, wh = h.window
    shutters = h.accent if h.shutters else None
    for f in range(h.stories):
        y0 = h.base + f * h.floor + (0.9 if f == 0 else 0.75)
        for i in range(h.bays):
            if f == 0 and i == h.bays // 2:
                continue  # the door's bay
            xc = w * (i + 0.5) / h.bays
            window(sk, xc - ww / 2, y0, xc + ww / 2, y0 + wh, h.trim, glass, cols=2, rows=2,
                   shutters=shutters)  # fmt: skip
    # The door: centred, under a pediment or a columned portico, up a few steps.
    xc, dw, y = w / 2, 1.05, h.base + 2.25
    door(sk, xc - dw / 2, h.base, xc + dw / 2, y, h.accent, h.trim)
    if h.porch:
        pw = max(h.porch * w, 2.4) / 2
        sk.rect(xc - pw, y + 0.35, xc + pw, y + 0.6, h.trim)
        sk.trap(y + 0.6, xc - pw - 0.15, xc + pw + 0.15, y + 1.5, xc, xc, h.trim)
        sk.trap(y + 0.7, xc - pw + 0.3, xc + pw - 0.3, y + 1.3, xc, xc, scale(h.trim, 0.85))
        for x in (xc - pw + 0.1, xc + pw - 0.35):
            sk.rect(x, h.base, x + 0.25, y + 0.35, h.trim)
    else:
        sk.trap(y + 0.12, xc - 0.85, xc + 0.85, y + 0.75, xc, xc, h.trim)
    for k, y in enumerate(np.arange(0, h.base, 0.2)):
        sk.rect(xc - 0.9 - 0.15 * k, y, xc + 0.9 + 0.15 * k, y + 0.2, (170, 168, 162))
    sk.anchors["door"] = (xc - dw / 2, xc + dw / 2)
    return sk


def _sketch_victorian(h: House, glass: Colour) -> Sketch:
    """Asymmetric and tall: a steep front gable with fish-scale shingles, a turret or a
    gabled bay, tall narrow windows, a porch with posts and balusters, bold paint."""
    sk = Sketch()
    w, top = h.width, _wall_top(h)
    ww, wh = h.window
    if h.chimney:
        x = 0.8 if h.chimney < 0 else w - 1.7
        chimney(sk, x, top, top + h.rise * 0.9, pick(_fixed_rng(h, 1), BRICK))
    sk.rect(0, 0, w, h.base, h.foundation, "stone")
    sk.rect(0, h.base, w, top, h.wall, "clapboard", 0.2)
    for f in range(1, h.stories):  # belt courses mark the floors
        sk.rect(0, h.base + f * h.floor - 0.1, w, h.base + f * h.floor + 0.1, h.trim)
    # The front gable: roof, shingled triangle, bargeboard, finial, a window up in it.
    o, apex = h.overhang, top + h.rise
    outer = ((-o, top - 0.2), (w + o, top - 0.2), (w / 2, apex + o * 0.5))
    sk.fill(outer, h.roof, "asphalt", 0.3)
    if h.season == "winter":
        sk.line(outer[0], outer[2], SNOW, 0.2)
        sk.line(outer[1], outer[2], SNOW, 0.2)
    inner = ((0.3, top), (w - 0.3, top), (w / 2, apex - 0.45))
    sk.fill(inner, h.accent, "fishscale")
    sk.line(inner[0], inner[2], h.trim, 0.16)
    sk.line(inner[1], inner[2], h.trim, 0.16)
    sk.rect(0, top - 0.1, w, top + 0.12, h.trim)
    sk.line((w / 2, apex + 0.4), (w / 2, apex + 1.3), h.trim, 0.1)
    gy0 = top + 0.25 * h.rise
    if h.arched:
        window(sk, w / 2 - 0.4, gy0, w / 2 + 0.4, gy0 + 1.1, h.trim, glass, arch=True, sill=False)
    else:
        sk.ellipse((w / 2, gy0 + 0.7), (0.62, 0.62), h.trim)
        sk.ellipse((w / 2, gy0 + 0.7), (0.48, 0.48), glass)
    # The turret or gabled bay over one corner; windows and door on the rest of the front.
    fw = 3.0 if h.tower else 3.8
    fx0 = w - fw * 0.55 if h.turret > 0 else -fw * 0.45
    _victorian_feature(sk, h, glass, fx0, fx0 + fw)
    a, b = (0.0, fx0) if h.turret > 0 else (fx0 + fw, w)
    n, door_bay = h.bays, (0 if h.turret > 0 else h.bays - 1)
    for f in range(h.stories):
        y0 = h.base + f * h.floor + 0.75
        for i in range(n):
            if f == 0 and i == door_bay:
                continue
            xc = a + (b - a) * (i + 0.5) / n
            window(sk, xc - ww / 2, y0, xc + ww / 2, y0 + wh, h.trim, glass, rows=2, arch=h.arched)
            if not h.arched:  # a pedimented hood
                sk.trap(y0 + wh + 0.1, xc - ww / 2 - 0.2, xc + ww / 2 + 0.2, y0 + wh + 0.45, xc, xc,
                        h.trim)  # fmt: skip
    xc = a + (b - a) * (door_bay + 0.5) / n
    y = h.base + 2.4
    door(sk, xc - 0.5, h.base, xc + 0.5, y, scale(h.accent, 0.7), h.trim)
    sk.rect(xc - 0.5, y + 0.12, xc + 0.5, y + 0.5, glass)  # transom
    sk.anchors["door"] = (xc - 0.5, xc + 0.5)
    _porch(sk, h, xc)
    return sk


def _victorian_feature(sk: Sketch, h: House, glass: Colour, x0: float, x1: float) -> None:
    """The round turret with its cone, or a projecting bay with its own steep gable."""
    top = _wall_top(h)
    ww, wh = h.window
    xc, fw = (x0 + x1) / 2, x1 - x0
    ftop = top + (0.55 * h.floor if h.tower else 0.0)
    sk.rect(x0, 0, x1, h.base, h.foundation, "stone")
    sk.rect(x0, h.base, x1, ftop, h.wall, "clapboard", 0.2)
    for f in range(1, h.stories + 1):
        sk.rect(x0, h.base + f * h.floor - 0.1, x1, h.base + f * h.floor + 0.1, h.trim)
    for f in range(h.stories):
        y0 = h.base + f * h.floor + 0.75
        window(sk, xc - ww / 2, y0, xc + ww / 2, y0 + wh, h.trim, glass, rows=2, arch=h.arched)
    if h.tower:
        sk.rect(x0, top + 0.1, x1, ftop, h.accent, "fishscale")
        # A cylinder: both sides fall away from the light.
        sk.shade(x0, 0, x0 + fw * 0.22, ftop, 0.8)
        sk.shade(x1 - fw * 0.22, 0, x1, ftop, 0.72)
        sk.rect(x0 - 0.15, ftop - 0.1, x1 + 0.15, ftop + 0.15, h.trim)
        cone = ((x0 - 0.35, ftop + 0.1), (x1 + 0.35, ftop + 0.1), (xc, ftop + fw * 1.5))
        sk.fill(cone, h.roof, "asphalt", 0.3)
        if h.season == "winter":
            sk.line(cone[0], cone[2], SNOW, 0.15)
            sk.line(cone[1], cone[2], SNOW, 0.15)
        sk.line(cone[2], (xc, ftop + fw * 1.5 + 0.9), h.trim, 0.08)
    else:
        rise = fw * 0.85
        sk.trap(top - 0.2, x0 - 0.3, x1 + 0.3, top + rise + 0.2, xc, xc, h.roof, "asphalt")
        sk.trap(top, x0 + 0.2, x1 - 0.2, top + rise - 0.3, xc, xc, h.accent, "fishscale")
        sk.line((x0 + 0.2, top), (xc, top + rise - 0.3), h.trim, 0.14)
        sk.line((x1 - 0.2, top), (xc, top + rise - 0.3), h.trim, 0.14)
        sk.shade(x1 - 0.25, 0, x1, top, 0.7)


def _porch(sk: Sketch, h: House, door_x: float) -> None:
    """A porch over the door: shed roof, thin posts with brackets, a railing of balusters."""
    span = h.porch * h.width
    if h.turret > 0:
        x0 = max(-0.5, min(door_x - 1.2, h.width - span))
    else:
        x0 = min(door_x + 1.2, h.width + 0.5) - span
    x1, y, base = x0 + span, h.base + h.floor * 0.93, h.base
    sk.rect(x0 - 0.2, base - 0.25, x1 + 0.2, base, scale(h.trim, 0.8))
    sk.trap(y, x0 - 0.4, x1 + 0.4, y + 0.55, x0 - 0.1, x1 + 0.1, h.roof)
    sk.rect(x0 - 0.4, y - 0.25, x1 + 0.4, y, h.trim)
    n_posts = max(2, int(span / 1.9) + 1)
    for x in np.linspace(x0, x1 - 0.18, n_posts):
        sk.rect(x, base, x + 0.18, y, h.trim)
        sk.trap(y - 0.25, x - 0.3, x + 0.48, y - 0.65, x + 0.09, x + 0.09, h.trim)  # bracket
    rail = base + 0.9
    for a, b in ((x0, door_x - 0.7), (door_x + 0.7, x1)):  # the railing stops at the steps
        if b - a > 0.3:
            sk.stripes(a, base, b, rail, 0.2, h.trim)
            sk.rect(a, rail - 0.1, b, rail + 0.02, h.trim)
    sk.shade(x0, y - 0.25, x1, y - 0.8, 0.75)
    for k, y in enumerate(np.arange(0, base, 0.22)):
        sk.rect(door_x - 0.8 - 0.1 * k, y, door_x + 0.8 + 0.1 * k, y + 0.22, scale(h.trim, 0.85))


def _sketch_ranch(h: House, glass: Colour) -> Sketch:
    """Long and low: a shallow hip (or low gable) with deep eaves over wide windows, a
    picture window by an off-centre door, often an attached garage under the same roof."""
    sk = Sketch()
    w, top = h.width, _wall_top(h)
    gw = 6.6
    x_lo, x_hi = (-gw if h.garage < 0 else 0.0), (w + gw if h.garage > 0 else w)
    brick = pick(_fixed_rng(h, 1), BRICK)
    if h.chimney:  # wide and low, through the roof
        chimney(sk, w * (0.25 if h.chimney < 0 else 0.7), top, top + h.rise + 0.7, brick, 1.5)
    sk.rect(x_lo, 0, x_hi, h.base, h.foundation)
    sk.rect(x_lo, h.base, x_hi, top, h.wall, _wall_texture(h.material))
    if h.material == "brick_wainscot":
        for f in range(h.stories):
            y = h.base + f * h.floor
            sk.rect(x_lo, y, x_hi, y + 0.9, h.accent, "brick")
    if h.garage:
        gx0 = -gw + 0.8 if h.garage < 0 else w + 0.8
        colour = pick(_fixed_rng(h, 2), (h.trim, WHITE))
        garage_door(sk, gx0, gx0 + gw - 1.6, 2.2, colour, h.trim)
        sk.anchors["garage"] = (gx0, gx0 + gw - 1.6)
    _house_roof(sk, h, x_lo, x_hi, top, h.rise, h.rise * (2.6 if h.hip else 0.15))
    sk.shade(x_lo, top - 0.5, x_hi, top - 0.9, 0.86)  # deep eaves, deep shadow
    ww, wh = h.window
    n = h.bays
    door_slot = int(np.clip(round(h.door * n - 0.5), 0, n - 1))
    picture = door_slot + (1 if door_slot < n - 1 else -1)
    shutters = h.accent if h.shutters else None
    for f in range(h.stories):
        y0 = h.base + f * h.floor + 1.0
        for i in range(n):
            if f == 0 and i == door_slot:
                continue
            wide = f == 0 and i == picture
            xc, hw = w * (i + 0.5) / n, min(ww * (1.45 if wide else 1.0), w / n - 0.6) / 2
            window(sk, xc - hw, y0, xc + hw, y0 + wh, h.trim, glass, cols=3 if wide else 2,
                   shutters=shutters)  # fmt: skip
    xc = w * (door_slot + 0.5) / n
    sk.rect(xc - 0.9, h.base, xc + 0.9, h.base + 2.4, scale(h.wall, 0.7))  # recessed entry
    door(sk, xc - 0.48, h.base, xc + 0.48, h.base + 2.1, h.accent, h.trim)
    sk.anchors["door"] = (xc - 0.48, xc + 0.48)
    return sk


def _sketch_modern(h: House, glass: Colour) -> Sketch:
    """Boxes with flat roof slabs, sliding over each other; big glass, stucco and wood."""
    sk = Sketch()
    rng = _fixed_rng(h, 3)
    dark = scale(glass, 0.7)
    clad = "wood" if sum(h.accent) > 200 else "seam"
    if h.garage:
        gx0 = -6.0 if h.garage < 0 else h.width
        sk.rect(gx0, 0, gx0 + 6.0, 3.0, h.wall, h.material)
        colour = pick(rng, (h.accent, (70, 72, 76), (200, 200, 198)))
        garage_door(sk, gx0 + 0.6, gx0 + 5.4, 2.3, colour, h.trim, flush=True)
        sk.rect(gx0 - 0.2, 3.0, gx0 + 6.3, 3.0 + h.rise, h.roof)
        sk.anchors["garage"] = (gx0 + 0.6, gx0 + 5.4)
    volumes = h.volumes or ((0.0, h.width),)
    for f, (x0, x1) in enumerate(volumes):
        y0 = h.base + f * h.floor
        y1 = y0 + h.floor
        if f in h.cladding:
            sk.rect(x0, y0, x1, y1, h.accent, clad)
        else:
            sk.rect(x0, y0, x1, y1, h.wall, h.material)
        if len(volumes) == 1:  # one box: a clad panel breaks it up
            a = x0 + (x1 - x0) * rng.uniform(0.0, 0.6)
            sk.rect(a, y0, a + (x1 - x0) * 0.35, y1, h.accent, clad)
        # The box's roof slab, overhanging on one side.
        left = h.overhang if rng.random() < 0.5 else 0.2
        right = h.overhang + 0.4 - left
        sk.rect(x0 - left, y1, x1 + right, y1 + h.rise, h.roof)
        if h.season == "winter":
            sk.rect(x0 - left, y1 + h.rise, x1 + right, y1 + h.rise + 0.15, SNOW)
        sk.shade(x0, y1, x1, y1 - 0.4, 0.8)
        _modern_glazing(sk, h, rng, f, x0, x1, dark)
    x = h.door * h.width
    sk.rect(x - 0.6, h.base, x + 0.6, h.base + 2.5, h.trim)
    colour = pick(rng, ((38, 38, 40), h.accent, (140, 96, 60)))
    door(sk, x - 0.5, h.base, x + 0.5, h.base + 2.45, colour, h.trim, glass=dark)
    sk.anchors["door"] = (x - 0.5, x + 0.5)
    return sk


def _modern_glazing(sk: Sketch, h: House, rng: Rng, f: int, x0, x1, glass: Colour) -> None:
    """One storey's glass: floor-to-ceiling panes or a long strip, thin dark frames."""
    y0 = h.base + f * h.floor
    n = max(1, min(h.bays, int((x1 - x0) // (h.window[0] + 1.0))))
    a, b = (y0 + 0.15, y0 + h.floor * 0.86) if rng.random() < 0.65 else (y0 + 1.0, y0 + 2.1)
    slots = np.linspace(x0, x1, n + 1)
    for i in range(n):
        if f == 0 and slots[i] <= h.door * h.width <= slots[i + 1]:
            continue  # the door's slot
        pw = min(h.window[0], slots[i + 1] - slots[i] - 0.8) * rng.uniform(0.8, 1.15)
        xc = (slots[i] + slots[i + 1]) / 2 + rng.uniform(-0.3, 0.3)
        window(sk, xc - pw / 2, a, xc + pw / 2, b, h.trim, glass, cols=max(1, int(pw // 1.2)),
               bar=0.06, sill=False)  # fmt: skip


_SKETCHERS: dict[str, Callable[[House, Colour], Sketch]] = {
    "colonial": _sketch_colonial,
    "victorian": _sketch_victorian,
    "ranch": _sketch_ranch,
    "modern": _sketch_modern,
}


def elevation(house: House, glass: Colour) -> Sketch:
    """The front of ``house`` as a sketch in metres, its windows glazed with ``glass``."""
    return _SKETCHERS[house.style](house, glass)


def _sketch_back(h: House, glass: Colour) -> Sketch:
    """The rear wall: the style's roof, plain windows, a glass door to the yard."""
    sk = Sketch()
    w, top = h.width + (6.2 if h.garage else 0.0), _wall_top(h)
    sk.rect(0, 0, w, h.base, h.foundation)
    sk.rect(0, h.base, w, top, h.wall, _wall_texture(h.material))
    if h.style == "victorian":
        sk.trap(top, -0.3, h.width + 0.3, top + h.rise, h.width / 2, h.width / 2, h.roof, "asphalt")
    elif h.style == "modern":
        sk.rect(-0.3, top, w + 0.3, top + h.rise, h.roof)
    else:
        _house_roof(
            sk, h, 0, w, top, h.rise, h.rise * (2.6 if h.style == "ranch" and h.hip else 0.12)
        )
    ww, wh = (h.window[0], 1.2) if h.style == "ranch" else h.window
    if h.style == "modern":
        ww, wh = min(h.window[0], 3.0), h.floor * 0.8
    n = max(2, int(w // (ww + 1.6)))
    slot = int(_fixed_rng(h, 4).integers(n))
    for f in range(h.stories):
        y0 = h.base + f * h.floor + (0.2 if h.style == "modern" else 0.9)
        for i in range(n):
            xc = w * (i + 0.5) / n
            if f == 0 and i == slot:  # the sliding glass door
                window(
                    sk, xc - 1.2, h.base, xc + 1.2, h.base + 2.2, h.trim, glass, cols=2, sill=False
                )
            else:
                window(sk, xc - ww / 2, y0, xc + ww / 2, y0 + wh, h.trim, glass, cols=2)
    sk.anchors["door"] = (w * (slot + 0.5) / n - 1.2, w * (slot + 0.5) / n + 1.2)
    return sk


# --------------------------------------------------------------------------- views


def _paint_front(img: np.ndarray, rng: Rng, h: House) -> None:
    """The house whole, from the street or the lawn, with its yard, trees and neighbours."""
    height, width = img.shape[:2]
    gy = height * rng.uniform(0.76, 0.92)
    horizon = gy - height * rng.uniform(0.03, 0.14)
    sky = sky_and_ground(img, horizon, h.season, rng)
    if rng.random() < 0.7:
        treeline(img, horizon, h.season, rng)
    sk = elevation(h, glass_colour(rng, sky))
    ox, s = frame(img, rng, sk, gy)
    bx0, _, bx1, _ = sk.bounds()
    left, right = ox + bx0 * s, ox + bx1 * s
    if rng.random() < 0.4:
        neighbour(img, rng, gy - s * rng.uniform(0.5, 2.0), s * rng.uniform(0.8, 1.0), left, right,
                  h.season)  # fmt: skip
    for _ in range(int(rng.integers(0, 3))):  # trees behind, by the sides of the house
        x = pick(rng, (left, right)) + rng.uniform(-0.12, 0.12) * width
        tree(img, x, gy - s * rng.uniform(1, 4), s * rng.uniform(7, 13), h.season, rng)
    sk.render(img, ox, gy, s, rng)
    _front_yard(img, rng, h, sk, ox, gy, s)


def _front_yard(img: np.ndarray, rng: Rng, h: House, sk: Sketch, ox, gy, s) -> None:
    """Driveway to the garage, path to the door, bushes along the wall, a tree or a hedge."""
    height, width = img.shape[:2]
    paving = vary(rng, (150, 148, 144), 15)
    if "garage" in sk.anchors:
        a, b = (ox + x * s for x in sk.anchors["garage"])
        spread = (b - a) * rng.uniform(0.2, 0.6)
        trap(img, gy, a, b, height, a - spread, b + spread, paving)
    if "door" in sk.anchors:
        a, b = (ox + x * s for x in sk.anchors["door"])
        c = (a + b) / 2 + rng.uniform(-0.3, 0.3) * width
        trap(img, gy, a, b, height, c - (b - a), c + (b - a), scale(paving, 1.08))
    doors = [sk.anchors[k] for k in ("door", "garage") if k in sk.anchors]
    bx0, _, bx1, _ = sk.bounds()
    for _ in range(int(rng.integers(1, 6))):
        x = rng.uniform(bx0, bx1)
        if any(a - 1.0 < x < b + 1.0 for a, b in doors):
            continue  # keep the door and the garage clear
        size = s * rng.uniform(0.8, 1.5)
        bush(img, ox + x * s, gy + s * 0.2, size * 1.3, size, leaf_colour(rng, h.season, True), rng)
    if rng.random() < 0.2:
        hedge(
            img,
            gy + (height - gy) * rng.uniform(0.5, 0.9),
            s * rng.uniform(0.8, 1.3),
            h.season,
            rng,
        )
    if rng.random() < 0.25:
        x = pick(rng, (rng.uniform(-0.1, 0.15), rng.uniform(0.85, 1.1))) * width
        tree(img, x, height * rng.uniform(0.95, 1.1), height * rng.uniform(0.8, 1.1), h.season, rng)


def neighbour(img: np.ndarray, rng: Rng, gy, s, left, right, season: str) -> None:
    """Part of the house next door at the photo's left or right edge, beyond [left, right]."""
    width = img.shape[1]
    wall = vary(rng, pick(rng, (*_RANCH_WALL, *_COLONIAL_SIDING)), 12)
    sk = small_house(rng, wall, pick(rng, ROOFS), glass_colour(rng), snow=season == "winter")
    bx0, _, bx1, _ = sk.bounds()
    gap = s * rng.uniform(1.5, 5)
    if rng.random() < 0.5:
        ox = min(left - gap, width * rng.uniform(0.05, 0.3)) - bx1 * s
    else:
        ox = max(right + gap, width * rng.uniform(0.7, 0.95)) - bx0 * s
    sk.render(img, ox, gy, s, rng)


def _paint_back(img: np.ndarray, rng: Rng, h: House) -> None:
    """The back yard: lawn, fence and patio, with part of the rear wall or its corner."""
    if rng.random() < 0.55:
        _back_wall(img, rng, h)
    else:
        _yard_to_fence(img, rng, h)


def _back_wall(img: np.ndarray, rng: Rng, h: House) -> None:
    """Standing in the yard facing the house: the rear wall is wider than the frame."""
    height, width = img.shape[:2]
    gy = height * rng.uniform(0.55, 0.72)
    sky = sky_and_ground(img, gy, h.season, rng)
    sk = _sketch_back(h, glass_colour(rng, sky))
    bx0, _, bx1, _ = sk.bounds()
    s = width / ((bx1 - bx0) * rng.uniform(0.45, 0.85))
    a, b = sk.anchors["door"]
    ox = width * rng.uniform(0.3, 0.7) - (a + b) / 2 * s
    sk.render(img, ox, gy, s, rng)
    # A deck or patio before the glass door, wider towards the camera.
    x0, x1 = ox + (a - 2.5) * s, ox + (b + 2.5) * s
    spread = (x1 - x0) * rng.uniform(0.3, 0.8)
    deck = rng.random() < 0.5
    colour = vary(rng, (150, 110, 76) if deck else (170, 164, 156), 15)
    trap(img, gy, x0, x1, height, x0 - spread, x1 + spread, colour, "planks" if deck else "tile",
         max(3, round(s * 0.3)), rng)  # fmt: skip
    if deck and rng.random() < 0.6:
        railing(img, x0 - spread, x1 + spread, gy + (height - gy) * 0.55, s, h.trim)
    patio_furniture(img, rng, (x0 + x1) / 2, gy + (height - gy) * rng.uniform(0.35, 0.7), s)
    side_fence(img, rng, gy, s)


def _yard_to_fence(img: np.ndarray, rng: Rng, h: House) -> None:
    """Looking from the house across the lawn to the back fence; its corner at an edge."""
    height, width = img.shape[:2]
    fy = height * rng.uniform(0.45, 0.62)
    sky = sky_and_ground(img, fy - height * 0.1, h.season, rng)
    treeline(img, fy - height * 0.08, h.season, rng)
    snow = h.season == "winter"
    for _ in range(int(rng.integers(0, 3))):  # neighbours' roofs over the fence
        wall = vary(rng, pick(rng, _RANCH_WALL))
        sk = small_house(rng, wall, pick(rng, ROOFS), glass_colour(rng, sky), snow=snow)
        sk.render(img, rng.uniform(-0.2, 0.9) * width, fy, height * rng.uniform(0.025, 0.04), rng)
    for _ in range(int(rng.integers(1, 4))):
        tree(
            img,
            rng.uniform(0, width),
            fy - height * 0.02,
            height * rng.uniform(0.35, 0.6),
            h.season,
            rng,
        )
    s = height * rng.uniform(0.05, 0.08)  # pixels a metre at the fence
    fence(img, 0, width, fy - 1.8 * s, fy, fence_colour(rng), rng)
    ground(img, fy, h.season, rng)
    if rng.random() < 0.4:  # a garden shed
        shed = small_house(rng, vary(rng, (150, 110, 80)), pick(rng, ROOFS), (40, 40, 40),
                           stories=1, kind="front")  # fmt: skip
        shed.render(img, rng.uniform(0.1, 0.7) * width, fy + s * 0.8, s * 0.45, rng)
    patio_furniture(
        img, rng, rng.uniform(0.3, 0.8) * width, height * rng.uniform(0.75, 0.9), s * 1.6
    )
    # The house's corner: a strip of its back wall at one edge, with part of a window.
    cw = width * rng.uniform(0.12, 0.3)
    x0 = 0 if rng.random() < 0.5 else width - cw
    texture = _wall_texture(h.material)
    period = max(2, round(TEXTURES[texture][0] * s * 2))
    trap(img, 0, x0, x0 + cw, height, x0, x0 + cw, h.wall, texture, period, rng)
    wy, wx, wh = (
        height * rng.uniform(0.15, 0.35),
        x0 + cw * (0.3 if x0 == 0 else 0.0),
        height * 0.35,
    )
    rect(img, wx, wy, wx + cw * 0.7, wy + wh, h.trim)
    rect(img, wx + 3, wy + 3, wx + cw * 0.7 - 3, wy + wh - 3, glass_colour(rng, sky))


def _paint_interior(img: np.ndarray, rng: Rng, h: House) -> None:
    room(img, rng, pick(rng, ROOMS), h.interior, h.floor_finish, h.season)


def _paint_street(img: np.ndarray, rng: Rng, h: House) -> None:
    """The street: road, kerbs and pavements, small houses (one of them this one), trees,
    cars; seen across the road or down it."""
    if rng.random() < 0.6:
        _street_across(img, rng, h)
    else:
        _street_along(img, rng, h)


def _small_kind(h: House) -> str:
    """The listing's house as a small house: its roof shape, at least."""
    kinds = {"colonial": "gable", "victorian": "front", "modern": "flat"}
    return kinds.get(h.style, "hip" if h.hip else "gable")


def _street_house(rng: Rng, h: House, mine: bool, sky: Colour) -> Sketch:
    if mine:
        return small_house(rng, h.wall, h.roof, glass_colour(rng, sky), stories=h.stories,
                           kind=_small_kind(h), snow=h.season == "winter")  # fmt: skip
    wall = vary(rng, pick(rng, (*_RANCH_WALL, *_COLONIAL_SIDING)))
    return small_house(rng, wall, pick(rng, ROOFS), glass_colour(rng, sky),
                       snow=h.season == "winter")  # fmt: skip


def _street_across(img: np.ndarray, rng: Rng, h: House) -> None:
    height, width = img.shape[:2]
    base = height * rng.uniform(0.42, 0.55)  # the far houses' grade
    sky = sky_and_ground(img, base - height * 0.05, h.season, rng)
    treeline(img, base - height * 0.05, h.season, rng)
    s = width * rng.uniform(0.1, 0.17) / 12  # pixels a metre over there
    x, own, k = -rng.uniform(0, 20) * s, int(rng.integers(0, 3)), 0
    while x < width:
        sk = _street_house(rng, h, k == own, sky)
        bx0, _, bx1, _ = sk.bounds()
        sk.render(img, x - bx0 * s, base, s, rng)
        if rng.random() < 0.6:
            tree(img, x + (bx1 - bx0 + 3) * s, base + 2, s * rng.uniform(6, 11), h.season, rng)
        x += (bx1 - bx0 + rng.uniform(4, 10)) * s
        k += 1
    street_bands(img, rng, base + s * rng.uniform(3, 6), h.season, s * rng.uniform(1.3, 1.8))


def _street_along(img: np.ndarray, rng: Rng, h: House) -> None:
    """Down the street to its vanishing point: houses and cars shrink with distance."""
    height, width = img.shape[:2]
    horizon, vx = height * rng.uniform(0.38, 0.5), width * rng.uniform(0.35, 0.65)
    sky = sky_and_ground(img, horizon, h.season, rng)
    treeline(img, horizon, h.season, rng)
    left, right = width * rng.uniform(-0.1, 0.25), width * rng.uniform(0.75, 1.1)
    pave = vary(rng, (176, 174, 168), 10)
    trap(img, horizon, vx - 1, vx + 1, height, left - width * 0.25, right + width * 0.25, pave)
    trap(img, horizon, vx - 0.5, vx + 0.5, height, left, right, vary(rng, (82, 84, 88), 10))
    centre = (left + right) / 2
    for t in (0.08, 0.16, 0.3, 0.5, 0.8):  # dashes, further apart as they come closer
        p = (vx + (centre - vx) * t, horizon + (height - horizon) * t)
        q = (vx + (centre - vx) * t * 1.35, horizon + (height - horizon) * t * 1.35)
        line(img, p, q, (230, 200, 60), max(1, round(3 * t)))
    # Houses on both sides, far to near, each drawn face-on and scaled by its distance.
    items = []
    for side in (-1, 1):
        t = rng.uniform(0.12, 0.2)
        while t < 0.9:
            items.append((t, side))
            t *= rng.uniform(1.35, 1.6)
    own = int(rng.integers(0, min(4, len(items))))
    for k, (t, side) in enumerate(sorted(items)):
        edge = (left - width * 0.3) if side < 0 else (right + width * 0.3)
        kerb_x, y, s = vx + (edge - vx) * t, horizon + (height - horizon) * t * 0.9, width * 0.1 * t
        sk = _street_house(rng, h, k == own, sky)
        bx0, _, bx1, _ = sk.bounds()
        sk.render(img, kerb_x - (bx1 if side < 0 else bx0) * s, y, s, rng)
        if rng.random() < 0.5:
            tree(img, kerb_x + side * s * 2, y + s, s * rng.uniform(6, 10), h.season, rng)
    for _ in range(int(rng.integers(1, 3))):
        t = rng.uniform(0.2, 0.9)
        x = vx + (centre + rng.uniform(-0.3, 0.3) * (right - left) - vx) * t
        car_rear(img, x, horizon + (height - horizon) * t, width * 0.19 * t, pick(rng, CAR_COLOURS))


_VIEW_PAINTERS: dict[str, Callable[[np.ndarray, Rng, House], None]] = {
    "front": _paint_front,
    "back": _paint_back,
    "interior": _paint_interior,
    "street": _paint_street,
}
