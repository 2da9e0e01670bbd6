"""The pure judgement of interaction rows (no Spark): CSV lines, Parquet files, each reason."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lakesight.listing_recs.interactions import (
    HEADER,
    judge_rows,
    parquet_rows,
    split_csv_lines,
)

DT = "2026-09-01"


def judged_lines(*lines: str) -> pd.DataFrame:
    return judge_rows(split_csv_lines(pd.Series(list(lines))), DT)


def test_csv_lines_drop_the_header_and_keep_quoted_commas():
    rows = judged_lines("user_id,listing_id,event,ts\r", 'u1,"MLS, 7",view,2026-09-01T10:00:00Z\r')
    assert len(rows) == 1 and rows["reason"].isna().all()
    assert rows.iloc[0]["listing_id"] == "MLS, 7"
    assert rows.iloc[0]["ts"] == pd.Timestamp("2026-09-01T10:00:00", tz="UTC")


@pytest.mark.parametrize(
    "line, reason",
    [
        ("u1,L1,view", "malformed_row"),
        ("u1,L1,view,2026-09-01T10:00:00Z,extra", "malformed_row"),
        (",L1,view,2026-09-01T10:00:00Z", "missing_user_id"),
        ("u1, ,view,2026-09-01T10:00:00Z", "missing_listing_id"),
        ("u1,../L1,view,2026-09-01T10:00:00Z", "bad_listing_id"),
        ("u\x07,L1,view,2026-09-01T10:00:00Z", "bad_user_id"),
        ("u1,L1,like,2026-09-01T10:00:00Z", "unknown_event"),
        ("u1,L1,view,noon", "bad_timestamp"),
        ("u1,L1,view,2026-09-02T00:00:00Z", "bad_timestamp"),  # after the day
        ("u1,L1,view,2026-08-24T23:59:59Z", "bad_timestamp"),  # more than 7 days late
    ],
)
def test_each_bad_line_gets_its_reason_and_keeps_its_text(line, reason):
    row = judged_lines(line).iloc[0]
    assert row["reason"] == reason
    assert line.split(",")[0] in row["detail"]
    assert pd.isna(row["ts"])


def test_late_events_and_times_without_a_zone_are_accepted():
    rows = judged_lines("u1,L1,save,2026-08-25T00:00:00Z", "u1,L1,view,2026-09-01 23:59:59")
    assert rows["reason"].isna().all()
    assert rows.iloc[1]["ts"] == pd.Timestamp("2026-09-01T23:59:59", tz="UTC")  # UTC


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def test_parquet_files_are_read_whatever_wrote_them():
    # pandas' nanosecond timestamps (Spark's own Parquet reader refuses them).
    frame = pd.DataFrame({"user_id": ["u1"], "listing_id": ["L1"], "event": ["view"],
                          "ts": pd.to_datetime(["2026-09-01T10:00:00Z"])})  # fmt: skip
    rows = judge_rows(parquet_rows(parquet_bytes(pa.Table.from_pandas(frame))), DT)
    assert rows["reason"].isna().all() and list(rows["user_id"]) == ["u1"]
    assert rows.iloc[0]["ts"] == pd.Timestamp("2026-09-01T10:00:00", tz="UTC")


def test_a_parquet_file_without_the_columns_or_unreadable_is_one_row():
    missing = parquet_rows(parquet_bytes(pa.table({"user_id": ["u1"], "event": ["view"]})))
    assert list(missing["reason"]) == ["malformed_file"] and "listing_id" in missing["detail"][0]
    broken = parquet_rows(b"PAR1 not really")
    assert list(broken["reason"]) == ["unreadable_file"]
    assert set(HEADER) <= set(broken.columns)
