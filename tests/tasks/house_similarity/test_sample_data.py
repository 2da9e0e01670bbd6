"""``lakesight sample-data listings``: the day's files, and the verdict each record must get."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from lakesight.house_similarity.listings import (
    ROW_REASONS,
    UNKNOWN_LISTING,
    listing_id_problem,
    parse_labels,
    parse_listings,
)
from lakesight.house_similarity.sample_data import write_sample_listings
from lakesight.imaging import ImageRejected, decode_image
from lakesight.lake import LocalFileSystem, uri_path
from lakesight.models.tagging.houses import HEAD_CLASSES, STYLES

pytestmark = pytest.mark.unit

DT = "2026-09-01"


@pytest.fixture
def day(settings):
    sample = write_sample_listings(LocalFileSystem(), settings, DT, labels=True)
    return sample, Path(uri_path(sample.uri))


def reason(path: Path) -> str | None:
    try:
        decode_image(path.read_bytes(), path.name)
    except ImageRejected as err:
        return err.reason
    return None


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_the_table_holds_the_listings_and_the_bad_rows(day):
    sample, root = day
    data = (root / "listings.csv").read_bytes()
    assert data.startswith(b"listing_id,price,city,bedrooms,bathrooms,sqft\n")
    accepted, rejected = parse_listings(data, "listings.csv")
    assert [row["listing_id"] for row in accepted] == list(sample.listings)
    assert not any(listing_id_problem(i) for i in sample.listings)
    assert all(i.startswith("MLS-20260901-") for i in sample.listings)
    assert {int(r["path"].split(":")[1]): r["reason"] for r in rejected} == sample.bad_rows
    assert set(sample.bad_rows.values()) == set(ROW_REASONS)
    assert sum(r == "bad_listing_id" for r in sample.bad_rows.values()) == 2
    # Bigger houses are bigger listings.
    sqft = {row["listing_id"]: int(row["attributes"]["sqft"]) for row in accepted}
    by_stories = {s: [sqft[i] for i, (_, st) in sample.listings.items() if st == s] for s in (1, 3)}
    assert min(map(len, by_stories.values())) >= 2
    assert sum(by_stories[3]) / len(by_stories[3]) > sum(by_stories[1]) / len(by_stories[1])


def test_photos_are_readable_and_show_each_listing_as_a_buyer_sees_it(day):
    sample, root = day
    photos = root / "photos"
    assert sample.photos
    for rel in sample.photos:
        assert reason(photos / rel) is None, rel
    for lid in sample.listings:
        views = [v for (owner, v) in sample.photos.values() if owner == lid]
        if lid in sample.without_photos:
            assert not views and not (photos / lid).exists()
            continue
        assert 3 <= len(views) <= 6 and 1 <= views.count("front") <= 2, (lid, views)
        names = sorted(p.name for p in (photos / lid).iterdir())
        good = sorted(rel.split("/")[1] for rel in sample.photos if rel.startswith(lid + "/"))
        assert good == sorted(f"{k}.jpg" for k in range(1, len(views) + 1))
        assert set(good) <= set(names)
    assert len(sample.without_photos) == 1 and sample.without_photos[0] in sample.listings


def test_broken_photos_get_the_decoders_reasons_and_strays_are_unknown(day):
    sample, root = day
    decoder = {rel: r for rel, r in sample.bad_photos.items() if r != UNKNOWN_LISTING}
    assert sorted(decoder.values()) == ["empty_file", "not_an_image", "truncated"]
    for rel, expected in decoder.items():
        assert rel.split("/")[0] in sample.listings
        assert reason(root / "photos" / rel) == expected, rel
    strays = [rel for rel, r in sample.bad_photos.items() if r == UNKNOWN_LISTING]
    assert strays
    for rel in strays:  # good photos, of a listing the table does not have
        assert rel.split("/")[0] not in sample.listings
        assert reason(root / "photos" / rel) is None
    on_disk = {str(p.relative_to(root / "photos")) for p in (root / "photos").rglob("*.jpg")}
    assert on_disk == set(sample.photos) | set(sample.bad_photos)


def test_labels_agree_with_the_photos(day):
    sample, root = day
    rows = list(csv.DictReader(io.StringIO((root / "labels.csv").read_text())))
    assert [r["photo"] for r in rows] == list(sample.photos)
    for row in rows:
        lid, view = sample.photos[row["photo"]]
        style, stories = sample.listings[lid]
        if view == "front":
            assert (row["exterior"], row["style"], row["stories"]) == ("1", style, str(stories))
            assert row["style"] in STYLES
        else:
            assert (row["exterior"], row["style"], row["stories"]) == ("0", "", "")
    usable, rejected = parse_labels((root / "labels.csv").read_bytes(), HEAD_CLASSES)
    assert len(usable) == len(rows) and not rejected


def test_a_day_is_reproducible_and_days_differ(tmp_path, settings):
    from dataclasses import replace

    fs = LocalFileSystem()
    first = write_sample_listings(fs, settings, DT, n=6)
    again_settings = replace(settings, root=(tmp_path / "again").as_uri())
    again = write_sample_listings(fs, again_settings, DT, n=6)
    assert files(Path(uri_path(first.uri))) == files(Path(uri_path(again.uri)))
    assert (first.listings, first.photos, first.bad_rows) == (
        again.listings,
        again.photos,
        again.bad_rows,
    )
    other = write_sample_listings(fs, settings, "2026-09-02", n=6)
    assert not set(other.listings) & set(first.listings)
    assert {p.read_bytes() for p in Path(uri_path(other.uri)).rglob("1.jpg")}.isdisjoint(
        p.read_bytes() for p in Path(uri_path(first.uri)).rglob("1.jpg")
    )


def test_without_bad_inputs_every_record_is_good(settings):
    sample = write_sample_listings(LocalFileSystem(), settings, DT, n=5, bad=False)
    root = Path(uri_path(sample.uri))
    accepted, rejected = parse_listings((root / "listings.csv").read_bytes(), "listings.csv")
    assert len(accepted) == 5 and not rejected
    assert not sample.bad_photos and not sample.bad_rows and not sample.without_photos
    assert {p.name for p in (root / "photos").iterdir()} == set(sample.listings)
    assert not (root / "labels.csv").exists()
    # A rerun replaces the partition: nothing of the earlier, bigger day is left.
    write_sample_listings(LocalFileSystem(), settings, DT, n=2, bad=False)
    assert len(list((root / "photos").iterdir())) == 2
