"""house_similarity: MLSListings' listing photos. Tag every photo, find listings that look alike.

A day of listings, ``raw/listings/dt=D/`` (``listings.csv``, photos under
``photos/<listing_id>/``, and ``labels.csv`` when someone labelled photos), goes
through four Spark stages, run by the ``house_similarity`` DAG:

1. ``house_similarity.ingest`` judges every CSV row and every photo (by content)
   into ``curated/listings``; every rejected record goes to ``quarantine/listings``
   with its reason.
2. ``house_similarity.embed`` runs each photo through the frozen backbone, pretrained
   on generated places as MLSListings' was on Places365, into
   ``curated/listing_embeddings`` (cached by photo sha256).
3. ``house_similarity.train`` refits the tag heads (exterior, style, stories) when
   the day's labels changed, and promotes them only if they beat the current ones.
4. ``house_similarity.publish`` writes the consumer contract ``features/listings``:
   every photo with its tags, scores and embedding.

``lakesight houses similar`` ranks listings by how much they look like a photo. The
datasets and their schemas are in :mod:`.datasets`; :mod:`.sample_data` writes
generated days (:mod:`lakesight.models.tagging.houses` draws the photos).
"""

# The stages, in the order the DAG runs them; each is the module lakesight.house_similarity.<stage>.
STAGES = ("ingest", "embed", "train", "publish")
