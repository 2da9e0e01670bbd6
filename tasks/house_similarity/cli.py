"""house_similarity's commands: sample listings, its demo, similar listings, its models' eval and bench.

:func:`register` adds ``lakesight sample-data listings``, ``lakesight demo house_similarity``,
``lakesight houses similar``, ``lakesight eval houses`` and ``lakesight bench houses``.
"""

from __future__ import annotations

import argparse
from typing import Any

from lakesight.cli import DemoPart, DemoRun, add_demo, emit, stdout_to_stderr
from lakesight.config import ConfigError, load_settings, validate_dt
from lakesight.house_similarity import datasets
from lakesight.progress import Steps


def cmd_sample_listings(args: argparse.Namespace) -> int:
    """``lakesight sample-data listings``: write a day of generated listings and photos."""
    from lakesight.house_similarity.sample_data import write_sample_listings
    from lakesight.lake import check_reachable, filesystem_for

    settings = load_settings()
    dt = validate_dt(args.dt)
    if args.n < 1:
        raise ConfigError(f"--n: expected at least 1 listing, got {args.n}")
    fs = filesystem_for(settings.root, settings)
    check_reachable(fs, settings.root)
    steps = Steps("sample-data", quiet=args.json)
    with steps.step(f"rendering {args.n} listings" + (" with labels" if args.labels else "")):
        sample = write_sample_listings(fs, settings, dt, seed=args.seed, n=args.n,
                                       labels=args.labels, bad=not args.no_bad)  # fmt: skip
    payload = {
        "dt": dt,
        "listings": len(sample.listings),
        "photos": len(sample.photos),
        "bad_photos": len(sample.bad_photos),
        "bad_rows": len(sample.bad_rows),
        "labels": args.labels,
        "partition_uri": sample.uri,
        "seconds": steps.total_s,
    }
    emit(payload, args.json, lambda d: (
        f"sample-data listings dt={d['dt']}: {d['listings']} listings, {d['photos']} photos + "
        f"{d['bad_photos']} broken photos, {d['bad_rows']} bad rows in {d['seconds']:.1f}s"
        f"{' (labelled)' if d['labels'] else ''}\n  listings: {d['partition_uri']}"
    ))  # fmt: skip
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    """``lakesight houses similar``: listings that look like a photo."""
    from lakesight.house_similarity.similar import format_similar_houses, similar_houses

    if not 1 <= args.k <= 1000:
        raise ConfigError(f"-k: expected 1..1000, got {args.k}")
    dt = validate_dt(args.dt) if args.dt else None
    with stdout_to_stderr():
        payload = similar_houses(load_settings(), args.photo, dt=dt, k=args.k,
                                 same_style=args.same_style, same_stories=args.same_stories,
                                 picture=args.picture)  # fmt: skip
    emit(payload, args.json, format_similar_houses)
    return 0


def _steps(text: str) -> int:
    """``--tune-steps N``: a positive count of optimiser steps."""
    try:
        steps = int(text)
    except ValueError:
        steps = 0
    if steps < 1:
        raise argparse.ArgumentTypeError(f"expected a positive count of steps, got {text!r}")
    return steps


def write_demo_sample(run: DemoRun) -> tuple[str, Any]:
    from lakesight.house_similarity.sample_data import write_sample_listings

    sample = write_sample_listings(run.fs, run.settings, run.dt, n=run.args.n, labels=True)
    return sample.uri, sample


def demo_query(run: DemoRun) -> tuple[dict, list[str]]:
    """The demo's ending: what train decided, and the listings like a front photo of the
    first listing (as a buyer would pick one)."""
    from lakesight.house_similarity.similar import format_similar_houses, similar_houses
    from lakesight.lake import uri_path

    sample = run.sample
    front = next(p for p, (_, view) in sorted(sample.photos.items()) if view == "front")
    with run.steps.step("similarity query"):
        query_path = uri_path(f"{sample.uri.rstrip('/')}/photos/{front}")
        result = similar_houses(run.settings, query_path, dt=run.dt, k=run.args.k)
    decision = run.manifests["train"].extra.get("decision", {})
    return {"decision": decision, "similar": result}, [
        f"  heads:       {decision.get('why', '')}",
        format_similar_houses(result),
    ]


DEMO = DemoPart(
    "house_similarity", "sample listings, the DAG, a query",
    (datasets.INGEST, datasets.EMBED, datasets.TRAIN, datasets.PUBLISH),
    sample_text="{n} listings with labels and broken records", write_sample=write_demo_sample,
    finish=demo_query,
    # The DAG's tune_steps param: unset, train fine-tunes on the shipped heads' schedule.
    conf=lambda args: {} if args.tune_steps is None else {"tune_steps": args.tune_steps},
)  # fmt: skip


