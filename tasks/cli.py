"""The ``lakesight`` command: what users, CI and benchmarks run.

Every command prints a short human summary, or one JSON object with ``--json``.
Progress goes to stderr. A wrong setting exits 2 with one line naming it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

from lakesight.config import ConfigError, load_settings, validate_dt
from lakesight.progress import Steps
from lakesight.spark import STAGES

DEMO_DT = "2026-01-01"


def _print(payload: dict, as_json: bool, human: Callable[[dict], str]) -> None:
    print(json.dumps(payload, ensure_ascii=False, default=str) if as_json else human(payload))


def cmd_config(args: argparse.Namespace) -> int:
    """``lakesight config``: the resolved settings."""
    settings = load_settings()
    _print(
        settings.masked(),
        args.json,
        lambda d: "\n".join(f"{k:18} {v}" for k, v in d.items()),
    )
    return 0


def cmd_sample_images(args: argparse.Namespace) -> int:
    """``lakesight sample-data images``: write a generated raw partition."""
    from lakesight.lake import check_reachable, filesystem_for
    from lakesight.sample_data import write_images_partition

    settings = load_settings()
    dt = validate_dt(args.dt)
    fs = filesystem_for(settings.root, settings)
    check_reachable(fs, settings.root)
    steps = Steps("sample-data", quiet=args.json)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.monotonic() - last[0] > 2 or done == total:
            last[0] = time.monotonic()
            steps.say(f"{done}/{total} files")

    with steps.step(f"writing {args.n} scenes + {args.bad} broken files"):
        summary = write_images_partition(
            fs, settings, dt, n=args.n, bad=args.bad, seed=args.seed, progress=progress
        )
    payload = {**summary.__dict__, "seconds": steps.total_s}
    _print(
        payload,
        args.json,
        lambda d: (
            f"sample-data images dt={d['dt']}: {d['good']} good + {d['bad']} broken files "
            f"in {d['seconds']:.1f}s\n  images: {d['partition_uri']}\n  labels: {d['labels_uri']}"
        ),
    )
    return 0


def cmd_stage(args: argparse.Namespace, rest: list[str]) -> int:
    """``lakesight stage <name>``: run one Spark stage in this process."""
    module = importlib.import_module(STAGES[args.stage])
    return int(module.main(rest))


def cmd_partitions(args: argparse.Namespace) -> int:
    """``lakesight partitions``: committed partitions and their counts."""
    from lakesight.lake import filesystem_for, join, list_partitions, read_manifest

    settings = load_settings()
    zone, _, dataset = args.dataset.partition("/")
    dataset_uri = settings.dataset_uri(zone, dataset)
    fs = filesystem_for(dataset_uri, settings)
    rows = []
    for dt in list_partitions(fs, dataset_uri):
        manifest = read_manifest(fs, join(dataset_uri, f"dt={dt}"))
        rows.append({"dt": dt, "counts": manifest.counts if manifest else None})
    _print(
        {"dataset": dataset_uri, "partitions": rows},
        args.json,
        lambda d: "\n".join(
            [d["dataset"]] + [f"  dt={r['dt']}  {r['counts']}" for r in d["partitions"]]
        ),
    )
    return 0


def airflow_dags_test(dag_id: str, dt: str, log_path) -> None:
    """Run one DAG for ``dt`` the way its users test it: ``airflow dags test``, with this
    repository's dags/ and plugins/, in ``AIRFLOW_HOME`` (default ``var/airflow``)."""
    import os
    import subprocess
    from pathlib import Path

    from lakesight.config import REPO_ROOT
    from lakesight.spark import StageError

    if not (REPO_ROOT / "dags" / f"{dag_id}.py").exists():
        raise ConfigError(
            f"demo: no dags/{dag_id}.py under {REPO_ROOT} (run the demo from a checkout)"
        )
    airflow = str(Path(sys.executable).with_name("airflow"))
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", str(REPO_ROOT / "var" / "airflow"))
    env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "dags"))
    env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(REPO_ROOT / "plugins"))
    env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        for command in ([airflow, "db", "migrate"], [airflow, "dags", "test", dag_id, dt]):
            log.write(f"$ {' '.join(command)}\n")
            log.flush()
            done = subprocess.run(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
            )
            if done.returncode != 0:
                raise StageError(
                    f"{' '.join(command[1:])} failed (exit {done.returncode}); see {log_path}"
                )
    if "state=success" not in log_path.read_text():
        raise StageError(f"airflow dags test {dag_id} {dt} did not succeed; see {log_path}")


