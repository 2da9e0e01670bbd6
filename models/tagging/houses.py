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
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Colour = tuple[int, int, int]
Rng = np.random.Generator

STYLES: tuple[str, ...] = ("colonial", "victorian", "ranch", "modern")
STORIES: tuple[int, ...] = (1, 2, 3)
VIEWS: tuple[str, ...] = ("front", "back", "interior", "street")
OTHER_VIEWS: tuple[str, ...] = ("back", "interior", "street")
SEASONS: tuple[str, ...] = ("spring", "summer", "autumn", "winter")
ROOMS: tuple[str, ...] = ("living_room", "bedroom", "kitchen", "dining")
# The heads' classes, in label order: render_labelled's labels index these.
HEAD_CLASSES: dict[str, tuple[str, ...]] = {
    "exterior": ("other", "exterior"),
    "style": STYLES,
    "stories": tuple(str(s) for s in STORIES),
}
DEFAULT_SIZE = (144, 192)  # (height, width): a listing thumbnail's 3:4


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

_BRICK = ((150, 62, 46), (165, 78, 58), (128, 56, 46), (172, 98, 72), (118, 66, 52), (140, 90, 70))
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
_ROOFS = (
    (72, 72, 74), (46, 46, 50), (96, 78, 62), (82, 90, 100), (122, 110, 96), (72, 92, 78),
    (122, 62, 52),
)  # fmt: skip
_SHUTTERS = ((30, 30, 34), (36, 72, 48), (36, 46, 82), (102, 32, 38), (72, 74, 78), (236, 236, 230))
_TRIMS = ((240, 238, 232), (234, 226, 206), (222, 222, 218))
_INTERIOR_WALLS = (
    (232, 228, 216), (240, 238, 232), (214, 208, 196), (200, 210, 214), (226, 214, 190),
    (206, 214, 196), (190, 186, 184), (236, 222, 214),
)  # fmt: skip
_GLASS = ((52, 66, 80), (70, 86, 104), (40, 48, 58), (88, 104, 118))
_GRASS = {"spring": (104, 162, 72), "summer": (86, 134, 56), "autumn": (150, 138, 82)}
_SNOW = (234, 238, 244)
_FOLIAGE = {
    "spring": ((112, 168, 70), (140, 186, 86), (96, 150, 62)),
    "summer": ((56, 104, 48), (72, 120, 52), (46, 88, 44)),
    "autumn": ((196, 110, 40), (178, 62, 36), (214, 170, 60), (150, 120, 50)),
}
_BARK = (82, 64, 50)
_WHITE = (240, 240, 236)
_TYRE = (25, 25, 25)
_CAR_GLASS = (60, 72, 84)
_CAR_COLOURS = (
    (200, 30, 30), (30, 60, 140), (230, 230, 230), (30, 30, 32), (150, 152, 156),
    (90, 20, 24), (200, 170, 40), (50, 100, 70),
)  # fmt: skip
_FABRICS = ((120, 120, 126), (70, 90, 120), (170, 150, 120), (130, 60, 50), (60, 90, 70))
_WOODS = ((110, 76, 50), (170, 130, 90), (40, 40, 42), (220, 214, 200))


def _rgb(c: Sequence[float]) -> Colour:
    return (min(255, max(0, int(c[0]))), min(255, max(0, int(c[1]))), min(255, max(0, int(c[2]))))


def _scale(c: Sequence[float], k: float) -> Colour:
    return _rgb((c[0] * k, c[1] * k, c[2] * k))


def _mix(a: Sequence[float], b: Sequence[float], t: float) -> Colour:
    return _rgb([x * (1 - t) + y * t for x, y in zip(a, b, strict=True)])


def _vary(rng: Rng, c: Sequence[float], amount: float = 12) -> Colour:
    """A colour near ``c``: a shared brightness shift plus a little hue noise."""
    d = rng.uniform(-amount, amount, 4)
    return _rgb((c[0] + d[0] + d[1] / 2, c[1] + d[0] + d[2] / 2, c[2] + d[0] + d[3] / 2))


def _pick(rng: Rng, options: Sequence):
    return options[int(rng.integers(len(options)))]


# --------------------------------------------------------------------------- houses


def draw_house(rng: Rng, style: str | None = None, stories: int | None = None) -> House:
    """A house of ``style`` and ``stories`` (random when None), with its own look."""
    if style is None:
        style = _pick(rng, STYLES)
    elif style not in STYLES:
        raise ValueError(f"unknown style {style!r}; known: {', '.join(STYLES)}")
    if stories is None:
        stories = _pick(rng, STORIES)
    elif stories not in STORIES:
        raise ValueError(f"stories must be one of {STORIES}, got {stories!r}")
    common = {
        "style": style,
        "stories": int(stories),
        "season": _pick(rng, SEASONS),
        "interior": _vary(rng, _pick(rng, _INTERIOR_WALLS), 8),
        "floor_finish": _pick(rng, ("wood", "wood", "carpet", "tile")),
        "foundation": _vary(rng, (150, 150, 145), 15),
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
        wall=_vary(rng, _pick(rng, _BRICK if brick else _COLONIAL_SIDING), 10),
        trim=_vary(rng, _pick(rng, _TRIMS), 5),
        roof=_vary(rng, _pick(rng, _ROOFS[:5]), 8),
        accent=_vary(rng, _pick(rng, _SHUTTERS[:5]), 5),
        window=(rng.uniform(0.85, 1.05), rng.uniform(1.45, 1.75)),
        bays=5 if width > rng.uniform(10.5, 12.5) else 3,
        door=0.5,
        garage=_pick(rng, (-1, 0, 0, 0, 1)),
        chimney=_pick(rng, (0, -1, 1, 2, 2)),
        shutters=rng.random() < 0.8,
        porch=_pick(rng, (0.0, 0.0, rng.uniform(0.16, 0.24))),
    )


def _draw_victorian(rng: Rng, common: dict) -> House:
    width = rng.uniform(7.5, 10.5)
    wall = _pick(rng, _VICTORIAN_WALL)
    trim = _pick(rng, (*_TRIMS, (236, 226, 206), (70, 44, 60), (40, 60, 56)))
    if sum(wall) > 600:  # a white house gets a coloured trim, as painted ladies do
        trim = _pick(rng, ((62, 92, 92), (112, 52, 62), (52, 68, 104)))
    return House(
        **common,
        width=width,
        floor=rng.uniform(3.2, 3.6),
        base=rng.uniform(0.6, 1.0),
        rise=width * rng.uniform(0.55, 0.8),
        overhang=rng.uniform(0.3, 0.5),
        material="clapboard",
        wall=_vary(rng, wall, 10),
        trim=_vary(rng, trim, 5),
        roof=_vary(rng, _pick(rng, (*_ROOFS, (118, 46, 44))), 8),
        accent=_vary(rng, _pick(rng, [c for c in _VICTORIAN_WALL if c != wall]), 10),
        window=(rng.uniform(0.7, 0.85), rng.uniform(1.8, 2.1)),
        bays=_pick(rng, (2, 2, 3)),
        door=rng.uniform(0.15, 0.3),
        chimney=_pick(rng, (0, 0, -1, 1)),
        porch=rng.uniform(0.55, 1.0),
        turret=_pick(rng, (-1, 1)),
        tower=rng.random() < 0.7,
        arched=rng.random() < 0.5,
    )


