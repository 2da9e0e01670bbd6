"""``lakesight sample-data interactions``: a day of what users did with the sample listings.

``raw/interactions/dt=D/interactions.csv``: ``user_id,listing_id,event,ts`` (ISO 8601,
UTC), written last, so a sensor waiting for it sees a whole day.

**The market** is the listings ``sample-data listings`` writes (same seed, same number a
day, :func:`lakesight.house_similarity.sample_data.sample_listing`; no photo is rendered
here): a listing is on the market for :data:`MARKET_DAYS` days from the day it is
listed, so every day brings new listings with no history yet (the cold start).

**Users** arrive every day (``U-<yyyymmdd>-<nnnn>``, the day they joined) and stay
active for :data:`ACTIVE_DAYS` days; each has a latent taste drawn from its own seed, so
it is the same person every day:

- weights over the four house styles and the three storey counts (Dirichlet: most people
  lean to one or two);
- a budget (log-normal around the market's median price) and one to three cities;
- a pull towards listings many people look at (every listing has an appeal of its own).

A user who is active that day browses in one to three **sessions**, each viewing listings
drawn in proportion to ``exp(utility)``; a view becomes a save with a probability rising
with the utility, and a save a contact now and then (implicit feedback: nobody rates).

With ``bad`` (the default), the rows ingest must quarantine are slipped in among the good
ones, each with its reason (:data:`BAD_ROWS`). The same seed and date always write the
same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from lakesight.config import Settings
from lakesight.house_similarity.sample_data import CITIES, SAMPLE_SEED, sample_listing
from lakesight.lake import LakeFileSystem, join
from lakesight.listing_recs.interactions import EVENTS, HEADER
from lakesight.models.tagging.houses import STORIES, STYLES

MARKET_DAYS = 14  # a listing's days on the market, its first day included
ACTIVE_DAYS = 21  # a user's days of activity, from the day it joined
NEW_USERS = 24  # users joining each day
RETURN_RATE = 0.3  # chance an earlier user is active on a given day
SAVE_AT = 4.0  # the utility at which a view is saved half the time (about 1 view in 5 is)
INTERACTIONS_FILE = "interactions.csv"
# Rows ingest must quarantine, and the reason it must give each.
BAD_ROWS = {
    "no_user": "missing_user_id",
    "no_listing": "missing_listing_id",
    "unknown_listing": "unknown_listing",
    "bad_event": "unknown_event",
    "bad_ts": "bad_timestamp",
    "future_ts": "bad_timestamp",
    "short_row": "malformed_row",
    "duplicate": "duplicate_event",
}


@dataclass(frozen=True)
class Listing:
    listing_id: str
    style: str
    stories: int
    price: float
    city: str
    appeal: float  # how much a listing draws people, whatever their taste


@dataclass(frozen=True)
class Taste:
    user_id: str
    styles: np.ndarray  # weights over STYLES
    stories: np.ndarray  # weights over STORIES
    budget: float
    cities: frozenset[str]


@dataclass(frozen=True)
class SampleInteractions:
    """What was written, and what ingest must conclude about it."""

    uri: str
    events: list[tuple[str, str, str, str]]  # the good rows, in file order
    bad_rows: dict[int, str]  # line of the file (the header is line 1) -> reason
    market: tuple[str, ...]  # listing ids on the market that day
    users: tuple[str, ...]  # users active that day


def day_key(dt: str) -> int:
    return date.fromisoformat(dt).toordinal()


def market(dt: str, *, seed: int = SAMPLE_SEED, per_day: int = 24,
           market_days: int = MARKET_DAYS) -> list[Listing]:  # fmt: skip
    """The listings on the market on ``dt``: every sample listing of the last
    ``market_days`` days."""
    listings = []
    for back in range(market_days):
        day = (date.fromisoformat(dt) - timedelta(days=back)).isoformat()
        for index in range(1, per_day + 1):
            listing_id, house, attributes, _ = sample_listing(seed, day, index)
            appeal_rng = np.random.default_rng([seed, day_key(day), index, 7])
            listings.append(Listing(listing_id, house.style, house.stories,
                                    float(attributes[0]), attributes[1],
                                    float(appeal_rng.normal(0.0, 0.6))))  # fmt: skip
    return listings


def user_taste(seed: int, joined: str, index: int) -> Taste:
    """User ``index`` of those who joined on ``joined``: the same taste on every day."""
    rng = np.random.default_rng([seed, day_key(joined), index, 11])
    cities = rng.choice(list(CITIES), size=int(rng.integers(1, 4)), replace=False)
    return Taste(
        user_id=f"U-{joined.replace('-', '')}-{index:04d}",
        styles=rng.dirichlet(np.full(len(STYLES), 0.4)),
        stories=rng.dirichlet(np.full(len(STORIES), 0.7)),
        budget=float(np.exp(rng.normal(np.log(1.6e6), 0.45))),
        cities=frozenset(str(c) for c in cities),
    )


def active_users(dt: str, *, seed: int = SAMPLE_SEED) -> list[Taste]:
    """Users active on ``dt``: everyone who joined that day, and about
    :data:`RETURN_RATE` of those who joined in the :data:`ACTIVE_DAYS` before."""
    rng = np.random.default_rng([seed, day_key(dt), 13])
    users = []
    for back in range(ACTIVE_DAYS):
        joined = (date.fromisoformat(dt) - timedelta(days=back)).isoformat()
        for index in range(1, NEW_USERS + 1):
            if back == 0 or rng.random() < RETURN_RATE:
                users.append(user_taste(seed, joined, index))
    return users


def utility(taste: Taste, listings: list[Listing]) -> np.ndarray:
    """How much ``taste`` likes each listing (log-odds scale)."""
    style = np.array([taste.styles[STYLES.index(x.style)] for x in listings])
    stories = np.array([taste.stories[STORIES.index(x.stories)] for x in listings])
    price_gap = np.log([x.price for x in listings]) - np.log(taste.budget)
    in_city = np.array([x.city in taste.cities for x in listings], np.float64)
    appeal = np.array([x.appeal for x in listings])
    return (1.8 * np.log(4 * style + 0.05) + 1.0 * np.log(3 * stories + 0.05)
            - 0.5 * (price_gap / 0.3) ** 2 + 1.2 * in_city + appeal)  # fmt: skip


def day_events(dt: str, *, seed: int = SAMPLE_SEED, per_day: int = 24,
               market_days: int = MARKET_DAYS) -> tuple[
    list[tuple[str, str, str, str]], list[Listing], list[Taste]
]:  # fmt: skip
    """The day's good events ``(user_id, listing_id, event, ts)`` in time order, the
    market and the active users."""
    listings = market(dt, seed=seed, per_day=per_day, market_days=market_days)
    users = active_users(dt, seed=seed)
    rng = np.random.default_rng([seed, day_key(dt), 17])
    midnight = np.datetime64(f"{dt}T00:00:00", "s")
    events = []
    for taste in users:
        scores = utility(taste, listings)
        chance = np.exp(scores - scores.max())
        chance /= chance.sum()
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, 86_400 - 3_600))  # a session ends before midnight
            wanted = min(int(rng.integers(3, 11)), int(np.count_nonzero(chance)))
            views = rng.choice(len(listings), size=wanted, replace=False, p=chance)
            for index in views:
                at += int(rng.integers(20, 240))
                listing = listings[int(index)]
                events.append((taste.user_id, listing.listing_id, "view", at))
                if rng.random() < 1 / (1 + np.exp(SAVE_AT - scores[index])):
                    events.append((taste.user_id, listing.listing_id, "save", at + 5))
                    if rng.random() < 0.25:
                        events.append((taste.user_id, listing.listing_id, "contact", at + 30))
    # Sessions may overlap: the same event at the same second is one event.
    events = sorted(set(events), key=lambda e: (e[3], e[0], e[1], EVENTS.index(e[2])))
    timed = [(u, x, e, str(midnight + np.timedelta64(s, "s")) + "Z") for u, x, e, s in events]
    return timed, listings, users


def write_sample_interactions(fs: LakeFileSystem, settings: Settings, dt: str, *,
                              seed: int = SAMPLE_SEED, per_day: int = 24,
                              market_days: int = MARKET_DAYS,
                              bad: bool = True) -> SampleInteractions:  # fmt: skip
    """Replace ``raw/interactions/dt=dt`` with the day's interactions (and bad rows)."""
    from lakesight.listing_recs.datasets import RAW_INTERACTIONS

    events, listings, users = day_events(dt, seed=seed, per_day=per_day,
                                         market_days=market_days)  # fmt: skip
    rows: list[tuple[str, str | None]] = [(",".join(e), None) for e in events]
    if bad and events:
        rows = with_bad_rows(rows, events, dt, np.random.default_rng([seed, day_key(dt), 19]))
    uri = RAW_INTERACTIONS.partition(settings, dt)
    fs.delete(uri)  # sample data replaces the partition, as every lakesight output does
    fs.mkdirs(uri)
    text = ",".join(HEADER) + "\n" + "".join(line + "\n" for line, _ in rows)
    fs.write_bytes(join(uri, INTERACTIONS_FILE), text.encode())
    return SampleInteractions(
        uri=uri,
        events=events,
        bad_rows={line: reason for line, (_, reason) in enumerate(rows, start=2) if reason},
        market=tuple(x.listing_id for x in listings),
        users=tuple(t.user_id for t in users),
    )


