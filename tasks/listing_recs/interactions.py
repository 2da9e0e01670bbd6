"""What makes an interaction row good: the pure judgement ingest runs on every row.

A row is ``user_id, listing_id, event, ts``, one event a user had with a listing. From
CSV, a line is a row (a line that reads exactly like the header is the file's header,
not a record); from Parquet, a row is a row. Every row ends up accepted or with one of
:data:`REASONS`; the driver adds the two that need the whole day: ``unknown_listing``
(no committed ``curated/listings`` day up to ``D`` lists it) and ``duplicate_event``
(the same user, listing, event and time again: the first is kept).

Timestamps are ISO 8601; one without a zone is UTC. A day's partition holds what arrived
that day, so an event may be up to :data:`LATE_DAYS` days old (logs arrive late); an event
after the day ends, or older than that, is a ``bad_timestamp``.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta

import pandas as pd

from lakesight.house_similarity.listings import listing_id_problem

EVENTS = ("view", "save", "contact")
HEADER = ("user_id", "listing_id", "event", "ts")
LATE_DAYS = 7
MAX_DETAIL = 300  # characters of a rejected row kept in its quarantine row
REASONS = ("malformed_row", "missing_user_id", "missing_listing_id", "bad_user_id",
           "bad_listing_id", "unknown_event", "bad_timestamp", "unreadable_file",
           "malformed_file")  # fmt: skip


def split_csv_lines(lines: pd.Series) -> pd.DataFrame:
    """CSV lines as ``user_id, listing_id, event, ts`` strings, and ``reason`` /
    ``detail`` for a line without exactly four fields; header lines are dropped."""
    lines = lines[lines.str.rstrip("\r") != ",".join(HEADER)]
    fields = [next(csv.reader([line.rstrip("\r")]), []) for line in lines]
    good = [len(f) == len(HEADER) for f in fields]
    frame = pd.DataFrame(
        [f if ok else [None] * len(HEADER) for f, ok in zip(fields, good, strict=True)],
        columns=list(HEADER), index=lines.index, dtype=object,
    )  # fmt: skip
    frame["reason"] = [None if ok else "malformed_row" for ok in good]
    frame["detail"] = [
        None if ok else f"{len(f)} fields, expected {len(HEADER)}: {line[:MAX_DETAIL]}"
        for f, ok, line in zip(fields, good, lines, strict=True)
    ]
    return frame


def parquet_rows(content: bytes) -> pd.DataFrame:
    """A Parquet file's rows as strings, as :func:`split_csv_lines` gives a CSV's; a file
    pyarrow cannot read, or without the four columns, is one row with its reason. Any
    Parquet a user's tool wrote is read: pandas' nanosecond timestamps too, which Spark's
    own reader refuses (``PARQUET_TYPE_ILLEGAL``)."""
    import io

    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(content))
    except Exception as err:  # the file as a whole is the bad record
        return file_row("unreadable_file", f"{type(err).__name__}: {err}"[:MAX_DETAIL])
    missing = [c for c in HEADER if c not in table.column_names]
    if missing:
        return file_row("malformed_file", f"no column {', '.join(missing)}")
    frame = table.select(list(HEADER)).to_pandas()
    for column in HEADER:
        values = frame[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(values):
            values = values.map(lambda t: None if pd.isna(t) else t.isoformat())
        frame[column] = values.map(lambda v: None if v is None or v is pd.NaT else str(v))
    frame["reason"], frame["detail"] = None, None
    return frame.astype(object)


def file_row(reason: str, detail: str) -> pd.DataFrame:
    return pd.DataFrame([dict.fromkeys(HEADER) | {"reason": reason, "detail": detail}],
                        dtype=object)  # fmt: skip


def judge_rows(rows: pd.DataFrame, dt: str) -> pd.DataFrame:
    """``rows`` (strings, with ``reason``/``detail`` possibly set already) with ``ts``
    parsed (UTC) and every row's first problem as its ``reason`` and ``detail``."""
    out = rows.copy()
    for column in HEADER:
        out[column] = out[column].astype(object).where(out[column].notna(), None)
        out[column] = out[column].map(lambda v: v.strip() if isinstance(v, str) else v)
    parsed = pd.to_datetime(out["ts"], utc=True, format="ISO8601", errors="coerce")
    earliest = pd.Timestamp(date.fromisoformat(dt) - timedelta(days=LATE_DAYS), tz="UTC")
    end = pd.Timestamp(date.fromisoformat(dt) + timedelta(days=1), tz="UTC")
    reasons, details = list(out["reason"]), list(out["detail"])
    for k, row in enumerate(out.itertuples(index=False)):
        if reasons[k] is None:
            found = row_problem(row.user_id, row.listing_id, row.event, row.ts, parsed.iloc[k],
                                earliest, end)  # fmt: skip
            if found:  # the row itself too, so the quarantine can give it back
                raw = ",".join("" if v is None else str(v) for v in row[: len(HEADER)])
                reasons[k], details[k] = found[0], f"{found[1]}; row: {raw[:MAX_DETAIL]}"
    out["reason"], out["detail"] = reasons, details
    out["ts"] = parsed.where(out["reason"].isna())
    return out


def row_problem(user_id, listing_id, event, ts, parsed, earliest, end) -> tuple[str, str] | None:
    """The first reason one row cannot be an event, with its detail; None if it can."""
    if not user_id:
        return "missing_user_id", "no user id"
    if not listing_id:
        return "missing_listing_id", "no listing id"
    for reason, value in (("bad_user_id", user_id), ("bad_listing_id", listing_id)):
        problem = listing_id_problem(value)  # ids become URL segments and file names alike
        if problem:
            return reason, problem
    if event not in EVENTS:
        return "unknown_event", f"event {str(event)[:40]!r}: expected one of {', '.join(EVENTS)}"
    if pd.isna(parsed):
        return "bad_timestamp", f"ts {str(ts)[:40]!r} is not an ISO 8601 time"
    if not earliest <= parsed < end:
        return "bad_timestamp", (
            f"ts {parsed.isoformat()} outside {earliest.date()}..{end.date()} (exclusive)"
        )
    return None
