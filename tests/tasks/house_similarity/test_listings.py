"""The listings input judged record by record (no Spark): CSV rows, photo owners, labels."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from lakesight.house_similarity.listings import (
    MAX_LISTING_ID,
    listing_id_problem,
    parse_labels,
    parse_listings,
    photo_owner,
    split_of,
    validate_photo_batch,
)
from lakesight.imaging import DecodeLimits

CSV = "file:/lake/raw/listings/dt=2026-09-01/listings.csv"


def reasons(rejected: list[dict]) -> dict[str, str]:
    return {r["path"].rsplit(":", 1)[-1]: r["reason"] for r in rejected}


@pytest.mark.unit
def test_every_csv_row_is_accepted_or_rejected_with_its_reason():
    data = (
        "listing_id,price,city\n"
        "A-1,100,Oslo\n"
        ",200,Oslo\n"  # line 3: no id
        "A-1,300,Bergen\n"  # line 4: duplicate
        "../etc,1,x\n"  # line 5: odd characters
        "a\\b,1,x\n"  # line 6: a path separator
        "C.2,5\n"  # line 7: too few fields
        "\n"  # blank: not a record
        "C.2,5,Tromsø\n"
    ).encode()
    accepted, rejected = parse_listings(data, CSV)
    assert [a["listing_id"] for a in accepted] == ["A-1", "C.2"]
    assert accepted[1]["attributes"] == {"price": "5", "city": "Tromsø"}
    assert reasons(rejected) == {
        "3": "missing_listing_id", "4": "duplicate_listing_id", "5": "bad_listing_id",
        "6": "bad_listing_id", "7": "malformed_row",
    }  # fmt: skip
    assert all(r["path"].startswith(CSV + ":") for r in rejected)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("data", "reason"),
    [(None, "missing_csv"), (b"", "empty_csv"), (b"  \n", "empty_csv"),
     (b"\xff\xfe\x00junk", "malformed_csv"), (b"id,price\n1,2\n", "malformed_csv")],
)  # fmt: skip
def test_an_unusable_csv_is_one_quarantined_record(data, reason):
    accepted, rejected = parse_listings(data, CSV)
    assert accepted == [] and [r["reason"] for r in rejected] == [reason]


@pytest.mark.unit
def test_a_photo_belongs_to_the_folder_it_is_in():
    assert photo_owner("photos/A-1/front.jpg") == ("A-1", None)
    assert photo_owner("photos/A-1/old/2019.jpg") == ("A-1", None)
    assert photo_owner("photos/loose.jpg") == (None, "unknown_listing")
    assert photo_owner("notes.txt") == (None, "unexpected_file")


def jpeg(colour) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.unit
def test_photos_are_judged_by_owner_then_by_content():
    root = "/lake/raw/listings/dt=2026-09-01"
    good = jpeg((200, 10, 10))
    batch = pd.DataFrame({
        "path": [f"file:{root}/photos/A-1/1.jpg", f"file:{root}/photos/ZZ/1.jpg",
                 f"file:{root}/photos/A-1/2.jpg", f"file:{root}/readme.md"],
        "length": [len(good), len(good), 9, 5],
        "content": [good, good, b"not a jpg", b"hello"],
    })  # fmt: skip
    out = validate_photo_batch(batch, DecodeLimits(10_000_000, 16), root, frozenset({"A-1"}))
    assert out["reason"].tolist() == [None, "unknown_listing", "not_an_image", "unexpected_file"]
    assert out.loc[0, "listing_id"] == "A-1" and out.loc[0, "format"] == "JPEG"
    assert out.loc[0, "width"] == 64 and len(out.loc[0, "photo_id"]) == 64


@pytest.mark.unit
@pytest.mark.parametrize(
    ("listing_id", "ok"),
    [("A-1", True), ("MLS 12345", True), ("Zürich-7", True), ("東京 3-2", True),
     ("a#b?c%20", True), ("B<script>", True), ("x" * MAX_LISTING_ID, True), ("...", True),
     ("a..b", True), (".hidden", True),
     ("", False), (".", False), ("..", False), ("../x", False), ("a/b", False),
     ("a\\b", False), ("x" * (MAX_LISTING_ID + 1), False), ("a\nb", False), ("a\tb", False),
     ("a\x00b", False), ("a\x7fb", False), ("a\u2028b", False)],
)  # fmt: skip
def test_a_listing_id_is_any_safe_path_segment(listing_id, ok):
    problem = listing_id_problem(listing_id)
    assert (problem is None) == ok, problem
    if not ok:  # one line, for the quarantine's detail
        assert problem and "\n" not in problem


@pytest.mark.unit
def test_label_rows_with_unknown_tags_are_rejected():
    classes = {"style": ("colonial", "modern"), "stories": ("1", "2", "3")}
    data = (
        b"photo,exterior,style,stories\n"
        b"A-1/1.jpg,1,modern,2\n"
        b"A-1/2.jpg,0,,\n"
        b"A-1/3.jpg,1,gothic,2\n"
        b"A-1/4.jpg,yes,,\n"
        b"A-1/5.jpg,1,modern,7\n"
    )
    usable, rejected = parse_labels(data, classes)
    assert usable == [
        {"photo": "A-1/1.jpg", "exterior": 1, "style": "modern", "stories": 2},
        {"photo": "A-1/2.jpg", "exterior": 0, "style": None, "stories": None},
    ]
    assert [r["reason"] for r in rejected] == ["bad_label"] * 3


@pytest.mark.unit
def test_the_holdout_split_keeps_a_listing_together_and_is_stable():
    photos = [f"L{i}/{k}.jpg" for i in range(200) for k in range(3)]
    splits = {p: split_of(p) for p in photos}
    for i in range(200):
        assert len({splits[f"L{i}/{k}.jpg"] for k in range(3)}) == 1
    share = np.mean([s == "holdout" for s in splits.values()])
    assert 0.1 < share < 0.3
    assert splits == {p: split_of(p) for p in photos}


@pytest.mark.unit
def test_photos_with_odd_names_are_published_as_uris_and_owned_by_unicode_ids():
    root = "/lake/raw/listings/dt=2026-09-01"
    good, other = jpeg((200, 10, 10)), jpeg((10, 200, 10))
    batch = pd.DataFrame({
        "path": [f"file:{root}/photos/Zürich-7/a#b 1.jpg", f"file:{root}/photos/MLS 12345/x%20y.jpg"],
        "length": [len(good), len(other)],
        "content": [good, other],
    })  # fmt: skip
    ids = frozenset({"Zürich-7", "MLS 12345"})
    out = validate_photo_batch(batch, DecodeLimits(10_000_000, 16), f"file:{root}", ids)
    assert out["reason"].tolist() == [None, None]
    assert out["listing_id"].tolist() == ["Zürich-7", "MLS 12345"]
    assert out["path"].tolist() == [
        f"file://{root}/photos/Z%C3%BCrich-7/a%23b%201.jpg",
        f"file://{root}/photos/MLS%2012345/x%2520y.jpg",
    ]
