"""Collaborative filtering on implicit feedback: a dot-product matrix factorisation and
NeuMF (He et al., WWW 2017), trained with sampled negatives, on the protocol's split.

- **MF** (``loss="bce"``): user and item vectors, their dot product plus an item bias,
  trained pointwise on each interaction and ``negatives`` unseen items (log loss), with
  L2 on the vectors a batch touches. Rendle et al. (RecSys 2020) showed this, tuned, beats
  NeuMF on NCF's own protocol.
- **BPR-MF** (``loss="bpr"``): the same model trained pairwise, each interaction against
  one unseen item (Rendle et al., UAI 2009), the classic baseline.
- **NeuMF**: a GMF branch (element-wise product of vectors) and an MLP branch over
  concatenated vectors, joined by one output layer; log loss with ``negatives`` per
  interaction, as in the paper.

Every run keeps the epoch that ranks the validation items best (HR@10 on validation
candidates drawn as the test's are), so the test items are never looked at in training.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from lakesight.models.recommendation.protocol import (
    NEGATIVES,
    Scorer,
    Split,
    hit_and_ndcg,
    rank_of_test_item,
)


@dataclass(frozen=True)
class RecConfig:
    """One recommender's model and training settings."""

    model: str = "mf"  # "mf" or "neumf"
    loss: str = "bce"  # "bce" (pointwise, ``negatives`` per interaction) or "bpr" (pairwise)
    factors: int = 64  # MF's, and NeuMF's GMF vectors
    mlp_layers: tuple[int, ...] = (128, 64, 32)  # NeuMF: the MLP's widths, input first
    epochs: int = 20
    batch: int = 1024
    lr: float = 2e-3
    l2: float = 1e-5  # on the vectors a batch touches
    negatives: int = 4
    # Sampled items each validation item is ranked against (NCF's 99; fewer for a small
    # catalogue: :func:`lakesight.models.recommendation.protocol.held_out_users`).
    eval_negatives: int = NEGATIVES
    # Rank the validation items after every epoch and keep the best epoch; without it (a
    # throughput bench) the last epoch is kept.
    validate: bool = True
    seed: int = 0
    threads: int = 2  # torch's intra-op threads (each rank's, under TorchDistributor)
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**asdict(self), "mlp_layers": list(self.mlp_layers)}


# lakesight's MF as tuned on ml-100k's validation items (factors, L2 and negatives, the
# best of a grid: HR@10 0.717 against 0.702-0.713; README, "listing_recs"): what
# ``eval recs`` measures and ``listing_recs.train`` trains.
TUNED_MF = RecConfig(model="mf", loss="bce", factors=128, l2=1e-3, negatives=8, epochs=40)


