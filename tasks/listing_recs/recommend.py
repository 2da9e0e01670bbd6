"""Recommend stage: each user's top listings → ``features/recommendations/dt=D``.

Who: every user with an interaction in the ``weeks`` up to ``D``. What: the listings on
the market, those ``features/listings`` published in the :data:`MARKET_DAYS` days up to
``D``, less those the user already interacted with. How (:func:`recommend_for`, pure):

- **cf**: a user the current recommender knows gets its scores over the listings it knows
  (warm ones);
- **visual**: listings it does not know (new ones, no history yet) are scored against the
  user's profile, built from the photos and tags of the listings they engaged with
  (:func:`visual_scores`); :data:`COLD_SHARE` of the slots go to the best of them,
  interleaved (every fifth rank), so new listings are seen. A user the recommender does
  not know (joined since it was trained) gets visual scores for every listing;
- **popular**: what most users engaged with in the window, for a user without a profile
  and to fill a list that is still short.

Each row's ``score`` is its source's own (a logit, a similarity, an event count): compare
ranks, not scores, across sources. An empty day is a normal day.

Run: ``lakesight stage listing_recs.recommend --dt D``, or spark-submit this file.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lakesight.config import Settings
from lakesight.listing_recs import datasets
from lakesight.models.tagging.houses import STORIES, STYLES
from lakesight.progress import Steps
from lakesight.stage import (
    StageResult,
    commit_stage,
    committed_input,
    frees_cached_data,
    stage_main,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

STAGE = datasets.RECOMMEND
MARKET_DAYS = 14  # a listing published within these days up to D is on the market
K = 10
COLD_SHARE = 0.2  # of the slots, for listings the recommender does not know yet
TAG_WEIGHT = 0.5  # a shared style or storey count against the photos' cosine similarity
POPULAR_KEPT = 100  # popular listings the manifest lists, for users with no row yet


@dataclass(frozen=True)
class Listings:
    """Listings' features: ids, unit embeddings (mean of their photos'), tag one-hots
    (style, stories of their front exteriors; zeros when none shows them), and how many
    events each had in the window."""

    ids: np.ndarray
    embeddings: np.ndarray  # (n, d) float32
    tags: np.ndarray  # (n, len(STYLES) + len(STORIES))
    popularity: np.ndarray  # (n,)
    on_market: np.ndarray  # (n,) bool

    # Listing id -> row: built once, every user's recommendations look ids up in it. (Not a
    # cached_property: spark-submit runs this module as __main__, so cloudpickle ships the
    # class by value, and that descriptor holds a lock.)
    index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {x: k for k, x in enumerate(self.ids)})


def listing_features(photos: pd.DataFrame, popularity: dict[str, int],
                     market: set[str]) -> Listings:  # fmt: skip
    """``photos``: features/listings rows (``listing_id``, ``embedding``, ``exterior``,
    ``style``, ``stories``), one listing's photos of its latest day."""
    ids, embeddings, tags = [], [], []
    for listing_id, group in photos.groupby("listing_id", sort=True):
        mean = np.stack(group["embedding"].to_numpy()).astype(np.float32).mean(axis=0)
        embeddings.append(mean / max(float(np.linalg.norm(mean)), 1e-12))
        fronts = group[group["exterior"].fillna(False).astype(bool)]
        one_hot = np.zeros(len(STYLES) + len(STORIES), np.float32)
        for style in fronts["style"].dropna():
            one_hot[STYLES.index(style)] += 1 / len(fronts)
        for stories in fronts["stories"].dropna():
            one_hot[len(STYLES) + STORIES.index(int(stories))] += 1 / len(fronts)
        ids.append(str(listing_id))
        tags.append(one_hot)
    ids_array = np.asarray(ids, dtype=object)
    dim = len(embeddings[0]) if embeddings else 0
    return Listings(
        ids_array,
        np.asarray(embeddings, np.float32).reshape(len(ids), dim),
        np.asarray(tags, np.float32).reshape(len(ids), len(STYLES) + len(STORIES)),
        np.array([popularity.get(x, 0) for x in ids], np.float64),
        np.array([x in market for x in ids], bool),
    )


