"""image_features: JD.com's image pipeline. Detect the objects of every image, describe the best one.

A day of images, ``raw/images/dt=D/**`` (any nesting, judged by content, not
name), goes through three Spark stages, run by the ``image_features`` DAG:

1. ``image_features.ingest`` decodes and validates every file into
   ``curated/images`` (format, size, orientation); every rejected file goes to
   ``quarantine/images`` with its reason.
2. ``image_features.analyze`` runs the shipped SSD, crops the best detection and
   describes the crop with DeepBit (binary code + embedding), in one pass per
   image, into ``curated/descriptors``; analyses are cached by image sha256 and
   analysis key in ``cache/image_features``, so reruns and backfills compute
   only new bytes. Images that no longer decode go to ``quarantine/descriptors``.
3. ``image_features.publish`` writes the consumer contract ``features/images``
   (v1.1: detections at or above the published score threshold) and
   annotated pictures under ``pictures/image_features``.

Consumers read ``features/images/dt=D`` with plain pyarrow, pandas or Spark SQL,
or query it with ``lakesight similar`` (Hamming distance on ``code``, cosine
tie-break). The datasets and their schemas are in :mod:`.datasets`.
"""

# The stages, in the order the DAG runs them, then fit_codes, run on demand (it registers
# codes for another embedder); each is the module lakesight.image_features.<stage>.
STAGES = ("ingest", "analyze", "publish", "fit_codes")