def _draw_ranch(rng: Rng, common: dict) -> House:
    material = _pick(rng, ("brick_wainscot", "brick_wainscot", "board_batten", "brick", "stucco"))
    wall = _pick(rng, _BRICK) if material == "brick" else _pick(rng, _RANCH_WALL)
    width = rng.uniform(12.0, 17.0)
    return House(
        **common,
        width=width,
        floor=rng.uniform(2.6, 2.9),
        base=rng.uniform(0.15, 0.35),
        rise=rng.uniform(1.1, 2.0),
        overhang=rng.uniform(0.6, 0.95),
        material=material,
        wall=_vary(rng, wall, 10),
        trim=_vary(rng, _pick(rng, (*_TRIMS, (120, 92, 70), (90, 90, 88))), 6),
        roof=_vary(rng, _pick(rng, _ROOFS), 8),
        accent=_vary(rng, _pick(rng, _BRICK + _SHUTTERS[:3]), 8),
        window=(rng.uniform(1.7, 2.5), rng.uniform(1.0, 1.25)),
        bays=max(3, round(width / rng.uniform(3.6, 4.4))),
        door=rng.uniform(0.3, 0.62),
        garage=_pick(rng, (-1, 1, 1, 0)),
        chimney=_pick(rng, (0, 0, -1, 1)),
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
        material=_pick(rng, ("stucco", "stucco", "concrete")),
        wall=_vary(rng, _pick(rng, _MODERN_WALL), 6),
        trim=_pick(rng, ((38, 38, 40), (238, 238, 236), (120, 122, 124))),
        roof=_vary(rng, _pick(rng, ((236, 236, 234), (60, 62, 66), (130, 130, 128))), 5),
        accent=_vary(rng, _pick(rng, _MODERN_CLADDING), 8),
        window=(rng.uniform(2.0, 4.2), 0.0),
        bays=_pick(rng, (1, 2, 2, 3)),
        door=rng.uniform(0.15, 0.85),
        garage=_pick(rng, (-1, 0, 1, 1)),
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


def photograph(
    paint: Callable[[np.ndarray], None], rng: Rng, size: tuple[int, int] = DEFAULT_SIZE
) -> np.ndarray:
    """What ``paint`` draws on an (H, W, 3) canvas, through a hand-held camera."""
    if min(size) < 32:
        raise ValueError(f"size {size} is too small: both sides must be at least 32")
    img = np.zeros((*size, 3), np.uint8)  # painters cover it; AA edges blend with what is there
    paint(img)
    return _expose(_camera(img, rng), rng)


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


class Sketch:
    """Drawing operations in metres (x right, y up from grade), rendered at any scale.

    Building a house first and placing it second lets a photo frame the whole of it
    (its bounds are known before a pixel is drawn) and draw it at any size: the front
    view, a neighbour at the edge, a house far down the street.
    """

    def __init__(self) -> None:
        self.ops: list[tuple] = []
        self.anchors: dict[str, tuple[float, float]] = {}  # "door", "garage": (x0, x1)

    def fill(self, pts, colour: Colour, texture: str | None = None, period: float = 0.0) -> None:
        """A polygon; ``texture`` (see _TEXTURES) at its course ``period`` (or the default)."""
        period = period or (_TEXTURES[texture][0] if texture else 0.0)
        self.ops.append(("fill", np.asarray(pts, np.float64), colour, texture, period))

    def rect(self, x0, y0, x1, y1, colour: Colour, texture=None, period: float = 0.0) -> None:
        self.fill(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), colour, texture, period)

    def trap(self, y0, a0, a1, y1, b0, b1, colour: Colour, texture=None) -> None:
        """A trapezoid: [a0, a1] at height y0, [b0, b1] at y1 (a triangle when b0 == b1)."""
        self.fill(((a0, y0), (a1, y0), (b1, y1), (b0, y1)), colour, texture)

    def line(self, p, q, colour: Colour, width: float) -> None:
        self.ops.append(("line", np.asarray((p, q), np.float64), colour, width))

    def ellipse(self, centre, axes, colour: Colour, start: float = 0, end: float = 360) -> None:
        (x, y), (a, b) = centre, axes
        self.ops.append(("ellipse", np.array(((x - a, y - b), (x + a, y + b))), colour, start, end))

    def stripes(self, x0, y0, x1, y1, period: float, colour: Colour) -> None:
        """Vertical bars every ``period``: balusters, pickets."""
        self.ops.append(("stripes", np.array(((x0, y0), (x1, y1))), colour, period))

    def shade(self, x0, y0, x1, y1, factor: float) -> None:
        """Darken (factor < 1) what is already drawn: eave shadows, a turret's round side."""
        self.ops.append(("shade", np.array(((x0, y0), (x1, y0), (x1, y1), (x0, y1))), factor))

    def bounds(self) -> tuple[float, float, float, float]:
        pts = np.concatenate([op[1] for op in self.ops if op[0] != "shade"])
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def render(self, img: np.ndarray, ox: float, gy: float, s: float, rng: Rng) -> None:
        """Draw at ``s`` pixels a metre, x = 0 at pixel column ``ox``, grade on row ``gy``."""
        for op in self.ops:
            px = op[1] * (s, -s) + (ox, gy)
            kind = op[0]
            if kind == "fill":
                _poly(img, px, op[2])
                if op[3]:
                    _texture(img, px, op[3], round(s * op[4]), rng)
            elif kind == "line":
                _line(img, px[0], px[1], op[2], round(op[3] * s))
            elif kind == "ellipse":
                _ellipse(img, px.mean(axis=0), np.abs(px[1] - px[0]) / 2, op[2], op[3], op[4])
            elif kind == "stripes":
                (x0, y1), (x1, y0) = np.round(px).astype(int)
                y0, y1, x0 = max(y0, 0), max(y1, 0), max(x0, 0)
                img[y0:y1, x0 : x1 : max(2, round(op[3] * s))] = op[2]
            else:
                _shade(img, px, op[2])


def _wall_top(h: House) -> float:
    return h.base + h.stories * h.floor


def _wall_texture(material: str) -> str:
    return {"brick_wainscot": "clapboard"}.get(material, material)


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
    sk.fill(((x0, y1), (x0 + 0.7 * w, y1), (x0, y0 + 0.35 * h)), _mix(glass, (210, 220, 230), 0.3))
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
        panel = _scale(colour, 0.82)
        sk.rect(x0 + 0.18 * w, y0 + 0.1 * h, x1 - 0.18 * w, y0 + 0.45 * h, panel)
        sk.rect(x0 + 0.18 * w, y0 + 0.55 * h, x1 - 0.18 * w, y1 - 0.1 * h, panel)
    sk.rect(x1 - 0.22 * w, y0 + 0.48 * h, x1 - 0.12 * w, y0 + 0.53 * h, (200, 180, 110))


def garage_door(sk: Sketch, x0, x1, height, colour: Colour, frame: Colour, flush=False) -> None:
    """A sectional door (four horizontal panels) or a flush one (vertical seams)."""
    sk.rect(x0 - 0.15, 0.0, x1 + 0.15, height + 0.15, frame)
    sk.rect(x0, 0.0, x1, height, colour)
    seam = _scale(colour, 0.8)
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
    sk.fill(snow, _SNOW)


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


def _house_roof(sk: Sketch, h: House, x0, x1, eave, rise, inset) -> None:
    roof_band(sk, x0, x1, eave, rise, inset, roof=h.roof, trim=h.trim, overhang=h.overhang,
              snow=h.season == "winter")  # fmt: skip


def chimney(sk: Sketch, x: float, y0: float, y1: float, colour: Colour, width=0.9) -> None:
    sk.rect(x, y0, x + width, y1, colour, "brick")
    sk.rect(x - 0.08, y1 - 0.15, x + width + 0.08, y1, _scale(colour, 0.7))


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
        sk.rect(gx0, 0, gx0 + 6.2, gtop, _scale(h.wall, 0.9), tex)  # set back: in shade
        garage_door(sk, gx0 + 0.7, gx0 + 5.5, 2.2, h.trim, h.trim)
        _house_roof(sk, h, gx0, gx0 + 6.2, gtop, 1.6, 0.1)
        sk.anchors["garage"] = (gx0 + 0.7, gx0 + 5.5)
    sk.rect(0, 0, w, h.base, h.foundation, "stone")
    sk.rect(0, h.base, w, top, h.wall, tex)
    if h.material == "clapboard":  # corner boards
        sk.rect(0, h.base, 0.18, top, h.trim)
        sk.rect(w - 0.18, h.base, w, top, h.trim)
    brick = _pick(_fixed_rng(h, 1), _BRICK)
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
        sk.trap(y + 0.7, xc - pw + 0.3, xc + pw - 0.3, y + 1.3, xc, xc, _scale(h.trim, 0.85))
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
        chimney(sk, x, top, top + h.rise * 0.9, _pick(_fixed_rng(h, 1), _BRICK))
    sk.rect(0, 0, w, h.base, h.foundation, "stone")
    sk.rect(0, h.base, w, top, h.wall, "clapboard", 0.2)
    for f in range(1, h.stories):  # belt courses mark the floors
        sk.rect(0, h.base + f * h.floor - 0.1, w, h.base + f * h.floor + 0.1, h.trim)
    # The front gable: roof, shingled triangle, bargeboard, finial, a window up in it.
    o, apex = h.overhang, top + h.rise
    outer = ((-o, top - 0.2), (w + o, top - 0.2), (w / 2, apex + o * 0.5))
    sk.fill(outer, h.roof, "asphalt", 0.3)
    if h.season == "winter":
        sk.line(outer[0], outer[2], _SNOW, 0.2)
        sk.line(outer[1], outer[2], _SNOW, 0.2)
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
    door(sk, xc - 0.5, h.base, xc + 0.5, y, _scale(h.accent, 0.7), h.trim)
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
            sk.line(cone[0], cone[2], _SNOW, 0.15)
            sk.line(cone[1], cone[2], _SNOW, 0.15)
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
    sk.rect(x0 - 0.2, base - 0.25, x1 + 0.2, base, _scale(h.trim, 0.8))
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
        sk.rect(door_x - 0.8 - 0.1 * k, y, door_x + 0.8 + 0.1 * k, y + 0.22, _scale(h.trim, 0.85))


