"""listing_recs' datasets and stages: what each reads and writes (the lake's layout for
this pipeline, in one place).

- ``raw/interactions/dt=D/``: ``*.csv`` (``user_id,listing_id,event,ts``, a header line)
  and/or ``*.parquet`` files with those columns: what users did, as the site logs it;
- ``curated/interactions``: one row per accepted event (:data:`INTERACTIONS_COLUMNS`);
- ``quarantine/interactions``: every rejected row with its reason;
- ``curated/recs_training``: the user-listing pairs a training decision saw, with their
  role (train, valid, test); the decision is in its manifest;
- ``features/recommendations``: the consumer contract (:data:`RECOMMENDATIONS_COLUMNS`),
  each user's top listings, ranked, with where each came from.
"""

from __future__ import annotations

from lakesight.stage import Dataset, Stage, schema_columns

RAW_INTERACTIONS = Dataset("raw", "interactions")
INTERACTIONS = Dataset("curated", "interactions")
QUARANTINED_INTERACTIONS = Dataset("quarantine", "interactions")
TRAINING = Dataset("curated", "recs_training")
RECOMMENDATIONS = Dataset("features", "recommendations")

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
# What the stages read back of curated/interactions.
EVENTS_SCHEMA = "user_id string, listing_id string, event string, ts timestamp"

# --------------------------------------------------------------------------- curated/recs_training

TRAINING_SCHEMA_VERSION = "curated.recs_training/v1"
TRAINING_SCHEMA = "user_id string, listing_id string, role string"
TRAINING_COLUMNS = schema_columns(TRAINING_SCHEMA)

# --------------------------------------------------------------------------- features/recommendations

RECOMMENDATIONS_SCHEMA_VERSION = "features.recommendations/v1"
# ``score`` is its source's own: a cf logit, a visual similarity, a popular listing's
# event count. Ranks are 1..k per user; ``models`` names what made the row.
RECOMMENDATIONS_SCHEMA = (
    "user_id string, rank int, listing_id string, score float, source string, models array<string>"
)
RECOMMENDATIONS_COLUMNS = schema_columns(RECOMMENDATIONS_SCHEMA)
SOURCES = ("cf", "visual", "popular")

# --------------------------------------------------------------------------- stages

INGEST = Stage(
    "listing_recs.ingest",
    output=INTERACTIONS,
    label="interactions",
    noun="events",
    verb="curated",
    quarantine=QUARANTINED_INTERACTIONS,
)
TRAIN = Stage(
    "listing_recs.train",
    output=TRAINING,
    label="training",
    noun="pairs",
    verb="used",
)
RECOMMEND = Stage(
    "listing_recs.recommend",
    output=RECOMMENDATIONS,
    label="recommendations",
    noun="users",
    verb="recommended",
)
