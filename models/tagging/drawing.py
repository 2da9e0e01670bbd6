"""The drawing toolkit under the generated photos: colours, pixels, textures, camera, sketches.

lakesight trains its house taggers on house photos it draws (:mod:`.houses`) and
pretrains their backbone on photos of places it draws (:mod:`.places`). Both draw with
the same primitives, so that the backbone learns the low-level features (edges, roof
lines, brick courses, window grids, noise) that the house photos are made of. Those
primitives live here, public, rather than as private names of one generator that the
other reaches into: an edit here changes both training sets, and
``tests/models/tagging/test_drawing_pins.py`` pins a few rendered photos' sha256 so
that such a change is made on purpose. What photos show (sky, trees, cars, windows,
rooms) is in :mod:`.scenery`.

- **palettes**: colours a painter picks from, so that every generator paints bricks,
  roofs and trims from the same ranges; :func:`vary` and :func:`pick` draw from them.
- **primitives**: polygons, trapezoids, rectangles, lines and ellipses in pixels,
  anti-aliased by OpenCV at 1/8-pixel precision so that far-away detail survives.
- **textures**: brightness offsets that make a flat colour read as a material
  (:data:`TEXTURES`), from tiles drawn once per process and cropped at random.
- **camera**: :func:`photograph` runs a painter on a blank canvas, then a hand-held
  camera (:func:`camera`) and the light and the sensor (:func:`expose`).
- **sketches**: :class:`Sketch` records shapes in metres, so that a building can be
  framed (:func:`frame`) before a pixel is drawn and drawn at any scale.

The same random stream always gives the same pixels: nothing here reads the clock or
a global random state.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Sequence

import numpy as np

Colour = tuple[int, int, int]
Rng = np.random.Generator

SEASONS: tuple[str, ...] = ("spring", "summer", "autumn", "winter")
DEFAULT_SIZE = (144, 192)  # (height, width): a listing thumbnail's 3:4

# --------------------------------------------------------------------------- palettes
# Ranges rather than codes: a painter picks one and varies it (:func:`vary`), and the
# ranges overlap across house styles and place categories, so that no class can be read
# off a colour. The houses' own style palettes are in :mod:`.houses`.

BRICK = ((150, 62, 46), (165, 78, 58), (128, 56, 46), (172, 98, 72), (118, 66, 52), (140, 90, 70))
ROOFS = (
    (72, 72, 74), (46, 46, 50), (96, 78, 62), (82, 90, 100), (122, 110, 96), (72, 92, 78),
    (122, 62, 52),
)  # fmt: skip
TRIMS = ((240, 238, 232), (234, 226, 206), (222, 222, 218))
INTERIOR_WALLS = (
    (232, 228, 216), (240, 238, 232), (214, 208, 196), (200, 210, 214), (226, 214, 190),
    (206, 214, 196), (190, 186, 184), (236, 222, 214),
)  # fmt: skip
GLASS = ((52, 66, 80), (70, 86, 104), (40, 48, 58), (88, 104, 118))
GRASS = {"spring": (104, 162, 72), "summer": (86, 134, 56), "autumn": (150, 138, 82)}
SNOW = (234, 238, 244)
FOLIAGE = {
    "spring": ((112, 168, 70), (140, 186, 86), (96, 150, 62)),
    "summer": ((56, 104, 48), (72, 120, 52), (46, 88, 44)),
    "autumn": ((196, 110, 40), (178, 62, 36), (214, 170, 60), (150, 120, 50)),
}
BARK = (82, 64, 50)
WHITE = (240, 240, 236)
TYRE = (25, 25, 25)
CAR_GLASS = (60, 72, 84)
CAR_COLOURS = (
    (200, 30, 30), (30, 60, 140), (230, 230, 230), (30, 30, 32), (150, 152, 156),
    (90, 20, 24), (200, 170, 40), (50, 100, 70),
)  # fmt: skip
FABRICS = ((120, 120, 126), (70, 90, 120), (170, 150, 120), (130, 60, 50), (60, 90, 70))
WOODS = ((110, 76, 50), (170, 130, 90), (40, 40, 42), (220, 214, 200))


def rgb(c: Sequence[float]) -> Colour:
    """``c`` as an OpenCV colour: three ints clipped to 0..255 (truncated, not rounded)."""
    return (min(255, max(0, int(c[0]))), min(255, max(0, int(c[1]))), min(255, max(0, int(c[2]))))


def scale(c: Sequence[float], k: float) -> Colour:
    """``c`` darkened (k < 1) or lightened (k > 1): a face in shade, a panel, a seam."""
    return rgb((c[0] * k, c[1] * k, c[2] * k))


def mix(a: Sequence[float], b: Sequence[float], t: float) -> Colour:
    """``a`` blended towards ``b`` by ``t`` (0..1): glass tinted by the sky it reflects."""
    return rgb([x * (1 - t) + y * t for x, y in zip(a, b, strict=True)])


def vary(rng: Rng, c: Sequence[float], amount: float = 12) -> Colour:
    """A colour near ``c``: a shared brightness shift plus a little hue noise."""
    d = rng.uniform(-amount, amount, 4)
    return rgb((c[0] + d[0] + d[1] / 2, c[1] + d[0] + d[2] / 2, c[2] + d[0] + d[3] / 2))


def pick(rng: Rng, options: Sequence):
    """One of ``options``, uniformly: one integer draw from ``rng``, whatever the options."""
    return options[int(rng.integers(len(options)))]


# --------------------------------------------------------------------------- primitives

_SHIFT = 3  # sub-pixel bits for OpenCV's anti-aliased drawing
_ONE = 1 << _SHIFT


def _fix(pts) -> np.ndarray:
    """Pixel coordinates as OpenCV's fixed-point ints (``_SHIFT`` fractional bits)."""
    return np.round(np.asarray(pts, np.float64) * _ONE).astype(np.int32)