def cmd_eval(args: argparse.Namespace) -> int:
    """``lakesight eval houses``: taggers and ranking on held-out generated listings."""
    from lakesight.house_similarity.evaluation import eval_houses, record_metrics

    options = {k: v for k, v in (("per_class", args.per_class), ("listings", args.listings))
               if v is not None}  # fmt: skip
    if args.per_class is not None and args.per_class < 10:
        raise ConfigError(f"--per-class: expected at least 10, got {args.per_class}")
    try:
        sizes = tuple(int(n) for n in args.sizes.split(","))
    except ValueError:
        raise ConfigError(f"--sizes: expected numbers like 50,200, got {args.sizes!r}") from None
    if not sizes or min(sizes) < 2 or options.get("listings", 10) < 10:
        raise ConfigError("--sizes/--listings: expected sizes >= 2 and >= 10 listings")
    if args.tune_steps is not None:
        from lakesight.models.tagging.tuning import TuneConfig

        TuneConfig.for_steps(args.tune_steps)  # a count below 1 is a one-line error
        if args.record:
            raise ConfigError(
                "--record: a card keeps figures of the full schedule, not --tune-steps"
            )
        options["tune_steps"] = args.tune_steps
    steps = Steps("eval houses", quiet=args.json)
    with stdout_to_stderr():
        result = eval_houses(steps, sizes=sizes, **options)
    if args.record:
        record_metrics(result)

    def human(d: dict) -> str:
        lines = [f"{d['heads']} on {d['backbone']}, held-out seed {d['eval_seed']}:"]
        for head, acc in d["accuracy"].items():
            row = " ".join(
                f"{n}/class transfer {d['transfer_accuracy'][n][head]:.3f} scratch "
                f"{d['scratch_accuracy'][n][head]:.3f}"
                for n in d["transfer_accuracy"]
            )
            lines.append(f"  {head:9} accuracy {acc:.3f}   {row}")
        lines.append(f"  precision@10 {d['precision_at_10']:.3f}")
        return "\n".join(lines)

    emit(result, args.json, human)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """``lakesight bench houses``: embed and publish on Spark vs one process; query latency."""
    from lakesight.house_similarity.evaluation import bench_houses

    steps = Steps("bench houses", quiet=args.json)
    with stdout_to_stderr():
        result = bench_houses(
            steps, listings=args.listings, repeats=args.repeats, workdir=args.workdir
        )
    emit(result, args.json, lambda d: "\n".join(f"{k:18} {v}" for k, v in d.items()))
    return 0


def register(sub, groups: dict) -> None:
    """Add house_similarity's commands to the parser and its ``sample-data``, ``demo``,
    ``eval`` and ``bench`` groups."""
    from lakesight.house_similarity.sample_data import SAMPLE_SEED

    q = groups["sample-data"].add_parser("listings", help="a day of generated listings and photos")
    q.add_argument("--dt", required=True)
    q.add_argument("--n", type=int, default=24, help="listings")
    q.add_argument("--seed", type=int, default=SAMPLE_SEED)
    q.add_argument("--labels", action="store_true", help="also write labels.csv")
    q.add_argument("--no-bad", action="store_true", help="no broken records")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_sample_listings)

    q = add_demo(groups, DEMO)
    q.add_argument("--n", type=int, default=24, help="listings")
    q.add_argument("-k", type=int, default=6, help="similar listings shown")
    q.add_argument("--tune-steps", type=_steps,
                   help="optimiser steps of each fine-tuned head the DAG's train refits "
                        "(default: the shipped heads' schedule)")  # fmt: skip

    houses = sub.add_parser("houses", help="query published listings").add_subparsers(
        dest="action", required=True
    )
    q = houses.add_parser("similar", help="listings that look like a photo")
    q.add_argument("--photo", required=True, help="a photo file (a house, or any image)")
    q.add_argument("--dt", help="published day (default: the latest)")
    q.add_argument("-k", type=int, default=10)
    q.add_argument("--same-style", action="store_true", help="only listings of the query's style")
    q.add_argument("--same-stories", action="store_true", help="only listings with as many stories")
    q.add_argument("--picture", help="contact sheet PNG (default var/pictures/houses_*.png)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_similar)

    q = groups["eval"].add_parser("houses", help="taggers (transfer vs scratch) and precision@10")
    q.add_argument("--per-class", type=int, help="held-out photos per class (default 300)")
    q.add_argument(
        "--sizes", default="50,200", help="labelled photos per class: transfer vs scratch"
    )
    q.add_argument(
        "--listings", type=int, help="held-out listings ranked for precision@10 (default 240)"
    )
    q.add_argument(
        "--tune-steps", type=int,
        help="optimiser steps of each fine-tuned head compared (default: the shipped schedule)",
    )  # fmt: skip
    q.add_argument("--record", action="store_true", help="write the metrics into the heads' card")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_eval)

    q = groups["bench"].add_parser(
        "houses", help="embed and publish on Spark vs one process; query latency"
    )
    q.add_argument("--listings", type=int, default=600, help="listings of the benchmark day")
    q.add_argument("--repeats", type=int, default=5, help="timed passes, the median is reported")
    q.add_argument("--workdir", help="scratch lake (default var/bench-houses)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_bench)
