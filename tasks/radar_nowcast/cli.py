"""radar_nowcast's commands: sample radar days, its demo, and its model's eval and bench.

:func:`register` adds ``lakesight sample-data radar``, ``lakesight demo radar_nowcast``,
``lakesight eval nowcast`` and ``lakesight bench nowcast``.
"""

from __future__ import annotations

import argparse
from typing import Any

from lakesight.cli import DemoPart, DemoRun, add_demo, emit, stdout_to_stderr
from lakesight.config import ConfigError, load_settings, validate_dt
from lakesight.progress import Steps
from lakesight.radar_nowcast import datasets

DEMO_END = "06:00"  # the demo's day ends here: enough for forecasts and their verification


def minute_option(value: str, option: str) -> int:
    """``HH:MM`` (``24:00`` allowed) as minutes of the day, or a one-line ConfigError."""
    try:
        hours, minutes = (int(part) for part in value.split(":"))
    except ValueError:
        raise ConfigError(f"{option}: expected HH:MM, got {value!r}") from None
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or hours * 60 + minutes > 1440:
        raise ConfigError(f"{option}: expected a time of day HH:MM, got {value!r}")
    return hours * 60 + minutes


def cmd_sample_radar(args: argparse.Namespace) -> int:
    """``lakesight sample-data radar``: write a day of generated radar frames."""
    from lakesight.lake import check_reachable, filesystem_for
    from lakesight.radar_nowcast.sample_data import write_sample_radar

    settings = load_settings()
    dt = validate_dt(args.dt)
    start, end = minute_option(args.start, "--start"), minute_option(args.end, "--end")
    gaps = tuple(minute_option(g, "--gaps") for g in args.gaps.split(",") if g) if args.gaps else ()
    if args.size is not None and args.size < 16:
        raise ConfigError(f"--size: expected at least 16 pixels, got {args.size}")
    fs = filesystem_for(settings.root, settings)
    check_reachable(fs, settings.root)
    steps = Steps("sample-data", quiet=args.json)
    with steps.step(f"rendering {args.family} radar {args.start}-{args.end}"):
        day = write_sample_radar(
            fs,
            settings,
            dt,
            seed=args.seed,
            size=args.size,
            start=start,
            end=end,
            gaps=gaps,
            clear=args.clear,
            bad=args.bad,
            file_format=args.file_format,
            family=args.family,
        )
    payload = {
        "dt": dt,
        "frames": len(day.written),
        "bad": day.bad,
        "partition_uri": day.uri,
        "seconds": steps.total_s,
    }
    emit(
        payload,
        args.json,
        lambda d: (
            f"sample-data radar dt={d['dt']}: {d['frames']} frames + {len(d['bad'])} broken files "
            f"in {d['seconds']:.1f}s\n  frames: {d['partition_uri']}"
        ),
    )
    return 0


def write_demo_sample(run: DemoRun) -> tuple[str, Any]:
    from lakesight.radar_nowcast.sample_data import write_sample_radar

    end = minute_option(run.args.end, "--end")
    day = write_sample_radar(run.fs, run.settings, run.dt, end=end, bad=run.args.bad)
    return day.uri, day


def demo_scores(run: DemoRun) -> tuple[dict, list[str]]:
    """The demo's ending: the CSI at 2 mm/h by lead of every model, and the day's pictures."""
    from lakesight.lake import join

    pictures = datasets.PICTURES.partition(run.settings, run.dt)
    paths = [join(pictures, "panels.png"), join(pictures, "csi_by_lead.png")]
    csi = run.manifests["verify"].extra.get("summary", {}).get("csi", {})
    lines = [
        f"  CSI >= 2 mm/h  {m:22} "
        + " ".join("  -  " if v is None else f"{v:.2f}" for v in by["2"])
        for m, by in csi.items()
        if "2" in by
    ]
    return {"pictures": paths, "csi_2": csi}, [*lines, *(f"  picture:     {p}" for p in paths)]


