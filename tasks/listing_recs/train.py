"""Train stage: retrain the recommender weekly, or sooner when interactions grew; promote
it only if it ranks held-out interactions better.

1. **Decide** (:func:`retrain_reason`, pure): train when there is no model yet, when the
   last training decision is :data:`EVERY_DAYS` days old or more, or when the window's
   user-listing pairs grew by :data:`GROWTH` or more since it. Otherwise the current
   model stays, and the manifest says why.
2. **Data**: every committed ``curated/interactions`` day of the ``weeks`` up to ``D``,
   as user-listing pairs (any event counts once: implicit feedback), each at its first
   time (:mod:`.window`); each user's last listing is held out for the decision, the one before it for
   choosing the epoch (:func:`lakesight.models.recommendation.protocol.leave_one_out`).
3. **Train** lakesight's MF (it beat NeuMF on MovieLens: README, "listing_recs"), under
   TorchDistributor with ``processes`` > 1.
4. **Promote** (:data:`RULE`): candidate and current model rank each held-out listing
   among sampled ones the user never touched; the candidate becomes the next version of
   ``listing_recs`` only if its HR@10 is higher (NDCG@10 breaking a tie). The current model may have trained on
   the held-out pairs (they were older than its window's end), which can only flatter it:
   the rule errs towards keeping it.

The output, ``curated/recs_training/dt=D``, holds the pairs used and their role (train,
valid, test); the decision and both scores are in its manifest.

Run: ``lakesight stage listing_recs.train --dt D``, or spark-submit this file.
"""

from __future__ import annotations

