"""image_features' commands: sample data, its demo, similarity search, its models' eval and bench.

:func:`register` adds them to the ``lakesight`` parser (:mod:`lakesight.cli`):
``lakesight sample-data images``, ``lakesight demo image_features``,
``lakesight similar``, ``lakesight stream image_features``,
``lakesight eval {ssd,deepbit,near-duplicates}`` and ``lakesight bench {pipeline,ssd,hamming}``.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from typing import Any

from lakesight.cli import DemoPart, DemoRun, add_demo, emit
from lakesight.config import load_settings, validate_dt
from lakesight.image_features import datasets
from lakesight.progress import Steps


def cmd_sample_images(args: argparse.Namespace) -> int:
    """``lakesight sample-data images``: write a generated raw partition."""
    from lakesight.image_features.sample_data import write_images_partition
    from lakesight.lake import check_reachable, filesystem_for

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
    emit(
        payload,
        args.json,
        lambda d: (
            f"sample-data images dt={d['dt']}: {d['good']} good + {d['bad']} broken files "
            f"in {d['seconds']:.1f}s\n  images: {d['partition_uri']}\n  labels: {d['labels_uri']}"
        ),
    )
    return 0


def write_demo_sample(run: DemoRun) -> tuple[str, Any]:
    from lakesight.image_features.sample_data import write_images_partition

    a = run.args
    sample = write_images_partition(run.fs, run.settings, run.dt, n=a.n, bad=a.bad, seed=a.seed)
    return sample.partition_uri, sample


def demo_query(run: DemoRun) -> tuple[dict, list[str]]:
    """The demo's ending: the images most like the first one with an object."""
    from lakesight.image_features.similar import format_similar, load_features, similar

    with run.steps.step("similarity query"):
        query = load_features(run.settings, run.dt, ["image_id", "top"])
        with_object = query[query["top"].notna()].sort_values("image_id")
        query_id = (with_object if len(with_object) else query)["image_id"].iloc[0]
        found = similar(run.settings, run.dt, image_id=query_id, k=8)
    return {"labels": run.sample.labels_uri, "similar": found}, [format_similar(found)]


DEMO = DemoPart(
    "image_features", "sample images, the DAG through airflow dags test, a query",
    (datasets.INGEST, datasets.ANALYZE, datasets.PUBLISH),
    sample_text="{n} scenes + {bad} broken files", write_sample=write_demo_sample,
    finish=demo_query,
)  # fmt: skip


def cmd_similar(args: argparse.Namespace) -> int:
    """``lakesight similar``: the nearest published images, and a contact sheet."""
    from lakesight.image_features.similar import format_similar, similar
    from lakesight.models.runtime import chosen_models

    settings = load_settings()
    dt = validate_dt(args.dt)
    models = chosen_models(settings, args.detector, args.descriptor)
    payload = similar(settings, dt, image=args.image, image_id=args.image_id, k=args.k,
                      picture=args.picture, models=models)  # fmt: skip
    emit(payload, args.json, format_similar)
    return 0


def cmd_stream(args: argparse.Namespace, rest: list[str]) -> int:
    """``lakesight stream image_features ...``: the stream's own ``main`` (also what
    ``spark-submit tasks/image_features/stream.py`` runs)."""
    from lakesight.image_features.stream import main

    return main(rest)