def box_points(x0, y0, x1, y1) -> np.ndarray:
    """The four corners of a box, as :func:`apply_texture` and :func:`polygon` take them."""
    return np.array(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), np.float64)


def polygon(img: np.ndarray, pts, colour: Colour) -> None:
    """A filled polygon in pixels (float corners), anti-aliased."""
    import cv2

    cv2.fillPoly(img, [_fix(pts)], colour, cv2.LINE_AA, _SHIFT)


def trap(img: np.ndarray, y0, a0, a1, y1, b0, b1, colour: Colour, texture: str | None = None,
         period: int = 0, rng: Rng | None = None) -> None:  # fmt: skip
    """A trapezoid in pixels: [a0, a1] on row y0, [b0, b1] on row y1 (a triangle if b0 == b1)."""
    pts = np.array(((a0, y0), (a1, y0), (b1, y1), (b0, y1)), np.float64)
    polygon(img, pts, colour)
    if texture and rng is not None:
        apply_texture(img, pts, texture, period, rng)


def rect(img: np.ndarray, x0, y0, x1, y1, colour: Colour) -> None:
    """An axis-aligned rectangle by slicing: edges on whole pixels need no anti-aliasing."""
    height, width = img.shape[:2]
    a, b = min(max(round(min(x0, x1)), 0), width), min(max(round(max(x0, x1)), 0), width)
    c, d = min(max(round(min(y0, y1)), 0), height), min(max(round(max(y0, y1)), 0), height)
    img[c:d, a:b] = colour


def line(img: np.ndarray, p, q, colour: Colour, thickness: int = 1) -> None:
    """An anti-aliased line from ``p`` to ``q`` in pixels, at least one pixel thick."""
    import cv2

    a, b = _fix((p, q))
    cv2.line(img, a, b, colour, max(1, int(thickness)), cv2.LINE_AA, _SHIFT)


def ellipse(img: np.ndarray, centre, axes, colour: Colour, start=0.0, end=360.0) -> None:
    """A filled ellipse (or the sector from ``start`` to ``end`` degrees), anti-aliased;
    axes under half a pixel are drawn at half a pixel so that nothing vanishes."""
    import cv2

    c = (round(centre[0] * _ONE), round(centre[1] * _ONE))
    ax = (round(max(axes[0], 0.5) * _ONE), round(max(axes[1], 0.5) * _ONE))
    cv2.ellipse(img, c, ax, 0, start, end, colour, -1, cv2.LINE_AA, _SHIFT)


def _bbox(img: np.ndarray, px: np.ndarray) -> tuple[int, int, int, int] | None:
    """The pixels round polygon ``px`` clipped to the image, or None when it is outside."""
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
    """Multiply what is drawn under polygon ``px`` by ``factor``: a shadow, a lit face."""
    region, mask = _region(img, px)
    if mask is None:
        region[:] = region * np.float32(factor)
    else:
        region[mask] = region[mask] * np.float32(factor)


# --------------------------------------------------------------------------- textures

# Brightness offsets that make a flat colour read as a material: (default course in
# metres, exaggerated because real bricks are too fine to survive 192 pixels; the
# smallest course in pixels worth drawing, below which a texture is only noise).
TEXTURES: dict[str, tuple[float, int]] = {
    "brick": (0.24, 2), "clapboard": (0.26, 2), "board_batten": (0.6, 3), "stucco": (1.2, 2),
    "concrete": (0.8, 4), "stone": (0.4, 3), "wood": (0.3, 3), "seam": (0.35, 3),
    "asphalt": (0.32, 2), "fishscale": (0.3, 3), "logs": (0.4, 3), "corrugated": (0.25, 2),
    "clay": (0.3, 3), "planks": (0.25, 3), "tile": (0.3, 3), "grass": (0.3, 2),
    "foliage": (0.3, 2), "glass_grid": (1.2, 3),
}  # fmt: skip
_TEXTURE_SEED = 20260901
_PERIODS = (2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64)


