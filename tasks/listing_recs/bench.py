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
import statistics
import time

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