def _sketch_ranch(h: House, glass: Colour) -> Sketch:
    """Long and low: a shallow hip (or low gable) with deep eaves over wide windows, a
    picture window by an off-centre door, often an attached garage under the same roof."""
    sk = Sketch()
    w, top = h.width, _wall_top(h)
    gw = 6.6
    x_lo, x_hi = (-gw if h.garage < 0 else 0.0), (w + gw if h.garage > 0 else w)
    brick = _pick(_fixed_rng(h, 1), _BRICK)
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
        colour = _pick(_fixed_rng(h, 2), (h.trim, _WHITE))
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
    sk.rect(xc - 0.9, h.base, xc + 0.9, h.base + 2.4, _scale(h.wall, 0.7))  # recessed entry
    door(sk, xc - 0.48, h.base, xc + 0.48, h.base + 2.1, h.accent, h.trim)
    sk.anchors["door"] = (xc - 0.48, xc + 0.48)
    return sk


def _sketch_modern(h: House, glass: Colour) -> Sketch:
    """Boxes with flat roof slabs, sliding over each other; big glass, stucco and wood."""
    sk = Sketch()
    rng = _fixed_rng(h, 3)
    dark = _scale(glass, 0.7)
    clad = "wood" if sum(h.accent) > 200 else "seam"
    if h.garage:
        gx0 = -6.0 if h.garage < 0 else h.width
        sk.rect(gx0, 0, gx0 + 6.0, 3.0, h.wall, h.material)
        colour = _pick(rng, (h.accent, (70, 72, 76), (200, 200, 198)))
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
            sk.rect(x0 - left, y1 + h.rise, x1 + right, y1 + h.rise + 0.15, _SNOW)
        sk.shade(x0, y1, x1, y1 - 0.4, 0.8)
        _modern_glazing(sk, h, rng, f, x0, x1, dark)
    x = h.door * h.width
    sk.rect(x - 0.6, h.base, x + 0.6, h.base + 2.5, h.trim)
    colour = _pick(rng, ((38, 38, 40), h.accent, (140, 96, 60)))
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


def small_house(rng: Rng, wall: Colour, roof: Colour, glass: Colour, *, stories: int = 0,
                kind: str = "", snow: bool = False) -> Sketch:  # fmt: skip
    """A house far away or at the edge of a photo: box, roof (gable, hip, front gable or
    flat), a few windows, a door."""
    sk = Sketch()
    stories = stories or int(rng.integers(1, 3))
    kind = kind or _pick(rng, ("gable", "gable", "hip", "front", "flat"))
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
                sk.rect(xc - 0.5, 0.3, xc + 0.5, 2.4, _scale(wall, 0.55))
            else:
                sk.rect(xc - 0.55, y0, xc + 0.55, y0 + 1.3, glass)
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
        x = _pick(rng, (left, right)) + rng.uniform(-0.12, 0.12) * width
        tree(img, x, gy - s * rng.uniform(1, 4), s * rng.uniform(7, 13), h.season, rng)
    sk.render(img, ox, gy, s, rng)
    _front_yard(img, rng, h, sk, ox, gy, s)


def frame(
    img: np.ndarray,
    rng: Rng,
    sk: Sketch,
    gy: float,
    fill: tuple[float, float] = (0.55, 0.9),
    margin: tuple[float, float] = (0.06, 0.15),
) -> tuple[float, float]:
    """(ox, s) that stand ``sk`` on row ``gy``: it fills a random share ``fill`` of the
    width, unless that would bring its top within ``margin`` of the height from the top
    edge (the roof is what tells the style: keep it in the frame)."""
    height, width = img.shape[:2]
    x0, _, x1, top = sk.bounds()
    s = min(rng.uniform(*fill) * width / (x1 - x0), (gy - height * rng.uniform(*margin)) / top)
    return width * rng.uniform(0.36, 0.64) - (x0 + x1) / 2 * s, s


def _front_yard(img: np.ndarray, rng: Rng, h: House, sk: Sketch, ox, gy, s) -> None:
    """Driveway to the garage, path to the door, bushes along the wall, a tree or a hedge."""
    height, width = img.shape[:2]
    paving = _vary(rng, (150, 148, 144), 15)
    if "garage" in sk.anchors:
        a, b = (ox + x * s for x in sk.anchors["garage"])
        spread = (b - a) * rng.uniform(0.2, 0.6)
        trap(img, gy, a, b, height, a - spread, b + spread, paving)
    if "door" in sk.anchors:
        a, b = (ox + x * s for x in sk.anchors["door"])
        c = (a + b) / 2 + rng.uniform(-0.3, 0.3) * width
        trap(img, gy, a, b, height, c - (b - a), c + (b - a), _scale(paving, 1.08))
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
        x = _pick(rng, (rng.uniform(-0.1, 0.15), rng.uniform(0.85, 1.1))) * width
        tree(img, x, height * rng.uniform(0.95, 1.1), height * rng.uniform(0.8, 1.1), h.season, rng)


def neighbour(img: np.ndarray, rng: Rng, gy, s, left, right, season: str) -> None:
    """Part of the house next door at the photo's left or right edge, beyond [left, right]."""
    width = img.shape[1]
    wall = _vary(rng, _pick(rng, (*_RANCH_WALL, *_COLONIAL_SIDING)), 12)
    sk = small_house(rng, wall, _pick(rng, _ROOFS), glass_colour(rng), snow=season == "winter")
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
    colour = _vary(rng, (150, 110, 76) if deck else (170, 164, 156), 15)
    trap(img, gy, x0, x1, height, x0 - spread, x1 + spread, colour, "planks" if deck else "tile",
         max(3, round(s * 0.3)), rng)  # fmt: skip
    if deck and rng.random() < 0.6:
        railing(img, x0 - spread, x1 + spread, gy + (height - gy) * 0.55, s, h.trim)
    patio_furniture(img, rng, (x0 + x1) / 2, gy + (height - gy) * rng.uniform(0.35, 0.7), s)
    _side_fence(img, rng, gy, s)


def _yard_to_fence(img: np.ndarray, rng: Rng, h: House) -> None:
    """Looking from the house across the lawn to the back fence; its corner at an edge."""
    height, width = img.shape[:2]
    fy = height * rng.uniform(0.45, 0.62)
    sky = sky_and_ground(img, fy - height * 0.1, h.season, rng)
    treeline(img, fy - height * 0.08, h.season, rng)
    snow = h.season == "winter"
    for _ in range(int(rng.integers(0, 3))):  # neighbours' roofs over the fence
        wall = _vary(rng, _pick(rng, _RANCH_WALL))
        sk = small_house(rng, wall, _pick(rng, _ROOFS), glass_colour(rng, sky), snow=snow)
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
        shed = small_house(rng, _vary(rng, (150, 110, 80)), _pick(rng, _ROOFS), (40, 40, 40),
                           stories=1, kind="front")  # fmt: skip
        shed.render(img, rng.uniform(0.1, 0.7) * width, fy + s * 0.8, s * 0.45, rng)
    patio_furniture(
        img, rng, rng.uniform(0.3, 0.8) * width, height * rng.uniform(0.75, 0.9), s * 1.6
    )
    # The house's corner: a strip of its back wall at one edge, with part of a window.
    cw = width * rng.uniform(0.12, 0.3)
    x0 = 0 if rng.random() < 0.5 else width - cw
    texture = _wall_texture(h.material)
    period = max(2, round(_TEXTURES[texture][0] * s * 2))
    trap(img, 0, x0, x0 + cw, height, x0, x0 + cw, h.wall, texture, period, rng)
    wy, wx, wh = (
        height * rng.uniform(0.15, 0.35),
        x0 + cw * (0.3 if x0 == 0 else 0.0),
        height * 0.35,
    )
    rect(img, wx, wy, wx + cw * 0.7, wy + wh, h.trim)
    rect(img, wx + 3, wy + 3, wx + cw * 0.7 - 3, wy + wh - 3, glass_colour(rng, sky))


