"""house_similarity's datasets and their schemas: the one place a column of this pipeline is named.

- ``raw/listings/dt=D/``: ``listings.csv`` (``listing_id`` + attributes), photos under
  ``photos/<listing_id>/``, optional ``labels.csv`` (``photo,exterior,style,stories``);
- ``curated/listings``: one row per accepted listing, its attributes and its accepted
  photos (a listing without photos is kept, with none);
- ``curated/listing_embeddings``: one row per accepted photo, its backbone embedding;
- ``cache/listing_embeddings/key=K/run=R``: embeddings by photo sha256 and backbone;
- ``curated/listing_training``: the labelled photos a heads run used, its decision in
  the manifest;
- ``features/listings``: the consumer contract (:data:`CONTRACT_COLUMNS`);
- ``pictures/house_similarity``: the day's listings with their tags, PNG;
- ``quarantine/listings`` (ingest's rejected rows and photos), ``quarantine/listing_embeddings``
  (photos that no longer decode), ``quarantine/listing_labels`` (label rows that name no
  accepted photo, or a tag that does not exist), ``quarantine/listing_features`` (photos a
  fine-tuned head could no longer decode at publish).

Every photo ``path`` (curated/listings v1.1, curated/listing_embeddings v1.1,
features/listings v1.1, and the quarantines' photo rows) is a percent-encoded URI, as in
image_features (:func:`lakesight.lake.path_uri`): a photo of ``photos/MLS 12345/a#b.jpg``
is ``…/photos/MLS%2012345/a%23b.jpg``. A listing id is any safe path segment
(:func:`.listings.listing_id_problem`), unicode and spaces included; URLs percent-encode it.
"""

from __future__ import annotations

from lakesight.stage import Dataset, Stage, schema_columns

RAW_LISTINGS = Dataset("raw", "listings")
LISTINGS = Dataset("curated", "listings")
EMBEDDINGS = Dataset("curated", "listing_embeddings")
EMBEDDING_CACHE = Dataset("cache", "listing_embeddings")
TRAINING = Dataset("curated", "listing_training")
FEATURES = Dataset("features", "listings")
PICTURES = Dataset("pictures", "house_similarity")
QUARANTINED_LISTINGS = Dataset("quarantine", "listings")
QUARANTINED_EMBEDDINGS = Dataset("quarantine", "listing_embeddings")
QUARANTINED_LABELS = Dataset("quarantine", "listing_labels")
QUARANTINED_FEATURES = Dataset("quarantine", "listing_features")

LISTINGS_FILE = "listings.csv"
LABELS_FILE = "labels.csv"
PHOTOS_DIR = "photos"

# --------------------------------------------------------------------------- curated/listings

# v1.1: photo paths are percent-encoded URIs; listing ids any safe path segment.
LISTINGS_SCHEMA_VERSION = "curated.listings/v1.1"
PHOTO_STRUCT = "struct<photo_id:string,path:string,format:string,width:int,height:int>"
# Ingest's rows: accepted listings (reason null) and every rejected record (a CSV row,
# a photo file or the CSV itself), each with its path (a CSV row's is ``listings.csv:LINE``).
INGEST_SCHEMA = (
    f"listing_id string, attributes map<string,string>, photos array<{PHOTO_STRUCT}>, "
    "path string, reason string, detail string"
)
LISTINGS_COLUMNS = ("listing_id", "attributes", "photos", "dt")
# One row per photo file, as the validation batch returns it.
PHOTO_SCHEMA = (
    "listing_id string, photo_id string, path string, size long, format string, width int, "
    "height int, reason string, detail string"
)
PHOTO_COLUMNS = schema_columns(PHOTO_SCHEMA)

# --------------------------------------------------------------------------- embeddings

# v1.1: path is a percent-encoded URI.
EMBEDDINGS_SCHEMA_VERSION = "curated.listing_embeddings/v1.1"
EMBED_SCHEMA = (
    "listing_id string, photo_id string, path string, embedding array<float>, "
    "reason string, detail string"
)
EMBED_COLUMNS = schema_columns(EMBED_SCHEMA)
EMBEDDINGS_COLUMNS = ("listing_id", "photo_id", "path", "embedding", "processed_at", "models", "dt")
CACHED_COLUMNS = ("photo_id", "embedding", "processed_at")

# --------------------------------------------------------------------------- training

TRAINING_SCHEMA_VERSION = "curated.listing_training/v1"
LABEL_SCHEMA = (
    "photo string, path string, exterior int, style string, stories int, split string, "
    "reason string, detail string"
)
TRAINING_COLUMNS = ("photo", "path", "exterior", "style", "stories", "split", "dt")

# --------------------------------------------------------------------------- features/listings

# v1.1: path is a percent-encoded URI; listing ids any safe path segment (unicode, spaces).
CONTRACT_SCHEMA_VERSION = "features.listings/v1.1"
# What publish's batch function gives per photo, joined to its embedding row for the contract.
TAG_SCHEMA = (
    "photo_id string, exterior boolean, exterior_score float, style string, style_score float, "
    "stories int, stories_score float, reason string, detail string"
)
TAG_COLUMNS = schema_columns(TAG_SCHEMA)
CONTRACT_COLUMNS = (
    "listing_id", "photo_id", "path", "exterior", "exterior_score", "style", "style_score",
    "stories", "stories_score", "embedding", "models", "processed_at",
)  # fmt: skip

# --------------------------------------------------------------------------- stages

INGEST = Stage(
    "house_similarity.ingest",
    output=LISTINGS,
    label="listings",
    noun="records",
    verb="curated",
    quarantine=QUARANTINED_LISTINGS,
)
EMBED = Stage(
    "house_similarity.embed",
    output=EMBEDDINGS,
    label="embeddings",
    noun="photos",
    verb="embedded",
    quarantine=QUARANTINED_EMBEDDINGS,
)
TRAIN = Stage(
    "house_similarity.train",
    output=TRAINING,
    label="training",
    noun="labels",
    verb="usable",
    quarantine=QUARANTINED_LABELS,
)
PUBLISH = Stage(
    "house_similarity.publish",
    output=FEATURES,
    label="features",
    noun="photos",
    verb="published",
    quarantine=QUARANTINED_FEATURES,
)
