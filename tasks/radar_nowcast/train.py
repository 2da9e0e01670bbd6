"""Train stage: past weeks of ``curated/radar_frames`` → a retrained nowcaster, promoted only if better.

1. The committed frame partitions of the ``weeks`` before ``dt`` are read; the
   latest day is held out for validation, the others are for training.
2. Spark resamples every frame to the size the model trains at and builds the windows
   (``inputs + outputs`` frames without a gap, :func:`.frames.spark_windows`; they may
   cross midnight, as weather does). Windows ending within the model's span of the
   validation day are dropped from training, so the two never share a frame.
3. The model named by ``--model`` (by default the forecast stage's) trains under
   TorchDistributor with the trainer its card's kind names (:func:`recipe_for`): a grid
   ConvLSTM (:mod:`~lakesight.models.nowcasting.train_convlstm`) at its grid, or the
   advection-residual model (:mod:`~lakesight.models.nowcasting.train_advection`) at the
   archive's own frame size, since it works per pixel-step. Each starts from scratch:
   the candidate is what this archive teaches, not a drift from the shipped weights.
4. The candidate and the current model forecast every validation window at the
   frames' size, scored like ``verify`` does. The candidate is promoted, as the next
   version in the registry, only if it is better by ``--promote-on``
   (:data:`PROMOTION_RULES`): by default its MSE (mean over leads) is lower and its CSI
   at 2 and 5 mm/h no lower, so neither score is bought with the other.

``curated/radar_training/dt=D`` holds the windows used (end time, role) and, in its
manifest, the days, the training facts, the decision and both scores.

Run: ``lakesight stage radar_nowcast.train --dt D [--weeks 2] [--steps N] [--processes P]
[--model NAME] [--promote-on both|mse|csi]``.
"""

from __future__ import annotations