DEMO = DemoPart(
    "radar_nowcast", "sample radar, the DAG, forecasts and scores",
    (datasets.INGEST, datasets.FORECAST, datasets.VERIFY),
    sample_text="radar 00:00-{end} + {bad} broken files", write_sample=write_demo_sample,
    # The run of 00:30 covers [00:00, 00:30) of the day (a run's logical date is its interval's
    # end); its config widens the interval to the sample's frames.
    logical_date="{dt}T00:30:00+00:00", conf=lambda args: {"start": "00:00", "end": args.end},
    finish=demo_scores,
)  # fmt: skip


def cmd_eval(args: argparse.Namespace) -> int:
    """``lakesight eval nowcast``: held-out days through the stages, scores by lead."""
    from lakesight.radar_nowcast.evaluation import eval_nowcast

    if args.days < 1:
        raise ConfigError(f"--days: expected at least 1, got {args.days}")
    steps = Steps("eval nowcast", quiet=args.json)
    if args.family:
        from lakesight.radar_nowcast.forecast import DEFAULT_MODEL

        args.model = args.model or DEFAULT_MODEL
        return eval_by_family(args, steps)
    if args.seed is not None or args.start:
        raise ConfigError("--seed/--start: only with --family (the stage eval's days are fixed)")
    # The stage-based eval checks the ConvLSTM's target (its report names the model "convlstm").
    args.model = args.model or "convlstm_radar"
    with stdout_to_stderr():
        result = eval_nowcast(args.model, args.days, steps, workdir=args.workdir)
    if args.record:
        from lakesight.models.nowcasting.train_convlstm import record_metrics

        record_metrics(result["model"], result)

    def human(d: dict) -> str:
        lines = [
            f"{d['model']} vs baselines on {len(d['days'])} held-out days (seed {d['seed']}), "
            f"leads {d['leads_min']} min"
        ]
        for key in ("2", "5"):
            for m, by in d["csi"].items():
                lines.append(f"  CSI>={key:2} {m:12} " + " ".join(f"{v:.3f}" for v in by[key]))
        for m, values in d["mse"].items():
            lines.append(f"  MSE     {m:12} " + " ".join(f"{v:.2f}" for v in values))
        lines.append(f"  target met: {d['target_met']}")
        return "\n".join(lines)

    emit(result, args.json, human)
    return 0


def eval_by_family(args: argparse.Namespace, steps: Steps) -> int:
    """``lakesight eval nowcast --family F``: every model and pysteps per weather family."""
    from lakesight.models.nowcasting.train_convlstm import EVAL_SEED
    from lakesight.radar_nowcast.families import FAMILIES
    from lakesight.radar_nowcast.family_eval import EVAL_START, eval_families

    if args.every_min < 6 or args.every_min % 6:
        raise ConfigError(f"--every-min: expected a multiple of 6, got {args.every_min}")
    families = list(FAMILIES) if args.family == "all" else [args.family]
    start = validate_dt(args.start, "--start") if args.start else EVAL_START
    with stdout_to_stderr():
        result = eval_families(families, args.model, args.days, steps,
                               seed=EVAL_SEED if args.seed is None else args.seed,
                               every_min=args.every_min, start=start)  # fmt: skip

    def human(d: dict) -> str:
        lines = []
        for family, r in d["families"].items():
            lines.append(f"{family} ({r['frame_sizes']} px, {len(r['days'])} days): "
                         f"leads {r['leads_min']} min")  # fmt: skip
            for key in ("2", "5", "10", "30"):
                for m, by in r["csi"].items():
                    cells = " ".join("  -  " if v is None else f"{v:.3f}" for v in by[key])
                    lines.append(f"  CSI>={key:2} {m:18} {cells}")
            for m, values in r["mse"].items():
                lines.append(f"  MSE     {m:18} " + " ".join(f"{v:.2f}" for v in values))
            lines.append(f"  targets: {r['targets']}")
        return "\n".join(lines)

    emit(result, args.json, human)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """``lakesight bench nowcast``: forecast and verify on Spark vs one process; training scaling."""
    from lakesight.radar_nowcast.evaluation import bench_nowcast

    steps = Steps("bench nowcast", quiet=args.json)
    with stdout_to_stderr():
        result = bench_nowcast(
            args.model, args.repeats, steps, workdir=args.workdir, train_steps=args.train_steps
        )
    emit(result, args.json, lambda d: "\n".join(f"{k:22} {v}" for k, v in d.items()))
    return 0