def cmd_demo(args: argparse.Namespace) -> int:
    """Sample data, the image_features DAG through ``airflow dags test``, a similarity query."""
    from lakesight import analyze, ingest, publish
    from lakesight.config import REPO_ROOT
    from lakesight.lake import filesystem_for, read_manifest
    from lakesight.sample_data import write_images_partition
    from lakesight.similar import format_similar, load_features, similar
    from lakesight.spark import check_java

    settings = load_settings()
    dt = validate_dt(args.dt)
    check_java()
    steps = Steps("demo", quiet=args.json)
    fs = filesystem_for(settings.root, settings)
    with steps.step(f"sample data: {args.n} scenes + {args.bad} broken files"):
        sample = write_images_partition(fs, settings, dt, n=args.n, bad=args.bad, seed=args.seed)
    log_path = REPO_ROOT / "var" / "logs" / f"demo-image_features-{dt}.log"
    with steps.step(f"airflow dags test image_features {dt} (log: {log_path})"):
        airflow_dags_test("image_features", dt, log_path)
    summaries = {}
    for stage, module, zone, dataset in (
        ("ingest", ingest, "curated", "images"),
        ("analyze", analyze, "curated", "descriptors"),
        ("publish", publish, "features", "images"),
    ):
        manifest = read_manifest(fs, settings.partition_uri(zone, dataset, dt))
        summaries[stage] = manifest_summary(stage, module, manifest, settings, dt)
    with steps.step("similarity query"):
        query = load_features(settings, dt, ["image_id", "top"])
        with_object = query[query["top"].notna()].sort_values("image_id")
        query_id = (with_object if len(with_object) else query)["image_id"].iloc[0]
        found = similar(settings, dt, image_id=query_id, k=8)
    payload = {
        "dt": dt,
        "root": settings.root,
        "input": sample.partition_uri,
        "labels": sample.labels_uri,
        **summaries,
        "similar": found,
        "airflow_log": str(log_path),
        "seconds": steps.total_s,
    }
    _print(
        payload,
        args.json,
        lambda d: (
            f"lakesight demo dt={d['dt']} on {d['root']} ({d['seconds']:.0f}s), "
            f"image_features through airflow dags test (log: {d['airflow_log']})\n"
            f"  read:        {d['input']}\n"
            + ingest.format_summary(d["ingest"]).split("\n", 1)[1]
            + f"\n  {d['ingest']['read']} files = {d['ingest']['curated']} curated"
            f" + {d['ingest']['quarantined']} quarantined\n"
            + analyze.format_summary(d["analyze"])
            + "\n"
            + publish.format_summary(d["publish"])
            + "\n"
            + format_similar(d["similar"])
        ),
    )
    return 0


def manifest_summary(stage: str, module, manifest, settings, dt: str) -> dict:
    """A stage's summary rebuilt from its committed manifest (the stage ran in another process)."""
    from lakesight.lake import filesystem_for, read_manifest

    quarantine = settings.partition_uri("quarantine", "images" if stage == "ingest" else stage, dt)
    if stage == "ingest":
        result = module.IngestResult(
            manifest, settings.partition_uri("curated", "images", dt), quarantine
        )
    elif stage == "analyze":
        result = module.AnalyzeResult(
            manifest, settings.partition_uri("curated", "descriptors", dt), quarantine
        )
    else:
        pictures_uri = settings.partition_uri("pictures", "image_features", dt)
        pictures = read_manifest(filesystem_for(pictures_uri, settings), pictures_uri)
        result = module.PublishResult(
            manifest,
            settings.partition_uri("features", "images", dt),
            pictures_uri,
            pictures.counts["out"] if pictures else 0,
        )
    return result.summary()


def cmd_eval(args: argparse.Namespace) -> int:
    """``lakesight eval``: model quality on held-out data."""
    from lakesight import bench

    steps = Steps(f"eval {args.target}", quiet=args.json)
    if args.target == "deepbit":
        result = bench.eval_deepbit(
            args.model or "deepbit_scenes", args.queries, args.database, steps, pool=args.pool
        )
        _print(
            result,
            args.json,
            lambda d: (
                f"{d['model']}: mAP@1000 over {d['queries']} queries x {d['database']} codes\n"
                + "\n".join(
                    f"  {m:8} " + "  ".join(f"{b} bits {v:.4f}" for b, v in r.items())
                    for m, r in d["map_at_1000"].items()
                )
            ),
        )
        return 0
    result = bench.eval_ssd(
        args.model or "ssd_scenes", args.images, args.runtime, args.variant, steps
    )
    _print(
        result,
        args.json,
        lambda d: (
            f"{d['model']} on {d['runtime']} ({d['variant']}): mAP@0.5 = {d['map50']:.4f} "
            f"over {d['images']} held-out scenes (seed {d['seed']})\n"
            + "\n".join(f"  {k:10} AP {v:.4f}" for k, v in d["per_class_ap"].items())
        ),
    )
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    """``lakesight bench``: speed against baselines of the same run."""
    from lakesight import bench

    steps = Steps(f"bench {args.target}", quiet=args.json)
    repeats = args.repeats or (3 if args.target == "pipeline" else 5)
    if args.target == "pipeline":
        from lakesight.bench_pipeline import bench_pipeline

        result = bench_pipeline(args.images or 2000, repeats, steps, root=args.workdir)
    elif args.target == "hamming":
        result = bench.bench_hamming(args.codes, args.bits, args.queries, args.k, repeats, steps)
    else:
        result = bench.bench_ssd(
            args.model or "ssd_scenes", args.images or 256, repeats, args.eval_images, steps
        )
    _print(
        result,
        args.json,
        lambda d: "\n".join(f"{k:18} {v}" for k, v in d.items()),
    )
    return 0