def _paint_interior(img: np.ndarray, rng: Rng, h: House) -> None:
    room(img, rng, _pick(rng, ROOMS), h.interior, h.floor_finish, h.season)


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
    wall = _vary(rng, _pick(rng, (*_RANCH_WALL, *_COLONIAL_SIDING)))
    return small_house(rng, wall, _pick(rng, _ROOFS), glass_colour(rng, sky),
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


def street_bands(img: np.ndarray, rng: Rng, y: float, season: str, s: float) -> None:
    """From row ``y`` down: pavement, kerb, road with its centre line and cars, kerb,
    pavement; ``s`` pixels a metre on the road."""
    height, width = img.shape[:2]
    pave = _vary(rng, (176, 174, 168), 10)
    kerb = _scale(pave, 1.12)
    rows = np.cumsum([y, s * 2.0, s * 0.3, s * rng.uniform(6, 9), s * 0.4])
    band(img, rows[0], rows[1], _SNOW if season == "winter" and rng.random() < 0.6 else pave)
    band(img, rows[1], rows[2], kerb)
    band(img, rows[2], rows[3], _vary(rng, (82, 84, 88), 10))
    band(img, rows[3], rows[4], kerb)
    band(img, rows[4], height, pave)
    mid, dash = (rows[2] + rows[3]) / 2, max(3, round(s * 3))
    paint = _pick(rng, ((230, 200, 60), _WHITE))
    for x in range(int(rng.integers(0, dash * 2)), width, dash * 2):
        rect(img, x, mid - s * 0.1, x + dash, mid + s * 0.15, paint)
    for _ in range(int(rng.integers(1, 4))):
        lane = rng.uniform(0.45, 0.95)
        length = s * rng.uniform(4.2, 5.0) * (1 + lane * 0.2)
        car(img, rng.uniform(-0.1, 0.9) * width, rows[2] + (rows[3] - rows[2]) * lane, length,
            _pick(rng, _CAR_COLOURS), rng)  # fmt: skip
    if rng.random() < 0.5:  # a street lamp on the near pavement
        x, t = rng.uniform(0.05, 0.95) * width, max(1, round(s * 0.25))
        _line(img, (x, rows[4] + s), (x, rows[4] - s * 7), (60, 62, 64), t)
        _line(img, (x, rows[4] - s * 7), (x + s * 1.5, rows[4] - s * 7), (60, 62, 64), t)


def _street_along(img: np.ndarray, rng: Rng, h: House) -> None:
    """Down the street to its vanishing point: houses and cars shrink with distance."""
    height, width = img.shape[:2]
    horizon, vx = height * rng.uniform(0.38, 0.5), width * rng.uniform(0.35, 0.65)
    sky = sky_and_ground(img, horizon, h.season, rng)
    treeline(img, horizon, h.season, rng)
    left, right = width * rng.uniform(-0.1, 0.25), width * rng.uniform(0.75, 1.1)
    pave = _vary(rng, (176, 174, 168), 10)
    trap(img, horizon, vx - 1, vx + 1, height, left - width * 0.25, right + width * 0.25, pave)
    trap(img, horizon, vx - 0.5, vx + 0.5, height, left, right, _vary(rng, (82, 84, 88), 10))
    centre = (left + right) / 2
    for t in (0.08, 0.16, 0.3, 0.5, 0.8):  # dashes, further apart as they come closer
        p = (vx + (centre - vx) * t, horizon + (height - horizon) * t)
        q = (vx + (centre - vx) * t * 1.35, horizon + (height - horizon) * t * 1.35)
        _line(img, p, q, (230, 200, 60), max(1, round(3 * t)))
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
        car_rear(
            img, x, horizon + (height - horizon) * t, width * 0.19 * t, _pick(rng, _CAR_COLOURS)
        )


_VIEW_PAINTERS: dict[str, Callable[[np.ndarray, Rng, House], None]] = {
    "front": _paint_front,
    "back": _paint_back,
    "interior": _paint_interior,
    "street": _paint_street,
}


# --------------------------------------------------------------------------- scenery


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
            white = _rgb(rng.uniform(lo, hi))
            for _ in range(int(rng.integers(3, 6))):
                c = (cx + rng.uniform(-1.5, 1.5) * r, cy + rng.uniform(-0.3, 0.3) * r)
                _ellipse(img, c, (r * rng.uniform(0.6, 1.2), r * rng.uniform(0.35, 0.6)), white)
    return _rgb(bottom)


def ground(img: np.ndarray, top: float, season: str, rng: Rng) -> None:
    """Lawn (or snow) from row ``top`` down, lighter towards the camera."""
    height, width = img.shape[:2]
    y0 = int(np.clip(round(top), 0, height))
    if y0 >= height:
        return
    base = np.array(_SNOW if season == "winter" else _vary(rng, _GRASS[season], 14), np.float32)
    t = np.linspace(0.85, 1.08, height - y0, dtype=np.float32)[:, None]
    img[y0:] = (base[None] * t).clip(0, 255).astype(np.uint8)[:, None, :]
    texture = "stucco" if season == "winter" else "grass"
    _texture(img, _box_pts(0, y0, width, height), texture, 3, rng)


def band(img: np.ndarray, y0: float, y1: float, colour: Colour) -> None:
    """Rows [y0, y1) in one colour."""
    a, b = int(np.clip(round(y0), 0, img.shape[0])), int(np.clip(round(y1), 0, img.shape[0]))
    img[a:b] = colour


def treeline(img: np.ndarray, y: float, season: str, rng: Rng) -> None:
    """Distant trees along row ``y``: a bumpy band."""
    width = img.shape[1]
    r_max = img.shape[0] * rng.uniform(0.03, 0.08)
    colour = {"winter": (112, 104, 100), "autumn": _vary(rng, (130, 96, 56), 15)}.get(
        season, _vary(rng, (48, 78, 46), 12)
    )
    # One draw of 64 crowns (radius, height, shade, spacing), reused round the line.
    crowns = rng.uniform((0.4, 0.9, 0.9, 0.7), (1.0, 1.6, 1.1, 1.4), (64, 4))
    x, i = rng.uniform(-r_max, 0), 0
    while x < width + r_max:
        radius, tall, shade, step = crowns[i % 64]
        r = radius * r_max
        _ellipse(img, (x, y), (r, r * tall), _scale(colour, shade))
        x, i = x + r * step, i + 1


def leaf_colour(rng: Rng, season: str, evergreen: bool = False) -> Colour:
    if evergreen and season in ("winter", "autumn"):
        return _vary(rng, (44, 82, 50), 10)
    return _vary(rng, _pick(rng, _FOLIAGE.get(season, _FOLIAGE["summer"])), 12)


def tree(img: np.ndarray, x: float, y: float, h: float, season: str, rng: Rng) -> None:
    """A tree with its foot at (x, y), ``h`` pixels tall: leafy, bare in winter, or a conifer."""
    if rng.random() < 0.25:  # a conifer: stacked tiers, snow on them in winter
        green = _vary(rng, (36, 72, 46), 10)
        rect(img, x - h * 0.03, y - h * 0.15, x + h * 0.03, y, _BARK)
        for i in range(4):
            top, half = y - h * (0.35 + 0.2 * i), h * 0.22 * (1 - 0.2 * i)
            trap(img, top + h * 0.25, x - half, x + half, top - h * 0.05, x, x, green)
            if season == "winter":
                trap(
                    img, top + h * 0.06, x - half * 0.4, x + half * 0.4, top - h * 0.05, x, x, _SNOW
                )
        return
    trunk = h * rng.uniform(0.04, 0.07)
    trap(img, y, x - trunk, x + trunk, y - h * 0.55, x - trunk / 2, x + trunk / 2, _BARK)
    crown_y, crown_r = y - h * 0.62, h * rng.uniform(0.22, 0.32)
    if season == "winter" or (season == "autumn" and rng.random() < 0.3):
        for _ in range(int(rng.integers(4, 7))):  # bare branches, each with two twigs
            a = rng.uniform(-2.4, -0.7)
            start = (x, y - h * rng.uniform(0.35, 0.6))
            end = (x + np.cos(a) * crown_r * 1.3, start[1] + np.sin(a) * crown_r * 1.3)
            _line(img, start, end, _scale(_BARK, 0.9), max(1, int(trunk * 0.5)))
            for b in a + rng.uniform(-0.6, 0.6, 2):
                tip = (end[0] + np.cos(b) * crown_r * 0.5, end[1] + np.sin(b) * crown_r * 0.5)
                _line(img, end, tip, _scale(_BARK, 1.1), 1)
        return
    base = leaf_colour(rng, season)
    for i in range(int(rng.integers(4, 8))):  # darker clumps below, lit ones on top
        c = (x + rng.uniform(-0.7, 0.7) * crown_r, crown_y + rng.uniform(-0.7, 0.5) * crown_r)
        r = crown_r * rng.uniform(0.5, 0.8)
        _ellipse(img, c, (r, r * 0.9), _scale(base, 0.8 + 0.06 * i))
    if season == "spring" and rng.random() < 0.3:  # blossom
        for dx, dy in rng.uniform(-1, 1, (6, 2)):
            c = (x + dx * crown_r, crown_y + dy * 0.7 * crown_r)
            _ellipse(img, c, (crown_r * 0.15, crown_r * 0.15), (240, 200, 215))


def bush(img: np.ndarray, x, y, w, h, colour: Colour, rng: Rng) -> None:
    """Three overlapping clumps standing on row ``y``."""
    for i in range(3):
        c = (x + (i - 1) * w * 0.3 + rng.uniform(-0.1, 0.1) * w, y - h * rng.uniform(0.4, 0.6))
        _ellipse(img, c, (w * 0.35, h * 0.55), _scale(colour, 0.85 + 0.1 * i))


def hedge(img: np.ndarray, y: float, s: float, season: str, rng: Rng) -> None:
    """A clipped hedge across the foreground, its top bumpy; snow on it in winter."""
    height, width = img.shape[:2]
    top = y - s * 1.2
    colour = leaf_colour(rng, season, evergreen=True)
    rect(img, 0, top, width, height, colour)
    for x in np.arange(0, width + s, s * 0.8):
        _ellipse(img, (x, top), (s * 0.5, s * 0.3), colour)
    _texture(img, _box_pts(0, top - s * 0.3, width, height), "foliage", max(3, round(s * 0.4)), rng)
    if season == "winter":
        band(img, top - s * 0.25, top + s * 0.1, _SNOW)


def fence_colour(rng: Rng) -> Colour:
    return _vary(
        rng, _pick(rng, ((150, 112, 78), (118, 104, 92), (236, 234, 226), (96, 72, 54))), 10
    )


def fence(img: np.ndarray, x0, x1, y0, y1, colour: Colour, rng: Rng) -> None:
    """A board fence (solid, vertical boards) or pointed pickets with gaps, rails behind."""
    board = max(3, int((y1 - y0) / rng.uniform(5, 9)))
    if rng.random() < 0.6:
        rect(img, x0, y0, x1, y1, colour)
        _texture(img, _box_pts(x0, y0, x1, y1), "board_batten", board, rng)
        return
    rail = _scale(colour, 0.8)
    for yy in (y0 + (y1 - y0) * 0.25, y0 + (y1 - y0) * 0.75):
        rect(img, x0, yy - 1, x1, yy + 1, rail)
    for x in np.arange(x0, x1, board * 1.8):
        _poly(img, (x, y1) + _PICKET * (board, y1 - y0), colour)


_PICKET = np.array(((0, 0), (1, 0), (1, -1 + 0.5 / 8), (0.5, -1), (0, -1 + 0.5 / 8)))


def _side_fence(img: np.ndarray, rng: Rng, gy: float, s: float) -> None:
    """A fence from the house towards the camera along one side of the yard."""
    height, width = img.shape[:2]
    left = rng.random() < 0.5
    xa = width * (rng.uniform(0.0, 0.18) if left else rng.uniform(0.82, 1.0))
    xb, yb = width * (-0.1 if left else 1.1), height * 0.8
    ha, hb = s * 1.8, s * 1.8 * 2.2
    colour = fence_colour(rng)
    _poly(img, [(xa, gy), (xa, gy - ha), (xb, yb - hb), (xb, yb)], colour)
    for t in np.linspace(0, 1, 14) ** 1.5:  # boards, closer together in the distance
        x = xa + (xb - xa) * t
        _line(
            img,
            (x, gy - ha + (yb - hb - gy + ha) * t),
            (x, gy + (yb - gy) * t),
            _scale(colour, 0.75),
        )


def railing(img: np.ndarray, x0, x1, y, s, colour: Colour) -> None:
    """A deck railing a metre high standing on row ``y``: top rail and balusters."""
    top = y - s
    rect(img, x0, top - 1, x1, top + 1, colour)
    for x in np.arange(x0, x1, max(3.0, s * 0.25)):
        _line(img, (x, top), (x, y), colour)


def patio_furniture(img: np.ndarray, rng: Rng, x: float, y: float, s: float) -> None:
    """A table with two chairs, and an umbrella or a barbecue, standing on row ``y``."""
    colour = _vary(rng, _pick(rng, ((60, 60, 60), (230, 230, 226), (140, 100, 70))), 10)
    tw, leg = s * rng.uniform(1.2, 1.8), max(1, round(s * 0.08))
    rect(img, x - tw / 2, y - s * 0.8, x + tw / 2, y - s * 0.72, colour)
    for lx in (x - tw * 0.4, x + tw * 0.4):
        _line(img, (lx, y - s * 0.72), (lx, y), colour, leg)
    for side in (-1, 1):
        cx = x + side * (tw / 2 + s * 0.5)
        rect(img, cx - s * 0.25, y - s * 0.5, cx + s * 0.25, y - s * 0.4, colour)
        rect(img, cx + side * s * 0.2, y - s * 1.0, cx + side * s * 0.28, y, colour)
    if rng.random() < 0.5:
        cloth = _pick(rng, ((200, 60, 50), (236, 230, 200), (60, 110, 150), (90, 130, 80)))
        _line(img, (x, y - s * 0.8), (x, y - s * 2.4), (80, 80, 80), leg)
        trap(img, y - s * 2.0, x - s * 1.4, x + s * 1.4, y - s * 2.6, x, x, cloth)
    elif rng.random() < 0.5:
        bx = x + rng.choice((-1, 1)) * s * 3
        rect(img, bx - s * 0.4, y - s * 1.0, bx + s * 0.4, y - s * 0.5, (30, 30, 32))
        rect(img, bx - s * 0.32, y - s * 0.5, bx - s * 0.26, y, (30, 30, 32))
        rect(img, bx + s * 0.26, y - s * 0.5, bx + s * 0.32, y, (30, 30, 32))


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
    _poly(img, at + _CAR_BODY * length, colour)
    cabin = _CAR_CABIN * (1, 1.0 if rng.random() < 0.7 else 1.16)  # saloon or SUV
    _poly(img, at + cabin * length, colour)
    _poly(img, at + _CAR_WINDOWS * (1, cabin[2, 1] / -0.5) * length, _CAR_GLASS)
    for wx in (0.2, 0.8):
        c = at + np.array((wx, -0.09)) * length
        _ellipse(img, c, (length * 0.09, length * 0.09), _TYRE)
        _ellipse(img, c, (length * 0.04, length * 0.04), (150, 150, 150))


def car_rear(img: np.ndarray, x: float, y: float, w: float, colour: Colour) -> None:
    """A car from behind, ``w`` pixels wide, centred on ``x`` with its wheels on row ``y``."""
    rect(img, x - w * 0.45, y - w * 0.12, x - w * 0.32, y, _TYRE)
    rect(img, x + w * 0.32, y - w * 0.12, x + w * 0.45, y, _TYRE)
    at = np.array((x, y))
    _poly(img, at + _REAR_BODY * w, colour)
    _poly(img, at + _REAR_CABIN * w, colour)
    _poly(img, at + _REAR_WINDOW * w, _CAR_GLASS)
    for side in (-1, 1):
        rect(img, x + side * w * 0.44 - w * 0.05, y - w * 0.38, x + side * w * 0.44 + w * 0.05,
             y - w * 0.3, (200, 30, 30))  # fmt: skip


def glass_colour(rng: Rng, sky: Colour = (200, 210, 220)) -> Colour:
    """Window glass: dark, tinted by the sky it reflects."""
    return _mix(_pick(rng, _GLASS), sky, rng.uniform(0.05, 0.35))


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
        _ellipse(img, (r.vp[0], r.y0 * 0.5), (r.w * 0.06, r.h * 0.03), (250, 248, 235))


def room_shell(img: np.ndarray, rng: Rng, wall: Colour, floor_finish: str, season: str) -> RoomBox:
    """Walls, floor, ceiling, skirting, a window onto the season, a picture, a side door."""
    height, width = img.shape[:2]
    vp = np.array((width * rng.uniform(0.38, 0.62), height * rng.uniform(0.38, 0.5)))
    bw, bh = width * rng.uniform(0.42, 0.62), height * rng.uniform(0.42, 0.56)
    x0, y0 = vp[0] - bw * rng.uniform(0.35, 0.65), vp[1] - bh * rng.uniform(0.45, 0.6)
    r = RoomBox(vp, x0, y0, x0 + bw, y0 + bh)
    img[:] = wall  # under the anti-aliased seams between the surfaces
    light = rng.uniform(0.8, 1.05)  # the window's side is the brighter wall
    trap(img, 0, 0, width, r.y0, r.x0, r.x1, _scale(wall, 1.08))  # ceiling
    _poly(img, [(0, 0), (r.x0, r.y0), (r.x0, r.y1), (0, height)], _scale(wall, light))
    _poly(
        img, [(width, 0), (r.x1, r.y0), (r.x1, r.y1), (width, height)], _scale(wall, 1.85 - light)
    )
    rect(img, r.x0, r.y0, r.x1, r.y1, wall)
    _floor(img, rng, r, floor_finish)
    for p, q in (
        ((r.x0, r.y1), (r.x1, r.y1)),
        ((r.x0, r.y1), (0, height)),
        ((r.x1, r.y1), (width, height)),
    ):
        _line(img, p, q, _WHITE)  # skirting
    if rng.random() < 0.7:  # a window on the back wall: sky, and the yard in its season
        ww, wh = bw * rng.uniform(0.25, 0.45), bh * rng.uniform(0.3, 0.5)
        wx, wy = r.x0 + rng.uniform(0.05, 0.95 - ww / bw) * bw, r.y0 + bh * rng.uniform(0.1, 0.2)
        rect(img, wx - 2, wy - 2, wx + ww + 2, wy + wh + 2, _WHITE)
        rect(img, wx, wy, wx + ww, wy + wh * 0.55, _vary(rng, (170, 200, 230), 15))
        rect(
            img,
            wx,
            wy + wh * 0.55,
            wx + ww,
            wy + wh,
            _SNOW if season == "winter" else leaf_colour(rng, season),
        )
        _line(img, (wx + ww / 2, wy), (wx + ww / 2, wy + wh), _WHITE)
        if rng.random() < 0.5:
            curtain = _vary(
                rng, _pick(rng, ((180, 60, 50), (60, 90, 130), (220, 210, 180), (110, 130, 90)))
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
        rect(img, px + 2, py + 2, px + pw - 2, py + pw * 0.75 - 2, _vary(rng, (150, 150, 150), 60))
    if rng.random() < 0.4:  # a door in the left wall: its edges run to the vanishing point
        t0, t1 = rng.uniform(0.15, 0.45), rng.uniform(0.55, 0.75)
        top = [np.array((r.x0, r.y0)) * (1 - t) + np.array((0, 0)) * t for t in (t0, t1)]
        bottom = [np.array((r.x0, r.y1)) * (1 - t) + np.array((0, height)) * t for t in (t0, t1)]
        lintel = [b + (a - b) * 0.78 for a, b in zip(top, bottom, strict=True)]
        _poly(
            img,
            [lintel[0], lintel[1], bottom[1], bottom[0]],
            _vary(rng, _pick(rng, (_WHITE, (150, 110, 76)))),
        )
    return r


def _floor(img: np.ndarray, rng: Rng, r: RoomBox, finish: str) -> None:
    height, width = img.shape[:2]
    colours = {
        "wood": ((152, 106, 66), (186, 146, 100), (110, 74, 48)),
        "tile": ((220, 214, 204), (170, 166, 160), (200, 190, 170)),
        "carpet": ((170, 160, 146), (120, 120, 130), (190, 180, 160)),
    }[finish]
    colour = _vary(rng, _pick(rng, colours), 10)
    trap(img, r.y1, r.x0, r.x1, height, 0, width, colour)
    if finish == "carpet":
        _texture(img, _box_pts(0, r.y1, width, height), "stucco", 3, rng)
        return
    seam = _scale(colour, 0.78 if finish == "wood" else 1.12)
    for x in np.linspace(r.x0, r.x1, 9 if finish == "wood" else 6):  # joints meet at the vp
        bottom = r.vp + (np.array((x, r.y1)) - r.vp) * (height - r.vp[1]) / max(r.y1 - r.vp[1], 1)
        _line(img, (x, r.y1), bottom, seam)
    if finish == "tile":
        for t in (0.12, 0.3, 0.55, 0.85):
            y = r.y1 + (height - r.y1) * t
            _line(img, (0, y), (width, y), seam)


def box3d(img: np.ndarray, vp: np.ndarray, x0, x1, y, h, depth, colour: Colour) -> None:
    """A box on the floor: front face [x0, x1] x [y - h, y], reaching ``depth`` (0..1) of
    the way to the vanishing point ``vp``; its top and visible side shaded."""
    front = np.array(((x0, y - h), (x1, y - h), (x1, y), (x0, y)), np.float64)
    back = vp + (front - vp) * (1 - depth)
    if vp[0] < x0:
        _poly(img, [front[0], back[0], back[3], front[3]], _scale(colour, 0.75))
    elif vp[0] > x1:
        _poly(img, [front[1], back[1], back[2], front[2]], _scale(colour, 0.75))
    if vp[1] > y - h:
        _poly(img, [front[0], front[1], back[1], back[0]], _scale(colour, 1.15))
    _poly(img, front, colour)


def _living_room(img: np.ndarray, rng: Rng, r: RoomBox) -> None:
    """A sofa against the back wall, a rug and a low table, a floor lamp."""
    height, width = img.shape[:2]
    fabric = _vary(rng, _pick(rng, (*_FABRICS, (220, 214, 200))), 12)
    sw = r.w * rng.uniform(0.5, 0.75)
    sx, y, bh = r.x0 + (r.w - sw) * rng.uniform(0.2, 0.8), r.y1 + (height - r.y1) * 0.08, r.h
    box3d(img, r.vp, sx, sx + sw, y - bh * 0.22, bh * 0.2, 0.1, _scale(fabric, 0.9))  # back
    box3d(img, r.vp, sx, sx + sw, y, bh * 0.22, 0.12, fabric)  # seat
    box3d(img, r.vp, sx - sw * 0.06, sx, y, bh * 0.3, 0.12, _scale(fabric, 0.85))  # arms
    box3d(img, r.vp, sx + sw, sx + sw * 1.06, y, bh * 0.3, 0.12, _scale(fabric, 0.85))
    rug = _vary(rng, _pick(rng, ((180, 60, 50), (200, 190, 170), (70, 80, 110))), 15)
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
        _vary(rng, _pick(rng, _WOODS), 10),
    )
    if rng.random() < 0.6:  # a floor lamp
        lx = sx + sw * 1.2 if sx + sw * 1.25 < width else sx - sw * 0.2
        _line(img, (lx, y), (lx, y - bh * 0.75), (40, 40, 40))
        trap(img, y - bh * 0.72, lx - bh * 0.08, lx + bh * 0.08, y - bh * 0.88, lx - bh * 0.05,
             lx + bh * 0.05, (236, 226, 196))  # fmt: skip


def _bedroom(img: np.ndarray, rng: Rng, r: RoomBox) -> None:
    """A bed, head to the back wall, with pillows and a cover; night stands with lamps."""
    height = img.shape[0]
    bw, bh = r.w * rng.uniform(0.4, 0.55), r.h
    bx = r.x0 + (r.w - bw) * rng.uniform(0.3, 0.7)
    head = _vary(rng, _pick(rng, _WOODS), 10)
    box3d(img, r.vp, bx, bx + bw, r.y1, bh * 0.45, 0.05, head)
    cover = _vary(
        rng, _pick(rng, ((236, 236, 232), (120, 150, 190), (200, 170, 160), (150, 170, 130))), 10
    )
    y, spread = r.y1 + (height - r.y1) * rng.uniform(0.6, 0.85), bw * 0.35
    trap(img, r.y1 - bh * 0.15, bx, bx + bw, y - bh * 0.2, bx - spread, bx + bw + spread, cover)
    rect(img, bx - spread, y - bh * 0.2, bx + bw + spread, y, _scale(cover, 0.82))
    for k in (0.26, 0.73):
        _ellipse(img, (bx + bw * k, r.y1 - bh * 0.17), (bw * 0.17, bh * 0.06), (246, 246, 244))
    for nx in (bx - bw * 0.22, bx + bw * 1.02):
        box3d(img, r.vp, nx, nx + bw * 0.2, r.y1 + 2, bh * 0.22, 0.1, _scale(head, 0.9))
        _ellipse(img, (nx + bw * 0.1, r.y1 - bh * 0.3), (bw * 0.05, bh * 0.06), (240, 226, 190))


def _kitchen(img: np.ndarray, rng: Rng, r: RoomBox) -> None:
    """Base and wall cabinets along the back wall, a tiled splashback, a fridge, an island."""
    height = img.shape[0]
    cab = _vary(
        rng, _pick(rng, (_WHITE, (60, 70, 90), (150, 110, 76), (110, 130, 110), (200, 200, 196))), 8
    )
    top = _vary(rng, _pick(rng, ((40, 40, 42), (220, 218, 212), (140, 130, 120))), 8)
    bh, ch = r.h, r.h * 0.3
    splash = (r.x0, r.y1 - ch - bh * 0.35, r.x1, r.y1 - ch)
    rect(img, *splash, _vary(rng, (220, 220, 214), 10))
    _texture(img, _box_pts(*splash), "tile", max(3, round(bh * 0.06)), rng)
    rect(img, r.x0, r.y1 - ch, r.x1, r.y1, cab)
    rect(img, r.x0, r.y1 - ch - 3, r.x1, r.y1 - ch + 1, top)
    rect(img, r.x0, splash[1] - bh * 0.3, r.x1, splash[1], cab)  # wall cabinets
    for x in np.linspace(r.x0, r.x1, int(rng.integers(4, 7)))[1:-1]:
        _line(img, (x, r.y1 - ch + 2), (x, r.y1), _scale(cab, 0.75))
        _line(img, (x, splash[1] - bh * 0.3), (x, splash[1]), _scale(cab, 0.75))
    fx = r.x0 if rng.random() < 0.5 else r.x1 - r.w * 0.18
    box3d(img, r.vp, fx, fx + r.w * 0.18, r.y1, bh * 0.85, 0.1, (186, 188, 192))  # fridge
    if rng.random() < 0.6:  # an island with its top
        y, ix = r.y1 + (height - r.y1) * rng.uniform(0.55, 0.8), r.x0 + r.w * rng.uniform(0.1, 0.3)
        box3d(img, r.vp, ix, ix + r.w * 0.6, y, bh * 0.45, 0.2, _scale(cab, 0.92))
        rect(img, ix - 2, y - bh * 0.45 - 3, ix + r.w * 0.6 + 2, y - bh * 0.45, top)


def _dining(img: np.ndarray, rng: Rng, r: RoomBox) -> None:
    """A table with chairs behind it and a pendant lamp above."""
    height = img.shape[0]
    wood = _vary(rng, _pick(rng, _WOODS), 10)
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
            _scale(wood, 0.8),
        )
    trap(img, y - bh * 0.45, tx, tx + tw, y - bh * 0.3, tx - tw * 0.12, tx + tw * 1.12, wood)
    for lx in (tx - tw * 0.05, tx + tw * 1.05):
        _line(
            img, (lx, y - bh * 0.3), (lx, y + bh * 0.05), _scale(wood, 0.7), max(1, int(bh * 0.03))
        )
    _line(img, (r.vp[0], 0), (r.vp[0], y - bh * 1.1), (40, 40, 40))
    _ellipse(img, (r.vp[0], y - bh * 1.1), (bh * 0.12, bh * 0.06), (236, 226, 196), 180, 360)


