"""listing_recs' commands: ``lakesight sample-data interactions``, ``demo listing_recs``,
``eval recs``, ``bench recs``."""

from __future__ import annotations

import argparse
from typing import Any

from lakesight.cli import DemoPart, DemoRun, add_demo, emit, stdout_to_stderr
from lakesight.config import ConfigError, load_settings, validate_dt
from lakesight.listing_recs import datasets
from lakesight.progress import Steps


def cmd_sample_interactions(args: argparse.Namespace) -> int:
    """``lakesight sample-data interactions``: a day of users' events on the sample listings."""
    from lakesight.lake import check_reachable, filesystem_for
    from lakesight.listing_recs.sample_data import write_sample_interactions

    settings = load_settings()
    dt = validate_dt(args.dt)
    for name in ("listings_per_day", "market_days"):
        if getattr(args, name) < 1:
            option = "--" + name.replace("_", "-")
            raise ConfigError(f"{option}: got {getattr(args, name)}, needs at least 1")
    fs = filesystem_for(settings.root, settings)
    check_reachable(fs, settings.root)
    steps = Steps("sample-data", quiet=args.json)
    with steps.step("users browse the sample listings"):
        sample = write_sample_interactions(fs, settings, dt, seed=args.seed,
                                           per_day=args.listings_per_day,
                                           market_days=args.market_days,
                                           bad=not args.no_bad)  # fmt: skip
    payload = {
        "dt": dt,
        "events": len(sample.events),
        "bad_rows": len(sample.bad_rows),
        "users": len(sample.users),
        "listings_on_market": len(sample.market),
        "partition_uri": sample.uri,
        "seconds": steps.total_s,
    }
    emit(payload, args.json, lambda d: (
        f"sample-data interactions dt={d['dt']}: {d['events']} events of {d['users']} users "
        f"on {d['listings_on_market']} listings + {d['bad_rows']} bad rows in "
        f"{d['seconds']:.1f}s\n  interactions: {d['partition_uri']}"
    ))  # fmt: skip
    return 0


def write_demo_sample(run: DemoRun) -> tuple[str, Any]:
    """The day's listings, published by house_similarity's own DAG (listing_recs' DAG waits
    for them), then the users' interactions with them. A day whose listings are already
    published (``lakesight demo house_similarity`` ran for it) is reused as it is: its
    sample listings are the market, whatever ``--n`` says."""
    from lakesight.cli import airflow_dags_test
    from lakesight.config import REPO_ROOT
    from lakesight.house_similarity.sample_data import write_sample_listings
    from lakesight.listing_recs.sample_data import write_sample_interactions

    if run.args.n < 1:
        raise ConfigError(f"--n: expected at least 1 listing, got {run.args.n}")
    per_day = published_sample_listings(run)
    if per_day:
        run.steps.say(f"the day's {per_day} sample listings are published already: reused")
    else:
        per_day = run.args.n
        write_sample_listings(run.fs, run.settings, run.dt, n=per_day, bad=False)
        log_path = REPO_ROOT / "var" / "logs" / f"demo-house_similarity-{run.dt}.log"
        with run.steps.step(f"airflow dags test house_similarity {run.dt}: the day's listings"):
            airflow_dags_test("house_similarity", run.dt, log_path, run.steps)
    sample = write_sample_interactions(run.fs, run.settings, run.dt, per_day=per_day,
                                       market_days=1)  # fmt: skip
    return sample.uri, sample


def published_sample_listings(run: DemoRun) -> int:
    """How many sample listings (``MLS-<day>-<n>``, n = 1, 2, ...) the day's committed
    ``curated/listings`` holds, when its ``features/listings`` is committed too; else 0."""
    from lakesight.house_similarity.datasets import FEATURES, LISTINGS
    from lakesight.house_similarity.sample_data import listing_id
    from lakesight.lake import is_committed, read_partition_table

    if not is_committed(run.fs, FEATURES.partition(run.settings, run.dt)):
        return 0
    table = read_partition_table(run.fs, LISTINGS.partition(run.settings, run.dt), ["listing_id"])
    ids = set(table["listing_id"])
    n = 0
    while listing_id(run.dt, n + 1) in ids:
        n += 1
    return n


def demo_user(run: DemoRun) -> tuple[dict, list[str]]:
    """The demo's ending: what train decided, and one user's list with each row's source."""
    from lakesight.lake import read_partition_table

    table = read_partition_table(run.fs, datasets.RECOMMENDATIONS.partition(run.settings, run.dt))
    decision = run.manifests["train"].extra.get("decision", {})
    lines = [f"  recommender: {decision.get('why', '')}"]
    rows: list[dict] = []
    if len(table):
        by_cf = table[table["source"] == "cf"]
        user = (by_cf if len(by_cf) else table)["user_id"].min()
        mine = table[table["user_id"] == user].sort_values("rank")
        rows = [{"rank": int(r.rank), "listing_id": r.listing_id, "source": r.source}
                for r in mine.itertuples()]  # fmt: skip
        lines.append(f"  {user}: " + ", ".join(f"{r['listing_id']} ({r['source']})" for r in rows))
    return {"decision": decision, "user_recommendations": rows}, lines


