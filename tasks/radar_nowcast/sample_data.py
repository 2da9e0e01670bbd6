"""``lakesight sample-data radar``: write a day of generated radar frames, as archives store them.

``raw/radar/dt=D/HHMM.png``: one 8-bit grayscale PNG per step of the cadence, in
the HKO-7 encoding, rendered by :mod:`.weather` (the day's weather depends on the
seed and the date); or, with ``file_format="odim"``, ``HHMM.h5``: the same field as an
ODIM_H5 DBZH composite (:func:`.odim.write_odim`), as European networks archive them,
packed in 16 bits so that ingest gives back exactly the PNG day's pixels.
Options make the days the pipeline must survive:

- ``start``/``end`` (minutes): part of a day; ``gaps``: steps left out;
- ``clear``: a day without echo (all zeros);
- ``bad``: broken files cycling through :data:`BAD_KINDS`, each with the reason
  ingest must give it. A broken file named for a step replaces that step's frame,
  as in an archive where the frame of that time arrived broken.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from lakesight.config import Settings
from lakesight.lake import LakeFileSystem, join
from lakesight.radar_nowcast.datasets import RAW_RADAR
from lakesight.radar_nowcast.families import (
    TRAINING_FAMILY,
    family_size,
    render_family_day,
)
from lakesight.radar_nowcast.frames import frame_name
from lakesight.radar_nowcast.weather import REFERENCE_SIZE, render_day
from lakesight.stage import DAY_MINUTES

SAMPLE_SEED = 11  # the demo's and sample days' weather; training uses models.nowcasting's seed

# Broken inputs, and the quarantine reason ingest must give each: (kind, reason).
BAD_KINDS: tuple[tuple[str, str], ...] = (
    ("truncated_png", "truncated"),
    ("wrong_size", "wrong_size"),
    ("not_a_step", "not_a_step"),
    ("bad_name", "bad_name"),
    ("text_named_png", "not_a_png"),
    ("colour_png", "wrong_encoding"),
)


FILE_FORMATS = ("png", "odim")


def encode_frame(pixels: np.ndarray, dt: str, minute: int, file_format: str) -> tuple[str, bytes]:
    """(file name, bytes) of one good frame in ``file_format``."""
    if file_format == "png":
        return frame_name(minute), encode_png(pixels)
    if file_format == "odim":
        from lakesight.radar_nowcast.encoding import pixel_to_dbz
        from lakesight.radar_nowcast.odim import FINE_UINT16, write_odim

        dbz = np.where(pixels > 0, pixel_to_dbz(pixels), np.float32(np.nan))
        hhmmss = f"{minute // 60:02d}{minute % 60:02d}00"
        return frame_name(minute).replace(".png", ".h5"), write_odim(
            dbz, dt.replace("-", ""), hhmmss, packing=FINE_UINT16
        )
    raise ValueError(f"unknown file format {file_format!r}, expected one of {FILE_FORMATS}")


def encode_png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


@dataclass(frozen=True)
class SampleDay:
    written: list[str]  # file names of good frames
    bad: dict[str, str]  # file name -> the reason ingest must give
    uri: str


def bad_file(kind: str, index: int, frame: np.ndarray, cadence: int) -> tuple[str, bytes]:
    """(file name, bytes) of one broken input of ``kind``; its time is a free minute."""
    minute = (index * 7 * cadence + 3 * cadence) % DAY_MINUTES
    if kind == "truncated_png":
        data = encode_png(frame)
        return frame_name(minute).replace(".png", ".PNG"), data[: len(data) // 2]
    if kind == "wrong_size":
        return frame_name(minute + cadence), encode_png(frame[: frame.shape[0] // 2])
    if kind == "not_a_step":
        return frame_name(minute + 1), encode_png(frame)
    if kind == "bad_name":
        return f"radar_{index}.png", encode_png(frame)
    if kind == "text_named_png":
        return frame_name(minute + 2 * cadence), b"this is not a radar frame\n"
    if kind == "colour_png":
        return frame_name(minute + 3 * cadence), encode_png(np.dstack([frame] * 3))
    raise ValueError(f"unknown bad kind {kind!r}")


def write_sample_radar(
    fs: LakeFileSystem,
    settings: Settings,
    dt: str,
    *,
    seed: int = SAMPLE_SEED,
    size: int | None = None,
    start: int = 0,
    end: int = DAY_MINUTES,
    gaps: tuple[int, ...] = (),
    clear: bool = False,
    bad: int = 0,
    file_format: str = "png",
    family: str = TRAINING_FAMILY,
) -> SampleDay:
    """Write the frames of day ``dt`` in minutes ``[start, end)`` (except ``gaps``), of the
    weather ``family`` (:mod:`.families`) at ``size`` px (by default 128 for the training
    family, the family's own grid of that day for the others)."""
    if file_format not in FILE_FORMATS:
        raise ValueError(f"unknown file format {file_format!r}, expected one of {FILE_FORMATS}")
    cadence = settings.radar_cadence_min
    minutes = [m for m in range(start, end, cadence) if m not in set(gaps)]
    uri = RAW_RADAR.partition(settings, dt)
    fs.mkdirs(uri)
    if size is None:
        size = REFERENCE_SIZE if family == TRAINING_FAMILY else family_size(family, seed, dt)
    if clear or not minutes:
        frames = render_day(seed, dt, minutes, size=size, clear=clear) if minutes else []
    else:
        frames = render_family_day(family, seed, dt, minutes, size=size)
    written = []
    for minute, frame in zip(minutes, frames, strict=True):
        name, data = encode_frame(frame, dt, minute, file_format)
        fs.write_bytes(join(uri, name), data)
        written.append(name)
    broken = {}
    template = frames[0] if len(frames) else np.zeros((size, size), np.uint8)
    for i in range(bad):
        kind, reason = BAD_KINDS[i % len(BAD_KINDS)]
        name, data = bad_file(kind, i, template, cadence)
        if name in written:  # as archives have them: the frame of that time is the broken one
            written.remove(name)
        fs.write_bytes(join(uri, name), data)
        broken[name] = reason
    return SampleDay(written, broken, uri)