_ROOM_FURNISHERS: dict[str, Callable[[np.ndarray, Rng, RoomBox], None]] = {
    "living_room": _living_room,
    "bedroom": _bedroom,
    "kitchen": _kitchen,
    "dining": _dining,
}


# --------------------------------------------------------------------------- primitives

_SHIFT = 3  # sub-pixel bits for OpenCV's anti-aliased drawing
_ONE = 1 << _SHIFT


def _fix(pts) -> np.ndarray:
    return np.round(np.asarray(pts, np.float64) * _ONE).astype(np.int32)


def _box_pts(x0, y0, x1, y1) -> np.ndarray:
    return np.array(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), np.float64)


def _poly(img: np.ndarray, pts, colour: Colour) -> None:
    import cv2

    cv2.fillPoly(img, [_fix(pts)], colour, cv2.LINE_AA, _SHIFT)


def trap(img: np.ndarray, y0, a0, a1, y1, b0, b1, colour: Colour, texture: str | None = None,
         period: int = 0, rng: Rng | None = None) -> None:  # fmt: skip
    """A trapezoid in pixels: [a0, a1] on row y0, [b0, b1] on row y1 (a triangle if b0 == b1)."""
    pts = np.array(((a0, y0), (a1, y0), (b1, y1), (b0, y1)), np.float64)
    _poly(img, pts, colour)
    if texture and rng is not None:
        _texture(img, pts, texture, period, rng)


