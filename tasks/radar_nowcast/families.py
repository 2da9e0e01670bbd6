"""Weather families the shipped nowcaster never trains on: a user's radar is "another generator".

:mod:`.weather` renders the days every lakesight model trains on (``hko_like``:
Gaussian convective cells in a Z-sum with a blurred-noise stratiform field, one
site's clutter, 128 px). The families here are written differently on purpose, so a
score on them measures weather the model has not seen rather than its generator:

- ``spectral``: the structure of pysteps' stochastic rain fields. A periodic field
  with a power-law spectrum (``|k|^-beta``, beta drawn per day) evolves in the
  spectral domain as an AR(1) process whose memory is longer at larger scales (STEPS'
  cascade idea: small showers live minutes, large areas hours). Every step the field
  is advected (cubic, periodic) by a **spatially varying** wind: a mean wind plus a
  smooth random vector field that rotates through the day. Rain is where the field
  exceeds a cut that moves slowly, so the wet area grows and shrinks in the moving
  frame. A light, mostly stratiform climate (echo mostly 15-40 dBZ). Grids of 96 to
  192 px, drawn per day.
- ``squall``: organised convection under a wind that turns through the day (veering
  60-150 degrees). Squall lines (a narrow 45-60 dBZ leading band, bowed, its cores
  modulated along the line, with a trailing stratiform region behind it) travel with
  the wind plus their own propagation; wide stratiform shields with a texture of
  their own drift with the wind. Echo is combined by maximum reflectivity, not by
  summing Z. A heavier climate. Grids of 256 to 512 px, drawn per day.

Both render in dBZ, add measurement noise, and encode as HKO-7 pixels, like
:mod:`.weather` (the contract), but with no ground clutter (another radar).
``render_family_day(family, seed, dt, minutes)`` is the one entry point; ``hko_like``
is :func:`.weather.render_day` so that every family is asked for the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from lakesight.radar_nowcast.encoding import dbz_to_pixel
from lakesight.radar_nowcast.weather import REFERENCE_SIZE, render_day

TRAINING_FAMILY = "hko_like"
HELD_OUT_FAMILIES = ("spectral", "squall")
FAMILIES = (TRAINING_FAMILY, *HELD_OUT_FAMILIES)
DETECTION_FLOOR_DBZ = 8.0  # weaker echo is below this (other) radar's sensitivity: pixel 0
STEP_MIN = 6.0  # the families' simulation step; frames at other minutes are interpolated in time


def family_rng(family: str, seed: int, dt: str) -> np.random.Generator:
    digest = hashlib.sha256(f"family:{family}:{seed}:{dt}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def family_size(family: str, seed: int, dt: str) -> int:
    """The day's grid size (px): each family's radar has its own range of grids."""
    low, high = {"hko_like": (128, 128), "spectral": (96, 192), "squall": (256, 512)}[family]
    return int(family_rng(family, seed, dt + ":size").integers(low // 16, high // 16 + 1) * 16)


def render_family_day(
    family: str, seed: int, dt: str, minutes, *, size: int | None = None
) -> np.ndarray:
    """Frames (T, size, size) uint8, HKO-7 encoded, of day ``dt`` of ``family`` at ``minutes``."""
    if family not in FAMILIES:
        raise ValueError(f"unknown weather family {family!r}, expected one of {FAMILIES}")
    size = size or family_size(family, seed, dt)
    minutes = np.asarray(list(minutes), dtype=np.float64)
    if family == TRAINING_FAMILY:
        return render_day(seed, dt, minutes, size=size)
    if not len(minutes):
        return np.zeros((0, size, size), np.uint8)
    rng = family_rng(family, seed, dt)
    render: Callable = {"spectral": SpectralDay, "squall": SquallDay}[family](rng, size)
    noise = family_rng(family, seed, dt + ":noise")
    return np.stack([encode(render.dbz(m), noise) for m in minutes])


def encode(dbz: np.ndarray, noise: np.random.Generator) -> np.ndarray:
    """dBZ (NaN-free; below the floor = no echo) → pixels, with 1 dBZ measurement noise."""
    echo = dbz >= DETECTION_FLOOR_DBZ
    noisy = dbz + noise.normal(0, 1.0, dbz.shape).astype(np.float32)
    return np.where(echo, np.maximum(dbz_to_pixel(noisy), 1), 0).astype(np.uint8)


# ----------------------------------------------------------------------------- spectral


@dataclass(frozen=True)
class SpectralClimate:
    beta: float  # spectral slope of the rain field
    coverage_mean: float  # share of the domain with rain, on average
    coverage_swing: float
    dbz_base: float
    dbz_per_sigma: float
    mean_u: float  # px per step on this grid
    mean_v: float
    swirl: float  # amplitude of the spatially varying part, px per step
    wind_turn: float  # radians the whole wind field rotates over the day


class SpectralDay:
    """pysteps-like spectral rain, evolved as scale-dependent AR(1) in a moving frame."""

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        self.rng, self.size = rng, size
        scale = size / REFERENCE_SIZE
        speed, heading = rng.uniform(1.0, 5.0) * scale, rng.uniform(0, 2 * np.pi)
        self.climate = SpectralClimate(
            beta=rng.uniform(2.6, 3.4), coverage_mean=rng.uniform(0.15, 0.45),
            coverage_swing=rng.uniform(0.05, 0.15), dbz_base=rng.uniform(14, 20),
            dbz_per_sigma=rng.uniform(8, 13), mean_u=speed * np.cos(heading),
            mean_v=speed * np.sin(heading), swirl=rng.uniform(0.2, 0.5) * speed,
            wind_turn=rng.uniform(-1.5, 1.5),
        )  # fmt: skip
        # A periodic domain a quarter larger than the view: what leaves comes back far away.
        self.n = int(np.ceil(size * 1.25 / 8) * 8)
        ky, kx = np.meshgrid(np.fft.fftfreq(self.n), np.fft.fftfreq(self.n), indexing="ij")
        k = np.hypot(kx, ky) * self.n  # wavenumber in cycles per domain
        k[0, 0] = 1.0
        self.amplitude = k ** (-self.climate.beta / 2)
        self.amplitude[0, 0] = 0.0
        # Memory per step: a feature of wavelength L px lasts ~ 25 min * (L / 8 px)^0.8.
        wavelength = self.n / k
        lifetime_min = 25.0 * (wavelength / (8 * scale)) ** 0.8
        self.phi = np.exp(-STEP_MIN / lifetime_min)
        self.swirl_u, self.swirl_v = self._swirl_field()
        self.state = self._noise()
        self.step, self.cache = 0, {0: self.state.copy()}

    def _noise(self) -> np.ndarray:
        white = np.fft.fft2(self.rng.standard_normal((self.n, self.n)))
        field = np.real(np.fft.ifft2(white * self.amplitude))
        return (field / (field.std() + 1e-9)).astype(np.float32)

    def _swirl_field(self) -> tuple[np.ndarray, np.ndarray]:
        """A smooth, divergence-free perturbation of the wind (a stream function's curl)."""
        ky, kx = np.meshgrid(np.fft.fftfreq(self.n), np.fft.fftfreq(self.n), indexing="ij")
        k = np.hypot(kx, ky) * self.n
        low = np.exp(-((k / 2.5) ** 2))  # scales of the whole domain only
        psi = np.real(np.fft.ifft2(np.fft.fft2(self.rng.standard_normal((self.n, self.n))) * low))
        v, u = np.gradient(psi)
        norm = np.sqrt(np.mean(u**2 + v**2)) + 1e-9
        return (-u / norm).astype(np.float32), (v / norm).astype(np.float32)

    def wind(self, minute: float) -> tuple[np.ndarray, np.ndarray]:
        c = self.climate
        turn = c.wind_turn * minute / 1440.0
        cos, sin = np.cos(turn), np.sin(turn)
        u = c.mean_u + c.swirl * self.swirl_u
        v = c.mean_v + c.swirl * self.swirl_v
        return (cos * u - sin * v).astype(np.float32), (sin * u + cos * v).astype(np.float32)

    def _advance(self) -> None:
        minute = self.step * STEP_MIN
        u, v = self.wind(minute)
        yy, xx = np.mgrid[0 : self.n, 0 : self.n].astype(np.float32)
        # Semi-Lagrangian, periodic: the value at x comes from x - wind (two half steps).
        mid_x = (xx - 0.5 * u) % self.n
        mid_y = (yy - 0.5 * v) % self.n
        um = cv2.remap(u, mid_x, mid_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        vm = cv2.remap(v, mid_x, mid_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        moved = cv2.remap(self.state, (xx - um) % self.n, (yy - vm) % self.n, cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_WRAP)  # fmt: skip
        # Growth and decay in the moving frame: each scale keeps phi of itself, renews the rest.
        spectrum = np.fft.fft2(moved) * self.phi + np.fft.fft2(self._noise()) * np.sqrt(
            1 - self.phi**2
        )
        field = np.real(np.fft.ifft2(spectrum))
        self.state = (field / (field.std() + 1e-9)).astype(np.float32)
        self.step += 1
        self.cache[self.step] = self.state.copy()

    def field_at(self, step: int) -> np.ndarray:
        while self.step < step:
            self._advance()
        return self.cache[step]

    def dbz(self, minute: float) -> np.ndarray:
        c = self.climate
        lo = int(np.floor(minute / STEP_MIN))
        w = minute / STEP_MIN - lo
        field = (
            self.field_at(lo) if w == 0 else (1 - w) * self.field_at(lo) + w * self.field_at(lo + 1)
        )
        view = field[: self.size, : self.size]
        coverage = c.coverage_mean + c.coverage_swing * np.sin(2 * np.pi * minute / 480.0)
        cut = float(np.quantile(field, 1 - np.clip(coverage, 0.02, 0.9)))
        dbz = c.dbz_base + c.dbz_per_sigma * (view - cut)
        return np.where(view > cut, np.clip(dbz, DETECTION_FLOOR_DBZ, 58.0), -np.inf).astype(
            np.float32
        )


# ----------------------------------------------------------------------------- squall


@dataclass(frozen=True)
class SquallLine:
    born: float  # minute of the day
    life: float  # minutes
    peak_dbz: float
    x: float  # centre at birth, fraction of the domain
    y: float
    length: float  # fraction of the domain
    core_width: float  # px on the reference grid
    trailing_width: float
    trailing_dbz: float
    propagation: float  # own speed along the wind, reference px per minute
    bow: float  # curvature: displacement of the centre ahead of the ends, fraction of length
    modulation: tuple[tuple[float, float, float], ...]  # (wavenumber, amplitude dB, phase)


@dataclass(frozen=True)
class Shield:
    born: float
    life: float
    peak_dbz: float
    x: float
    y: float
    sigma_x: float  # reference px
    sigma_y: float
    texture_seed: int


class SquallDay:
    """Squall lines and stratiform shields under a turning wind; echo combined by max dBZ."""

    def __init__(self, rng: np.random.Generator, size: int) -> None:
        self.size, self.scale = size, size / REFERENCE_SIZE
        self.speed = rng.uniform(0.25, 0.8)  # reference px per minute
        self.heading0 = rng.uniform(0, 2 * np.pi)
        self.turn = np.deg2rad(rng.uniform(60, 150)) * rng.choice([-1, 1])
        minutes = np.arange(-300, 1441, dtype=np.float64)
        heading = self.heading0 + self.turn * np.clip(minutes, 0, 1440) / 1440.0
        self._m0 = -300
        self._dx = np.concatenate([[0.0], np.cumsum(self.speed * np.cos(heading))[:-1]])
        self._dy = np.concatenate([[0.0], np.cumsum(self.speed * np.sin(heading))[:-1]])
        self._heading = heading
        self.lines = tuple(self._line(rng) for _ in range(rng.poisson(18)))
        self.shields = tuple(self._shield(rng) for _ in range(rng.poisson(8)))
        self._yy, self._xx = np.mgrid[0:size, 0:size].astype(np.float32)
        self._textures: dict[int, np.ndarray] = {}

    def _line(self, rng) -> SquallLine:
        life = rng.uniform(150, 420)
        return SquallLine(
            born=rng.uniform(-life * 0.7, 1440), life=life, peak_dbz=rng.uniform(47, 60),
            x=rng.uniform(-0.3, 1.3), y=rng.uniform(-0.3, 1.3), length=rng.uniform(0.5, 1.4),
            core_width=rng.uniform(2.5, 6.0), trailing_width=rng.uniform(15, 40),
            trailing_dbz=rng.uniform(24, 34), propagation=rng.uniform(0.0, 0.25),
            bow=rng.uniform(0.0, 0.25),
            modulation=tuple((float(rng.integers(2, 9)), rng.uniform(2, 6), rng.uniform(0, 2 * np.pi))
                             for _ in range(3)),
        )  # fmt: skip

    def _shield(self, rng) -> Shield:
        life = rng.uniform(240, 720)
        return Shield(
            born=rng.uniform(-life * 0.7, 1440), life=life, peak_dbz=rng.uniform(25, 38),
            x=rng.uniform(-0.2, 1.2), y=rng.uniform(-0.2, 1.2), sigma_x=rng.uniform(18, 45),
            sigma_y=rng.uniform(12, 35), texture_seed=int(rng.integers(2**31)),
        )  # fmt: skip

    def _at(self, table: np.ndarray, minute: float) -> float:
        i = float(np.clip(minute - self._m0, 0, len(table) - 1))
        lo = int(i)
        hi = min(lo + 1, len(table) - 1)
        return (1 - (i - lo)) * table[lo] + (i - lo) * table[hi]

    def _moved(self, since: float, minute: float) -> tuple[float, float]:
        """Wind displacement (reference px) between two minutes."""
        return (self._at(self._dx, minute) - self._at(self._dx, since),
                self._at(self._dy, minute) - self._at(self._dy, since))  # fmt: skip

    def _texture(self, seed: int) -> np.ndarray:
        if seed not in self._textures:
            rng = np.random.default_rng(seed)
            n = 256
            ky, kx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")
            k = np.hypot(kx, ky) * n
            k[0, 0] = 1.0
            field = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((n, n))) * k**-1.4))
            self._textures[seed] = (field / field.std()).astype(np.float32)
        return self._textures[seed]

    @staticmethod
    def _life(age: float, life: float) -> float:
        """0 → 1 → 0 over the life: quick growth, slow decay."""
        if not 0 <= age <= life:
            return 0.0
        x = age / life
        return float(min(1.0, x / 0.25) * min(1.0, (1 - x) / 0.5))

    def dbz(self, minute: float) -> np.ndarray:
        s = self.scale
        out = np.full((self.size, self.size), -np.inf, np.float32)
        heading = self._at(self._heading, minute)
        for shield in self.shields:
            strength = self._life(minute - shield.born, shield.life)
            if strength <= 0:
                continue
            mx, my = self._moved(shield.born, minute)
            cx = (shield.x * REFERENCE_SIZE + mx) * s
            cy = (shield.y * REFERENCE_SIZE + my) * s
            dx, dy = (self._xx - cx) / (shield.sigma_x * s), (self._yy - cy) / (shield.sigma_y * s)
            envelope = np.exp(-0.5 * (dx**2 + dy**2))
            texture = self._texture(shield.texture_seed)
            # The texture travels with the shield: sample it in the shield's own frame.
            tx = ((self._xx - cx) / s * 2).astype(np.int32) % texture.shape[1]
            ty = ((self._yy - cy) / s * 2).astype(np.int32) % texture.shape[0]
            dbz = (shield.peak_dbz * strength - 4.0) * envelope + 4.0 * texture[ty, tx] * envelope
            out = np.maximum(out, np.where(envelope > 0.08, dbz, -np.inf))
        for line in self.lines:
            strength = self._life(minute - line.born, line.life)
            if strength <= 0:
                continue
            age = minute - line.born
            mx, my = self._moved(line.born, minute)
            birth_heading = self._at(self._heading, line.born)
            # The line keeps its orientation from birth (normal to the wind it formed in)
            # while the wind turns; it propagates forwards along that normal.
            nx, ny = np.cos(birth_heading), np.sin(birth_heading)
            cx = (line.x * REFERENCE_SIZE + mx + line.propagation * age * nx) * s
            cy = (line.y * REFERENCE_SIZE + my + line.propagation * age * ny) * s
            along = (-(self._xx - cx) * ny + (self._yy - cy) * nx) / s  # reference px
            ahead = ((self._xx - cx) * nx + (self._yy - cy) * ny) / s
            half = 0.5 * line.length * REFERENCE_SIZE
            t = np.clip(along / half, -1.5, 1.5)
            ahead = ahead + line.bow * half * (t**2 - 1.0) * -1.0  # the centre bows forwards
            ends = np.exp(-0.5 * np.maximum(np.abs(t) - 1.0, 0) ** 2 / 0.02)
            cores = sum(a * np.sin(k * np.pi * t + p + 0.01 * age) for k, a, p in line.modulation)
            core = (line.peak_dbz * (0.6 + 0.4 * strength) + cores) * np.exp(
                -0.5 * (ahead / line.core_width) ** 2
            )
            behind = np.where(ahead < 0, np.exp(ahead / line.trailing_width), 0.0)
            trailing = line.trailing_dbz * (0.5 + 0.5 * strength) * behind
            dbz = np.maximum(core, trailing) * ends * strength**0.3
            out = np.maximum(out, np.where(dbz > DETECTION_FLOOR_DBZ, dbz, -np.inf))
        del heading
        return out.astype(np.float32)
