"""listing_recs' commands: ``lakesight eval recs``."""

from __future__ import annotations

import argparse

from lakesight.cli import emit, stdout_to_stderr
from lakesight.config import ConfigError
from lakesight.progress import Steps


def cmd_eval(args: argparse.Namespace) -> int:
    """``lakesight eval recs``: every recommender on MovieLens-100k, NCF protocol."""
    from lakesight.listing_recs.evaluation import eval_ml100k

    for name in ("seeds", "epochs"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ConfigError(f"--{name}: got {value}, needs at least 1")
    steps = Steps("eval recs", quiet=args.json)
    with stdout_to_stderr():
        result = eval_ml100k(steps, seeds=args.seeds, epochs=args.epochs)

    def human(d: dict) -> str:
        ml = d["ml100k"]
        lines = [f"MovieLens-100k, NCF protocol, {ml['seeds']} seeds "
                 f"({ml['users']} users, {ml['items']} items)"]  # fmt: skip
        for name in ml["hr10"]:
            lines.append(
                f"  {name:8} HR@10 {ml['hr10'][name]:.4f} ±{ml['hr10_std'][name]:.4f}  "
                f"NDCG@10 {ml['ndcg10'][name]:.4f} ±{ml['ndcg10_std'][name]:.4f}  "
                f"full Recall@10 {ml['full_recall10'][name]:.4f}"
            )
        return "\n".join(lines)

    emit(result, args.json, human)
    return 0


def register(sub, groups: dict) -> None:
    """Add listing_recs' commands to the ``eval`` group."""
    q = groups["eval"].add_parser(
        "recs", help="recommenders on MovieLens-100k (fetched on demand), NCF protocol"
    )
    q.add_argument("--seeds", type=int, default=5, help="candidate tables and model seeds")
    q.add_argument("--epochs", type=int, help="training epochs of every trained model")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_eval)