def rect(img: np.ndarray, x0, y0, x1, y1, colour: Colour) -> None:
    """An axis-aligned rectangle by slicing: edges on whole pixels need no anti-aliasing."""
    height, width = img.shape[:2]
    a, b = min(max(round(min(x0, x1)), 0), width), min(max(round(max(x0, x1)), 0), width)
    c, d = min(max(round(min(y0, y1)), 0), height), min(max(round(max(y0, y1)), 0), height)
    img[c:d, a:b] = colour


def _line(img: np.ndarray, p, q, colour: Colour, thickness: int = 1) -> None:
    import cv2

    a, b = _fix((p, q))
    cv2.line(img, a, b, colour, max(1, int(thickness)), cv2.LINE_AA, _SHIFT)


def _ellipse(img: np.ndarray, centre, axes, colour: Colour, start=0.0, end=360.0) -> None:
    import cv2

    c = (round(centre[0] * _ONE), round(centre[1] * _ONE))
    ax = (round(max(axes[0], 0.5) * _ONE), round(max(axes[1], 0.5) * _ONE))
    cv2.ellipse(img, c, ax, 0, start, end, colour, -1, cv2.LINE_AA, _SHIFT)


def _bbox(img: np.ndarray, px: np.ndarray) -> tuple[int, int, int, int] | None:
    height, width = img.shape[:2]
    (x0, y0), (x1, y1) = np.floor(px.min(axis=0)), np.ceil(px.max(axis=0)) + 1
    x0, y0, x1, y1 = max(int(x0), 0), max(int(y0), 0), min(int(x1), width), min(int(y1), height)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _upright(px: np.ndarray) -> bool:
    """An axis-aligned rectangle (4 corners on 2 columns and 2 rows)?"""
    return len(px) == 4 and len(set(px[:, 0].round(3))) == 2 and len(set(px[:, 1].round(3))) == 2


