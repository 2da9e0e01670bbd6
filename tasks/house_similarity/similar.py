"""Listings that look like a photo: what a buyer's "more like this" runs over ``features/listings``.

The answer is listings, not photos. A listing's tags are the vote of its exterior
photos, weighted by the heads' confidence. For a query photo of a house (its exterior score at
least :data:`HOUSE_THRESHOLD`), each listing scores

    cosine(query, the listing's best-matching exterior photo)
    + STYLE_WEIGHT * [same style] + STORIES_WEIGHT * [same stories]

so listings that agree on the tags come first, in visual order, as MLSListings
ranked them. A listing without an exterior photo competes on its photos' cosine
alone. ``--same-style`` / ``--same-stories`` keep only the listings that agree.
A query that is not a house exterior (an interior, a street, any other image) is
ranked by visual similarity over every photo alone, and the answer says so.

Reads the partition with plain pyarrow (no Spark); the query photo is embedded and
tagged by the backbone and heads the partition's manifest names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lakesight.config import ConfigError, Settings
from lakesight.house_similarity.datasets import FEATURES
from lakesight.lake import (
    filesystem_for,
    is_committed,
    list_partitions,
    read_manifest,
    read_partition_table,
)

STYLE_WEIGHT = 0.5
STORIES_WEIGHT = 0.5
HOUSE_THRESHOLD = 0.5  # exterior probability above which a query photo is a house exterior
INDEX_COLUMNS = ["listing_id", "photo_id", "path", "exterior", "exterior_score", "style",
                 "style_score", "stories", "stories_score", "embedding"]  # fmt: skip


@dataclass(frozen=True)
class PhotoQuery:
    """A query photo: its embedding, how likely it is a front exterior, and its tags."""

    embedding: np.ndarray
    exterior_probability: float
    style: str | None
    stories: int | None
    source: dict = field(default_factory=dict)

    @property
    def is_house(self) -> bool:
        return self.exterior_probability >= HOUSE_THRESHOLD

    @classmethod
    def from_tags(cls, embedding: np.ndarray, exterior: bool, exterior_score: float,
                  style: str | None, stories, source: dict | None = None) -> PhotoQuery:  # fmt: skip
        """A photo as :func:`~lakesight.house_similarity.publish.tag_photos` and
        ``features/listings`` tag it. There ``exterior_score`` is the head's confidence in
        its ``exterior`` decision, whichever way it went (0.99 for a sure interior), so the
        probability of a front exterior is that score or its complement."""
        probability = float(exterior_score) if exterior else 1.0 - float(exterior_score)
        known = stories is not None and stories == stories  # NaN from a pandas column
        return cls(np.asarray(embedding, np.float32), probability,
                   style if exterior and isinstance(style, str) else None,
                   int(stories) if exterior and known else None, dict(source or {}))  # fmt: skip


class ListingIndex:
    """Photos grouped by listing, ready to rank listings for a query in a few milliseconds."""

    def __init__(self, features: pd.DataFrame) -> None:
        rows = features.sort_values(["listing_id", "photo_id"], kind="stable")
        self.rows = rows = rows.reset_index(drop=True)
        n = len(rows)
        ids = rows["listing_id"].to_numpy(object)
        self.embeddings = np.zeros((n, 1), np.float32)
        if n:
            self.embeddings = np.stack([np.asarray(e, np.float32) for e in rows["embedding"]])
        self.exterior = rows["exterior"].fillna(False).to_numpy(bool)
        # Rows are sorted by listing: each listing is the run of rows from its start.
        self.starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if n else np.zeros(0, int)
        self.ends = np.r_[self.starts[1:], n].astype(int) if n else np.zeros(0, int)
        self.listing_ids = ids[self.starts]
        self.of_row = np.repeat(np.arange(len(self.starts)), self.ends - self.starts)
        self.has_exterior = np.zeros(len(self.starts), bool)
        self.style = np.full(len(self.starts), None, object)
        self.stories = np.full(len(self.starts), None, object)
        # A listing's tags: a vote of its exterior photos, each weighing by how sure the
        # heads are that it is an exterior and of the tag (two photos of the front that
        # disagree are settled by the surer one).
        score = rows["exterior_score"].to_numpy(float)
        columns = {tag: rows[tag].to_numpy(object) for tag in ("style", "stories")}
        weights = {
            tag: score * (rows[f"{tag}_score"].to_numpy(float) if f"{tag}_score" in rows else 1.0)
            for tag in columns
        }
        for listing, (start, end) in enumerate(zip(self.starts, self.ends, strict=True)):
            fronts = [i for i in range(start, end) if self.exterior[i]]
            if not fronts:
                continue
            self.has_exterior[listing] = True
            for tag, out in (("style", self.style), ("stories", self.stories)):
                votes: dict = {}
                for i in fronts:
                    value = columns[tag][i]
                    if value is not None and not (isinstance(value, float) and np.isnan(value)):
                        votes[value] = votes.get(value, 0.0) + weights[tag][i]
                if votes:
                    best = max(votes, key=votes.get)
                    out[listing] = int(best) if tag == "stories" else best

    def __len__(self) -> int:
        return len(self.starts)

    @functools.cached_property
    def photo_positions(self) -> dict[str, int]:
        """Row of each published photo, by photo_id."""
        return {photo: i for i, photo in enumerate(self.rows["photo_id"].to_numpy(object))}

    def query_of(self, photo_id: str) -> PhotoQuery | None:
        """A published photo as a query (its stored embedding and tags), or None if unknown;
        ``source`` says which photo, listing, path (and day) it is."""
        position = self.photo_positions.get(photo_id)
        if position is None:
            return None
        row = self.rows.iloc[position]
        source = {"photo_id": photo_id, "listing_id": row["listing_id"], "path": row["path"]}
        if "dt" in row:
            source["dt"] = row["dt"]
        return PhotoQuery.from_tags(self.embeddings[position], bool(row["exterior"]),
                                    row["exterior_score"], row["style"], row["stories"], source)  # fmt: skip

    def rank(self, query: PhotoQuery, k: int, *, same_style: bool = False,
             same_stories: bool = False, exclude: str | None = None) -> list[dict]:  # fmt: skip
        """The top ``k`` listings for ``query``: id, score, cosine, tags, best photo (and the
        day it was published, where the rows say). ``exclude`` is a listing never answered:
        the one a published query photo belongs to."""
        if not len(self):
            return []
        cosine = self.embeddings @ np.asarray(query.embedding, np.float32)
        if query.is_house:
            # Compare exterior to exterior; a listing without one, on all its photos.
            usable = self.exterior | ~self.has_exterior[self.of_row]
            agreement = STYLE_WEIGHT * (self.style == query.style) + STORIES_WEIGHT * (
                self.stories == query.stories
            )
        else:
            usable = np.ones(len(cosine), bool)
            agreement = np.zeros(len(self))
        masked = np.where(usable, cosine, -np.inf)
        visual = np.maximum.reduceat(masked, self.starts)
        score = visual + agreement
        keep = np.ones(len(self), bool)
        if same_style:
            keep &= self.style == query.style
        if same_stories:
            keep &= self.stories == query.stories
        if exclude is not None:
            keep &= self.listing_ids != exclude
        candidates = np.flatnonzero(keep)
        # Highest score first; ties by listing id, so answers are stable.
        order = candidates[np.lexsort((self.listing_ids[candidates], -score[candidates]))][:k]
        results = []
        for listing in order:
            start, end = self.starts[listing], self.ends[listing]
            photo = self.rows.iloc[start + int(np.argmax(masked[start:end]))]
            results.append({
                "listing_id": str(self.listing_ids[listing]),
                "score": round(float(score[listing]), 4),
                "cosine": round(float(visual[listing]), 4),
                "style": self.style[listing],
                "stories": self.stories[listing],
                "photo_id": photo["photo_id"],
                "photo": photo["path"],
                **({"dt": photo["dt"]} if "dt" in photo else {}),
            })  # fmt: skip
        return results


def latest_published_day(settings: Settings) -> str:
    uri = FEATURES.uri(settings)
    days = list_partitions(filesystem_for(uri, settings), uri)
    if not days:
        raise ConfigError(f"--dt: no published listings under {uri} (run house_similarity first)")
    return days[-1]


def load_listing_features(settings: Settings, dt: str) -> tuple[pd.DataFrame, list[str]]:
    """The committed ``features/listings/dt=D`` (pyarrow) and the models its manifest names."""
    partition = FEATURES.partition(settings, dt)
    fs = filesystem_for(partition, settings)
    if not is_committed(fs, partition):
        raise ConfigError(
            f"--dt: no published listings at {partition} (run house_similarity for {dt})"
        )
    models = [m["name"] for m in read_manifest(fs, partition).models]
    return read_partition_table(fs, partition, INDEX_COLUMNS), models


def query_from_pixels(
    pixels: np.ndarray, backbone, heads, source: dict | None = None
) -> PhotoQuery:
    """Embed and tag one RGB photo, as the pipeline does."""
    from lakesight.house_similarity.publish import tag_photos

    embedding = backbone.embed([pixels])
    tags = tag_photos(embedding, heads, [pixels])
    return PhotoQuery.from_tags(embedding[0], tags["exterior"][0], tags["exterior_score"][0],
                                tags["style"][0], tags["stories"][0], source)  # fmt: skip


def rank_listings(index: ListingIndex, query: PhotoQuery, k: int, *, same_style: bool = False,
                  same_stories: bool = False, exclude: str | None = None) -> dict:  # fmt: skip
    """Every answer's ranking and what it says about itself: ``ranking`` (tags + visual, or
    visual only for a query that is not a house exterior), ``note`` and ``results``."""
    if (same_style or same_stories) and not query.is_house:
        raise ConfigError(
            f"--same-style/--same-stories: the query is not a house exterior "
            f"(P(exterior) {query.exterior_probability:.2f}), it has no tags to match"
        )
    note = (
        f"query tagged {query.style}, {query.stories} stories "
        f"(P(exterior) {query.exterior_probability:.2f})"
        if query.is_house
        else f"not a house exterior (P(exterior) {query.exterior_probability:.2f}): ranked by "
        "visual similarity alone"
    )
    results = index.rank(query, k, same_style=same_style, same_stories=same_stories,
                         exclude=exclude)  # fmt: skip
    return {
        "ranking": "tags + visual" if query.is_house else "visual only",
        "note": note,
        "results": results,
    }


def similar_houses(settings: Settings, photo: str, *, dt: str | None = None, k: int = 10,
                   same_style: bool = False, same_stories: bool = False,
                   picture: str | None = None) -> dict:  # fmt: skip
    """``lakesight houses similar``: rank one published day's listings for a photo file."""
    from lakesight.config import REPO_ROOT
    from lakesight.house_similarity.pictures import contact_sheet
    from lakesight.imaging import ImageRejected, decode_image
    from lakesight.models.tagging.backbone import load_backbone
    from lakesight.models.tagging.heads import load_heads

    try:
        pixels = decode_image(Path(photo).read_bytes(), photo).pixels
    except (OSError, ImageRejected) as err:
        raise ConfigError(f"--photo: cannot use {photo}: {err}") from None
    dt = dt or latest_published_day(settings)
    features, models = load_listing_features(settings, dt)
    backbone = load_backbone(models[0])
    heads = load_heads(models[1])
    query = query_from_pixels(pixels, backbone, heads, {"path": photo})
    index = ListingIndex(features)
    answer = rank_listings(index, query, k, same_style=same_style, same_stories=same_stories)
    target = (
        Path(picture)
        if picture
        else REPO_ROOT / "var" / "pictures" / f"houses_{dt}_{Path(photo).stem[:24]}.png"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    fs = filesystem_for(FEATURES.partition(settings, dt), settings)

    def read_photo(uri: str) -> np.ndarray:
        return decode_image(fs.read_bytes(uri), uri).pixels

    target.write_bytes(contact_sheet(pixels, query, answer["results"], read_photo))
    return {
        "query": {**query.source, **query_tags(query)},
        **answer,
        "picture": str(target),
        "dt": dt,
        "searched": len(index),
        "models": models,
    }  # fmt: skip


def query_tags(query: PhotoQuery) -> dict:
    """What an answer says about its query photo."""
    return {"exterior_probability": round(query.exterior_probability, 4), "style": query.style,
            "stories": query.stories}  # fmt: skip


def format_similar_houses(payload: dict) -> str:
    lines = [f"listings like {payload['query']['path']} among {payload['searched']} listings of "
             f"dt={payload['dt']} ({payload['ranking']}; {payload['note']}):"]  # fmt: skip
    for r in payload["results"]:
        tags = (
            f"{r['style'] or '-'}, {r['stories'] or '-'} st" if r["style"] else "no exterior photo"
        )
        lines.append(
            f"  {r['score']:.3f}  cos={r['cosine']:.3f}  {r['listing_id']}  ({tags})  {r['photo']}"
        )
    lines.append(f"  contact sheet: {payload['picture']}")
    return "\n".join(lines)
