"""``lakesight eval nowcast`` and ``lakesight bench nowcast``: the nowcaster against its baselines.

**eval** generates held-out days from :data:`EVAL_SEED` (a seed training never used)
into a scratch lake and runs them through the pipeline's own stages (ingest →
forecast → verify). The scores are then summed over every day from ``scores/radar``
in Spark and turned into CSI/POD/FAR and MSE/MAE by lead, per model.

**bench** times, in one run on the same windows:

- ``forecast_vs_bare``: the forecast stage on Spark ``local[2]`` (windows built in
  Spark, models in the Python workers, written and committed) against a bare
  single-process loop over the same windows (:func:`.forecast.issue_forecasts`);
- ``verify_vs_bare``: the verify stage (pairs joined and scored in Spark, the day
  summarised, pictures drawn, written and committed) against one process scoring the same
  pairs with the stage's batch function (:func:`.verify.score_batch`) and summarising
  them; ``verify_breakdown_s`` gives the stage's steps; ``verify_256_*`` the same on a
  day of 256 px frames;
- ``train_scaling``: training throughput under TorchDistributor with 2 processes
  (1 thread each) against one process with 2 threads, on the same training set.
"""

from __future__ import annotations

import statistics
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from lakesight.config import Settings, scratch_settings
from lakesight.progress import Steps, interleaved_medians, stage_vs_bare
from lakesight.radar_nowcast import datasets
from lakesight.radar_nowcast.weather import REFERENCE_SIZE

EVAL_START = "2026-06-01"
# bench nowcast also times verify on a day at this grid (:func:`verify_at_grid`).
LARGE_GRID, LARGE_GRID_DAY = 256, "2026-07-02"


def generate_and_forecast(
    spark,
    settings: Settings,
    days: list[str],
    seed: int,
    model: str,
    steps: Steps,
    size: int = REFERENCE_SIZE,
) -> None:
    """Sample days → ingest → forecast → verify, each stage as the DAG runs it."""
    from lakesight.lake import HadoopFileSystem
    from lakesight.radar_nowcast import forecast, ingest, verify
    from lakesight.radar_nowcast.sample_data import write_sample_radar

    fs = HadoopFileSystem(spark)
    for dt in days:
        with steps.step(f"day {dt}"):
            write_sample_radar(fs, settings, dt, seed=seed, size=size)
            quiet = Steps("stage", quiet=True)
            ingest.run(spark, settings, dt, steps=quiet)
            forecast.run(spark, settings, dt, steps=quiet, model=model)
            verify.run(spark, settings, dt, steps=quiet)


def eval_nowcast(
    model: str, n_days: int, steps: Steps, *, workdir: str | None = None, size: int = REFERENCE_SIZE
) -> dict:
    """Scores of the model and both baselines over ``n_days`` held-out generated days."""
    from pyspark.sql import functions as F

    from lakesight.models.nowcasting.train_convlstm import EVAL_SEED
    from lakesight.radar_nowcast.verification import COUNT_COLUMNS, ERROR_COLUMNS, summarise
    from lakesight.spark import get_spark

    settings = scratch_settings(workdir, "eval-nowcast")
    start = date.fromisoformat(EVAL_START)
    days = [(start + timedelta(days=k)).isoformat() for k in range(n_days)]
    with steps.step("start spark"):
        spark = get_spark("lakesight-eval-nowcast", settings)
    generate_and_forecast(spark, settings, days, EVAL_SEED, model, steps, size)
    with steps.step("sum the scores of every day in Spark"):
        uris = [datasets.SCORES.partition(settings, d) for d in days]
        scores = spark.read.option("basePath", datasets.SCORES.uri(settings)).parquet(*uris)
        sums = (
            scores.groupBy("model", "lead_min", "threshold")
            .agg(
                *[F.sum(c).alias(c) for c in (*COUNT_COLUMNS, *ERROR_COLUMNS)],
                F.countDistinct("issued_at").alias("issues"),
            )
            .toPandas()
        )
    issues = sums.groupby("model")["issues"].max()
    summary = summarise(sums.drop(columns="issues").assign(issued_at=0))
    trained = next(m for m in summary["models"] if m not in ("persistence", "flow"))
    # The report names the trained model "convlstm" (its full name@version is in "model").
    rename = {trained: "convlstm"}
    result = {
        "model": trained,
        "leads_min": summary["leads_min"],
        **{
            key: {rename.get(m, m): v for m, v in summary[key].items()}
            for key in ("csi", "pod", "far", "mse", "mae")
        },
        "issues": {rename.get(m, m): int(n) for m, n in issues.items()},
        "days": days,
        "seed": EVAL_SEED,
        "frame_size": size,
    }
    result["target_met"] = target_met(result)
    return result