def _region(img: np.ndarray, px: np.ndarray):
    """(pixels under polygon ``px`` as a view, its mask or None when it fills the view)."""
    import cv2

    if _upright(px):
        (x0, y0), (x1, y1) = np.round(px.min(axis=0)), np.round(px.max(axis=0))
        x0, y0 = max(int(x0), 0), max(int(y0), 0)
        return img[y0 : max(int(y1), y0), x0 : max(int(x1), x0)], None
    box = _bbox(img, px)
    if box is None:
        return img[:0, :0], None
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [_fix(px - (x0, y0))], 1, cv2.LINE_8, _SHIFT)
    return img[y0:y1, x0:x1], mask.astype(bool)


def _shade(img: np.ndarray, px: np.ndarray, factor: float) -> None:
    region, mask = _region(img, px)
    if mask is None:
        region[:] = region * np.float32(factor)
    else:
        region[mask] = region[mask] * np.float32(factor)


# --------------------------------------------------------------------------- textures

# Brightness offsets that make a flat colour read as a material: (default course in
# metres, exaggerated because real bricks are too fine to survive 192 pixels; the
# smallest course in pixels worth drawing, below which a texture is only noise).
_TEXTURES: dict[str, tuple[float, int]] = {
    "brick": (0.24, 2), "clapboard": (0.26, 2), "board_batten": (0.6, 3), "stucco": (1.2, 2),
    "concrete": (0.8, 4), "stone": (0.4, 3), "wood": (0.3, 3), "seam": (0.35, 3),
    "asphalt": (0.32, 2), "fishscale": (0.3, 3), "logs": (0.4, 3), "corrugated": (0.25, 2),
    "clay": (0.3, 3), "planks": (0.25, 3), "tile": (0.3, 3), "grass": (0.3, 2),
    "foliage": (0.3, 2), "glass_grid": (1.2, 3),
}  # fmt: skip
_TEXTURE_SEED = 20260901
_PERIODS = (2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64)


