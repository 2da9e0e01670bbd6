"""``lakesight eval recs``: every recommender on MovieLens-100k under the NCF protocol
(:mod:`lakesight.models.recommendation.protocol`), in one run.

Per seed, one candidate table (each test user's test item and 99 sampled negatives) is
drawn and every model is ranked on it:

- the floors: random and ItemPop;
- the baselines: BPR-MF, and Spark MLlib's ALS on implicit feedback;
- lakesight's MF and NeuMF;
- the peer: RecBole's own NeuMF with its defaults, trained by RecBole in its own virtual
  environment on the same split (:mod:`lakesight.models.recommendation.peer`).

The seed also initialises and orders every trained model. The figures are means over the
seeds with their standard deviations (``*_std``), plus the full ranking (Recall@10,
NDCG@10 among every item a user has not seen). Every setting was chosen on the
validation items (the one before each user's last), never on the test items.
"""

from __future__ import annotations

import dataclasses
import statistics

from lakesight.models.recommendation.als import AlsConfig
from lakesight.models.recommendation.collaborative import TUNED_MF, RecConfig
from lakesight.models.recommendation.protocol import (
    full_ranking_metrics,
    leave_one_out,
    popularity_scorer,
    random_scorer,
    sampled_candidates,
    sampled_metrics,
)

# lakesight's trained models: BPR-MF the classic baseline, then its own MF (tuned on the
# validation items) and NeuMF.
TRAINED = {
    "bpr": RecConfig(model="mf", loss="bpr"),
    "mf": TUNED_MF,
    "neumf": RecConfig(model="neumf", loss="bce"),
}
# ALS's settings, the best of a grid on the same validation items (rank 32/64, reg
# 0.01-1, alpha 1-40: HR@10 0.499-0.699).
ALS = AlsConfig(rank=64, reg=0.1, alpha=1.0, iterations=15)
FLOORS = ("random", "itempop")
METRICS = ("hr10", "ndcg10", "full_recall10", "full_ndcg10")


def eval_ml100k(steps, *, seeds: int = 5, epochs: int | None = None) -> dict:
    """The ``ml100k`` part of ``eval recs --json``. ``epochs`` caps every trained model's
    training (RecBole's too; its default is 300 with early stopping)."""
    from lakesight.config import load_settings
    from lakesight.models.recommendation.als import train_als
    from lakesight.models.recommendation.collaborative import train_recommender, trained_scorer
    from lakesight.models.recommendation.movielens import fetch_ml100k, read_ml100k
    from lakesight.models.recommendation.peer import recbole_neumf
    from lakesight.spark import get_spark

    with steps.step("MovieLens-100k, fetched and split"):
        split = leave_one_out(read_ml100k(fetch_ml100k()))
    with steps.step("start spark"):
        spark = get_spark("lakesight-eval-recs", load_settings())
    names = (*FLOORS, "bpr", "als", "recbole_neumf", "neumf", "mf")
    runs: dict[str, list[dict]] = {name: [] for name in names}
    epochs_kept: dict[str, list[int]] = {name: [] for name in (*TRAINED, "recbole_neumf")}
    peer_facts = []
    for seed in range(seeds):
        candidates = sampled_candidates(split, seed)
        scorers = {"random": random_scorer(seed), "itempop": popularity_scorer(split)}
        with steps.step(f"seed {seed}: train als"):
            scorers["als"] = train_als(spark, dataclasses.replace(ALS, seed=seed), split)
        for name, config in TRAINED.items():
            config = dataclasses.replace(config, seed=seed, epochs=epochs or config.epochs)
            with steps.step(f"seed {seed}: train {name}"):
                result = train_recommender(config, split)
            scorers[name] = trained_scorer(config, split, result)
            epochs_kept[name].append(result["facts"]["validation"]["epoch"])
        with steps.step(f"seed {seed}: train RecBole's NeuMF"):
            scorers["recbole_neumf"], facts = recbole_neumf(split, seed, epochs=epochs)
        epochs_kept["recbole_neumf"].append(facts["best_epoch"])
        peer_facts.append(facts)
        for name in names:
            runs[name].append(ranked(scorers[name], split, candidates))
    return {
        "ml100k": {
            **summarised(runs),
            "seeds": seeds,
            "users": int(split.users),
            "items": int(split.items),
            "epochs_kept": epochs_kept,
            "configs": {
                **{name: config.to_dict() for name, config in TRAINED.items()},
                "als": ALS.to_dict(),
                "recbole_neumf": {"recbole": peer_facts[0]["recbole"], **peer_facts[0]["config"]},
            },
        }
    }


def ranked(scorer, split, candidates) -> dict:
    """One model's figures on one seed's candidates, and on the full ranking."""
    full = full_ranking_metrics(scorer, split)
    return {**sampled_metrics(scorer, split, candidates),
            **{f"full_{k}": v for k, v in full.items()}}  # fmt: skip


def summarised(runs: dict[str, list[dict]], metrics: tuple[str, ...] = METRICS) -> dict:
    """Per metric, each model's mean over the seeds, and under ``<metric>_std`` its spread."""
    figures = {}
    for metric in metrics:
        values = {name: [run[metric] for run in done] for name, done in runs.items()}
        figures[metric] = {name: round(statistics.mean(v), 4) for name, v in values.items()}
        figures[f"{metric}_std"] = {
            name: round(statistics.pstdev(v), 4) for name, v in values.items()
        }
    return figures
