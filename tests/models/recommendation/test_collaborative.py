"""MF, BPR-MF and NeuMF learn a taste planted in a toy, and never train on what they are
judged by."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from lakesight.models.recommendation.collaborative import (
    NegativeSampler,
    RecConfig,
    train_recommender,
    trained_scorer,
)
from lakesight.models.recommendation.protocol import (
    leave_one_out,
    random_scorer,
    sampled_candidates,
    sampled_metrics,
)


def planted_split(users: int = 120, items: int = 240, per_user: int = 25, seed: int = 0):
    """Two kinds of users, each engaging only with its own half of the items."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(users):
        half = (user % 2) * (items // 2)
        chosen = half + rng.choice(items // 2, per_user, replace=False)
        rows += [(user, int(item), t) for t, item in enumerate(chosen)]
    return leave_one_out(pd.DataFrame(rows, columns=["user", "item", "ts"]))


@pytest.mark.unit
def test_negatives_are_never_an_item_the_user_trained_on():
    split = planted_split()
    sampler = NegativeSampler(split)
    users = np.repeat(np.arange(split.users), 50)
    drawn = sampler.draw(users, np.random.default_rng(0))
    trained = {(int(u), int(i)) for u, i in split.train}
    assert not any((int(u), int(i)) in trained for u, i in zip(users, drawn, strict=True))
    assert len(np.unique(drawn)) > split.items // 2  # drawn across the catalogue


@pytest.mark.unit
@pytest.mark.parametrize(
    "config",
    [RecConfig(model="mf", loss="bce"), RecConfig(model="mf", loss="bpr"),
     RecConfig(model="neumf", loss="bce")],
    ids=["mf", "bpr", "neumf"],
)  # fmt: skip
def test_each_model_learns_the_planted_taste(config):
    split = planted_split()
    config = RecConfig(**{**config.to_dict(), "mlp_layers": (32, 16), "factors": 16,
                          "epochs": 8, "batch": 256, "lr": 1e-2, "threads": 1})  # fmt: skip
    result = train_recommender(config, split)
    scorer = trained_scorer(config, split, result)
    # Each user's top 10 among the items it has not seen: of its own kind when the model
    # learnt the taste (random picks would be half and half).
    items = np.arange(split.items)
    scores = scorer(np.repeat(np.arange(split.users)[:, None], split.items, 1),
                    np.broadcast_to(items, (split.users, split.items))).copy()  # fmt: skip
    for user, seen in enumerate(split.seen()):
        scores[user, list(seen)] = -np.inf
    top = np.argsort(-scores, axis=1)[:, :10]
    kind = (np.arange(split.users) % 2)[:, None]
    own_kind = (top >= split.items // 2) == kind.astype(bool)
    assert own_kind.mean() > 0.9
    # On the protocol's candidates it beats chance; the planted taste allows about 0.2
    # (the test item among the ~50 candidates of its kind), chance about 0.1.
    candidates = sampled_candidates(split, seed=1)
    ours = sampled_metrics(scorer, split, candidates)
    chance = sampled_metrics(random_scorer(1), split, candidates)
    assert ours["hr10"] > chance["hr10"]
    assert 1 <= result["facts"]["validation"]["epoch"] <= config.epochs


@pytest.mark.spark
@pytest.mark.distributed
@pytest.mark.slow
@pytest.mark.parametrize("loss", ["bce", "bpr"])
def test_the_same_loop_learns_under_torch_distributor(spark, loss):
    from lakesight.models.nn import run_on_ranks

    split = planted_split()
    config = RecConfig(model="neumf" if loss == "bce" else "mf", loss=loss, factors=16,
                       mlp_layers=(32, 16), epochs=4, batch=128, lr=1e-2, threads=2)  # fmt: skip
    result = run_on_ranks(train_recommender, 2, config, split)
    assert result["facts"]["world_size"] == 2
    single = train_recommender(dataclasses.replace(config, epochs=1, threads=1), split)
    assert set(result["state"]) == set(single["state"])
    scores = trained_scorer(config, split, result)(
        np.arange(split.users)[:, None].repeat(split.items, 1),
        np.broadcast_to(np.arange(split.items), (split.users, split.items)),
    )
    # Each rank trained on half the interactions, and the ranks' gradients were averaged:
    # the result has learnt each user's kind (its unseen items of that kind score higher).
    kind = np.arange(split.users) % 2
    own_half = np.where(kind[:, None] == 1, scores[:, split.items // 2 :].mean(1)[:, None],
                        scores[:, : split.items // 2].mean(1)[:, None])  # fmt: skip
    other_half = np.where(kind[:, None] == 1, scores[:, : split.items // 2].mean(1)[:, None],
                          scores[:, split.items // 2 :].mean(1)[:, None])  # fmt: skip
    assert (own_half > other_half).mean() > 0.9


@pytest.mark.spark
def test_als_cuts_its_lineage_so_many_iterations_do_not_overflow_the_stack(spark):
    """Without a checkpoint directory, 50 ALS iterations overflowed the JVM's stack while
    serialising their tasks (15, `eval recs`' setting, did now and then). With the
    session's checkpoints, they run and learn the planted taste."""
    from lakesight.models.recommendation.als import AlsConfig, train_als

    split = planted_split()
    score = train_als(spark, AlsConfig(rank=8, iterations=50), split)
    assert spark.sparkContext.getCheckpointDir() is not None
    kind = np.arange(split.users) % 2
    items = np.arange(split.items)
    scores = score(np.arange(split.users)[:, None], items[None, :])
    own = np.where(kind[:, None] == (items[None, :] >= split.items // 2), scores, np.nan)
    other = np.where(kind[:, None] != (items[None, :] >= split.items // 2), scores, np.nan)
    assert (np.nanmean(own, axis=1) > np.nanmean(other, axis=1)).mean() > 0.9