def cmd_eval(args: argparse.Namespace) -> int:
    """``lakesight eval {ssd,deepbit}``: model quality on held-out data."""
    from lakesight.image_features import model_bench

    steps = Steps(f"eval {args.target}", quiet=args.json)
    if args.target == "near-duplicates":
        from lakesight.image_features.near_duplicates import evaluate

        with steps.step("edited packaged photos against their originals"):
            result = evaluate(args.model, seed=args.seed, distractors=args.distractors)
        emit(result, args.json, format_near_duplicates)
        return 0
    if args.target == "deepbit":
        result = model_bench.eval_deepbit(
            args.model or "deepbit_scenes", args.queries, args.database, steps, pool=args.pool
        )
        emit(
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
    result = model_bench.eval_ssd(
        args.model or "ssd_scenes", args.images, args.runtime, args.variant, steps
    )
    emit(
        result,
        args.json,
        lambda d: (
            f"{d['model']} on {d['runtime']} ({d['variant']}): mAP@0.5 = {d['map50']:.4f} "
            f"over {d['images']} held-out scenes (seed {d['seed']})\n"
            + "\n".join(f"  {k:10} AP {v:.4f}" for k, v in d["per_class_ap"].items())
        ),
    )
    return 0


def format_near_duplicates(d: dict) -> str:
    lines = [f"near-duplicates: {d['queries']} edited copies of {d['photos']} packaged photos "
             f"among {d['database']} images ({d['bits']}-bit codes)"]  # fmt: skip
    for method, m in d["methods"].items():
        lines.append(f"  {method:12} mAP {m['map']:.4f}  recall@1 {m['recall_at_1']:.4f}")
    verdict = "match" if d["codes_match_best_hash"] else "do not match"
    lines.append(f"  best codes ({d['best_codes']}) {verdict} the best hash ({d['best_hash']})")
    return "\n".join(lines)


def cmd_bench(args: argparse.Namespace) -> int:
    """``lakesight bench {pipeline,ssd,hamming,scale}``: speed against baselines of the same run."""
    from lakesight.image_features import model_bench

    steps = Steps(f"bench {args.target}", quiet=args.json)
    repeats = getattr(args, "repeats", None) or (3 if args.target == "pipeline" else 5)
    if args.target == "stream":
        from lakesight.config import ConfigError
        from lakesight.image_features.stream_bench import bench_stream

        for name in ("rate", "seconds", "trigger_s", "backlog"):
            if getattr(args, name) <= 0:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag}: expected a positive number, got {getattr(args, name)}")

        result = bench_stream(args.rate, args.seconds, args.trigger_s, args.backlog,
                              args.seen, args.workdir, steps)  # fmt: skip
    elif args.target == "pipeline":
        from lakesight.image_features.bench import bench_pipeline

        result = bench_pipeline(args.images or 2000, repeats, steps, root=args.workdir)
    elif args.target == "scale":
        from lakesight.image_features.scale_bench import bench_scale

        result = bench_scale(args.sizes, args.workdir, args.master, steps)
    elif args.target == "hamming":
        result = model_bench.bench_hamming(
            args.codes, args.bits, args.queries, args.k, repeats, steps
        )
    else:
        result = model_bench.bench_ssd(
            args.model or "ssd_scenes", args.images or 256, repeats, args.eval_images, steps
        )
    emit(result, args.json, lambda d: "\n".join(f"{k:18} {v}" for k, v in d.items()))
    return 0


def _sizes(text: str) -> tuple[int, ...]:
    """``--sizes 2000,8000``: positive image counts, at least two (a ratio needs two)."""
    try:
        sizes = tuple(sorted({int(part) for part in text.split(",") if part.strip()}))
    except ValueError:
        sizes = ()
    if len(sizes) < 2 or sizes[0] <= 0:
        raise argparse.ArgumentTypeError(
            f"expected two or more positive counts, comma-separated, got {text!r}"
        )
    return sizes


