"""``lakesight bench recs``: how fast lakesight trains a recommender, against RecBole's
trainer, on the same data and the same 2 cores.

The model is the one RecBole trains with its defaults, NeuMF (64-wide GMF and MLP vectors,
an MLP of 128 then 64, one sampled negative per interaction, batches of 2,048, Adam at
1e-3), on MovieLens-100k's training split, without validation between epochs:

- lakesight's trainer in one process on 2 threads;
- lakesight's trainer under TorchDistributor, 2 processes of 1 thread each;
- RecBole 1.2.1's own trainer in its virtual environment, on 1 thread and on 2: the
  ratios take its faster.

Each reports scored pairs (interactions and their sampled negatives) per second of its
training epochs; the passes are interleaved, as :func:`lakesight.progress.interleaved_medians`
does, and the medians reported with their ratio to RecBole's, beside each pass's wall time
(start-up included). RecBole's NeuMF also has dropout
0.1, which lakesight's has not; its data loader builds the negatives' batches in Python,
as lakesight's sampler does in numpy.
"""

from __future__ import annotations

import dataclasses
import functools
import statistics
import time

import numpy as np
import pandas as pd

from lakesight.models.recommendation.collaborative import RecConfig

AS_RECBOLE = RecConfig(model="neumf", loss="bce", factors=64, mlp_layers=(128, 128, 64),
                       batch=2048, lr=1e-3, l2=0.0, negatives=1, validate=False)  # fmt: skip


def bench_training(steps, *, epochs: int = 3, repeats: int = 3) -> dict:
    """The training part of ``bench recs --json``."""
    from lakesight.models.nn import run_on_ranks
    from lakesight.models.recommendation.collaborative import train_recommender
    from lakesight.models.recommendation.movielens import fetch_ml100k, read_ml100k
    from lakesight.models.recommendation.peer import recbole_training_rate
    from lakesight.models.recommendation.protocol import leave_one_out

    with steps.step("MovieLens-100k, fetched and split"):
        split = leave_one_out(read_ml100k(fetch_ml100k()))
    single = dataclasses.replace(AS_RECBOLE, epochs=epochs, threads=2)
    ranks = dataclasses.replace(AS_RECBOLE, epochs=epochs, threads=1)
    passes = {
        "single": lambda: train_recommender(single, split)["facts"]["pairs_per_s"],
        "distributed": lambda: run_on_ranks(train_recommender, 2, ranks, split)["facts"]["pairs_per_s"],
        "recbole_1t": lambda: recbole_training_rate(split, epochs, 1)["train_pairs_per_s"],
        "recbole_2t": lambda: recbole_training_rate(split, epochs, 2)["train_pairs_per_s"],
    }  # fmt: skip
    for name, run in passes.items():
        with steps.step(f"warm-up: {name}"):
            run()
    rates: dict[str, list[float]] = {name: [] for name in passes}
    walls: dict[str, list[float]] = {name: [] for name in passes}
    for repeat in range(repeats):  # interleaved: a slow spell falls on every trainer alike
        for name, run in passes.items():
            started = time.perf_counter()
            with steps.step(f"pass {repeat + 1}: {name}"):
                rates[name].append(run())
            walls[name].append(time.perf_counter() - started)
    pps = {name: round(statistics.median(r), 1) for name, r in rates.items()}
    pps["recbole"] = max(pps["recbole_1t"], pps["recbole_2t"])
    return {
        "train_pairs": len(split.train) * (1 + AS_RECBOLE.negatives),
        **{f"train_{name}_pps": pps[name] for name in pps},
        "single_vs_recbole": round(pps["single"] / pps["recbole"], 3),
        "distributed_vs_recbole": round(pps["distributed"] / pps["recbole"], 3),
        # A pass from the call to its result: TorchDistributor's process start-up, RecBole's
        # interpreter and data preparation included.
        "wall_s": {name: round(statistics.median(w), 2) for name, w in walls.items()},
        "epochs": epochs,
        "repeats": repeats,
        "model": {**AS_RECBOLE.to_dict(), "epochs": epochs},
    }


