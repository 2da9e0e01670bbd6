"""Recommendation models for listing_recs, and the protocol they are measured by."""