def cmd_similar(args: argparse.Namespace) -> int:
    """``lakesight similar``: the nearest published images, and a contact sheet."""
    from lakesight.similar import format_similar, similar

    settings = load_settings()
    dt = validate_dt(args.dt)
    payload = similar(
        settings, dt, image=args.image, image_id=args.image_id, k=args.k, picture=args.picture
    )
    _print(payload, args.json, format_similar)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakesight", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("config", help="show the resolved settings")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_config)

    p = sub.add_parser("demo", help="the main job end to end on embedded defaults")
    p.add_argument("--dt", default=DEMO_DT)
    p.add_argument("--n", type=int, default=200, help="generated scenes")
    p.add_argument("--bad", type=int, default=9, help="broken files added")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("sample-data", help="generate a raw partition")
    kinds = p.add_subparsers(dest="kind", required=True)
    q = kinds.add_parser(
        "images", help="synthetic scenes with ground-truth boxes, plus broken files"
    )
    q.add_argument("--dt", default=datetime.now(UTC).date().isoformat())
    q.add_argument("--n", type=int, default=200, help="generated scenes")
    q.add_argument("--bad", type=int, default=0, help="broken files added")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_sample_images)

    p = sub.add_parser(
        "stage", help="run one Spark stage in-process (also: spark-submit tasks/<stage>.py)"
    )
    p.add_argument("stage", choices=sorted(STAGES))
    p.set_defaults(func=cmd_stage, passthrough=True)

    p = sub.add_parser("eval", help="model quality on held-out data")
    p.add_argument("target", choices=["ssd", "deepbit"])
    p.add_argument("--model", help="name[@version] in the registry (default: the shipped one)")
    p.add_argument("--images", type=int, default=500, help="ssd: held-out scenes")
    p.add_argument("--queries", type=int, default=1000, help="deepbit: held-out query crops")
    p.add_argument("--database", type=int, default=10000, help="deepbit: database crops")
    p.add_argument(
        "--pool", type=int, help="deepbit: crops the baselines fit on (default: as trained)"
    )
    p.add_argument("--runtime", choices=["ort", "opencv"], default="ort")
    p.add_argument("--variant", choices=["fp32", "int8"], default="fp32")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("bench", help="speed against baselines measured in the same run")
    p.add_argument("target", choices=["pipeline", "ssd", "hamming"])
    p.add_argument("--model", help="name[@version] in the registry (default: the shipped one)")
    p.add_argument("--images", type=int, help="images per pass (pipeline: 2000, ssd: 256)")
    p.add_argument(
        "--repeats", type=int, help="timed passes, the median is reported (pipeline: 3, else 5)"
    )
    p.add_argument("--workdir", help="pipeline: keep the generated lake here (default: a temp dir)")
    p.add_argument("--eval-images", type=int, default=500, help="ssd: held-out scenes for the mAPs")
    p.add_argument("--codes", type=int, default=1_000_000, help="hamming: database size")
    p.add_argument("--bits", type=int, default=64, help="hamming: code length")
    p.add_argument("--queries", type=int, default=256, help="hamming: queries per timed pass")
    p.add_argument("--k", type=int, default=10, help="hamming: results per query")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser(
        "similar", help="nearest published images by Hamming distance, cosine tie-break"
    )
    p.add_argument("--dt", required=True, help="published partition to search")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--image", help="an image file to describe and search for")
    which.add_argument("--image-id", help="a published image_id (sha256) to search for")
    p.add_argument("-k", type=int, default=10, help="results")
    p.add_argument(
        "--picture", help="contact sheet PNG (default: var/pictures/similar_<dt>_<query>.png)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_similar)

    p = sub.add_parser(
        "partitions", help="list committed partitions of a dataset, e.g. curated/images"
    )
    p.add_argument("dataset")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_partitions)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    try:
        if getattr(args, "passthrough", False):
            return args.func(args, rest)
        if rest:
            parser.error(f"unrecognized arguments: {' '.join(rest)}")
        return args.func(args)
    except ConfigError as err:
        print(f"lakesight: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
