"""``lakesight sample-data listings``: write a day of generated listings, as an MLS exports them.

``raw/listings/dt=D/`` (the layout :mod:`.datasets` fixes):

- ``listings.csv``: ``listing_id,price,city,bedrooms,bathrooms,sqft``, one row per
  listing, ids ``MLS-<yyyymmdd>-<nnnn>``; size, rooms and price grow with the storeys;
- ``photos/<listing_id>/<k>.jpg`` (k = 1, 2, ...): 3-6 photos of the listing's house
  (:mod:`lakesight.models.tagging.houses`), 1 or 2 of them front exteriors, the rest
  back yard, interior and street, in shuffled order, JPEG quality 90;
- with ``labels``, ``labels.csv``: ``photo,exterior,style,stories`` for every photo
  ingest accepts, ``photo`` relative to ``photos/``; style and stories only for front
  exteriors (the only photos that show them), empty for the others.

With ``bad`` (the default), the inputs ingest must survive, each with the verdict it
must give (:class:`SampleListings` lists them):

- photos: a truncated JPEG, a text file and an empty file named ``.jpg`` among a
  listing's photos (the decoder's ``truncated``, ``not_an_image``, ``empty_file``),
  and a folder of photos for an id the table does not have (``unknown_listing``);
- rows: an empty id, a second row for an id already listed, ids that are paths or
  markup, a row with too few fields (:data:`.listings.ROW_REASONS`);
- one listing without any photo folder: kept, counted, not quarantined.

The same seed and date always write the same bytes; other dates draw other houses.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np

from lakesight.config import Settings
from lakesight.house_similarity.datasets import (
    LABELS_FILE,
    LISTINGS_FILE,
    PHOTOS_DIR,
    RAW_LISTINGS,
)
from lakesight.house_similarity.listings import UNKNOWN_LISTING
from lakesight.image_features.sample_data import encode
from lakesight.lake import LakeFileSystem, join
from lakesight.models.tagging.houses import OTHER_VIEWS, House, draw_house, render_photo

SAMPLE_SEED = 23  # the demo's and sample days' houses; the heads train on houses' own seeds
HEADER = ("listing_id", "price", "city", "bedrooms", "bathrooms", "sqft")
# Cities of the sample market and their price a square foot, in dollars.
CITIES: dict[str, int] = {
    "San Jose": 780,
    "Sunnyvale": 1050,
    "Santa Clara": 900,
    "Campbell": 850,
    "Los Gatos": 1150,
    "Palo Alto": 1500,
}
# Broken photos, the bytes that make them, and the decoder's verdict on each.
BAD_PHOTOS: tuple[tuple[str, str], ...] = (
    ("truncated_jpeg", "truncated"),
    ("text_named_jpg", "not_an_image"),
    ("zero_byte", "empty_file"),
)
# Ids a listing system should never hand to a file system or a web page.
# (Spaces, unicode and markup are fine in an id: pages escape it, URLs percent-encode it.)
BAD_IDS: tuple[str, ...] = ("../etc/passwd", "a\tb")


@dataclass(frozen=True)
class SampleListings:
    """What was written, and what ingest must conclude about each record."""

    uri: str  # the partition, raw/listings/dt=D
    listings: dict[str, tuple[str, int]]  # accepted listing id -> (style, stories)
    photos: dict[str, tuple[str, str]]  # photo ingest accepts, relative to photos/ -> (id, view)
    bad_photos: dict[str, str]  # photo relative to photos/ -> the reason ingest must give
    bad_rows: dict[int, str]  # line of listings.csv (the header is line 1) -> reason
    without_photos: tuple[str, ...]  # accepted listings that have no photo folder


def listing_id(dt: str, index: int) -> str:
    """``MLS-20260901-0007``: the day's export date and the listing's number in it."""
    return f"MLS-{dt.replace('-', '')}-{index:04d}"


def _day_key(dt: str) -> int:
    try:
        return date.fromisoformat(dt).toordinal()
    except ValueError as err:
        raise ValueError(f"dt must be YYYY-MM-DD, got {dt!r}") from err


def _attributes(rng: np.random.Generator, house: House) -> list[str]:
    """price, city, bedrooms, bathrooms, sqft: bigger with each storey, dearer by city."""
    city = list(CITIES)[int(rng.integers(len(CITIES)))]
    sqft = max(550, round(rng.normal(650 + 700 * house.stories, 220), -1))
    bedrooms = int(np.clip(round(1 + house.stories + rng.normal(0.2, 0.8)), 1, 7))
    bathrooms = float(np.clip(round((house.stories + rng.normal(0.4, 0.6)) * 2) / 2, 1, 5))
    price = round(sqft * CITIES[city] * rng.uniform(0.85, 1.2), -3)
    return [str(int(price)), city, str(bedrooms), f"{bathrooms:g}", str(int(sqft))]


def _shoot(rng: np.random.Generator) -> list[str]:
    """The views of one listing's photos: 3-6, one or two fronts, shuffled."""
    n = int(rng.integers(3, 7))
    fronts = int(rng.integers(1, 3))
    views = ["front"] * fronts + [OTHER_VIEWS[int(rng.integers(3))] for _ in range(n - fronts)]
    rng.shuffle(views)
    return views


def sample_listing(seed: int, dt: str, index: int):
    """Listing ``index`` of day ``dt``: ``(listing_id, house, [price, city, bedrooms,
    bathrooms, sqft], rng)``, the rng then drawing its photos. Other pipelines' sample data
    (listing_recs' interactions) read the market from here without rendering a photo."""
    house_rng = np.random.default_rng(np.random.SeedSequence([seed, _day_key(dt), index]))
    house = draw_house(house_rng)
    return listing_id(dt, index), house, _attributes(house_rng, house), house_rng


