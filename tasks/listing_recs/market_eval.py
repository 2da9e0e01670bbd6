"""``eval recs``' second part: the recommenders on the generated market, warm and cold.

**The world.** :data:`DAYS` days of ``sample-data interactions`` (the sample listings'
seed, :func:`.sample_data.day_events`) from :data:`FIRST_DAY`; the last
:data:`TEST_DAYS` are the test period, the days before it the training period. Every
listing on the market in those days has its photos rendered as ``sample-data listings``
renders them, embedded by the shipped backbone and tagged by the shipped heads: what
``features/listings`` holds for it, turned into the recommend stage's
:class:`.recommend.Listings`.

**Per seed**, :data:`WITHHELD` of the listings are drawn and withheld: none of their
events reaches training. lakesight's MF trains on the training period's user-listing
pairs as the train stage trains it (:func:`.window.window_pairs` order, leave-one-out for
the epoch, the tuned settings). Then every user with a training history is a test case
for their first engagement in the test period with a listing they had never touched:

- **warm**: a listing the model knows, ranked among the known listings on the market
  that day the user had not touched: ``mf`` (the model's scores), ``hybrid`` (the
  photos-and-tags profile, :func:`.recommend.visual_scores`), ``itempop`` (training
  events), ``random``;
- **cold**: a withheld listing, ranked among the withheld listings on the market that
  day the user had not touched: ``hybrid``, ``tag_pop`` (how often the training events'
  listings carry its tags: popularity without history) and ``random``.

Whole-market ranking, not sampled negatives: a day's market is a few hundred listings,
and the cold ones are a few dozen, so the candidate lists are what the recommend stage
itself ranks. Ties are broken at random (many listings share one tag vector, and
counting ties against ``tag_pop`` would flatter the hybrid). HR@10 and NDCG@10 are
means over the seeds, spreads under ``*_std``. Photos are scored as rendered, without
the JPEG round trip the lake adds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from lakesight.listing_recs.recommend import Listings, listing_features, visual_scores
from lakesight.listing_recs.sample_data import MARKET_DAYS, day_events, day_key
from lakesight.models.recommendation.protocol import CUTOFF, hit_and_ndcg

FIRST_DAY = "2026-09-01"
DAYS = 35
TEST_DAYS = 7
WITHHELD = 0.15  # of the listings, never seen in training
WARM_MODELS = ("random", "itempop", "hybrid", "mf")
COLD_MODELS = ("random", "tag_pop", "hybrid")


@dataclass(frozen=True)
class World:
    """The generated market: every event, and every listing's features and listing day."""

    events: pd.DataFrame  # user_id, listing_id, event, ts (datetime64), day (ordinal)
    listings: Listings  # every listing of the market in the period
    listed: np.ndarray  # (listings,) the ordinal day each was listed
    photos: int


@dataclass(frozen=True)
class Case:
    """One user's first engagement with a listing new to them in the test period."""

    user_id: str
    positive: int  # index into the world's listings
    day: int
    touched: frozenset[int]  # the listings the user engaged with on earlier days


def build_world(*, seed: int, days: int = DAYS, per_day: int = 24, steps=None) -> World:
    """Simulate the ``days`` from :data:`FIRST_DAY` and compute every market listing's
    features with the shipped models."""
    from lakesight.house_similarity.publish import tag_photos
    from lakesight.house_similarity.sample_data import listing_photos, sample_listing
    from lakesight.models.tagging.backbone import load_backbone
    from lakesight.models.tagging.heads import load_heads

    first = date.fromisoformat(FIRST_DAY)
    rows = []
    for offset in range(days):
        dt = (first + timedelta(days=offset)).isoformat()
        events, _, _ = day_events(dt, seed=seed, per_day=per_day)
        rows += [(*event, day_key(dt)) for event in events]
    events = pd.DataFrame(rows, columns=["user_id", "listing_id", "event", "ts", "day"])
    events["ts"] = pd.to_datetime(events["ts"])
    backbone, heads = load_backbone(), load_heads()
    frames, listed = [], {}
    for offset in range(-(MARKET_DAYS - 1), days):
        dt = (first + timedelta(days=offset)).isoformat()
        ids, pixels = [], []
        for index in range(1, per_day + 1):
            listing_id, house, _, house_rng = sample_listing(seed, dt, index)
            listed[listing_id] = day_key(dt)
            for _, photo in listing_photos(house, house_rng):
                ids.append(listing_id)
                pixels.append(photo)
        embeddings = backbone.embed(pixels)
        tags = tag_photos(embeddings, heads, pixels)
        frames.append(pd.DataFrame({"listing_id": ids, "embedding": list(embeddings),
                                    **{k: tags[k] for k in ("exterior", "style", "stories")}}))  # fmt: skip
    photos = pd.concat(frames, ignore_index=True)
    listings = listing_features(photos, {}, set(listed))
    return World(events, listings, np.array([listed[x] for x in listings.ids]), len(photos))