def bench_recommend(steps, *, repeats: int = 3, workdir: str | None = None, days: int = 35,
                    per_day: int = 24, copies: int = 16) -> dict:  # fmt: skip
    """The ``recommend`` part of ``bench recs --json``: the stage's batch function over
    every user of ``days`` of the generated market (:func:`.market_eval.build_world`), on Spark
    ``local[2]`` against the same function in one process."""
    from pyspark.sql import functions as F

    from lakesight.house_similarity.sample_data import SAMPLE_SEED
    from lakesight.listing_recs import datasets
    from lakesight.listing_recs.market_eval import build_world
    from lakesight.listing_recs.recommend import K, recommend_batch
    from lakesight.listing_recs.sample_data import MARKET_DAYS
    from lakesight.progress import interleaved_medians
    from lakesight.spark import bench_session

    spark, settings, _ = bench_session("bench-recs", workdir, steps)
    with steps.step("the generated market: events, every listing's photos embedded"):
        world = build_world(seed=SAMPLE_SEED, days=days, per_day=per_day)
    settings, ref = released_recommender(settings, world.events, steps)
    last_day = int(world.events["day"].max())
    counts = world.events["listing_id"].value_counts()
    listings = dataclasses.replace(
        world.listings,
        popularity=counts.reindex(world.listings.ids, fill_value=0).to_numpy(np.float64),
        on_market=world.listed > last_day - MARKET_DAYS,
    )
    seen = world.events.groupby("user_id")["listing_id"].agg(lambda x: sorted(set(x)))
    # The market's users, ``copies`` times over: an MLS's user count, each row real work.
    users_pdf = pd.concat([seen.rename("seen").reset_index()] * copies, ignore_index=True)
    users = spark.createDataFrame(users_pdf, "user_id string, seen array<string>").cache()
    users.count()
    batch = functools.partial(recommend_batch, listings=listings, model_ref=ref,
                              registry=settings.model_registry, k=K)  # fmt: skip

    def spark_run() -> float:
        started = time.perf_counter()
        users.mapInPandas(batch, datasets.RECOMMENDATIONS_SCHEMA).agg(F.count("rank")).collect()
        return time.perf_counter() - started

    def bare_run() -> float:
        started = time.perf_counter()
        for _ in batch(iter([users_pdf])):
            pass
        return time.perf_counter() - started

    with steps.step(f"recommend for {len(users_pdf)} users, {repeats}x each way"):
        spark_s, bare_s = interleaved_medians([spark_run, bare_run], repeats)
    with steps.step("the two ways wrote the same rows"):
        on_spark = users.mapInPandas(batch, datasets.RECOMMENDATIONS_SCHEMA).toPandas()
        same = same_rows(on_spark, pd.concat(batch(iter([users_pdf])), ignore_index=True))
    return {
        "recommend_users": len(users_pdf),
        "recommend_distinct_users": len(seen),
        "recommend_listings": int(listings.on_market.sum()),
        "recommend_spark_ups": round(len(users_pdf) / spark_s, 1),
        "recommend_bare_ups": round(len(users_pdf) / bare_s, 1),
        "recommend_vs_bare": round(bare_s / spark_s, 3),
        "recommend_same_rows": same,
        "spark_master": spark.sparkContext.master,
    }


def released_recommender(settings, events, steps):
    """A scratch registry beside the bench's lake (the user's is never touched) holding
    lakesight's MF trained on ``events`` for a few epochs: ``(settings, "listing_recs@1")``."""
    from lakesight.listing_recs.window import first_pairs
    from lakesight.models.recommendation.collaborative import TUNED_MF, train_recommender
    from lakesight.models.recommendation.protocol import leave_one_out
    from lakesight.models.recommendation.release import NAME, write_release
    from lakesight.stage import promote_if_better

    registry = settings.root.rstrip("/") + "/_registry"
    settings = dataclasses.replace(settings, model_registry=registry)
    split = leave_one_out(first_pairs(events))
    config = dataclasses.replace(TUNED_MF, epochs=3)
    with steps.step(f"train and release an MF on {len(split.train)} pairs"):
        result = train_recommender(config, split)
        ref = promote_if_better(settings, NAME, True, lambda out: write_release(
            out, config, result["state"], split.user_ids, split.item_ids, {}))  # fmt: skip
    return settings, ref


def same_rows(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two recommendation tables hold the same rows, in any order."""
    exact = ["user_id", "rank", "listing_id", "source"]
    a, b = (t.sort_values(exact[:3], kind="stable").reset_index(drop=True) for t in (a, b))
    return len(a) == len(b) and bool(
        (a[exact].to_numpy() == b[exact].to_numpy()).all()
        and np.allclose(a["score"].to_numpy(np.float64), b["score"].to_numpy(np.float64))
    )