import dataclasses
import functools
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lakesight.config import Settings
from lakesight.lake import join, list_partitions
from lakesight.progress import Steps
from lakesight.radar_nowcast import datasets
from lakesight.radar_nowcast.forecast import DEFAULT_MODEL  # retrain what forecasts
from lakesight.radar_nowcast.frames import spark_windows
from lakesight.stage import (
    DAY_MINUTES,
    StageError,
    StageResult,
    commit_stage,
    frees_cached_data,
    model_entries,
    promote_if_better,
    stage_filesystem,
    stage_main,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = datasets.TRAIN
TRAINING_FILE = "training.npz"


def day_offsets(days: list[str]) -> dict[str, int]:
    """Minutes from the first day's midnight to each day's: windows may cross midnight."""
    first = date.fromisoformat(days[0])
    return {d: (date.fromisoformat(d) - first).days * DAY_MINUTES for d in days}


def resampled(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A frame (H, W) uint8 at ``shape`` (H', W'), area-averaged as the grid nowcaster's
    inference resamples (:func:`~lakesight.models.nowcasting.forecaster.to_grid`)."""
    import cv2

    if pixels.shape == shape:
        return pixels
    return cv2.resize(pixels, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def frames_at(spark: SparkSession, settings: Settings, days: list[str], shape: tuple[int, int]):
    """Every accepted frame of ``days`` with ``t`` (minutes since the first day), ``dt`` and
    ``shaped_pixels`` (resampled to ``shape`` in the workers)."""
    from pyspark.sql import functions as F

    offsets = day_offsets(days)
    uris = [datasets.FRAMES.partition(settings, d) for d in days]
    frames = spark.read.option("basePath", datasets.FRAMES.uri(settings)).parquet(*uris)
    offset = F.element_at(
        F.create_map(*[x for d, o in offsets.items() for x in (F.lit(d), F.lit(o))]),
        F.col("dt").cast("string"),  # partition discovery reads dt=... as a date
    )

    def resample(batches):
        for batch in batches:
            out = [
                resampled(np.frombuffer(p, np.uint8).reshape(h, w), shape).tobytes()
                for p, h, w in zip(batch["pixels"], batch["height"], batch["width"], strict=True)
            ]
            yield batch[["t", "dt"]].assign(shaped_pixels=out)

    return frames.select(
        (offset + F.col("minute")).alias("t"),
        F.col("dt").cast("string").alias("dt"),
        "pixels",
        "height",
        "width",
    ).mapInPandas(resample, "t int, dt string, shaped_pixels binary")


def archive_shape(spark: SparkSession, settings: Settings, days: list[str]) -> tuple[int, int]:
    """The most common frame size (height, width) of ``days``: the radar's own grid."""
    from pyspark.sql import functions as F

    uris = [datasets.FRAMES.partition(settings, d) for d in days]
    frames = spark.read.option("basePath", datasets.FRAMES.uri(settings)).parquet(*uris)
    top = frames.groupBy("height", "width").count().orderBy(F.desc("count"), "height").first()
    if top is None:
        raise StageError(f"radar_nowcast.train: no frame to train on in {days[0]}..{days[-1]}")
    return (int(top["height"]), int(top["width"]))


def build_training_set(
    spark: SparkSession,
    settings: Settings,
    days: list[str],
    shape: tuple[int, int],
    length: int,
    validation_days: int = 1,
):
    """(training set of ``length``-frame windows at ``shape``, validation window ends,
    window rows) of ``days``."""
    from pyspark.sql import functions as F

    from lakesight.models.nowcasting.train_convlstm import TrainingSet

    cadence = settings.radar_cadence_min
    frames = frames_at(spark, settings, days, shape).cache()
    index = frames.select("t", "shaped_pixels").orderBy("t").collect()
    position = {row["t"]: i for i, row in enumerate(index)}
    stack = (
        np.stack([np.frombuffer(r["shaped_pixels"], np.uint8).reshape(shape) for r in index])
        if index
        else np.zeros((0, *shape), np.uint8)
    )
    windows = spark_windows(frames.select(F.col("t").alias("minute")), length, cadence, columns=())
    ends = sorted(r["end_minute"] for r in windows.where(F.col("frames").isNotNull()).collect())
    held_from = day_offsets(days)[days[-validation_days]] if validation_days else None
    rows, train_windows, validation_ends = [], [], []
    for end in ends:
        members = [position[end - k * cadence] for k in range(length - 1, -1, -1)]
        if held_from is not None and end >= held_from + (length - 1) * cadence:
            role = "validation"
            validation_ends.append(end)
        elif held_from is not None and end >= held_from:
            role = "dropped"  # straddles the split: would leak validation frames
        else:
            role = "training"
            train_windows.append(members)
        rows.append({"end_minute": end, "role": role})
    data = TrainingSet(stack, np.asarray(train_windows, dtype=np.int32).reshape(-1, length))
    return data, validation_ends, pd.DataFrame(rows, columns=["end_minute", "role"])


def validation_windows(spark, settings: Settings, days: list[str], ends: list[int], length: int):
    """Validation windows (V, L, H, W) uint8 at the frames' own size."""
    from pyspark.sql import functions as F

    offsets = day_offsets(days)
    uris = [datasets.FRAMES.partition(settings, d) for d in days[-2:]]
    rows = (
        spark.read.option("basePath", datasets.FRAMES.uri(settings))
        .parquet(*uris)
        .select(F.col("dt").cast("string").alias("dt"), "minute", "pixels", "height", "width")
        .collect()
    )
    by_t = {
        offsets[r["dt"]] + r["minute"]: np.frombuffer(r["pixels"], np.uint8).reshape(
            r["height"], r["width"]
        )
        for r in rows
    }
    cadence = settings.radar_cadence_min
    return np.stack([[by_t[e - k * cadence] for k in range(length - 1, -1, -1)] for e in ends])


def validation_score(nowcaster, windows: np.ndarray) -> dict:
    """A model's scores on validation windows: MSE (mean over leads) and CSI at 2 and 5 mm/h."""
    from lakesight.radar_nowcast.verification import score_rows, summarise

    inputs = windows[:, : nowcaster.inputs]
    forecasts = nowcaster.predict(inputs)
    forecasts[forecasts < nowcaster.echo_floor] = 0
    rows = []
    for i in range(len(windows)):
        for k, lead in enumerate(nowcaster.leads_min):
            for row in score_rows(forecasts[i, k], windows[i, nowcaster.inputs + k]):
                rows.append({**row, "issued_at": i, "model": nowcaster.name, "lead_min": lead})
    summary = summarise(pd.DataFrame(rows))
    name = nowcaster.name

    def mean(values):
        values = [v for v in values if v is not None]
        return round(float(np.mean(values)), 4) if values else None

    return {
        "model": name,
        "mse": mean(summary["mse"][name]),
        "csi_2": mean(summary["csi"][name].get("2", [])),
        "csi_5": mean(summary["csi"][name].get("5", [])),
        "windows": len(windows),
    }


@dataclass(frozen=True)
class Recipe:
    """How one kind of registered nowcaster retrains on the lake's frames."""

    config: Any  # the trainer's config; ``config.model`` is the card's ``model_config``
    shape: tuple[int, int]  # the size frames are resampled to for training
    trainer: ModuleType  # has train_anyhow(config, uri, processes) and release(...)

    @property
    def length(self) -> int:
        return self.config.model.inputs + self.config.model.outputs


def recipe_for(card: dict, archive: tuple[int, int], train_steps: int | None) -> Recipe:
    """The trainer of ``card``'s kind: the advection-residual model trains at the archive's
    own frame size (it works per pixel-step), a grid ConvLSTM at its grid."""
    if card["model_config"].get("kind") == "advection_residual":
        from lakesight.models.nowcasting import train_advection as trainer
        from lakesight.models.nowcasting.advection import AdvectionConfig

        config = trainer.AdvectionTrainConfig(model=AdvectionConfig.from_dict(card["model_config"]))
        shape = archive
    else:
        from lakesight.models.nowcasting import train_convlstm as trainer
        from lakesight.models.nowcasting.convlstm import ConvLSTMConfig

        config = trainer.TrainConfig(model=ConvLSTMConfig.from_dict(card["model_config"]))
        shape = (config.model.grid, config.model.grid)
    if train_steps:
        config = dataclasses.replace(config, steps=train_steps)
    return Recipe(config, shape, trainer)


def train_candidate(recipe: Recipe, data, settings: Settings, name: str, days: list[str],
                    processes: int, scratch: Path) -> tuple[Path, dict]:  # fmt: skip
    """Train on ``data`` and release the candidate into ``scratch/release``: (its directory,
    the training facts)."""
    from lakesight.lake import filesystem_for

    training_uri = Path(scratch, TRAINING_FILE).as_uri()
    filesystem_for(training_uri, settings).write_bytes(training_uri, data.to_bytes())
    result = recipe.trainer.train_anyhow(recipe.config, training_uri, processes)
    release_dir = Path(scratch, "release")
    recipe.trainer.release(
        result["state"], recipe.config, result["facts"], release_dir, name=name,
        version="candidate", cadence_min=settings.radar_cadence_min,
        data={"description": f"curated/radar_frames {days[0]}..{days[-2]} at "
              f"{recipe.shape[0]}x{recipe.shape[1]}", "days": days[:-1]},
    )  # fmt: skip
    return release_dir, {k: v for k, v in result["facts"].items() if k != "history"}


# How a candidate must compare with the current model on the held-out day (``--promote-on``).
# MSE alone rewards a forecast that fades the echo wherever the future is uncertain: on
# eight days of `spectral` weather a candidate trained towards the squared rain-rate error
# validated 6% lower in MSE than advection_radar@2 and 0.02-0.03 lower in CSI (README,
# radar section). So by default neither score may be bought with the other.
PROMOTION_RULES = {
    "both": "promote if validation MSE (mean over leads) is lower and CSI at 2 and 5 mm/h "
    "(mean over leads) is not lower",
    "mse": "promote if validation MSE (mean over leads) is lower",
    "csi": "promote if validation CSI at 2 and 5 mm/h (mean over leads) are both higher",
}
DEFAULT_PROMOTION_RULE = "both"


def should_promote(candidate: dict, current: dict, rule: str = DEFAULT_PROMOTION_RULE) -> bool:
    """:data:`PROMOTION_RULES` ``[rule]`` on two :func:`validation_score` results; a score
    the current model lacks (no echo to score it on) does not hold the candidate back."""

    def better(key: str, strictly: bool) -> bool:
        ours, theirs = candidate[key], current[key]
        if ours is None:
            return theirs is None and not strictly
        if theirs is None:
            return True
        if key == "mse":
            return ours < theirs if strictly else ours <= theirs
        return ours > theirs if strictly else ours >= theirs

    if rule == "mse":
        return candidate["mse"] is not None and better("mse", strictly=True)
    if rule == "csi":
        return better("csi_2", strictly=True) and better("csi_5", strictly=True)
    if rule == "both":
        return (
            candidate["mse"] is not None
            and better("mse", strictly=True)
            and better("csi_2", strictly=False)
            and better("csi_5", strictly=False)
        )
    raise ValueError(f"unknown promotion rule {rule!r}, expected one of {sorted(PROMOTION_RULES)}")


def training_days(fs, settings: Settings, dt: str, weeks: int) -> list[str]:
    """The committed frame days of the ``weeks`` before ``dt``: at least two (one held out)."""
    first = (date.fromisoformat(dt) - timedelta(days=7 * weeks)).isoformat()
    days = [d for d in list_partitions(fs, datasets.FRAMES.uri(settings)) if first <= d < dt]
    if len(days) < 2:
        raise StageError(
            f"radar_nowcast.train: {len(days)} committed day(s) of curated/radar_frames "
            f"in {first}..{dt} (exclusive); need 2, one held out for validation"
        )
    return days


@frees_cached_data
def run(
    spark: SparkSession,
    settings: Settings,
    dt: str,
    *,
    steps: Steps | None = None,
    weeks: int = 2,
    train_steps: int | None = None,
    processes: int = 1,
    model: str = DEFAULT_MODEL,
    promote_on: str = DEFAULT_PROMOTION_RULE,
) -> StageResult:
    """Retrain on the ``weeks`` before ``dt``; promote the candidate only if it validates better."""
    from lakesight.models.nowcasting.forecaster import load_nowcaster, nowcaster_from_card
    from lakesight.models.runtime import load_card

    if promote_on not in PROMOTION_RULES:  # before the training it would judge
        raise StageError(f"--promote-on: {promote_on!r} is not one of {sorted(PROMOTION_RULES)}")
    steps = steps or Steps(STAGE.short)
    fs = stage_filesystem(spark, settings)
    days = training_days(fs, settings, dt, weeks)
    entries, cards = model_entries([model])
    recipe = recipe_for(cards[0], archive_shape(spark, settings, days), train_steps)
    with steps.step(f"build windows at {recipe.shape[0]}x{recipe.shape[1]}"):
        data, validation_ends, roles = build_training_set(
            spark, settings, days, recipe.shape, recipe.length
        )
    if len(data.windows) == 0 or not validation_ends:
        raise StageError(
            f"radar_nowcast.train: no complete window to train on in {days[0]}..{days[-1]}"
        )
    with tempfile.TemporaryDirectory(prefix="lakesight-train-") as scratch, steps.step("train"):
        release_dir, facts = train_candidate(
            recipe, data, settings, model, days, processes, Path(scratch)
        )
        windows = validation_windows(spark, settings, days, validation_ends, recipe.length)
        candidate = validation_score(
            nowcaster_from_card(release_dir, load_card(release_dir)), windows
        )
        registry = settings.model_registry  # explicit: load_nowcaster caches per registry
        current = validation_score(load_nowcaster(entries[0]["name"], registry), windows)
        better = should_promote(candidate, current, promote_on)
        promoted = promote_if_better(
            settings, model, better, functools.partial(shutil.copytree, release_dir)
        )
    decision = {"promoted": better, "new_model": promoted, "current_model": entries[0]["name"],
                "candidate": candidate, "current": current, "rule": PROMOTION_RULES[promote_on]}  # fmt: skip
    steps.say(
        f"candidate MSE {candidate['mse']}, CSI {candidate['csi_2']}/{candidate['csi_5']} vs "
        f"current {current['mse']}, {current['csi_2']}/{current['csi_5']} (2/5 mm/h): "
        + (f"promoted as {promoted}" if better else f"kept the current model ({promote_on})")
    )
    return commit_training_windows(
        spark, fs, settings, dt, roles, steps, models=entries,
        extra={"decision": decision, "days": days, "training": facts},
    )  # fmt: skip


def commit_training_windows(spark, fs, settings: Settings, dt: str, roles: pd.DataFrame,
                            steps: Steps, *, models: list, extra: dict) -> StageResult:  # fmt: skip
    """Commit ``curated/radar_training/dt=D``: each window's end and role, the decision in
    the manifest."""
    from pyspark.sql import functions as F

    table = (
        spark.createDataFrame(roles.assign(dt=dt))
        .withColumn("end_minute", F.col("end_minute").cast("int"))
        .cache()
    )
    n = len(roles)
    return commit_stage(
        fs,
        settings,
        STAGE,
        dt,
        table,
        output_columns=datasets.TRAINING_COLUMNS,
        schema_version=datasets.TRAINING_SCHEMA_VERSION,
        counts={
            "in": n,
            "out": n,
            "quarantined": 0,
            "training": int((roles.role == "training").sum()),
            "validation": int((roles.role == "validation").sum()),
        },
        input_fingerprint=f"days:{','.join(extra['days'])}",
        steps=steps,
        models=models,
        extra=extra,
    )


def generated_training_set(n_days: int, seed: int, model_config) -> tuple[str, dict]:
    """Generate ``n_days`` of radar with ``seed`` into the lake of ``LAKESIGHT_ROOT``, ingest
    them, and build the training set from all of them (no validation split): the shipped
    model's data. Returns (training set URI, a description for the card)."""
    from lakesight.config import load_settings
    from lakesight.lake import HadoopFileSystem
    from lakesight.radar_nowcast import ingest
    from lakesight.radar_nowcast.families import TRAINING_FAMILY
    from lakesight.radar_nowcast.sample_data import write_sample_radar
    from lakesight.spark import get_spark

    settings = load_settings()
    spark = get_spark("lakesight-train-nowcast-data", settings)
    fs = HadoopFileSystem(spark)
    start = date(2025, 1, 1)
    days = [(start + timedelta(days=k)).isoformat() for k in range(n_days)]
    for d in days:
        if not list_partitions(fs, datasets.FRAMES.uri(settings)).count(d):
            write_sample_radar(fs, settings, d, seed=seed)
            ingest.run(spark, settings, d, steps=Steps("ingest", quiet=True))
    grid = model_config.grid
    length = model_config.inputs + model_config.outputs
    data, _, _ = build_training_set(spark, settings, days, (grid, grid), length, validation_days=0)
    uri = join(settings.root, "training", f"seed={seed}-days={n_days}-grid={grid}.npz")
    fs.write_bytes(uri, data.to_bytes())
    return uri, {
        "description": f"{n_days} generated days (seed {seed}) from {days[0]}",
        "seed": seed,
        "days": n_days,
        "family": TRAINING_FAMILY,  # write_sample_radar's default weather
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage radar_nowcast.train``."""
    return stage_main(
        STAGE,
        run,
        argv,
        options=(
            ("--weeks", {"type": int, "default": 2, "help": "weeks of frames before dt"}),
            ("--steps", {"type": int, "dest": "train_steps", "help": "optimiser steps"}),
            ("--processes", {"type": int, "default": 1, "help": "TorchDistributor processes"}),
            ("--model", {"default": DEFAULT_MODEL, "help": "registered nowcaster to retrain"}),
            (
                "--promote-on",
                {
                    "choices": sorted(PROMOTION_RULES),
                    "default": DEFAULT_PROMOTION_RULE,
                    "help": "the validation scores a candidate must beat the current "
                    "model on (default: both MSE and CSI)",
                },
            ),
        ),
    )


if __name__ == "__main__":
    sys.exit(main())
