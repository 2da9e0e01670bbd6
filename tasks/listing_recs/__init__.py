"""listing_recs: recommendations for each user, collaborative filtering for the warm
listings and photos for the new ones.

A day of interactions, ``raw/interactions/dt=D/`` (what users viewed, saved and
contacted, as CSV or Parquet rows), goes through Spark stages run by the
``listing_recs`` DAG:

1. ``listing_recs.ingest`` judges every row into ``curated/interactions``; every
   rejected row goes to ``quarantine/interactions`` with its reason.
2. ``listing_recs.train`` retrains the recommender weekly, or when the interactions grew,
   and promotes it only if it ranks held-out interactions better.
3. ``listing_recs.recommend`` writes ``features/recommendations``: each user's top
   listings, from the recommender (``cf``), from the photos of what they liked for new
   listings (``visual``), or what is popular.

``lakesight eval recs`` measures the recommenders on MovieLens-100k under the NCF
protocol (:mod:`lakesight.models.recommendation`, :mod:`.evaluation`) and on the
generated market's warm and withheld (cold) listings (:mod:`.market_eval`). The datasets and their schemas are in
:mod:`.datasets`; :mod:`.sample_data` writes generated days over the sample listings.
"""

# The stages, in the order the DAG runs them; each is the module lakesight.listing_recs.<stage>.
STAGES = ("ingest", "train", "recommend")
