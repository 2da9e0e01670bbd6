"""listing_recs: recommendations for each user, collaborative filtering for the warm
listings and photos for the new ones (issue 24; its evaluation on MovieLens comes first)."""
