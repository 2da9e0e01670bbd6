"""Generated radar weather: physically plausible days of reflectivity, the stand-in for HKO-7.

Real radar archives cannot be downloaded here, so the pipeline, its tests and its
model train on days this module renders. A day is drawn from its seed and date
(different weather every day), then rendered frame by frame in dBZ and encoded
as HKO-7 pixels (:mod:`.encoding`):

- a **steering wind** (0.4–2.4 px per 6-minute step at the 128-px grid, i.e.
  roughly 5–30 m/s at 2 km pixels) whose direction and speed drift through the day;
- **convective cells**: elliptical cores of 35–55 dBZ that are born (more of them
  upwind, so they drift in), grow, mature and decay over 30–120 minutes, move with
  the wind plus their own deviation, rotate, and sometimes stretch into lines;
- a **stratiform** field: smooth low-pass noise of 15–32 dBZ carried by the wind,
  evolving slowly (two fields cross-faded), covering a share of the domain that
  varies by day, from none to most of it;
- **noise** (±1.5 dBZ where there is echo, some speckle) and **ground clutter**:
  fixed bright pixels of the site, the same every day, that never move.

Everything is a function of time, so a frame is rendered on its own and any
cadence or grid size works. Motions are in pixels of the 128-px reference grid
and scale with ``size``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import cv2
import numpy as np

from lakesight.radar_nowcast.encoding import dbz_to_pixel

REFERENCE_SIZE = 128  # motions and sizes below are in pixels of this grid
NOISE_FLOOR_DBZ = 5.0  # weaker echo is not detected: pixel 0
DAY_MINUTES = 1440
CLUTTER_SEED = 7  # the site's clutter pattern: one radar, the same every day


@dataclass(frozen=True)
class Cell:
    """A convective cell; times in minutes of the day, lengths in reference pixels."""

    born: float
    life: float  # minutes from birth to disappearance
    peak_dbz: float
    x: float  # position at birth
    y: float
    drift_u: float  # its own motion relative to the wind, px/min
    drift_v: float
    sigma_major: float
    sigma_minor: float
    angle: float  # radians at birth
    spin: float  # radians per minute


@dataclass(frozen=True)
class DayWeather:
    """Everything that decides a day's frames."""

    wind_u0: float  # px/min
    wind_v0: float
    wind_turn: float  # radians the wind veers over the day
    wind_gust: float  # relative speed swing over the day
    stratiform_cover: float  # 0..1, share of the domain with stratiform echo
    stratiform_dbz: float
    cells: tuple[Cell, ...]
    stratiform_seed: int

    def wind(self, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Steering wind (px/min) at the given minutes of the day."""
        phase = minutes / DAY_MINUTES
        turn = self.wind_turn * np.sin(np.pi * phase)
        gain = 1.0 + self.wind_gust * np.sin(2 * np.pi * phase + 1.0)
        cos, sin = np.cos(turn), np.sin(turn)
        return gain * (cos * self.wind_u0 - sin * self.wind_v0), gain * (
            sin * self.wind_u0 + cos * self.wind_v0
        )


def day_seed(seed: int, dt: str) -> int:
    """The day's own seed: the same (seed, date) always gives the same weather."""
    digest = hashlib.sha256(f"radar:{seed}:{dt}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def draw_weather(seed: int, dt: str, *, clear: bool = False) -> DayWeather:
    """The day's weather regime, wind and cells."""
    rng = np.random.default_rng(day_seed(seed, dt))
    speed = rng.uniform(0.4, 2.4) / 6.0  # px per minute
    heading = rng.uniform(0, 2 * np.pi)
    wind_u0, wind_v0 = speed * np.cos(heading), speed * np.sin(heading)
    # Regimes: mostly convective, mostly stratiform, or mixed; clear days have no echo.
    convective, stratiform = rng.choice([(1.0, 0.15), (0.35, 0.7), (0.7, 0.4)], p=[0.4, 0.25, 0.35])
    cells: list[Cell] = []
    if not clear:
        n_cells = rng.poisson(110 * convective)
        for _ in range(n_cells):
            life = rng.uniform(30, 120)
            born = rng.uniform(-life, DAY_MINUTES)
            # Born anywhere on a domain padded upwind, so cells also advect in from outside.
            x = rng.uniform(-0.2, 1.2) * REFERENCE_SIZE - wind_u0 * 40
            y = rng.uniform(-0.2, 1.2) * REFERENCE_SIZE - wind_v0 * 40
            major = rng.uniform(3.5, 9.0)
            elongation = 1.0 if rng.random() < 0.6 else rng.uniform(1.5, 3.0)  # lines, sometimes
            cells.append(
                Cell(
                    born=born,
                    life=life,
                    peak_dbz=rng.uniform(35, 55),
                    x=x,
                    y=y,
                    drift_u=rng.normal(0, 0.03),
                    drift_v=rng.normal(0, 0.03),
                    sigma_major=major * elongation**0.5,
                    sigma_minor=major / elongation**0.5,
                    angle=rng.uniform(0, np.pi),
                    spin=rng.normal(0, 0.01),
                )
            )
    return DayWeather(
        wind_u0=wind_u0,
        wind_v0=wind_v0,
        wind_turn=rng.uniform(-1.2, 1.2),
        wind_gust=rng.uniform(0, 0.4),
        stratiform_cover=0.0 if clear else float(np.clip(rng.normal(stratiform, 0.15), 0, 0.9)),
        stratiform_dbz=rng.uniform(20, 30),
        cells=tuple(cells),
        stratiform_seed=int(rng.integers(2**31)),
    )


class DayRenderer:
    """Renders one day's frames at a grid size; holds what frames of the day share."""

    def __init__(self, weather: DayWeather, size: int = REFERENCE_SIZE) -> None:
        self.weather = weather
        self.size = size
        self.scale = size / REFERENCE_SIZE
        # Cumulative wind displacement by minute: positions are integrals of a varying wind.
        minutes = np.arange(-200, DAY_MINUTES + 1, dtype=np.float64)
        u, v = weather.wind(minutes)
        self._minutes0 = -200
        self._disp_u = np.concatenate([[0.0], np.cumsum(u[:-1])])
        self._disp_v = np.concatenate([[0.0], np.cumsum(v[:-1])])
        self._fields = self._stratiform_fields()
        self._clutter = clutter_mask(size)
        self._yy, self._xx = np.mgrid[0:size, 0:size].astype(np.float32)

    def displacement(self, minute: float) -> tuple[float, float]:
        """Wind displacement (reference px) accumulated since minute -200."""
        i = float(np.clip(minute - self._minutes0, 0, len(self._disp_u) - 1))
        lo = int(i)
        hi = min(lo + 1, len(self._disp_u) - 1)
        w = i - lo
        return (
            (1 - w) * self._disp_u[lo] + w * self._disp_u[hi],
            (1 - w) * self._disp_v[lo] + w * self._disp_v[hi],
        )

    def _stratiform_fields(self) -> list[np.ndarray]:
        """Two large smooth noise fields (in reference px, 3× the domain) cross-faded in time."""
        rng = np.random.default_rng(self.weather.stratiform_seed)
        fields = []
        big = 3 * REFERENCE_SIZE
        for _ in range(2):
            noise = rng.standard_normal((big, big)).astype(np.float32)
            smooth = cv2.GaussianBlur(noise, (0, 0), 14)
            fields.append(smooth / (smooth.std() + 1e-6))
        return fields

    def dbz(self, minute: float) -> np.ndarray:
        """Reflectivity (dBZ) of the frame at ``minute`` of the day; NaN-free, -inf = no echo."""
        w = self.weather
        size, scale = self.size, self.scale
        z = np.zeros((size, size), dtype=np.float32)
        du, dv = self.displacement(minute)
        if w.stratiform_cover > 0:
            # Sample the fields where the wind carried them: shift by the displacement.
            fade = 0.5 + 0.5 * np.sin(2 * np.pi * minute / 300.0)
            field = fade * self._fields[0] + (1 - fade) * self._fields[1]
            field /= np.sqrt(fade**2 + (1 - fade) ** 2)
            offset = REFERENCE_SIZE
            matrix = np.float32([[1 / scale, 0, offset - du], [0, 1 / scale, offset - dv]])
            sampled = cv2.warpAffine(
                field,
                matrix,
                (size, size),
                flags=cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REFLECT,
            )
            # Cover: the quantile of a standard normal that leaves `cover` of the field above it.
            cut = float(np.quantile(self._fields[0], 1 - w.stratiform_cover))
            strat_dbz = w.stratiform_dbz + 6.0 * (sampled - cut)
            z += np.where(sampled > cut, 10 ** (np.clip(strat_dbz, 0, 40) / 10), 0).astype(
                np.float32
            )
        for cell in w.cells:
            age = minute - cell.born
            if not 0 <= age <= cell.life:
                continue
            # Life cycle: grows, matures, decays (a sine hump in dBZ above the floor).
            strength = np.sin(np.pi * age / cell.life) ** 0.7
            peak = NOISE_FLOOR_DBZ + (cell.peak_dbz - NOISE_FLOOR_DBZ) * strength
            bu, bv = self.displacement(cell.born)
            cx = (cell.x + (du - bu) + cell.drift_u * age) * scale
            cy = (cell.y + (dv - bv) + cell.drift_v * age) * scale
            angle = cell.angle + cell.spin * age
            grow = 0.6 + 0.4 * strength  # cells widen as they mature
            sa, sb = cell.sigma_major * scale * grow, cell.sigma_minor * scale * grow
            reach = 3 * sa
            if cx < -reach or cy < -reach or cx > size + reach or cy > size + reach:
                continue
            dx, dy = self._xx - cx, self._yy - cy
            ca, sn = np.cos(angle), np.sin(angle)
            along, across = ca * dx + sn * dy, -sn * dx + ca * dy
            shape = np.exp(-0.5 * ((along / sa) ** 2 + (across / sb) ** 2))
            z += (10 ** (peak / 10) * shape).astype(np.float32)
        with np.errstate(divide="ignore"):
            return (10 * np.log10(z)).astype(np.float32)

    def frame(self, minute: float, rng: np.random.Generator) -> np.ndarray:
        """The encoded frame (uint8) at ``minute``, with measurement noise and clutter."""
        dbz = self.dbz(minute)
        echo = dbz >= NOISE_FLOOR_DBZ
        noisy = dbz + rng.normal(0, 1.5, dbz.shape).astype(np.float32)
        pixels = np.where(echo, np.maximum(dbz_to_pixel(noisy), 1), 0).astype(np.uint8)
        if self.weather.stratiform_cover > 0 or self.weather.cells:
            # Speckle and clutter belong to a working radar; a clear day is all zeros.
            speckle = rng.random(dbz.shape) < 0.0015
            pixels[speckle] = np.maximum(pixels[speckle], dbz_to_pixel(np.float32(12.0)))
            pixels = np.maximum(pixels, self._clutter)
        return pixels


def clutter_mask(size: int) -> np.ndarray:
    """The site's ground clutter (uint8 pixels, 0 elsewhere): fixed, the same every day."""
    rng = np.random.default_rng(CLUTTER_SEED)
    mask = np.zeros((size, size), dtype=np.uint8)
    n = max(4, round(12 * (size / REFERENCE_SIZE) ** 2))
    ys, xs = rng.integers(0, size, n), rng.integers(0, size, n)
    mask[ys, xs] = dbz_to_pixel(rng.uniform(30, 45, n).astype(np.float32))
    return mask


def render_day(
    seed: int,
    dt: str,
    minutes: list[int] | np.ndarray,
    *,
    size: int = REFERENCE_SIZE,
    clear: bool = False,
) -> np.ndarray:
    """Frames (T, size, size) uint8 of day ``dt`` at the given minutes of the day."""
    renderer = DayRenderer(draw_weather(seed, dt, clear=clear), size)
    noise = np.random.default_rng(day_seed(seed, dt) ^ 0x5EED)
    return np.stack([renderer.frame(float(m), noise) for m in minutes])