def build_model(config: RecConfig, users: int, items: int):
    """The torch module of ``config.model``: ``model(users, items)`` → logits."""
    import torch
    from torch import nn

    class DotProduct(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.user = nn.Embedding(users, config.factors)
            self.item = nn.Embedding(items, config.factors)
            self.item_bias = nn.Embedding(items, 1)
            for table in (self.user, self.item):
                nn.init.normal_(table.weight, std=0.01)
            nn.init.zeros_(self.item_bias.weight)

        def forward(self, u, i):
            dot = (self.user(u) * self.item(i)).sum(-1)
            return dot + self.item_bias(i).squeeze(-1)

        def touched(self, u, i):
            return self.user(u), self.item(i)

    class NeuMF(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            half = config.mlp_layers[0] // 2
            self.gmf_user = nn.Embedding(users, config.factors)
            self.gmf_item = nn.Embedding(items, config.factors)
            self.mlp_user = nn.Embedding(users, half)
            self.mlp_item = nn.Embedding(items, half)
            for table in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
                nn.init.normal_(table.weight, std=0.01)
            layers, width = [], 2 * half
            for out in config.mlp_layers[1:]:
                layers += [nn.Linear(width, out), nn.ReLU()]
                width = out
            self.mlp = nn.Sequential(*layers)
            self.out = nn.Linear(config.factors + width, 1)

        def forward(self, u, i):
            gmf = self.gmf_user(u) * self.gmf_item(i)
            mlp = self.mlp(torch.cat([self.mlp_user(u), self.mlp_item(i)], dim=-1))
            return self.out(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

        def touched(self, u, i):
            return self.gmf_user(u), self.gmf_item(i), self.mlp_user(u), self.mlp_item(i)

    if config.model == "mf":
        return DotProduct()
    if config.model == "neumf":
        return NeuMF()
    raise ValueError(f"model {config.model!r}: choose mf or neumf")


class NegativeSampler:
    """Items a user never trained on, drawn uniformly (rejecting the few it has)."""

    def __init__(self, split: Split) -> None:
        self.items = split.items
        self.known = np.unique(split.train[:, 0] * split.items + split.train[:, 1])
        # A user who trained on every item has no negative: it takes a known one rather
        # than hang the sampler (a small market, a user who looked at everything).
        self.saturated = np.bincount(self.known // split.items, minlength=split.users) >= self.items

    def _known(self, keys: np.ndarray) -> np.ndarray:
        at = np.minimum(np.searchsorted(self.known, keys), len(self.known) - 1)
        return self.known[at] == keys if len(self.known) else np.zeros(len(keys), bool)

    def draw(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        drawn = rng.integers(self.items, size=len(users))
        clash = self._known(users * self.items + drawn) & ~self.saturated[users]
        while clash.any():
            drawn[clash] = rng.integers(self.items, size=int(clash.sum()))
            clash = self._known(users * self.items + drawn) & ~self.saturated[users]
        return drawn


def model_scorer(model, batch: int = 65536) -> Scorer:
    """A protocol :data:`Scorer` over a trained module (logits; the order is what counts)."""
    import torch

    def score(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        u, i = (torch.from_numpy(np.ascontiguousarray(a).reshape(-1)) for a in (users, items))
        with torch.no_grad():
            parts = [model(u[k : k + batch], i[k : k + batch]) for k in range(0, len(u), batch)]
        return torch.cat(parts).numpy().reshape(np.shape(items))

    return score


def validation_candidates(split: Split, seed: int,
                          negatives: int = NEGATIVES) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(users, candidates): each user with a validation item, that item then
    ``negatives`` items the user never interacted with (its test item included in what
    is excluded, so validation never hints at the test)."""
    from lakesight.models.recommendation.protocol import unseen_pool

    rng = np.random.default_rng([seed, 1])
    sampler = NegativeSampler(split)
    # A user with nothing left to draw from would hold the loop below forever.
    users = np.flatnonzero((split.valid >= 0) & (unseen_pool(split) >= 1))
    table = np.empty((len(users), 1 + negatives), np.int64)
    table[:, 0] = split.valid[users]
    for column in range(1, 1 + negatives):
        drawn = sampler.draw(users, rng)
        bad = (drawn == split.valid[users]) | (drawn == split.test[users])
        while bad.any():
            drawn[bad] = sampler.draw(users[bad], rng)
            bad = (drawn == split.valid[users]) | (drawn == split.test[users])
        table[:, column] = drawn
    return users, table


def train_recommender(config: RecConfig, split: Split, *, distributed: bool = False,
                      quiet: bool = True) -> dict:  # fmt: skip
    """Train on ``split.train``; returns ``{"state", "facts"}`` of the epoch with the best
    validation HR@10 (rank 0's under TorchDistributor, where each rank takes its share of
    every epoch's samples)."""
    import torch

    from lakesight.models.nn import TrainingLog, for_ranks, rank_zero_result, start_rank

    rank, world = start_rank(distributed, config.seed, config.threads)
    model, core = for_ranks(build_model(config, split.users, split.items), distributed)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    rng = np.random.default_rng([config.seed, rank])
    sampler = NegativeSampler(split)
    valid_users, valid_table = validation_candidates(split, config.seed, config.eval_negatives)
    positives = split.train[rank::world]
    steps = config.epochs * -(-len(positives) // config.batch)
    log = TrainingLog(f"train_{config.model}", max(1, steps // 10), steps, rank=rank,
                      quiet=quiet, decimals=5, rate="interactions_per_s",
                      per_step=config.batch * world)  # fmt: skip
    best = {"hr10": -1.0}
    step = 0
    started = time.perf_counter()
    training_s = 0.0  # the epochs' own time, validation aside
    for epoch in range(config.epochs):
        model.train()
        epoch_started = time.perf_counter()
        order = rng.permutation(len(positives))
        for start in range(0, len(order), config.batch):
            chosen = positives[order[start : start + config.batch]]
            loss = batch_loss(model, config, chosen, sampler, rng)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            log.add(step, loss=loss.item())
            step += 1
        training_s += time.perf_counter() - epoch_started
        model.eval()
        if not config.validate:
            best = {"epoch": epoch + 1, "state": core.state_dict()}
            continue
        scores = model_scorer(core)(np.repeat(valid_users[:, None], valid_table.shape[1], 1),
                                    valid_table)  # fmt: skip
        hr, ndcg = hit_and_ndcg(rank_of_test_item(scores))
        if hr > best["hr10"]:
            state = {k: v.detach().clone() for k, v in core.state_dict().items()}
            best = {"hr10": hr, "ndcg10": ndcg, "epoch": epoch + 1, "state": state}
    core.load_state_dict(best.pop("state"))
    facts = {
        "config": config.to_dict(),
        "seconds": round(time.perf_counter() - started, 1),
        "interactions_per_s": round(
            steps * config.batch * world / (time.perf_counter() - started), 1
        ),
        "training_s": round(training_s, 2),
        # Scored pairs (positives and their sampled negatives) a second of training, over
        # every rank: what the peer's trainer reports too.
        "pairs_per_s": round(
            len(split.train) * pairs_per_positive(config) * config.epochs / max(training_s, 1e-9), 1
        ),
        "world_size": world,
        "validation": best,
        "history": log.history,
    }
    return rank_zero_result(core, facts, distributed)


def pairs_per_positive(config: RecConfig) -> int:
    """Scored pairs per training interaction: itself and its sampled negatives."""
    return 2 if config.loss == "bpr" else 1 + config.negatives


def batch_loss(model, config: RecConfig, chosen: np.ndarray, sampler: NegativeSampler, rng):
    """The loss of one batch of (user, item) interactions, with its sampled negatives."""
    import torch
    import torch.nn.functional as F

    users = chosen[:, 0]
    if config.loss == "bpr":
        # One forward pass over positives and negatives together: DistributedDataParallel
        # expects one forward per backward.
        u = torch.from_numpy(np.concatenate([users, users]))
        i = torch.from_numpy(np.concatenate([chosen[:, 1], sampler.draw(users, rng)]))
        positive, negative = model(u, i).split(len(users))
        loss = -F.logsigmoid(positive - negative).mean()
    elif config.loss == "bce":
        repeated = np.repeat(users, config.negatives)
        u = torch.from_numpy(np.concatenate([users, repeated]))
        i = torch.from_numpy(np.concatenate([chosen[:, 1], sampler.draw(repeated, rng)]))
        labels = torch.cat([torch.ones(len(users)), torch.zeros(len(repeated))])
        loss = F.binary_cross_entropy_with_logits(model(u, i), labels)
    else:
        raise ValueError(f"loss {config.loss!r}: choose bce or bpr")
    touched = model.module.touched if hasattr(model, "module") else model.touched
    vectors = touched(torch.from_numpy(users), torch.from_numpy(chosen[:, 1]))
    return loss + config.l2 * sum((v**2).sum(-1).mean() for v in vectors)


def trained_scorer(config: RecConfig, split: Split, result: dict) -> Scorer:
    """The scorer of a :func:`train_recommender` result."""
    model = build_model(config, split.users, split.items)
    model.load_state_dict(result["state"])
    model.eval()
    return model_scorer(model)
