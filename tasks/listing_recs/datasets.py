"""listing_recs' datasets and stages: what each reads and writes (the lake's layout for
this pipeline, in one place).

- ``raw/interactions/dt=D/``: ``*.csv`` (``user_id,listing_id,event,ts``, a header line)
  and/or ``*.parquet`` files with those columns: what users did, as the site logs it;
- ``curated/interactions``: one row per accepted event (:data:`INTERACTIONS_COLUMNS`);
- ``quarantine/interactions``: every rejected row with its reason.
"""

from __future__ import annotations

from lakesight.stage import Dataset, Stage, schema_columns

RAW_INTERACTIONS = Dataset("raw", "interactions")
INTERACTIONS = Dataset("curated", "interactions")
QUARANTINED_INTERACTIONS = Dataset("quarantine", "interactions")

# --------------------------------------------------------------------------- curated/interactions

INTERACTIONS_SCHEMA_VERSION = "curated.interactions/v1"
# Ingest's rows: accepted events (reason null) and rejected rows, each rejected row with
# where it came from (``path``: the file and its line, or row for Parquet) and its text.
INGEST_SCHEMA = (
    "user_id string, listing_id string, event string, ts timestamp, path string, "
    "reason string, detail string"
)
INGEST_COLUMNS = schema_columns(INGEST_SCHEMA)
INTERACTIONS_COLUMNS = ("user_id", "listing_id", "event", "ts")

# --------------------------------------------------------------------------- stages

INGEST = Stage(
    "listing_recs.ingest",
    output=INTERACTIONS,
    label="interactions",
    noun="events",
    verb="curated",
    quarantine=QUARANTINED_INTERACTIONS,
)