import dataclasses
import sys
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lakesight.config import Settings
from lakesight.listing_recs import datasets
from lakesight.progress import Steps
from lakesight.stage import (
    StageResult,
    commit_stage,
    committed_input,
    frees_cached_data,
    promote_if_better,
    stage_main,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakesight.models.recommendation.protocol import Split

STAGE = datasets.TRAIN
EVERY_DAYS = 7
GROWTH = 0.2
RULE = (
    "promote if the candidate's held-out (HR@10, NDCG@10) > the current model's, HR first "
    "(no current model: promote)"
)


def retrain_reason(dt: str, pairs: int, current: str | None, last: dict | None,
                   every_days: int = EVERY_DAYS, growth: float = GROWTH) -> str | None:  # fmt: skip
    """Why to train on ``dt`` with ``pairs`` user-listing pairs in the window, or None to
    keep ``current``. ``last``: the last training decision's ``{"dt", "pairs"}``."""
    if current is None:
        return "no recommender yet"
    if last is None:
        return "no training decision on record"
    age = (date.fromisoformat(dt) - date.fromisoformat(last["dt"])).days
    if age >= every_days:
        return f"the last training was {age} days ago (every {every_days})"
    if pairs >= (1 + growth) * last["pairs"]:
        return f"pairs grew from {last['pairs']} to {pairs} (>= {growth:.0%})"
    return None


def ranks_better(candidate: dict, current: dict) -> bool:
    """:data:`RULE`. NDCG breaks a tie in HR, as on a small market (fewer than 10 sampled
    listings) where every model's HR@10 is 1."""
    return (candidate["hr10"], candidate["ndcg10"]) > (current["hr10"], current["ndcg10"])


def last_decision(fs, settings: Settings, dt: str) -> dict | None:
    """``{"dt", "pairs"}`` of the last day before ``dt`` that trained a candidate."""
    from lakesight.lake import list_partitions, read_manifest

    for day in reversed([d for d in list_partitions(fs, STAGE.output.uri(settings)) if d < dt]):
        manifest = read_manifest(fs, STAGE.output.partition(settings, day))
        if manifest and manifest.extra.get("decision", {}).get("retrained"):
            return {"dt": day, "pairs": manifest.counts["pairs"]}
    return None


def held_out_hr(scorer, split: Split, seed: int, negatives: int) -> dict:
    """HR@10 and NDCG@10 of ``scorer`` on each user's held-out (last) listing."""
    from lakesight.models.recommendation.protocol import sampled_candidates, sampled_metrics

    return {k: round(v, 4) for k, v in
            sampled_metrics(scorer, split, sampled_candidates(split, seed, negatives)).items()}  # fmt: skip


def current_scorer(ref: str, registry: str, split: Split):
    """The current model as a protocol scorer over ``split``'s indices; pairs it cannot
    score (an id it never saw) rank last."""
    from lakesight.models.recommendation.release import Recommender

    model = Recommender.load(ref, registry)

    def score(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        scores = model.score(split.user_ids[users.ravel()], split.item_ids[items.ravel()])
        return np.nan_to_num(scores, nan=-np.inf).reshape(items.shape)

    return score


def pairs_fingerprint(pairs: pd.DataFrame) -> str:
    """The window's pairs and their first times, in order: what the decision saw."""
    import hashlib

    digest = hashlib.sha256(pd.util.hash_pandas_object(pairs, index=False).to_numpy().tobytes())
    return f"pairs={len(pairs)}:{digest.hexdigest()[:16]}"


def pair_rows(split: Split) -> pd.DataFrame:
    """The output's rows: every pair with its role."""
    parts = [pd.DataFrame({"user_id": split.user_ids[split.train[:, 0]],
                           "listing_id": split.item_ids[split.train[:, 1]], "role": "train"})]  # fmt: skip
    for role, held in (("valid", split.valid), ("test", split.test)):
        users = np.flatnonzero(held >= 0)
        parts.append(pd.DataFrame({"user_id": split.user_ids[users],
                                   "listing_id": split.item_ids[held[users]], "role": role}))  # fmt: skip
    return pd.concat(parts, ignore_index=True).astype({"user_id": str, "listing_id": str})


def train_and_decide(settings: Settings, split: Split, current: str | None, config,
                     processes: int, steps: Steps, source: str) -> tuple[dict, dict]:  # fmt: skip
    """Train a candidate, score it and the current model on the held-out listings, promote
    the candidate if :data:`RULE` holds: (the decision's outcome, the scores)."""
    from lakesight.models.nn import run_on_ranks
    from lakesight.models.recommendation.collaborative import train_recommender, trained_scorer
    from lakesight.models.recommendation.protocol import held_out_users
    from lakesight.models.recommendation.release import NAME, write_release

    scored, negatives = held_out_users(split)
    measurable = negatives >= 1 and len(scored.test_users()) > 0
    if not measurable and current:
        return {"why": f"too few unseen listings to compare models on ({split.items} "
                       "listings): kept the current model"}, {}  # fmt: skip
    config = dataclasses.replace(config, eval_negatives=max(1, negatives))
    with steps.step(f"train {config.model} on {len(split.train)} pairs"):
        result = run_on_ranks(train_recommender, processes, config, split)
    scores = {}  # the first model of a market too small to hold a listing out: no score
    if measurable:
        scores["candidate"] = held_out_hr(trained_scorer(config, split, result), scored, 0,
                                          negatives)  # fmt: skip
    if current:
        scores["current"] = held_out_hr(current_scorer(current, settings.model_registry, split),
                                        scored, 0, negatives)  # fmt: skip
    better = current is None or ranks_better(scores["candidate"], scores["current"])
    card = {"training": {"source": source, "pairs": len(split.train), "negatives": negatives,
                         "held_out_users": len(scored.test_users()),
                         **{k: result["facts"][k] for k in ("seconds", "world_size")}},
            "metrics": {"held_out": scores.get("candidate"), "validation": {
                k: v for k, v in result["facts"]["validation"].items() if k != "state"}}}  # fmt: skip
    promoted = promote_if_better(settings, NAME, better, lambda out: write_release(
        out, config, result["state"], split.user_ids, split.item_ids, card))  # fmt: skip
    verdict = f"promoted as {promoted}" if better else "kept the current model"
    measured = (
        f"held-out HR@10 {scores['candidate']['hr10']}" if measurable else "no held-out score"
    )
    held = " vs current " + str(scores["current"]["hr10"]) if current else ""
    return {"retrained": True, "promoted": promoted, "why": f"{measured}{held}: {verdict}"}, scores


@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        weeks: int = 8, epochs: int | None = None, processes: int = 1,
        every_days: int = EVERY_DAYS, growth: float = GROWTH) -> StageResult:  # fmt: skip
    """Retrain on the ``weeks`` up to ``dt`` when due; promote only if better."""
    from lakesight.listing_recs.recommend import current_recommender
    from lakesight.listing_recs.window import window_events, window_pairs
    from lakesight.models.recommendation.collaborative import TUNED_MF
    from lakesight.models.recommendation.protocol import leave_one_out

    steps = steps or Steps(STAGE.short)
    fs, _, _ = committed_input(spark, settings, datasets.INGEST, dt)
    with steps.step("read the window's pairs"):
        pairs = window_pairs(window_events(spark, fs, settings, dt, weeks))
    current = current_recommender(settings)
    reason = retrain_reason(dt, len(pairs), current, last_decision(fs, settings, dt),
                            every_days, growth)  # fmt: skip
    decision = {"current": current, "rule": RULE, "retrained": False, "reason": reason,
                "why": f"trained within {every_days} days; the pairs grew less than {growth:.0%}"}  # fmt: skip
    split, scores = leave_one_out(pairs), {}
    if reason is not None:
        config = dataclasses.replace(TUNED_MF, epochs=epochs or TUNED_MF.epochs)
        outcome, scores = train_and_decide(settings, split, current, config, processes, steps,
                                           f"curated/interactions, {weeks} weeks to dt={dt}")  # fmt: skip
        decision.update(outcome)
    steps.say(decision["why"])
    rows = spark.createDataFrame(pair_rows(split), datasets.TRAINING_SCHEMA).cache()
    n = len(split.train) + int((split.valid >= 0).sum()) + int((split.test >= 0).sum())
    return commit_stage(
        fs, settings, STAGE, dt, rows, output_columns=datasets.TRAINING_COLUMNS,
        schema_version=datasets.TRAINING_SCHEMA_VERSION,
        counts={"in": n, "out": n, "quarantined": 0, "pairs": n, "users": int(split.users),
                "listings": int(split.items)},
        input_fingerprint=pairs_fingerprint(pairs),
        steps=steps, extra={"decision": decision, "scores": scores, "weeks": weeks},
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage listing_recs.train``."""
    return stage_main(
        STAGE, run, argv,
        options=(
            ("--weeks", {"type": int, "default": 8, "help": "weeks of interactions up to dt"}),
            ("--epochs", {"type": int, "help": "training epochs (default: the tuned MF's)"}),
            ("--processes", {"type": int, "default": 1, "help": "TorchDistributor processes"}),
            ("--every-days", {"type": int, "default": EVERY_DAYS, "help": "retrain at least this often"}),
            ("--growth", {"type": float, "default": GROWTH,
                          "help": "retrain sooner when the pairs grew by this fraction"}),
        ),
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