def register(sub, groups: dict) -> None:
    """Add image_features' commands: top-level ones to ``sub``, the rest to ``groups``
    (the sub-command actions of ``sample-data``, ``demo``, ``eval`` and ``bench``)."""
    q = groups["sample-data"].add_parser(
        "images", help="synthetic scenes with ground-truth boxes, plus broken files"
    )
    q.add_argument("--dt", default=datetime.now(UTC).date().isoformat())
    q.add_argument("--n", type=int, default=200, help="generated scenes")
    q.add_argument("--bad", type=int, default=0, help="broken files added")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_sample_images)

    q = add_demo(groups, DEMO)
    q.add_argument("--n", type=int, default=200, help="generated scenes")
    q.add_argument("--bad", type=int, default=9, help="broken files added")
    q.add_argument("--seed", type=int, default=0)

    for target, help_text in (
        ("ssd", "SSD: VOC mAP@0.5 on held-out scenes"),
        ("deepbit", "DeepBit vs PCA-ITQ vs LSH: mAP@1000"),
    ):
        q = groups["eval"].add_parser(target, help=help_text)
        q.add_argument("--model", help="name[@version] in the registry (default: the shipped one)")
        q.add_argument("--images", type=int, default=500, help="ssd: held-out scenes")
        q.add_argument("--queries", type=int, default=1000, help="deepbit: held-out query crops")
        q.add_argument("--database", type=int, default=10000, help="deepbit: database crops")
        q.add_argument("--pool", type=int, help="deepbit: crops the baselines fit on")
        q.add_argument("--runtime", choices=["ort", "opencv"], default="ort")
        q.add_argument("--variant", choices=["fp32", "int8"], default="fp32")
        q.add_argument("--json", action="store_true")
        q.set_defaults(func=cmd_eval, target=target)
    q = groups["eval"].add_parser(
        "near-duplicates", help="codes vs perceptual hashes on edited real photos: mAP, recall@1"
    )
    q.add_argument("--model", help="descriptor name[@version] (default: the shipped one)")
    q.add_argument("--distractors", type=int, default=300, help="generated scenes added")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_eval, target="near-duplicates")

    for target, help_text in (
        ("pipeline", "analyze on Spark vs a bare loop vs predict_batch_udf"),
        ("ssd", "SSD images/s per core: ORT fp32/int8, OpenCV DNN, torch"),
        ("hamming", "Hamming top-k over 1M codes vs the memory-bandwidth limit"),
        ("scale", "cost per image and driver peak memory at 2k, 8k, 32k images a day"),
    ):
        q = groups["bench"].add_parser(target, help=help_text)
        q.add_argument("--model", help="name[@version] in the registry (default: the shipped one)")
        q.add_argument("--images", type=int, help="images per pass (pipeline: 2000, ssd: 256)")
        q.add_argument("--repeats", type=int, help="timed passes, the median is reported")
        q.add_argument(
            "--workdir",
            help="pipeline: keep the generated lake here; scale: default var/bench/scale",
        )
        if target == "scale":
            q.add_argument(
                "--sizes", type=_sizes, default=(2000, 8000, 32000),
                help="scale: images per day, comma-separated (default 2000,8000,32000)",
            )  # fmt: skip
            q.add_argument("--master", help="scale: Spark master (default local-cluster[2,1,1024])")
        q.add_argument("--eval-images", type=int, default=500, help="ssd: scenes for the mAPs")
        q.add_argument("--codes", type=int, default=1_000_000, help="hamming: database size")
        q.add_argument("--bits", type=int, default=64, help="hamming: code length")
        q.add_argument("--queries", type=int, default=256, help="hamming: queries per pass")
        q.add_argument("--k", type=int, default=10, help="hamming: results per query")
        q.add_argument("--json", action="store_true")
        q.set_defaults(func=cmd_bench, target=target)

    q = groups["bench"].add_parser(
        "stream", help="the stream: rename-to-commit latency, rate vs the daily stages, restarts"
    )
    q.add_argument("--rate", type=float, default=20.0, help="images/s the uploader writes")
    q.add_argument("--seconds", type=float, default=60.0, help="how long it uploads")
    q.add_argument("--trigger-s", type=float, default=2.0, help="the stream's trigger")
    q.add_argument("--backlog", type=int, default=1000, help="images for the rate comparison")
    q.add_argument(
        "--seen",
        type=_sizes,
        default=(200, 20000),
        help="files seen before each restart is timed (default 200,20000)",
    )
    q.add_argument("--workdir", help="keep the scratch lakes here (default var/bench/stream)")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_bench, target="stream")

    p = sub.add_parser(
        "stream", add_help=False,  # --help goes to the stream's own parser
        help="publish images seconds after they arrive: features/images_live, exactly once",
    )  # fmt: skip
    p.add_argument("pipeline", choices=["image_features"])
    p.set_defaults(func=cmd_stream, passthrough=True)

    p = sub.add_parser(
        "similar", help="nearest published images by Hamming distance, cosine tie-break"
    )
    p.add_argument("--dt", required=True, help="published partition to search")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--image", help="an image file to describe and search for")
    which.add_argument("--image-id", help="a published image_id (sha256) to search for")
    p.add_argument("-k", type=int, default=10, help="results")
    p.add_argument("--detector", metavar="NAME[@V]", help="search a day described by this detector")
    p.add_argument("--descriptor", metavar="NAME[@V]", help="... and this descriptor")
    p.add_argument(
        "--picture", help="contact sheet PNG (default: var/pictures/similar_<dt>_<query>.png)"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_similar)