def new_engagements(events: pd.DataFrame, index: dict[str, int], test_from: int,
               pool: np.ndarray) -> list[Case]:  # fmt: skip
    """Per user who engaged with something before ``test_from`` (an ordinal day), their
    first engagement from that day on with a listing of ``pool`` (a bool mask over the
    listings) that they had not touched on an earlier day. What they touched on earlier
    days is what a daily recommend run for that day knows of them."""
    cases = []
    ordered = events.sort_values(["user_id", "ts"], kind="stable")
    for user_id, group in ordered.groupby("user_id", sort=True):
        days = group["day"].to_numpy()
        if days[0] >= test_from:
            continue  # joined in the test period: no history to recommend from
        listings = group["listing_id"].map(index).to_numpy()
        for listing, day in zip(listings, days, strict=True):
            earlier = set(listings[days < day].tolist())
            if day >= test_from and pool[listing] and listing not in earlier:
                cases.append(Case(user_id, int(listing), int(day), frozenset(earlier)))
                break
    return cases


def candidates(case: Case, pool: np.ndarray, listed: np.ndarray) -> np.ndarray:
    """The case's positive, then every listing of ``pool`` (a bool mask) on the market on
    the case's day that the user had not touched."""
    on_market = pool & (listed <= case.day) & (listed > case.day - MARKET_DAYS)
    on_market[[*case.touched, case.positive]] = False
    return np.concatenate([[case.positive], np.flatnonzero(on_market)]).astype(np.int64)


def rank_with_random_ties(scores: np.ndarray, rng: np.random.Generator) -> int:
    """The rank (0 = first) of ``scores[0]`` among ``scores``, ties with it broken at random."""
    above = int((scores[1:] > scores[0]).sum())
    tied = int((scores[1:] == scores[0]).sum())
    return above + int(rng.integers(0, tied + 1))


def ranked_cases(cases: list[Case], pool: np.ndarray, listed: np.ndarray,
                 scorers: dict, rng: np.random.Generator) -> dict[str, dict[str, float]]:  # fmt: skip
    """Each scorer's HR@10 and NDCG@10 over the ``cases``, each positive ranked among the
    listings of ``pool`` (:func:`candidates`). A scorer maps ``(case, candidates)`` to scores."""
    ranks: dict[str, list[int]] = {name: [] for name in scorers}
    for case in cases:
        options = candidates(case, pool, listed)
        for name, scorer in scorers.items():
            scores = np.asarray(scorer(case, options), np.float64)
            ranks[name].append(rank_with_random_ties(scores, rng))
    figures = {}
    for name, found in ranks.items():
        hr, ndcg = hit_and_ndcg(np.asarray(found, np.int64), CUTOFF)
        figures[name] = {"hr10": hr, "ndcg10": ndcg, "cases": len(found)}
    return figures


def history_of(case: Case) -> np.ndarray:
    return np.fromiter(sorted(case.touched), np.int64)


def withhold(world: World, rng: np.random.Generator,
             test_days: int) -> tuple[np.ndarray, pd.DataFrame, int]:  # fmt: skip
    """Draw :data:`WITHHELD` of the listings: ``(withheld mask, the events left, the
    first test day)``. A withheld listing has no history: its events before the test
    period never happened; those of the test period are what it is tested on."""
    withheld = np.zeros(len(world.listings.ids), bool)
    withheld[rng.choice(len(withheld), round(WITHHELD * len(withheld)), replace=False)] = True
    test_from = int(world.events["day"].max()) - test_days + 1
    index = world.listings.index
    listing = world.events["listing_id"].map(index).to_numpy()
    events = world.events[(world.events["day"].to_numpy() >= test_from) | ~withheld[listing]]
    return withheld, events, test_from