DEMO = DemoPart(
    "listing_recs", "sample listings and interactions, both DAGs, one user's list",
    (datasets.INGEST, datasets.TRAIN, datasets.RECOMMEND),
    sample_text="the day's listings published, then a day of users' events on them",
    write_sample=write_demo_sample, finish=demo_user,
)  # fmt: skip


def cmd_eval(args: argparse.Namespace) -> int:
    """``lakesight eval recs``: every recommender on MovieLens-100k (NCF protocol), then on
    the generated market's warm and cold listings."""
    from lakesight.listing_recs.evaluation import eval_ml100k
    from lakesight.listing_recs.market_eval import eval_market

    for name in ("seeds", "epochs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name}: got {value}, needs at least 1")
    steps = Steps("eval recs", quiet=args.json)
    result: dict = {}
    with stdout_to_stderr():
        if args.only in (None, "ml100k"):
            result.update(eval_ml100k(steps, seeds=args.seeds, epochs=args.epochs))
        if args.only in (None, "market"):
            result.update(eval_market(steps, seeds=args.seeds, epochs=args.epochs))
    emit(result, args.json, human_eval)
    return 0


def human_eval(d: dict) -> str:
    lines = []
    if "ml100k" in d:
        ml = d["ml100k"]
        lines.append(f"MovieLens-100k, NCF protocol, {ml['seeds']} seeds "
                     f"({ml['users']} users, {ml['items']} items)")  # fmt: skip
        for name in ml["hr10"]:
            lines.append(
                f"  {name:13} HR@10 {ml['hr10'][name]:.4f} ±{ml['hr10_std'][name]:.4f}  "
                f"NDCG@10 {ml['ndcg10'][name]:.4f} ±{ml['ndcg10_std'][name]:.4f}  "
                f"full Recall@10 {ml['full_recall10'][name]:.4f}"
            )
    for part in ("warm", "cold"):
        if part in d:
            figures, market = d[part], d["market"]
            lines.append(f"Generated market, {part} listings, {market['seeds']} seeds "
                         f"({sum(figures['cases']) // market['seeds']} users a seed)")  # fmt: skip
            lines += [f"  {name:13} HR@10 {figures['hr10'][name]:.4f} ±{figures['hr10_std'][name]:.4f}  "
                      f"NDCG@10 {figures['ndcg10'][name]:.4f}" for name in figures["hr10"]]  # fmt: skip
    return "\n".join(lines)


def cmd_bench(args: argparse.Namespace) -> int:
    """``lakesight bench recs``: lakesight's trainer against RecBole's, on the same data;
    the recommend stage's work on Spark against a bare loop."""
    from lakesight.listing_recs.bench import bench_recommend, bench_training

    for name in ("epochs", "repeats"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name}: got {getattr(args, name)}, needs at least 1")
    steps = Steps("bench recs", quiet=args.json)
    result: dict = {}
    with stdout_to_stderr():
        if args.only in (None, "training"):
            result.update(bench_training(steps, epochs=args.epochs, repeats=args.repeats))
        if args.only in (None, "recommend"):
            result.update(bench_recommend(steps, repeats=args.repeats))
    emit(result, args.json, lambda d: "\n".join(f"{k:24} {v}" for k, v in d.items()))
    return 0


def register(sub, groups: dict) -> None:
    """Add listing_recs' commands to the ``sample-data`` and ``eval`` groups."""
    from lakesight.house_similarity.sample_data import SAMPLE_SEED
    from lakesight.listing_recs.sample_data import MARKET_DAYS

    q = groups["sample-data"].add_parser(
        "interactions", help="a day of users' views, saves and contacts on the sample listings"
    )
    q.add_argument("--dt", required=True)
    q.add_argument("--seed", type=int, default=SAMPLE_SEED,
                   help="the sample listings' seed (theirs by default)")  # fmt: skip
    q.add_argument("--listings-per-day", type=int, default=24,
                   help="as `sample-data listings --n` wrote them")  # fmt: skip
    q.add_argument(
        "--market-days",
        type=int,
        default=MARKET_DAYS,
        help="days a listing stays on the market (the sample listings of that many days)",
    )
    q.add_argument("--no-bad", action="store_true", help="no rows ingest must quarantine")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_sample_interactions)
    q = add_demo(groups, DEMO)
    q.add_argument("--n", type=int, default=24, help="listings")

    q = groups["eval"].add_parser(
        "recs",
        help="recommenders on MovieLens-100k (fetched on demand, NCF protocol), "
        "then on the generated market's warm and cold listings",
    )
    q.add_argument("--seeds", type=int, default=5, help="candidate tables and model seeds")
    q.add_argument("--only", choices=("ml100k", "market"), help="one part only")
    q.add_argument("--epochs", type=int, help="training epochs of every trained model")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_eval)

    q = groups["bench"].add_parser(
        "recs",
        help="training pairs a second: lakesight (1 and 2 processes) vs RecBole; "
        "recommend on Spark vs a bare loop",
    )
    q.add_argument("--only", choices=("training", "recommend"), help="one part only")
    q.add_argument("--epochs", type=int, default=3, help="epochs of every timed pass")
    q.add_argument("--repeats", type=int, default=3, help="timed passes, the median is reported")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_bench)