def target_met(result: dict) -> dict:
    """The issue's target: the ConvLSTM beats both baselines on CSI at 2 and 5 mm/h and on
    MSE, at every lead up to 60 minutes."""
    leads = [i for i, lead in enumerate(result["leads_min"]) if lead <= 60]
    met = {}
    for baseline in ("persistence", "flow"):
        for key in ("2", "5"):
            ours, theirs = result["csi"]["convlstm"][key], result["csi"][baseline][key]
            met[f"csi_{key}_vs_{baseline}"] = all(
                ours[i] is not None and theirs[i] is not None and ours[i] > theirs[i] for i in leads
            )
        ours, theirs = result["mse"]["convlstm"], result["mse"][baseline]
        met[f"mse_vs_{baseline}"] = all(ours[i] < theirs[i] for i in leads)
    met["all"] = all(met.values())
    return met


def bench_nowcast(
    model: str, repeats: int, steps: Steps, *, workdir: str | None = None, train_steps: int = 20
) -> dict:
    """The forecast and verify stages against one process; cost per issue; TorchDistributor
    scaling."""
    from pyspark.sql import functions as F

    from lakesight.models.nowcasting.forecaster import load_nowcaster
    from lakesight.radar_nowcast import forecast, ingest
    from lakesight.radar_nowcast.frames import window_ends
    from lakesight.radar_nowcast.sample_data import write_sample_radar
    from lakesight.spark import bench_session

    spark, settings, fs = bench_session("bench-nowcast", workdir, steps)
    dt = "2026-07-01"
    with steps.step("sample a day, ingested"):
        write_sample_radar(fs, settings, dt, seed=5)
        ingest.run(spark, settings, dt, steps=Steps("ingest", quiet=True))
    nowcaster = load_nowcaster(model, settings.model_registry, threads=1)
    rows = spark.read.parquet(datasets.FRAMES.partition(settings, dt)).orderBy("minute").collect()
    frames = {
        r["minute"]: np.frombuffer(r["pixels"], np.uint8).reshape(r["height"], r["width"])
        for r in rows
    }
    cadence = settings.radar_cadence_min
    ends, _ = window_ends(frames, nowcaster.inputs, cadence)
    windows = np.stack(
        [[frames[e - k * cadence] for k in range(nowcaster.inputs - 1, -1, -1)] for e in ends]
    )

    def stage_pass() -> float:
        started = time.perf_counter()
        forecast.run(spark, settings, dt, steps=Steps("forecast", quiet=True), model=model)
        return time.perf_counter() - started

    def bare_pass() -> float:
        started = time.perf_counter()
        forecast.issue_forecasts(windows, nowcaster)
        return time.perf_counter() - started

    with steps.step(f"forecast: {len(ends)} windows, warm-up + {repeats} passes each"):
        stage_s, bare_s = interleaved_medians([stage_pass, bare_pass], repeats)
    written = (
        spark.read.parquet(datasets.FORECASTS.partition(settings, dt))
        .agg(F.countDistinct("issued_at"))
        .first()[0]
    )
    with steps.step(f"verify: warm-up + {repeats} passes, stage and bare loop"):
        verifying = verify_vs_bare(spark, settings, dt, repeats)
    with steps.step(f"verify at {LARGE_GRID} px: a day sampled, forecast, then timed alike"):
        verifying_large = verify_at_grid(spark, settings, fs, LARGE_GRID, model, repeats)
    with steps.step("forecast cost per issue time at 128, 256 and 512 px"):
        per_issue = cost_per_issue(nowcaster, repeats)
    with steps.step(f"training: {train_steps} steps, 1 process x 2 threads vs 2 processes"):
        scaling = train_scaling(spark, settings, [dt], train_steps)
    return {
        "windows": len(ends),
        "issued_by_stage": int(written),
        "forecast_stage_wps": round(len(ends) / stage_s, 2),
        "forecast_bare_wps": round(len(ends) / bare_s, 2),
        "forecast_vs_bare": round(bare_s / stage_s, 3),
        **verifying,
        **verifying_large,
        **per_issue,
        **scaling,
        "repeats": repeats,
        "spark_master": settings.spark_master,
        "model": nowcaster.name,
        "frame_size": list(windows.shape[-2:]),
    }


def verify_at_grid(spark, settings: Settings, fs, size: int, model: str, repeats: int) -> dict:
    """:func:`verify_vs_bare` on a day of ``size`` px frames (``verify_<size>_*``).

    At the sample's 128 px a day is 2.5 s of work in one process, and the stage's fixed
    costs (its Spark jobs, the pixels' trip to the Python workers, the commit) are about
    1.5 s of it; a radar's own grid is larger (HKO's composite is 480 px), where those
    costs weigh less. The bench reports both sizes."""
    from lakesight.radar_nowcast import forecast, ingest
    from lakesight.radar_nowcast.sample_data import write_sample_radar

    dt = LARGE_GRID_DAY
    write_sample_radar(fs, settings, dt, seed=6, size=size)
    ingest.run(spark, settings, dt, steps=Steps("ingest", quiet=True))
    forecast.run(spark, settings, dt, steps=Steps("forecast", quiet=True), model=model)
    return verify_vs_bare(spark, settings, dt, repeats, name=f"verify_{size}")