def visual_scores(listings: Listings, history: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """How much each candidate looks like what the user engaged with: the cosine of its
    embedding to the mean of theirs, plus :data:`TAG_WEIGHT` times the share of their
    listings' tags it has."""
    profile = listings.embeddings[history].mean(axis=0)
    profile /= max(float(np.linalg.norm(profile)), 1e-12)
    tastes = listings.tags[history].mean(axis=0)
    return listings.embeddings[candidates] @ profile + TAG_WEIGHT * (
        listings.tags[candidates] @ tastes
    )


def recommend_for(seen: list[str], listings: Listings, cf, k: int = K) -> list[tuple]:
    """One user's ``(listing_id, score, source)``, best first. ``seen``: listings they
    engaged with; ``cf``: the recommender's scores for ``listings.ids`` (NaN where it
    does not know the listing), or None when it does not know the user."""
    index = listings.index
    history = np.array([index[x] for x in seen if x in index], np.int64)
    fresh = listings.on_market.copy()
    fresh[[index[x] for x in seen if x in index]] = False
    candidates = np.flatnonzero(fresh)
    picked: list[tuple] = []
    if cf is not None:
        warm = candidates[~np.isnan(cf[candidates])]
        cold = candidates[np.isnan(cf[candidates])]
        cold_slots = min(len(cold), round(k * COLD_SHARE)) if len(history) else 0
        best_warm = warm[np.argsort(-cf[warm], kind="stable")][: k - cold_slots]
        warm_rows = [(listings.ids[i], float(cf[i]), "cf") for i in best_warm]
        cold_rows = []
        if cold_slots:
            scores = visual_scores(listings, history, cold)
            cold_rows = [(listings.ids[cold[j]], float(scores[j]), "visual")
                         for j in np.argsort(-scores, kind="stable")[:cold_slots]]  # fmt: skip
        picked = interleaved(warm_rows, cold_rows)
    elif len(history):
        scores = visual_scores(listings, history, candidates)
        picked = [(listings.ids[candidates[j]], float(scores[j]), "visual")
                  for j in np.argsort(-scores, kind="stable")[:k]]  # fmt: skip
    taken = {row[0] for row in picked}
    by_popularity = candidates[np.argsort(-listings.popularity[candidates], kind="stable")]
    for i in by_popularity:
        if len(picked) >= k:
            break
        if listings.ids[i] not in taken:
            picked.append((listings.ids[i], float(listings.popularity[i]), "popular"))
    return picked[:k]


def interleaved(main: list[tuple], inserted: list[tuple], every: int = 5) -> list[tuple]:
    """``main`` with ``inserted`` rows at every ``every``-th rank (5, 10, ...), and any
    left over at the end."""
    out, pending = [], list(inserted)
    for row in main:
        if pending and (len(out) + 1) % every == 0:
            out.append(pending.pop(0))
        out.append(row)
    return out + pending


def popular_listings(listings: Listings, top: int = POPULAR_KEPT) -> list[list]:
    """``[listing_id, events]`` of the market's most engaged-with listings, best first: what
    a consumer shows a user who has no recommendations yet (the service's fallback)."""
    market = np.flatnonzero(listings.on_market)
    best = market[np.argsort(-listings.popularity[market], kind="stable")][:top]
    return [[str(listings.ids[i]), int(listings.popularity[i])] for i in best]


def recommend_batch(batches: Iterator[pd.DataFrame], listings: Listings, model_ref: str | None,
                    registry: str, k: int) -> Iterator[pd.DataFrame]:  # fmt: skip
    """A batch function: ``user_id, seen`` → :data:`.datasets.RECOMMENDATIONS_SCHEMA` rows."""
    from lakesight.models.recommendation.release import Recommender

    model = Recommender.load(model_ref, registry) if model_ref else None
    models = [model_ref] if model_ref else []
    items = model.item_indices(listings.ids) if model else None
    for batch in batches:
        rows = []
        for user_id, seen in zip(batch["user_id"], batch["seen"], strict=True):
            cf = None
            if model is not None and user_id in model.users:
                cf = model.score_indices(np.full(len(items), model.users[user_id]), items)
            for rank, (listing_id, score, source) in enumerate(
                recommend_for(list(seen), listings, cf, k), start=1
            ):
                rows.append((user_id, rank, listing_id, score, source, models))
        yield pd.DataFrame(rows, columns=list(datasets.RECOMMENDATIONS_COLUMNS))


def current_recommender(settings: Settings) -> str | None:
    """``listing_recs@V``, the latest version in the registry, or None before the first."""
    from lakesight.config import ConfigError
    from lakesight.models.recommendation.release import NAME
    from lakesight.models.runtime import resolve

    try:
        return str(resolve(NAME, settings.model_registry)[0])
    except ConfigError:
        return None


PHOTO_FEATURES = (
    "listing_id string, embedding array<float>, exterior boolean, style string, stories int"
)


def market_listings(spark: SparkSession, fs, settings: Settings, dt: str, weeks: int,
                    events: DataFrame) -> Listings:  # fmt: skip
    """Features of every listing ``features/listings`` published in the ``weeks`` up to
    ``dt`` (as of its latest day), the market being those of the last :data:`MARKET_DAYS`
    days, with each one's events in the window. Brought to the driver: a few KB a listing."""
    from lakesight.house_similarity.datasets import FEATURES
    from lakesight.listing_recs.window import window_days

    photos = window_days(spark, fs, FEATURES, settings, dt, 7 * weeks, PHOTO_FEATURES).toPandas()
    latest = photos.groupby("listing_id")["dt"].transform("max")
    photos = photos[photos["dt"] == latest]
    first_market = (date.fromisoformat(dt) - timedelta(days=MARKET_DAYS - 1)).isoformat()
    market = set(photos.loc[photos["dt"] >= first_market, "listing_id"])
    counts = events.groupBy("listing_id").count().toPandas()
    popularity = dict(zip(counts["listing_id"], counts["count"], strict=True))
    return listing_features(photos, popularity, market)


@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        weeks: int = 8, k: int = K) -> StageResult:  # fmt: skip
    """Write the day's recommendations for every user of the window."""
    from pyspark.sql import functions as F

    from lakesight.house_similarity.datasets import PUBLISH
    from lakesight.listing_recs.window import window_events
    from lakesight.stage import model_entries, tally

    steps = steps or Steps(STAGE.short)
    fs, _, _ = committed_input(spark, settings, datasets.INGEST, dt)
    committed_input(spark, settings, PUBLISH, dt)  # the day's listings, published
    model_ref = current_recommender(settings)
    entries = model_entries([model_ref])[0] if model_ref else []
    with steps.step("read the window's events and the market"):
        events = window_events(spark, fs, settings, dt, weeks).cache()
        seen = tally(events, ("user_id", "listing_id", "event", "ts"))
        listings = market_listings(spark, fs, settings, dt, weeks, events)
    users = events.groupBy("user_id").agg(F.collect_set("listing_id").alias("seen"))
    batch = functools.partial(recommend_batch, listings=listings, model_ref=model_ref,
                              registry=settings.model_registry, k=k)  # fmt: skip
    with steps.step(f"recommend {k} listings a user"):
        result = users.mapInPandas(batch, datasets.RECOMMENDATIONS_SCHEMA).cache()
        counted = tally(result, ("user_id", "rank", "listing_id", "source"),
                        users=F.count_distinct("user_id"),
                        **{f"from_{s}": F.sum((F.col("source") == s).cast("int"))
                           for s in datasets.SOURCES})  # fmt: skip
    n_users = users.count()
    return commit_stage(
        fs, settings, STAGE, dt, result, output_columns=datasets.RECOMMENDATIONS_COLUMNS,
        schema_version=datasets.RECOMMENDATIONS_SCHEMA_VERSION,
        counts={"in": n_users, "out": n_users, "quarantined": 0, "rows": counted.rows,
                **{name: int(value or 0) for name, value in counted.values.items()
                   if name.startswith("from_")},
                "listings_on_market": int(listings.on_market.sum())},
        input_fingerprint=f"{seen.fingerprint}:listings={len(listings.ids)}",
        steps=steps, models=entries,
        extra={"weeks": weeks, "k": k, "market_days": MARKET_DAYS, "cold_share": COLD_SHARE,
               "popular": popular_listings(listings)},
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage listing_recs.recommend``."""
    return stage_main(STAGE, run, argv)


if __name__ == "__main__":
    sys.exit(main())