def register(sub, groups: dict) -> None:
    """Add radar_nowcast's commands to the ``sample-data``, ``demo``, ``eval`` and ``bench`` groups."""
    from lakesight.radar_nowcast.families import FAMILIES, TRAINING_FAMILY
    from lakesight.radar_nowcast.forecast import DEFAULT_MODEL
    from lakesight.radar_nowcast.sample_data import FILE_FORMATS, SAMPLE_SEED

    q = groups["sample-data"].add_parser(
        "radar", help="a day of generated radar frames (HKO-7 PNGs or ODIM_H5)"
    )
    q.add_argument("--dt", required=True)
    q.add_argument("--seed", type=int, default=SAMPLE_SEED, help="weather seed (with the date)")
    q.add_argument("--size", type=int, help="frame size in pixels (default: 128 for hko_like, "
                   "the family's own grid of the day for the others)")  # fmt: skip
    q.add_argument("--family", choices=FAMILIES, default=TRAINING_FAMILY,
                   help="weather family (radar_nowcast.families); hko_like is the one the "
                   "shipped models trained on")  # fmt: skip
    q.add_argument("--start", default="00:00", help="first frame, HH:MM")
    q.add_argument("--end", default="24:00", help="end of the frames, HH:MM, excluded")
    q.add_argument("--gaps", help="frames left out, HH:MM,HH:MM,...")
    q.add_argument("--clear", action="store_true", help="a day without echo")
    q.add_argument("--bad", type=int, default=0, help="broken files added")
    q.add_argument("--format", dest="file_format", choices=FILE_FORMATS, default="png",
                   help="png: HKO-7 PNGs; odim: ODIM_H5 DBZH composites (HHMM.h5)")  # fmt: skip
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_sample_radar)

    q = add_demo(groups, DEMO)
    q.add_argument("--end", default=DEMO_END, help="the sample day's frames end here, HH:MM")
    q.add_argument("--bad", type=int, default=6, help="broken files added")

    q = groups["eval"].add_parser(
        "nowcast", help="a nowcaster vs persistence and flow (and pysteps with --family): "
        "CSI, MSE by lead"
    )  # fmt: skip
    q.add_argument("--model", help="name[@version] in the registry (default: the forecast "
                   "stage's with --family, convlstm_radar without)")  # fmt: skip
    # A week: the weather of one day moves a lead-1 CSI by more than the margins the target
    # compares, and the retraining DAG runs weekly.
    q.add_argument("--days", type=int, default=7, help="held-out generated days (default: a week)")
    q.add_argument("--workdir", help="scratch lake (default var/eval-nowcast)")
    q.add_argument("--record", action="store_true", help="write the metrics into the model's card")
    q.add_argument("--family", choices=(*FAMILIES, "all"),
                   help="score on generated weather of this family (all: every one) against "
                        "flow, persistence and pysteps, instead of through the stages")  # fmt: skip
    q.add_argument("--every-min", type=int, default=30,
                   help="--family: minutes between issue times (default 30)")  # fmt: skip
    q.add_argument("--seed", type=int, help="--family: the weather's seed (default: the eval's, "
                                            "2026; the spread's tuning days are 7)")  # fmt: skip
    q.add_argument("--start", help="--family: the first day (default 2026-06-01; the tuning "
                                   "days start 2026-03-01)")  # fmt: skip
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_eval)

    q = groups["bench"].add_parser(
        "nowcast", help="forecast and verify on Spark vs one process; training scaling"
    )
    q.add_argument("--model", default=DEFAULT_MODEL, help="name[@version] in the registry")
    q.add_argument("--repeats", type=int, default=5, help="timed passes, the median is reported")
    q.add_argument("--train-steps", type=int, default=20, help="training steps per timing")
    q.add_argument("--workdir", help="scratch lake (default var/bench-nowcast)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_bench)