def _texture(img: np.ndarray, px: np.ndarray, kind: str, period: int, rng: Rng) -> None:
    """Add the material's brightness offsets inside polygon ``px`` (pixel coordinates)."""
    if period < _TEXTURES[kind][1]:
        return
    region, mask = _region(img, px)
    h, w = region.shape[:2]
    if not h or not w:
        return
    n = 256
    while n < max(h, w) + 64:
        n *= 2
    # Courses come in a few sizes only, so that a few hundred cached tiles serve every photo.
    period = _PERIODS[min(bisect.bisect_left(_PERIODS, period * 0.9), len(_PERIODS) - 1)]
    oy, ox = int(rng.integers(0, n - h + 1)), int(rng.integers(0, n - w + 1))
    tex = _tile(kind, int(period), n)[oy : oy + h, ox : ox + w]
    out = (region.astype(np.int16) + tex[:, :, None]).clip(0, 255).astype(np.uint8)
    if mask is None:
        region[:] = out
    else:
        np.copyto(region, out, where=mask[:, :, None])


@functools.cache
def _tile(kind: str, p: int, n: int) -> np.ndarray:
    """(n, n) int16 brightness offsets of ``kind`` with a course of ``p`` pixels."""
    rng = np.random.default_rng([_TEXTURE_SEED, sum(map(ord, kind)), p, n])
    yy, xx = np.mgrid[0:n, 0:n]
    if kind == "brick":  # running bond, light mortar, a shade per brick
        row, length = yy // p, 2 * p + 1
        shift = (row % 2) * (length // 2)
        shade = rng.integers(-16, 17, (n // p + 2, n // length + 3))[row, (xx + shift) // length]
        out = np.where((yy % p == p - 1) | ((xx + shift) % length == 0), 48, shade)
    elif kind == "clapboard":  # each board's lower edge casts a thin shadow
        t = yy % p
        out = np.where(t == p - 1, -40, np.where(t == 0, 12, 4 - 2 * t))
    elif kind in ("board_batten", "seam"):
        t = xx % p
        out = np.where(t == 0, 30, np.where(t == 1, -30, 0))
    elif kind == "wood":  # vertical boards, a shade each, dark joints, faint grain
        out = rng.integers(-14, 15, n // p + 2)[xx // p] + np.where(xx % p == 0, -36, 0)
        out = out + rng.normal(0, 4, (1, n)).astype(int)
    elif kind in ("stucco", "grass", "foliage"):  # blotches plus speckle
        amp = {"stucco": 7, "grass": 9, "foliage": 26}[kind]
        out = _blotches(rng, n) * amp + rng.normal(0, amp * 0.5, (n, n))
        if kind == "grass":
            out = out + rng.normal(0, 3, (1, n))
    elif kind == "concrete":  # cast panels with joints
        panel = (yy // (2 * p)) * 97 + (xx // (3 * p))
        joints = (yy % (2 * p) == 0) | (xx % (3 * p) == 0)
        out = rng.integers(-8, 9, panel.max() + 1)[panel] + np.where(joints, -28, 0)
    elif kind == "stone":
        out = _stones(rng, n, p)
    elif kind == "asphalt":  # shingle courses with staggered tabs
        tab = (xx + (yy // p % 2) * p) % (3 * p) == 0
        out = np.where(yy % p == p - 1, -26, 0) + np.where(tab, -14, 0) + rng.normal(0, 5, (n, n))
    elif kind == "fishscale":  # rows of half-round shingles
        dx = ((xx + (yy // p % 2) * (p // 2)) % p) - (p - 1) / 2
        r = np.hypot(dx, yy % p - p * 0.15)
        out = np.where(np.abs(r - p / 2) < 0.8, -42, 0) + 6
    elif kind == "logs":  # round logs: lit in the middle, a dark gap between
        t = (yy % p) / p
        out = np.cos((t - 0.5) * np.pi) * 34 - 14 + np.where(yy % p == p - 1, -50, 0)
    elif kind == "corrugated":
        out = 24 * np.sin(2 * np.pi * xx / p)
    elif kind == "clay":  # barrel tiles
        out = 24 * np.cos(2 * np.pi * xx / p) + np.where(yy % p == p - 1, -34, 0)
    elif kind == "planks":  # deck boards, staggered butt joints
        row = yy // p
        joint = (xx + (row * 7919) % (6 * p)) % (6 * p) == 0
        out = rng.integers(-12, 13, n // p + 2)[row] + np.where((yy % p == p - 1) | joint, -34, 0)
    elif kind == "tile":
        out = np.where((yy % p == 0) | (xx % p == 0), 34, 0) + rng.normal(0, 3, (n, n))
    elif kind == "glass_grid":  # curtain wall: mullions, panes reflecting differently
        mullion = (yy % p == 0) | (xx % (2 * p) == 0)
        out = np.where(mullion, 46, 0) + ((xx // (2 * p) + yy // p) % 3 - 1) * 10
    else:
        raise ValueError(f"unknown texture {kind!r}")
    return np.asarray(out).astype(np.int16)


def _blotches(rng: Rng, n: int) -> np.ndarray:
    import cv2

    small = rng.normal(0, 1, (n // 8, n // 8)).astype(np.float32)
    return cv2.resize(small, (n, n), interpolation=cv2.INTER_CUBIC)


def _stones(rng: Rng, n: int, p: int) -> np.ndarray:
    """Courses of stones of random length, a shade each, dark joints."""
    out = np.zeros((n, n), np.float32)
    y = 0
    while y < n:
        rh, x = int(rng.integers(p, 2 * p + 1)), -int(rng.integers(0, 2 * p))
        while x < n:
            rw = int(rng.integers(int(1.5 * p), 3 * p + 1))
            out[y : y + rh, max(x, 0) : x + rw] = rng.uniform(-26, 26)
            out[y : y + rh, max(x, 0)] = -50
            x += rw
        out[y] = -50
        y += rh
    return out


# --------------------------------------------------------------------------- camera


def _camera(img: np.ndarray, rng: Rng) -> np.ndarray:
    """A hand-held camera: a slight perspective (keystone) and roll, zoomed to fill the frame."""
    import cv2

    height, width = img.shape[:2]
    src = _box_pts(0, 0, width, height).astype(np.float32)
    centre = np.array((width / 2, height / 2), np.float32)
    roll = np.deg2rad(rng.uniform(-2.5, 2.5))
    rot = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]], np.float32)
    dst = (src - centre) @ rot.T * np.float32(rng.uniform(1.04, 1.1)) + centre
    dst += rng.uniform(-1, 1, (4, 2)).astype(np.float32) * (width * 0.03, height * 0.025)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    flags, border = cv2.INTER_LINEAR, cv2.BORDER_REFLECT_101
    return cv2.warpPerspective(img, m, (width, height), flags=flags, borderMode=border)


def _expose(img: np.ndarray, rng: Rng) -> np.ndarray:
    """Exposure, contrast, white balance, light from one side, sensor noise, sometimes blur."""
    import cv2

    height, width = img.shape[:2]
    warm = rng.uniform(-1, 1)  # warm (+) to cool (-) light
    gain = rng.uniform(0.78, 1.15) * np.array((1 + 0.08 * warm, 1.0, 1 - 0.08 * warm), np.float32)
    side = rng.uniform(-0.12, 0.12)  # one side of the frame in more light
    ramp = (1 + side * np.linspace(-1, 1, width, dtype=np.float32))[None, :, None]
    out = img.astype(np.float32)
    out -= 128
    out *= rng.uniform(0.85, 1.15) * gain * ramp  # contrast about mid-grey, then gain
    out += 128 * gain
    noise = _noise(height, width)
    oy, ox = (
        int(rng.integers(0, noise.shape[0] - height + 1)),
        int(rng.integers(0, noise.shape[1] - width + 1)),
    )
    out += noise[oy : oy + height, ox : ox + width] * np.float32(rng.uniform(1.0, 4.5))
    img = out.clip(0, 255).astype(np.uint8)
    if rng.random() < 0.35:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 0.9))
    return img


def _noise(height: int, width: int) -> np.ndarray:
    n = 512
    while n < 2 * max(height, width):
        n *= 2
    return _noise_field(n)


@functools.cache
def _noise_field(n: int) -> np.ndarray:
    """A fixed field of unit Gaussian noise, cropped at random: cheaper than drawing anew."""
    return np.random.default_rng(_TEXTURE_SEED).standard_normal((n, n, 3), dtype=np.float32)