def one_seed(world: World, seed: int, *, test_days: int, epochs: int | None,
             steps) -> dict[str, dict]:  # fmt: skip
    """Withhold, train, rank: ``{"warm": {model: figures}, "cold": {...}}`` for one seed."""
    from lakesight.listing_recs.window import first_pairs
    from lakesight.models.recommendation.collaborative import (
        TUNED_MF,
        train_recommender,
        trained_scorer,
    )
    from lakesight.models.recommendation.protocol import held_out_users, leave_one_out

    listings, index = world.listings, world.listings.index
    rng = np.random.default_rng([seed, 29])
    withheld, events, test_from = withhold(world, rng, test_days)
    training = events[events["day"] < test_from]
    split = leave_one_out(first_pairs(training))
    _, negatives = held_out_users(split)
    config = dataclasses.replace(TUNED_MF, seed=seed, epochs=epochs or TUNED_MF.epochs,
                                 eval_negatives=max(1, negatives))  # fmt: skip
    with steps.step(f"seed {seed}: train mf on {len(split.train)} pairs"):
        cf = trained_scorer(config, split, train_recommender(config, split))
    known_item = {x: k for k, x in enumerate(split.item_ids)}
    known_user = {x: k for k, x in enumerate(split.user_ids)}
    model_items = np.array([known_item.get(x, -1) for x in listings.ids], np.int64)
    counts = training["listing_id"].map(index).value_counts()
    popularity = np.zeros(len(listings.ids))
    popularity[counts.index.to_numpy()] = counts.to_numpy()
    tag_share = popularity @ listings.tags / max(popularity.sum(), 1.0)
    chance = np.random.default_rng([seed, 31])

    def mf(case: Case, options: np.ndarray) -> np.ndarray:
        users = np.full(len(options), known_user[case.user_id])
        return cf(users, model_items[options])

    shared = {
        "random": lambda case, options: chance.random(len(options)),
        "hybrid": lambda case, options: visual_scores(listings, history_of(case), options),
    }
    figures = {}
    for part, pool, scorers in (
        ("warm", (model_items >= 0) & ~withheld, {"itempop": lambda c, o: popularity[o], "mf": mf}),
        ("cold", withheld, {"tag_pop": lambda c, o: listings.tags[o] @ tag_share}),
    ):
        cases = new_engagements(events, index, test_from, pool)
        figures[part] = ranked_cases(cases, pool, world.listed, {**shared, **scorers}, rng)
    return {**figures, "pairs": len(split.train)}


def eval_market(steps, *, seeds: int = 5, days: int = DAYS, test_days: int = TEST_DAYS,
                per_day: int = 24, epochs: int | None = None) -> dict:  # fmt: skip
    """The ``warm`` and ``cold`` parts of ``eval recs --json``."""
    from lakesight.house_similarity.sample_data import SAMPLE_SEED

    with steps.step(f"{days} days of the sample market, every listing's photos embedded"):
        world = build_world(seed=SAMPLE_SEED, days=days, per_day=per_day)
    runs = []
    for seed in range(seeds):
        runs.append(one_seed(world, seed, test_days=test_days, epochs=epochs, steps=steps))
    facts = {"seeds": seeds, "days": days, "test_days": test_days, "withheld": WITHHELD,
             "events": len(world.events), "users": int(world.events["user_id"].nunique()),
             "listings": len(world.listings.ids), "photos": world.photos,
             "pairs": [run["pairs"] for run in runs]}  # fmt: skip
    return {
        **{part: summarised_runs([run[part] for run in runs], models)
           for part, models in (("warm", WARM_MODELS), ("cold", COLD_MODELS))},
        "market": facts,
    }  # fmt: skip


def summarised_runs(runs: list[dict], models: tuple[str, ...]) -> dict:
    """Means over the seeds per metric, spreads under ``<metric>_std``, and test cases."""
    from lakesight.listing_recs.evaluation import summarised

    figures = summarised({name: [run[name] for run in runs] for name in models}, ("hr10", "ndcg10"))
    return {**figures, "cases": [run[models[0]]["cases"] for run in runs]}
