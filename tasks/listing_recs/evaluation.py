"""``lakesight eval recs``: every recommender on MovieLens-100k under the NCF protocol
(:mod:`lakesight.models.recommendation.protocol`), in one run.

Per seed, one candidate table (each test user's test item and 99 sampled negatives) is
drawn and every model is ranked on it: random, ItemPop, BPR-MF, lakesight's MF and NeuMF.
The seed also initialises and orders the trained models. The figures are means over the
seeds with their standard deviations (``*_std``), plus the full ranking (Recall@10,
NDCG@10 among every item a user has not seen).
"""

from __future__ import annotations

import statistics

from lakesight.models.recommendation.collaborative import RecConfig

# The trained models of the evaluation: BPR-MF the classic baseline, then lakesight's own.
TRAINED = {
    "bpr": RecConfig(model="mf", loss="bpr"),
    "mf": RecConfig(model="mf", loss="bce"),
    "neumf": RecConfig(model="neumf", loss="bce"),
}
BASELINES = ("random", "itempop")


def eval_ml100k(steps, *, seeds: int = 5, epochs: int | None = None) -> dict:
    """The ``ml100k`` part of ``eval recs --json``."""
    import dataclasses

    from lakesight.models.recommendation.collaborative import train_recommender, trained_scorer
    from lakesight.models.recommendation.movielens import fetch_ml100k, read_ml100k
    from lakesight.models.recommendation.protocol import (
        full_ranking_metrics,
        leave_one_out,
        popularity_scorer,
        random_scorer,
        sampled_candidates,
        sampled_metrics,
    )

    with steps.step("MovieLens-100k, fetched and split"):
        split = leave_one_out(read_ml100k(fetch_ml100k()))
    runs: dict[str, list[dict]] = {name: [] for name in (*BASELINES, *TRAINED)}
    epochs_kept: dict[str, list[int]] = {name: [] for name in TRAINED}
    for seed in range(seeds):
        candidates = sampled_candidates(split, seed)
        scorers = {"random": random_scorer(seed), "itempop": popularity_scorer(split)}
        for name, config in TRAINED.items():
            config = dataclasses.replace(config, seed=seed, epochs=epochs or config.epochs)
            with steps.step(f"seed {seed}: train {name}"):
                result = train_recommender(config, split)
            scorers[name] = trained_scorer(config, split, result)
            epochs_kept[name].append(result["facts"]["validation"]["epoch"])
        for name, scorer in scorers.items():
            runs[name].append(
                {**sampled_metrics(scorer, split, candidates),
                 **{f"full_{k}": v for k, v in full_ranking_metrics(scorer, split).items()}}
            )  # fmt: skip
    figures = {}
    for metric in ("hr10", "ndcg10", "full_recall10", "full_ndcg10"):
        values = {name: [run[metric] for run in done] for name, done in runs.items()}
        figures[metric] = {name: round(statistics.mean(v), 4) for name, v in values.items()}
        figures[f"{metric}_std"] = {
            name: round(statistics.pstdev(v), 4) for name, v in values.items()
        }
    return {
        "ml100k": {
            **figures,
            "seeds": seeds,
            "users": int(split.users),
            "items": int(split.items),
            "epochs_kept": epochs_kept,
            "configs": {name: config.to_dict() for name, config in TRAINED.items()},
        }
    }