def with_bad_rows(rows: list[tuple[str, str | None]], events: list, dt: str,
                  rng: np.random.Generator) -> list[tuple[str, str | None]]:  # fmt: skip
    """``rows`` with one of each :data:`BAD_ROWS` slipped in; a duplicate after its original."""
    user, listing, _, ts = events[int(rng.integers(len(events)))]
    tomorrow = (date.fromisoformat(dt) + timedelta(days=2)).isoformat()
    broken = {
        "no_user": f",{listing},view,{ts}",
        "no_listing": f"{user},,view,{ts}",
        "unknown_listing": f"{user},MLS-19990101-0001,view,{ts}",
        "bad_event": f"{user},{listing},share,{ts}",
        "bad_ts": f"{user},{listing},view,yesterday evening",
        "future_ts": f"{user},{listing},view,{tomorrow}T09:00:00Z",
        "short_row": f"{user},{listing}",
    }
    out = list(rows)
    for kind, line in broken.items():
        out.insert(int(rng.integers(len(out) + 1)), (line, BAD_ROWS[kind]))
    original = int(rng.integers(len(out)))
    while out[original][1] is not None:
        original = int(rng.integers(len(out)))
    at = int(rng.integers(original + 1, len(out) + 1))
    out.insert(at, (out[original][0], BAD_ROWS["duplicate"]))
    return out