def verify_vs_bare(spark, settings: Settings, dt: str, repeats: int, name: str = "verify") -> dict:
    """The verify stage on Spark against :func:`bare_verify` (:func:`stage_vs_bare`)."""
    from lakesight.radar_nowcast import verify

    return stage_vs_bare(
        name, "pairs",
        lambda steps: verify.run(spark, settings, dt, steps=steps),
        lambda steps, scratch: bare_verify(settings, dt, steps, f"{scratch}/scores.parquet"),
        repeats,
    )  # fmt: skip


def bare_verify(settings: Settings, dt: str, steps: Steps, scores_path: str) -> int:
    """The verify stage's work for a whole day in one process, with the stage's own
    functions, on a local lake: read the day's forecasts and frames, pair and score them,
    summarise, draw the pictures and write the scores; returns the pairs scored."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    from lakesight.lake import uri_path
    from lakesight.radar_nowcast import verify
    from lakesight.radar_nowcast.verification import summarise

    def read(dataset, columns):
        path = uri_path(dataset.partition(settings, dt))
        return ds.dataset(path, format="parquet").to_table(columns=columns).to_pandas()

    with steps.step("read"):
        forecasts = read(datasets.FORECASTS, ["issued_at", "lead_min", "valid_at", "model",
                                              "height", "width", "pixels"])  # fmt: skip
        frames = read(datasets.FRAMES, ["frame_time", "pixels"])
    with steps.step("pair and score"):
        observed = frames.rename(columns={"frame_time": "valid_at", "pixels": "observed"})
        latest = frames["frame_time"].max()
        pairs = forecasts[forecasts["valid_at"] <= latest].merge(observed, on="valid_at")
        step = 256
        scores = pd.concat(
            [verify.score_batch(pairs.iloc[k : k + step]) for k in range(0, len(pairs), step)]
        )
    with steps.step("summarise"):
        summary = summarise(scores.drop(columns=["path", "reason", "detail"]))
    with steps.step("pictures"):
        cutoff = verify.last_verified_issue(latest.to_pydatetime(), summary["leads_min"])
        issued = forecasts["issued_at"][forecasts["issued_at"] <= cutoff] if cutoff else []
        drawn = issued.max().to_pydatetime() if len(issued) else None
        issue = forecasts[forecasts["issued_at"] == drawn] if drawn else forecasts.iloc[:0]
        times = [t.to_pydatetime() for t in frames["frame_time"]]
        observed = dict(zip(times, frames["pixels"], strict=True))
        verify.picture_files(drawn, issue, observed, summary, settings.radar_cadence_min)
    with steps.step("write"):
        pq.write_table(pa.Table.from_pandas(scores, preserve_index=False), scores_path)
    return len(pairs)


def cost_per_issue(nowcaster, repeats: int, sizes=(128, 256, 512)) -> dict:
    """Seconds to issue one window's forecasts (every lead), the model's and flow's, by grid
    size: medians of ``repeats`` on a window of the training family rendered at that size."""
    from lakesight.radar_nowcast.baselines import flow_extrapolation
    from lakesight.radar_nowcast.weather import render_day

    def median_s(forecast, window: np.ndarray) -> float:
        forecast(window)  # warm-up: ONNX Runtime allocates per input shape
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            forecast(window)
            runs.append(time.perf_counter() - started)
        return round(statistics.median(runs), 4)

    model_s, flow_s = {}, {}
    for size in sizes:
        minutes = [600 + 6 * k for k in range(nowcaster.inputs)]
        window = render_day(5, "2026-07-01", minutes, size=size)
        model_s[str(size)] = median_s(lambda w: nowcaster.predict(w[None]), window)
        flow_s[str(size)] = median_s(lambda w: flow_extrapolation(w, nowcaster.outputs), window)
    return {"forecast_s_per_issue": model_s, "flow_s_per_issue": flow_s}


def train_scaling(spark, settings: Settings, days: list[str], train_steps: int) -> dict:
    """Windows per second of training: TorchDistributor with 2 processes vs 1 process, 2 threads."""
    import tempfile

    from lakesight.lake import filesystem_for
    from lakesight.models.nowcasting.train_convlstm import TrainConfig, train, train_distributed
    from lakesight.radar_nowcast.train import build_training_set

    config = TrainConfig(steps=train_steps, log_every=train_steps, warmup=1)
    grid, length = config.model.grid, config.model.inputs + config.model.outputs
    data, _, _ = build_training_set(spark, settings, days, (grid, grid), length, validation_days=0)
    with tempfile.TemporaryDirectory(prefix="lakesight-bench-") as scratch:
        uri = Path(scratch, "training.npz").as_uri()
        filesystem_for(uri, settings).write_bytes(uri, data.to_bytes())
        single = train(config, uri, quiet=True)["facts"]
        distributed = train_distributed(config, uri, num_processes=2)["facts"]
    single_wps = single["windows_seen"] / single["seconds"]
    distributed_wps = distributed["windows_seen"] / distributed["seconds"]
    return {
        "train_single_wps": round(single_wps, 2),
        "train_distributed_wps": round(distributed_wps, 2),
        "train_scaling": round(distributed_wps / single_wps, 3),
        "train_steps": train_steps,
    }
