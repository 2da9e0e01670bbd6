"""listing_recs.ingest on Spark: every row of a day accounted for, bad rows with their reasons.

One sample day of listings goes through house_similarity's ingest (the listings the
interactions must name), then a day of interactions over them, with every kind of bad
row, a Parquet file beside the CSV and files that hold no rows, goes through
listing_recs' ingest (module fixture).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakesight.house_similarity import ingest as house_ingest
from lakesight.house_similarity.sample_data import write_sample_listings
from lakesight.lake import LocalFileSystem, uri_path
from lakesight.listing_recs import datasets, ingest
from lakesight.listing_recs.sample_data import BAD_ROWS, write_sample_interactions
from lakesight.progress import Steps
from tests.support.lakes import partition_table, scratch_lake

pytestmark = [pytest.mark.spark]
DT = "2026-09-01"
QUIET = Steps("test", quiet=True)
LISTINGS = 6


def table(settings, dataset, dt=DT):
    return partition_table(settings, dataset, dt)


@pytest.fixture(scope="module")
def day(spark, tmp_path_factory):
    with scratch_lake(tmp_path_factory.mktemp("recs")) as (settings, _, env):
        fs = LocalFileSystem()
        write_sample_listings(fs, settings, DT, n=LISTINGS)
        house_ingest.run(spark, settings, DT, steps=QUIET)
        sample = write_sample_interactions(fs, settings, DT, per_day=LISTINGS, market_days=1)
        raw = Path(uri_path(sample.uri))
        user, listing, _, ts = sample.events[0]
        # A Parquet file of two more events, one of them a day in the future, and files that
        # hold no rows: a note, and a copy still in flight (hidden).
        pq.write_table(pa.table({
            "user_id": [user, user], "listing_id": [listing, listing], "event": ["contact"] * 2,
            "ts": pd.to_datetime([ts, "2026-09-03T08:00:00Z"]),
        }), f"{raw}/late.parquet")  # fmt: skip
        (raw / "README.txt").write_text("events of 2026-09-01\n")
        (raw / "_more.csv._COPYING_").write_text("user_id,listing_id,event,ts\n")
        result = ingest.run(spark, settings, DT, steps=QUIET)
        yield settings, sample, result, env


def test_every_row_is_accepted_or_quarantined_with_its_reason(day):
    settings, sample, result, _ = day
    counts = result.manifest.counts
    rows = len(sample.events) + len(sample.bad_rows) + 2 + 2  # + Parquet rows + 2 files
    assert counts["in"] == rows == counts["out"] + counts["quarantined"]
    quarantined = table(settings, datasets.QUARANTINED_INTERACTIONS)
    expected = Counter(sample.bad_rows.values())
    expected.update(["bad_timestamp", "unsupported_file", "hidden_file"])
    assert Counter(quarantined["reason"]) == expected
    assert set(BAD_ROWS.values()) <= set(expected)
    assert result.manifest.extra["quarantined_by_reason"] == dict(sorted(expected.items()))
    # A rejected row says where it came from and what was wrong with it.
    unknown = quarantined[quarantined["reason"] == "unknown_listing"].iloc[0]
    assert unknown["listing_id"] == "MLS-19990101-0001" and unknown["path"].endswith(".csv")
    late = quarantined[quarantined["path"].str.endswith("late.parquet")].iloc[0]
    assert "2026-09-03" in late["detail"]


def test_accepted_events_are_the_generated_ones_with_utc_times(day):
    settings, sample, result, _ = day
    events = table(settings, datasets.INTERACTIONS)
    assert set(datasets.INTERACTIONS_COLUMNS) <= set(events.columns)
    got = Counter(zip(events["user_id"], events["listing_id"], events["event"],
                      events["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"), strict=True))  # fmt: skip
    expected = Counter(sample.events)
    user, listing, _, ts = sample.events[0]
    expected[(user, listing, "contact", ts)] += 1  # the Parquet file's good row
    assert got == expected
    assert result.manifest.counts["users"] == len({e[0] for e in sample.events})


def test_a_rerun_commits_the_same_day(spark, day):
    settings, _, result, _ = day
    again = ingest.run(spark, settings, DT, steps=QUIET).manifest
    assert again.counts == result.manifest.counts
    assert again.input_fingerprint == result.manifest.input_fingerprint


def test_an_empty_day_is_a_normal_day(spark, day):
    settings, *_ = day
    empty = "2026-09-02"
    LocalFileSystem().mkdirs(datasets.RAW_INTERACTIONS.partition(settings, empty))
    counts = ingest.run(spark, settings, empty, steps=QUIET).manifest.counts
    assert counts["in"] == counts["out"] == counts["quarantined"] == 0
