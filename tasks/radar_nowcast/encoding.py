"""The radar encoding of the contract (HKO-7): pixel ↔ reflectivity ↔ rain rate, and events.

- A pixel ``P`` (uint8) encodes reflectivity ``dBZ = 70 * P / 255 - 10``; ``P = 0`` is
  no echo at all (rain rate 0, whatever the formula would give).
- Rain rate from reflectivity by the Z–R relation ``Z = a R^b`` with ``Z = 10^(dBZ/10)``;
  HKO-7's a = 58.53, b = 1.56 by default.
- An event at threshold ``t`` mm/h is ``rain rate >= t`` (HKO-7's convention; pysteps
  uses ``>``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLDS_MM_H = (0.5, 2.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class ZR:
    """The Z–R relation ``Z = a R^b``."""

    a: float = 58.53
    b: float = 1.56


def pixel_to_dbz(pixels: np.ndarray) -> np.ndarray:
    """Reflectivity (dBZ, float32) of encoded pixels."""
    return np.asarray(pixels, dtype=np.float32) * np.float32(70.0 / 255.0) - np.float32(10.0)


def dbz_to_pixel(dbz: np.ndarray) -> np.ndarray:
    """Encoded pixels (uint8, rounded, clipped to 0..255) of reflectivity in dBZ."""
    return np.clip(
        np.rint((np.asarray(dbz, dtype=np.float32) + 10.0) * (255.0 / 70.0)), 0, 255
    ).astype(np.uint8)


def pixel_to_rain(pixels: np.ndarray, zr: ZR = ZR()) -> np.ndarray:
    """Rain rate (mm/h, float32) of encoded pixels; 0 where there is no echo (P = 0)."""
    pixels = np.asarray(pixels)
    z = np.power(np.float32(10.0), pixel_to_dbz(pixels) / np.float32(10.0))
    rain = np.power(z / np.float32(zr.a), np.float32(1.0 / zr.b)).astype(np.float32)
    return np.where(pixels > 0, rain, np.float32(0.0))


def rain_to_level(rain: np.ndarray, zr: ZR = ZR()) -> np.ndarray:
    """The pixel level (float32, unrounded) of rain rates in mm/h: 0 for no rain, and any
    rain at least level 1, the weakest echo there is, at most 255."""
    rain = np.asarray(rain, dtype=np.float32)
    safe = np.maximum(rain, np.float32(1e-6))
    dbz = 10.0 * np.log10(np.float32(zr.a) * np.power(safe, np.float32(zr.b)))
    level = (dbz + np.float32(10.0)) * np.float32(255.0 / 70.0)
    return np.where(rain > 0, np.clip(level, 1.0, 255.0), 0.0).astype(np.float32)


def rain_to_pixel(rain: np.ndarray, zr: ZR = ZR()) -> np.ndarray:
    """Encoded pixels of rain rates in mm/h (0 mm/h → P = 0, no echo)."""
    return np.rint(rain_to_level(rain, zr)).astype(np.uint8)


def threshold_pixel(threshold_mm_h: float, zr: ZR = ZR()) -> int:
    """The smallest pixel value whose rain rate is ``>= threshold_mm_h``: events are
    ``pixels >= threshold_pixel(t)``, exactly as ``pixel_to_rain(pixels) >= t``."""
    rain = pixel_to_rain(np.arange(256, dtype=np.uint8), zr)
    hits = np.nonzero(rain >= np.float32(threshold_mm_h))[0]
    return int(hits[0]) if hits.size else 256