def apply_texture(img: np.ndarray, px: np.ndarray, kind: str, period: int, rng: Rng) -> None:
    """Add the material's brightness offsets inside polygon ``px`` (pixel coordinates)."""
    if period < TEXTURES[kind][1]:
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
    """(n, n) smooth unit noise: coarse noise scaled up, for stucco, grass and leaves."""
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


def camera(img: np.ndarray, rng: Rng) -> np.ndarray:
    """A hand-held camera: a slight perspective (keystone) and roll, zoomed to fill the frame."""
    import cv2

    height, width = img.shape[:2]
    src = box_points(0, 0, width, height).astype(np.float32)
    centre = np.array((width / 2, height / 2), np.float32)
    roll = np.deg2rad(rng.uniform(-2.5, 2.5))
    rot = np.array([[np.cos(roll), -np.sin(roll)], [np.sin(roll), np.cos(roll)]], np.float32)
    dst = (src - centre) @ rot.T * np.float32(rng.uniform(1.04, 1.1)) + centre
    dst += rng.uniform(-1, 1, (4, 2)).astype(np.float32) * (width * 0.03, height * 0.025)
    m = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    flags, border = cv2.INTER_LINEAR, cv2.BORDER_REFLECT_101
    return cv2.warpPerspective(img, m, (width, height), flags=flags, borderMode=border)


def expose(img: np.ndarray, rng: Rng) -> np.ndarray:
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
    """The cached noise field big enough to crop a (height, width) photo's noise from."""
    n = 512
    while n < 2 * max(height, width):
        n *= 2
    return _noise_field(n)


@functools.cache
def _noise_field(n: int) -> np.ndarray:
    """A fixed field of unit Gaussian noise, cropped at random: cheaper than drawing anew."""
    return np.random.default_rng(_TEXTURE_SEED).standard_normal((n, n, 3), dtype=np.float32)


def photograph(
    paint: Callable[[np.ndarray], None], rng: Rng, size: tuple[int, int] = DEFAULT_SIZE
) -> np.ndarray:
    """What ``paint`` draws on an (H, W, 3) canvas, through a hand-held camera."""
    if min(size) < 32:
        raise ValueError(f"size {size} is too small: both sides must be at least 32")
    img = np.zeros((*size, 3), np.uint8)  # painters cover it; AA edges blend with what is there
    paint(img)
    return expose(camera(img, rng), rng)


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
        """A polygon; ``texture`` (see TEXTURES) at its course ``period`` (or the default)."""
        period = period or (TEXTURES[texture][0] if texture else 0.0)
        self.ops.append(("fill", np.asarray(pts, np.float64), colour, texture, period))

    def rect(self, x0, y0, x1, y1, colour: Colour, texture=None, period: float = 0.0) -> None:
        """An axis-aligned rectangle: a wall, a window pane, a door panel."""
        self.fill(((x0, y0), (x1, y0), (x1, y1), (x0, y1)), colour, texture, period)

    def trap(self, y0, a0, a1, y1, b0, b1, colour: Colour, texture=None) -> None:
        """A trapezoid: [a0, a1] at height y0, [b0, b1] at y1 (a triangle when b0 == b1)."""
        self.fill(((a0, y0), (a1, y0), (b1, y1), (b0, y1)), colour, texture)

    def line(self, p, q, colour: Colour, width: float) -> None:
        """A line ``width`` metres thick: muntins, bargeboards, seams."""
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
        """(x0, y0, x1, y1) in metres of what is drawn (shading adds nothing): for framing."""
        pts = np.concatenate([op[1] for op in self.ops if op[0] != "shade"])
        (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    def render(self, img: np.ndarray, ox: float, gy: float, s: float, rng: Rng) -> None:
        """Draw at ``s`` pixels a metre, x = 0 at pixel column ``ox``, grade on row ``gy``."""
        for op in self.ops:
            px = op[1] * (s, -s) + (ox, gy)
            kind = op[0]
            if kind == "fill":
                polygon(img, px, op[2])
                if op[3]:
                    apply_texture(img, px, op[3], round(s * op[4]), rng)
            elif kind == "line":
                line(img, px[0], px[1], op[2], round(op[3] * s))
            elif kind == "ellipse":
                ellipse(img, px.mean(axis=0), np.abs(px[1] - px[0]) / 2, op[2], op[3], op[4])
            elif kind == "stripes":
                (x0, y1), (x1, y0) = np.round(px).astype(int)
                y0, y1, x0 = max(y0, 0), max(y1, 0), max(x0, 0)
                img[y0:y1, x0 : x1 : max(2, round(op[3] * s))] = op[2]
            else:
                _shade(img, px, op[2])


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
