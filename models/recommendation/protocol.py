"""The evaluation protocol of Neural Collaborative Filtering (He et al., WWW 2017), and the
full-ranking view beside it, for every recommender lakesight measures.

- **Split** (:func:`leave_one_out`): each user's interactions in time order; the last is
  the test item, the one before it the validation item, the rest train. Ties in time keep
  the order the interactions came in, so the split is the same on every run.
- **Candidates** (:func:`sampled_candidates`): for each test user, the test item and 99
  items the user never interacted with, drawn with a seed. One candidate table serves every
  model of a run, so all are ranked against the same negatives.
- **Sampled metrics** (:func:`sampled_metrics`): HR@10 and NDCG@10 of the test item's rank
  among its 100 candidates.
- **Full ranking** (:func:`full_ranking_metrics`): Recall@10 and NDCG@10 of the test item
  among every item the user has not trained or validated on.

A rank counts the candidates scored above the test item *and those tied with it*: a model
that scores everything alike ranks its test item last, not first. (NCF's own code takes
``heapq.nlargest``, which breaks ties by position and so flatters constant scorers.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

NEGATIVES = 99  # per test user, as He et al.
CUTOFF = 10


@dataclass(frozen=True)
class Split:
    """Interactions as contiguous ids: ``users`` and ``items`` count them; ``train`` is
    (user, item) pairs, ``valid`` and ``test`` one item per user (-1: the user has none)."""

    users: int
    items: int
    train: np.ndarray  # (N, 2) int64
    valid: np.ndarray  # (users,) int64
    test: np.ndarray  # (users,) int64
    user_ids: np.ndarray  # contiguous id -> the data's own id
    item_ids: np.ndarray

    def seen(self) -> list[set[int]]:
        """Per user, the items it trained on or validated with: never a negative for it,
        and never ranked for it in the full ranking."""
        seen: list[set[int]] = [set() for _ in range(self.users)]
        for user, item in self.train:
            seen[user].add(int(item))
        for user, item in enumerate(self.valid):
            if item >= 0:
                seen[user].add(int(item))
        return seen

    def test_users(self) -> np.ndarray:
        return np.flatnonzero(self.test >= 0)


def leave_one_out(interactions: pd.DataFrame) -> Split:
    """``interactions``: ``user``, ``item``, ``ts`` (any id types; repeats of a pair count
    once, at their first time). A user with fewer than 3 distinct items trains on all of
    them and has no validation or test item."""
    data = interactions[["user", "item", "ts"]].reset_index(drop=True)
    data = data.drop_duplicates(["user", "item"], keep="first")
    user_codes, user_ids = pd.factorize(data["user"], sort=True)
    item_codes, item_ids = pd.factorize(data["item"], sort=True)
    frame = pd.DataFrame({"user": user_codes, "item": item_codes, "ts": data["ts"].to_numpy()})
    frame = frame.sort_values(["user", "ts"], kind="stable")
    position_from_end = frame.groupby("user").cumcount(ascending=False).to_numpy()
    count = frame.groupby("user")["item"].transform("size").to_numpy()
    held = count >= 3
    users = len(user_ids)
    valid = np.full(users, -1, np.int64)
    test = np.full(users, -1, np.int64)
    is_test, is_valid = held & (position_from_end == 0), held & (position_from_end == 1)
    test[frame["user"].to_numpy()[is_test]] = frame["item"].to_numpy()[is_test]
    valid[frame["user"].to_numpy()[is_valid]] = frame["item"].to_numpy()[is_valid]
    train = frame.loc[~(is_test | is_valid), ["user", "item"]].to_numpy(np.int64)
    return Split(users, len(item_ids), train, valid, test, np.asarray(user_ids),
                 np.asarray(item_ids))  # fmt: skip


def sampled_candidates(split: Split, seed: int, negatives: int = NEGATIVES) -> np.ndarray:
    """(test users, 1 + ``negatives``) item ids: column 0 the test item, then negatives
    drawn without replacement from the items the user never interacted with."""
    rng = np.random.default_rng(seed)
    seen = split.seen()
    rows = []
    for user in split.test_users():
        positive = int(split.test[user])
        excluded = seen[user] | {positive}
        pool = split.items - len(excluded)
        if pool < negatives:
            raise ValueError(
                f"user {split.user_ids[user]} leaves {pool} items to sample {negatives} negatives from"
            )
        drawn: list[int] = []
        taken = set(excluded)
        while len(drawn) < negatives:  # rejection: a user has seen a small part of the items
            for item in rng.integers(split.items, size=2 * (negatives - len(drawn))):
                if int(item) not in taken:
                    taken.add(int(item))
                    drawn.append(int(item))
                    if len(drawn) == negatives:
                        break
        rows.append([positive, *drawn])
    return np.asarray(rows, np.int64).reshape(-1, 1 + negatives)


def unseen_pool(split: Split) -> np.ndarray:
    """Per user, how many items it has neither trained on nor holds out (its validation
    and test items): what its sampled negatives are drawn from."""
    counts = np.bincount(split.train[:, 0], minlength=split.users)
    held = (split.valid >= 0).astype(int) + (split.test >= 0).astype(int)
    return split.items - counts - held


def held_out_users(split: Split, wanted: int = NEGATIVES, share: float = 0.8) -> tuple[Split, int]:
    """For a catalogue too small for NCF's 99 (a market of a few hundred listings, not
    MovieLens' 1,682 movies): the negatives at least ``share`` of the test users can give,
    at most ``wanted``, and the split whose test users are only those that can. The
    others keep their test item out of training and are not scored."""
    users = split.test_users()
    pools = unseen_pool(split)[users]
    if not len(users):
        return split, 0
    negatives = int(min(wanted, np.quantile(pools, 1 - share, method="lower")))
    test = split.test.copy()
    test[users[pools < max(negatives, 1)]] = -1
    return dataclasses.replace(split, test=test), max(negatives, 0)


def rank_of_test_item(scores: np.ndarray) -> np.ndarray:
    """Per row, the rank (0 = first) of column 0 among the row's scores, ties counted
    against it."""
    scores = np.asarray(scores, np.float64)
    positive = scores[:, :1]
    return (scores[:, 1:] >= positive).sum(axis=1)


def hit_and_ndcg(ranks: np.ndarray, k: int = CUTOFF) -> tuple[float, float]:
    """HR@k and NDCG@k of one relevant item per user at ``ranks``."""
    ranks = np.asarray(ranks)
    hit = ranks < k
    gain = np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0)
    return float(hit.mean()) if len(ranks) else 0.0, float(gain.mean()) if len(ranks) else 0.0


Scorer = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (users, items) -> scores, same shape


def sampled_metrics(scorer: Scorer, split: Split, candidates: np.ndarray,
                    k: int = CUTOFF) -> dict[str, float]:  # fmt: skip
    """``{"hr10", "ndcg10"}`` of ``scorer`` on the shared ``candidates``."""
    users = np.repeat(split.test_users()[:, None], candidates.shape[1], axis=1)
    hr, ndcg = hit_and_ndcg(rank_of_test_item(scorer(users, candidates)), k)
    return {f"hr{k}": hr, f"ndcg{k}": ndcg}


def full_ranking_metrics(scorer: Scorer, split: Split, k: int = CUTOFF,
                         users_per_block: int = 256) -> dict[str, float]:  # fmt: skip
    """``{"recall10", "ndcg10"}`` of the test item among all items the user has not
    trained or validated on (one relevant item, so recall is the hit rate)."""
    seen = split.seen()
    test_users = split.test_users()
    every_item = np.arange(split.items)
    ranks = []
    for start in range(0, len(test_users), users_per_block):
        block = test_users[start : start + users_per_block]
        users = np.repeat(block[:, None], split.items, axis=1)
        scores = np.asarray(scorer(users, np.broadcast_to(every_item, users.shape)), np.float64)
        for row, user in enumerate(block):
            positive = scores[row, split.test[user]]
            others = scores[row].copy()
            others[list(seen[user])] = -np.inf
            others[split.test[user]] = -np.inf
            ranks.append(int((others >= positive).sum()))
    recall, ndcg = hit_and_ndcg(np.asarray(ranks), k)
    return {f"recall{k}": recall, f"ndcg{k}": ndcg}


def random_scorer(seed: int) -> Scorer:
    """Scores drawn at random: the floor every model must clear (HR@10 ≈ 0.1 sampled)."""
    rng = np.random.default_rng(seed)
    return lambda users, items: rng.random(np.shape(items))


def popularity_scorer(split: Split) -> Scorer:
    """ItemPop: an item's training interactions, the same for every user."""
    counts = np.bincount(split.train[:, 1], minlength=split.items).astype(np.float64)
    return lambda users, items: counts[items]
