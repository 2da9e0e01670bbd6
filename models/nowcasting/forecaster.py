"""A trained nowcasting model at inference: ONNX Runtime, any size of frame.

A grid model (:class:`Nowcaster`, the ConvLSTM) runs at its own grid (its card's
``grid``): frames of another size are resampled to it (area averaging: the mean
reflectivity of the pixels a model cell covers) and the forecast back to the frames'
size (bicubic). The advection-residual model
(:class:`~lakesight.models.nowcasting.advection.AdvectionNowcaster`) runs at the
frames' own size. :func:`nowcaster_from_card` picks by the card's ``model_config.kind``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DEFAULT_NOWCASTER = "advection_radar"


def to_grid(frames: np.ndarray, grid: int) -> np.ndarray:
    """Frames (..., H, W) uint8 → (..., grid, grid) float32 in 0..1."""
    flat = frames.reshape(-1, *frames.shape[-2:])
    if flat.shape[-2:] != (grid, grid):
        flat = np.stack([cv2.resize(f, (grid, grid), interpolation=cv2.INTER_AREA) for f in flat])
    return (flat.astype(np.float32) / 255.0).reshape(*frames.shape[:-2], grid, grid)


def from_grid(forecast: np.ndarray, height: int, width: int) -> np.ndarray:
    """Forecast (..., G, G) in 0..1 → (..., height, width) uint8 pixels."""
    flat = forecast.reshape(-1, *forecast.shape[-2:]) * np.float32(255.0)
    if flat.shape[-2:] != (height, width):
        flat = np.stack(
            [cv2.resize(f, (width, height), interpolation=cv2.INTER_CUBIC) for f in flat]
        )
    pixels = np.clip(np.rint(flat), 0, 255).astype(np.uint8)
    return pixels.reshape(*forecast.shape[:-2], height, width)


@dataclass
class Nowcaster:
    """A registry nowcasting model: ``predict`` maps input windows to forecasts, as pixels."""

    name: str  # name@version
    grid: int
    inputs: int
    outputs: int
    cadence_min: int
    run: object  # batch (B, T_in, 1, G, G) float32 -> [forecast (B, T_out, 1, G, G)]
    # Forecast pixels below this are no echo: the smallest echo its training data held.
    echo_floor: int = 1

    @property
    def leads_min(self) -> list[int]:
        return [self.cadence_min * (k + 1) for k in range(self.outputs)]

    def predict(self, windows: np.ndarray, batch: int = 16) -> np.ndarray:
        """Input windows (B, T_in, H, W) uint8 → forecasts (B, T_out, H, W) uint8."""
        b, t, h, w = windows.shape
        if t != self.inputs:
            raise ValueError(f"{self.name} takes {self.inputs} frames, got {t}")
        x = to_grid(windows, self.grid)[:, :, None]
        outs = [self.run(x[i : i + batch])[0] for i in range(0, b, batch)]
        forecast = (
            np.concatenate(outs)[:, :, 0]
            if outs
            else np.zeros((0, self.outputs, self.grid, self.grid), np.float32)
        )
        return from_grid(forecast, h, w)


def nowcaster_from_card(directory: Path, card: dict, *, threads: int = 1):
    """The nowcaster a registry card describes: a grid model (:class:`Nowcaster`) or, for
    ``model_config.kind == "advection_residual"``, an
    :class:`~lakesight.models.nowcasting.advection.AdvectionNowcaster`."""
    from lakesight.config import ConfigError
    from lakesight.models.runtime import ort_runner, verified

    path = verified(directory, card, card["files"]["fp32"])
    config = card["model_config"]
    if config.get("kind") == "advection_residual":
        from lakesight.models.nowcasting.advection import AdvectionConfig, AdvectionNowcaster

        try:  # a card is configuration: one line naming it and the field, as runtime.input_spec
            advection = AdvectionConfig.from_dict(config)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{card['name']}@{card['version']} card.json: {err}") from None
        return AdvectionNowcaster(
            name=f"{card['name']}@{card['version']}",
            inputs=config["inputs"],
            outputs=config["outputs"],
            cadence_min=card["cadence_min"],
            run=ort_runner(path, threads),
            echo_floor=int(card.get("echo_floor_pixel", 1)),
            motion=advection.motion,
            gate=advection.gate,
            sampling=advection.sampling,
            spread_px_per_step=advection.spread_px_per_step,
            spread_px_at_issue=advection.spread_px_at_issue,
            spread_probability=advection.spread_probability,
            spread_skill=advection.spread_skill,
            spread_floor=advection.spread_floor,
            short_leads=advection.short_leads,
            ensemble_below=advection.ensemble_below,
            within_class=advection.within_class,
            growth_persists_from=advection.growth_persists_from,
            short_leads_where_growth_persists=advection.short_leads_where_growth_persists,
            heavy_rain_held_from_mm_h=advection.heavy_rain_held_from_mm_h,
        )
    return Nowcaster(
        name=f"{card['name']}@{card['version']}",
        grid=config["grid"],
        inputs=config["inputs"],
        outputs=config["outputs"],
        cadence_min=card["cadence_min"],
        run=ort_runner(path, threads),
        echo_floor=int(card.get("echo_floor_pixel", 1)),
    )


@functools.cache
def load_nowcaster(
    ref: str = DEFAULT_NOWCASTER, registry: str | None = None, threads: int | None = None
) -> Nowcaster:
    """Load (once per process: a Spark Python worker reuses it for every batch)."""
    from lakesight.models.runtime import load_card, resolve, task_threads

    _, directory = resolve(ref, registry)
    return nowcaster_from_card(directory, load_card(directory), threads=threads or task_threads())
