"""Spark MLlib's ALS on implicit feedback (Hu, Koren and Volinsky, ICDM 2008): the
baseline every recommender of ``eval recs`` is measured beside.

Each training interaction is a preference of 1 with confidence ``1 + alpha``; every pair
never seen is a preference of 0 with confidence 1. The factors come back to the driver, and
a score is the dot product of a user's and an item's factors, as Spark's own
``recommendForAllUsers`` computes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from lakesight.models.recommendation.protocol import Scorer, Split

CHECKPOINT_EVERY = 5  # iterations between lineage cuts (Spark's default is 10)


@dataclass(frozen=True)
class AlsConfig:
    """ALS's settings (chosen on the validation items of ml-100k: see ``eval recs``)."""

    rank: int = 64
    reg: float = 0.05
    alpha: float = 10.0
    iterations: int = 15
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def train_als(spark, config: AlsConfig, split: Split) -> Scorer:
    """Fit ALS on ``split.train`` with ``spark`` and return its scorer."""
    import pandas as pd
    from pyspark.ml.recommendation import ALS

    from lakesight.spark import lineage_checkpoints

    lineage_checkpoints(spark)  # ALS cuts its lineage every CHECKPOINT_EVERY iterations there
    interactions = spark.createDataFrame(pd.DataFrame({
        "user": split.train[:, 0].astype(np.int32),
        "item": split.train[:, 1].astype(np.int32),
        "strength": np.ones(len(split.train), np.float32),
    }))  # fmt: skip
    model = ALS(rank=config.rank, maxIter=config.iterations, regParam=config.reg,
                alpha=config.alpha, implicitPrefs=True, userCol="user", itemCol="item",
                ratingCol="strength", seed=config.seed,
                checkpointInterval=CHECKPOINT_EVERY).fit(interactions)  # fmt: skip
    users = factor_matrix(model.userFactors.toPandas(), split.users, config.rank)
    items = factor_matrix(model.itemFactors.toPandas(), split.items, config.rank)
    return lambda u, i: np.einsum("...k,...k->...", users[u], items[i])


def factor_matrix(factors, count: int, rank: int) -> np.ndarray:
    """Spark's ``(id, features)`` rows as a (count, rank) matrix; an id ALS never saw (an
    item only held out) keeps zeros, so it scores 0 for everyone."""
    matrix = np.zeros((count, rank), np.float32)
    if len(factors):
        matrix[factors["id"].to_numpy()] = np.stack(factors["features"].to_numpy())
    return matrix
