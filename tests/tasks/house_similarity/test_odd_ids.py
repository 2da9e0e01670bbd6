"""Real MLS and international listing ids (spaces, letters like ü) and odd photo names through
house_similarity: kept, tagged and published with paths any URI reader opens; ids that are not
safe as a path segment are quarantined with their reason, never a failed day."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import urllib.request
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from lakesight.house_similarity import datasets, embed, ingest, publish, train
from lakesight.house_similarity.sample_data import write_sample_listings
from lakesight.lake import LocalFileSystem, read_partition_table, uri_path
from lakesight.progress import Steps
from tests.support.lakes import scratch_lake

pytestmark = pytest.mark.spark
DT = "2026-09-02"
QUIET = Steps("test", quiet=True)
GOOD_IDS = ["MLS 12345", "Zürich-7", "a#b?c%20"]
BAD_IDS = ["../x", "a/b", "x" * 129, "line\nbreak"]


def test_unicode_and_spaced_ids_are_kept_and_unsafe_ones_quarantined(spark, tmp_path):
    with scratch_lake(tmp_path) as (settings, _, _):
        sample = write_sample_listings(
            LocalFileSystem(), settings, DT, n=3, labels=False, bad=False
        )
        day = Path(uri_path(sample.uri))
        rows = list(csv.reader(io.StringIO((day / "listings.csv").read_text())))
        header, listings = rows[0], rows[1:]
        renamed = dict(zip([r[0] for r in listings], GOOD_IDS, strict=True))
        for old, new in renamed.items():
            if (day / "photos" / old).exists():
                os.rename(day / "photos" / old, day / "photos" / new)
        photo = next((day / "photos" / GOOD_IDS[0]).iterdir())
        odd_photo = photo.with_name("front #1 ü.jpg")
        os.rename(photo, odd_photo)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(header)
        for row in listings:
            writer.writerow([renamed[row[0]], *row[1:]])
        for bad in BAD_IDS:
            writer.writerow([bad, *listings[0][1:]])
        (day / "listings.csv").write_text(out.getvalue())

        results = {m.STAGE.short: m.run(spark, settings, DT, steps=QUIET)
                   for m in (ingest, embed, train, publish)}  # fmt: skip

        counts = results["ingest"].manifest.counts
        assert counts["in"] == counts["out"] + counts["quarantined"]
        assert results["ingest"].manifest.extra["quarantined_by_reason"]["bad_listing_id"] == 4
        fs = LocalFileSystem()
        rejected = read_partition_table(fs, results["ingest"].quarantine_uri)
        bad = rejected[rejected["reason"] == "bad_listing_id"]
        assert len(bad) == len(BAD_IDS) and (bad["detail"].str.len() > 0).all()
        published = pq.read_table(uri_path(results["publish"].output_uri)).to_pandas()
        on_disk = {p.relative_to(day / "photos").as_posix() for p in (day / "photos").rglob("*.*")}
        assert set(published["listing_id"]) == {
            i for i in GOOD_IDS if (day / "photos" / i).exists()
        }
        assert len(published) == len(on_disk)
        for path, photo_id in zip(published["path"], published["photo_id"], strict=True):
            assert not {"#", "?", " "} & set(path), path
            with urllib.request.urlopen(path) as f:
                assert hashlib.sha256(f.read()).hexdigest() == photo_id
        assert any(uri_path(p).endswith("/Zürich-7/" + Path(uri_path(p)).name)
                   for p in published["path"])  # fmt: skip
        assert any(uri_path(p) == str(odd_photo) for p in published["path"])
        assert results["publish"].manifest.schema_version == datasets.CONTRACT_SCHEMA_VERSION
