"""image_features' datasets and their schemas: the one place a column of this pipeline is named.

Lake paths (unchanged since v1; a partition written by any earlier version reads the same):

- ``raw/images/dt=D/**``: input images; ``raw/image_labels/dt=D/labels.jsonl``: the
  ground truth of generated days (``lakesight sample-data images``);
- ``curated/images``: one row per accepted image (:data:`CURATED_COLUMNS`);
- ``curated/descriptors``: one row per analysed image (:data:`DESCRIPTORS_SCHEMA`);
- ``features/images``: the consumer contract (:data:`CONTRACT_COLUMNS`);
- ``pictures/image_features``: annotated detections, PNG;
- ``cache/image_features/key=K/run=R``: analyses by image sha256 (:mod:`.cache`);
- ``curated/code_fits``: the crop embeddings a code fit used (:data:`CODE_FIT_SCHEMA`);
- ``quarantine/images`` (ingest's rejects), ``quarantine/descriptors`` (analyze's),
  ``quarantine/code_fits`` (fit_codes').

Every ``path`` column (curated/images v1.1, curated/descriptors v2.1, features/images v1.2,
and the quarantines' rows) is a URI: a file name's ``%``, ``#``, ``?``, spaces, ``+`` and
non-ASCII letters are percent-encoded (UTF-8) and local files are ``file:///…``
(:func:`lakesight.lake.path_uri`), so pyarrow's ``FileSystem.from_uri``, fsspec and
``urllib`` open the very file; :func:`lakesight.lake.uri_path` decodes one, and
:func:`lakesight.lake.hadoop_location` gives the spelling Hadoop's ``Path`` takes. Earlier
versions held Hadoop's unencoded spelling (``file:/…/a#b.jpg``).
"""

from __future__ import annotations

from lakesight.stage import Dataset, Stage, schema_columns

RAW_IMAGES = Dataset("raw", "images")
RAW_LABELS = Dataset("raw", "image_labels")
CURATED_IMAGES = Dataset("curated", "images")
DESCRIPTORS = Dataset("curated", "descriptors")
FEATURES = Dataset("features", "images")
PICTURES = Dataset("pictures", "image_features")
CACHE = Dataset("cache", "image_features")
QUARANTINED_IMAGES = Dataset("quarantine", "images")
QUARANTINED_DESCRIPTORS = Dataset("quarantine", "descriptors")
CODE_FITS = Dataset("curated", "code_fits")
QUARANTINED_CODE_FITS = Dataset("quarantine", "code_fits")

# --------------------------------------------------------------------------- curated/images

# v1.1: path is a percent-encoded URI (see the module docstring).
CURATED_SCHEMA_VERSION = "curated.images/v1.1"
# One row per input file, before duplicates are resolved. reason is null for accepted files.
VALIDATION_SCHEMA = (
    "path string, size long, image_id string, format string, width int, height int, "
    "source_mode string, orientation int, name_matches_format boolean, reason string, detail string"
)
VALIDATION_COLUMNS = schema_columns(VALIDATION_SCHEMA)
CURATED_COLUMNS = (
    "image_id", "path", "dt", "size", "format", "width", "height", "source_mode", "orientation",
    "name_matches_format",
)  # fmt: skip

# --------------------------------------------------------------------------- curated/descriptors

# v2.1: path is a percent-encoded URI.
DESCRIPTORS_SCHEMA_VERSION = "curated.descriptors/v2.1"
DETECTION_STRUCT = (
    "struct<label:string,score:float,x_min:float,y_min:float,x_max:float,y_max:float>"
)
# What analyze_batch returns per image; reason/detail are set for images that no longer decode.
ANALYSIS_SCHEMA = (
    f"image_id string, path string, width int, height int, detections array<{DETECTION_STRUCT}>, "
    f"top {DETECTION_STRUCT}, crop_box array<int>, code binary, code_bits int, "
    "embedding array<float>, reason string, detail string"
)
ANALYSIS_COLUMNS = schema_columns(ANALYSIS_SCHEMA)
# curated/descriptors: the analysis plus its provenance (every detection kept, any score).
DESCRIPTORS_COLUMNS = (*ANALYSIS_COLUMNS[:-2], "processed_at", "models", "dt")

# --------------------------------------------------------------------------- curated/code_fits

CODE_FITS_SCHEMA_VERSION = "curated.code_fits/v1"
# One row per sampled crop: its embedding by the fitted embedder, and whether the fit used
# it or held it out to measure the codes (split "fit" / "holdout").
CODE_FIT_SCHEMA = (
    "image_id string, path string, embedding array<float>, split string, reason string, "
    "detail string"
)
CODE_FIT_COLUMNS = schema_columns(CODE_FIT_SCHEMA)
CODE_FITS_COLUMNS = ("image_id", "path", "embedding", "split", "model", "dt")

# --------------------------------------------------------------------------- features/images

# v1.1: the same columns and types as v1; ``detections`` holds only those at or above
# the published score threshold, which the manifest records (extra.detection_threshold).
# v1.2: path is a percent-encoded URI (see the module docstring), no longer Hadoop's spelling.
CONTRACT_SCHEMA_VERSION = "features.images/v1.2"
CONTRACT_COLUMNS = (
    "image_id", "path", "dt", "width", "height", "detections", "top", "code", "code_bits",
    "embedding", "models", "processed_at",
)  # fmt: skip


def stamped(result, dt: str, models: list[dict], processed_at: str):
    """Add the per-row provenance publish passes on: ``models``, ``processed_at`` (when a row
    was computed, unless it already says so) and ``dt``."""
    from pyspark.sql import functions as F

    when = F.lit(processed_at).cast("timestamp")
    if "processed_at" in result.columns:
        when = F.coalesce(F.col("processed_at"), when)
    return (
        result.withColumn("models", F.array(*[F.lit(m["name"]) for m in models]))
        .withColumn("processed_at", when)
        .withColumn("dt", F.lit(dt))
    )


# --------------------------------------------------------------------------- stages

# The pipeline's dataflow at a glance: what each stage writes, where its rejects go.
INGEST = Stage("image_features.ingest", output=CURATED_IMAGES, label="curated", noun="files",
               verb="curated", quarantine=QUARANTINED_IMAGES)  # fmt: skip
ANALYZE = Stage("image_features.analyze", output=DESCRIPTORS, label="descriptors", noun="images",
                verb="described", quarantine=QUARANTINED_DESCRIPTORS)  # fmt: skip
FIT_CODES = Stage("image_features.fit_codes", output=CODE_FITS, label="code_fits", noun="crops",
                  verb="embedded", quarantine=QUARANTINED_CODE_FITS)  # fmt: skip
PUBLISH = Stage("image_features.publish", output=FEATURES, label="features", noun="images",
                verb="published")  # fmt: skip

# --------------------------------------------------------------------------- the stream

# features/images_live: the contract's columns, committed per micro-batch as
# ``dt=D/batch=B`` by ``lakesight stream image_features`` until the daily publish of D seals
# the day and retires them. Its rejects go to quarantine/images_live in the same layout.
LIVE = Dataset("features", "images_live")
QUARANTINED_LIVE = Dataset("quarantine", "images_live")
LIVE_SCHEMA_VERSION = "features.images_live/v1"
STREAM = Stage("image_features.stream", output=LIVE, label="live", noun="files",
               verb="published", quarantine=QUARANTINED_LIVE)  # fmt: skip
# The stream's checkpoint (offsets, the file source's log): under the lake's root.
STREAM_CHECKPOINT = ("_checkpoints", "image_features_stream")