def listing_photos(
    house: House, house_rng: np.random.Generator
) -> Iterator[tuple[str, np.ndarray]]:
    """A listing's photos, ``(view, RGB pixels)``, in the order ``sample-data listings``
    writes them (``house_rng`` as :func:`sample_listing` hands it over)."""
    for view in _shoot(house_rng):
        yield view, render_photo(house, view, house_rng)


def write_sample_listings(
    fs: LakeFileSystem,
    settings: Settings,
    dt: str,
    *,
    seed: int = SAMPLE_SEED,
    n: int = 24,
    labels: bool = False,
    bad: bool = True,
) -> SampleListings:
    """Replace ``raw/listings/dt=dt`` with ``n`` generated listings (and broken inputs)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    day = _day_key(dt)
    uri = RAW_LISTINGS.partition(settings, dt)
    photos_uri = join(uri, PHOTOS_DIR)
    fs.delete(uri)  # sample data replaces the partition, as every lakesight output does
    fs.mkdirs(uri)
    rng = np.random.default_rng(np.random.SeedSequence([seed, day]))
    # One listing has no photo folder (it may get photos another day); never the only one.
    without = listing_id(dt, n) if bad and n > 1 else None
    rows: list[tuple[str, str | None]] = []  # (CSV line, reason if ingest must reject it)
    listings, photos, label_rows = {}, {}, []
    first_jpeg: bytes = b""
    for i in range(1, n + 1):
        lid, house, attributes, house_rng = sample_listing(seed, dt, i)
        listings[lid] = (house.style, house.stories)
        rows.append((",".join([lid, *attributes]), None))
        if lid == without:
            continue
        for k, (view, pixels) in enumerate(listing_photos(house, house_rng), start=1):
            data = encode(pixels, "jpeg")
            first_jpeg = first_jpeg or data
            rel = f"{lid}/{k}.jpg"
            fs.write_bytes(join(photos_uri, rel), data)
            photos[rel] = (lid, view)
            front = view == "front"
            style, stories = (house.style, str(house.stories)) if front else ("", "")
            label_rows.append(f"{rel},{int(front)},{style},{stories}")
    bad_photos: dict[str, str] = {}
    if bad:
        rows = _bad_rows(rng, rows, dt, n)
        bad_photos = _write_bad_photos(fs, photos_uri, rng, dt, n, photos, first_jpeg)
    if labels:
        text = "photo,exterior,style,stories\n" + "".join(r + "\n" for r in label_rows)
        fs.write_bytes(join(uri, LABELS_FILE), text.encode())
    # listings.csv last: the DAG's sensor waits for it, so the day is whole once it is there.
    lines = [",".join(HEADER)] + [line for line, _ in rows]
    fs.write_bytes(join(uri, LISTINGS_FILE), ("\n".join(lines) + "\n").encode())
    bad_rows = {line: reason for line, (_, reason) in enumerate(rows, start=2) if reason}
    return SampleListings(
        uri=uri,
        listings=listings,
        photos=photos,
        bad_photos=bad_photos,
        bad_rows=bad_rows,
        without_photos=(without,) if without else (),
    )


def _bad_rows(
    rng: np.random.Generator, rows: list[tuple[str, str | None]], dt: str, n: int
) -> list[tuple[str, str | None]]:
    """The rows with the broken ones slipped in among them, as exports mix them."""
    good = [line for line, _ in rows]
    duplicate = good[int(rng.integers(len(good)))].split(",")
    duplicate[1] = str(int(duplicate[1]) + 25_000)  # a later price change, exported again
    broken = [
        (",".join(["", *good[0].split(",")[1:]]), "missing_listing_id"),
        (",".join(duplicate), "duplicate_listing_id"),
        *((",".join([b, *good[-1].split(",")[1:]]), "bad_listing_id") for b in BAD_IDS),
        (f"{listing_id(dt, n + 1)},1250000,San Jose", "malformed_row"),
    ]
    out = list(rows)
    for row in broken:  # anywhere, except that a duplicate comes after its original
        low = 0
        if row[1] == "duplicate_listing_id":
            low = 1 + next(
                i for i, (line, _) in enumerate(out) if line.startswith(duplicate[0] + ",")
            )
        out.insert(int(rng.integers(low, len(out) + 1)), row)
    return out


def _write_bad_photos(
    fs: LakeFileSystem,
    photos_uri: str,
    rng: np.random.Generator,
    dt: str,
    n: int,
    photos: dict[str, tuple[str, str]],
    jpeg: bytes,
) -> dict[str, str]:
    """Broken files among some listings' photos, and photos of a listing nobody listed."""
    owners = sorted({lid for lid, _ in photos.values()})
    bad: dict[str, str] = {}
    for kind, reason in BAD_PHOTOS:
        lid = owners[int(rng.integers(len(owners)))]
        k = 1 + sum(1 for rel in [*photos, *bad] if rel.startswith(lid + "/"))
        data = {
            "truncated_jpeg": jpeg[: len(jpeg) * 3 // 5],
            "text_named_jpg": b"Photos to follow after the open house.\n",
            "zero_byte": b"",
        }[kind]
        rel = f"{lid}/{k}.jpg"
        fs.write_bytes(join(photos_uri, rel), data)
        bad[rel] = reason
    # A folder for a listing withdrawn before the export: good photos nobody listed.
    stray = listing_id(dt, n + 2)
    house_rng = np.random.default_rng(rng.integers(2**63))
    house = draw_house(house_rng)
    for k, view in enumerate(("front", "back"), start=1):
        rel = f"{stray}/{k}.jpg"
        fs.write_bytes(join(photos_uri, rel), encode(render_photo(house, view, house_rng), "jpeg"))
        bad[rel] = UNKNOWN_LISTING
    return bad
