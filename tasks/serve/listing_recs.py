"""The service's listing_recs route: a user's recommendations, from the newest published day.

A user the day has rows for gets them, best first, each with its ``source`` (``cf``,
``visual``, ``popular``). A user it has none for (never seen, or joined since) gets the
day's most engaged-with listings (``popular``): the fallback every consumer would
otherwise write itself. Asking for more than the day holds for a user fills the list
with popular listings they were not already given.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from lakesight.serve.common import K, Served

router = APIRouter()
# A user id is one URL segment's worth of text (ids with control characters or slashes
# never reach the table: ingest quarantines them).
USER_ID = r"^[^/\\\x00-\x1f\x7f]{1,200}$"


@router.get("/v1/recommendations")
def recommendations(
    catalogues: Served,
    user_id: Annotated[str, Query(pattern=USER_ID, description="the user, as the lake names them")],
    k: K = 10,
) -> dict:
    """The user's top ``k`` listings of the newest recommendations day."""
    served = catalogues.recommendations
    if served.version is None:
        raise HTTPException(503, "recommendations: no published day is loaded yet")
    published = served.of(user_id)
    rows = published[:k]
    given = {row["listing_id"] for row in rows}
    for listing_id, events in served.popular:
        if len(rows) >= k:
            break
        if listing_id not in given:
            rows.append({"rank": len(rows) + 1, "listing_id": listing_id,
                         "score": float(events), "source": "popular"})  # fmt: skip
    results = [{"rank": i, "listing_id": r["listing_id"], "score": round(float(r["score"]), 6),
                "source": r["source"]} for i, r in enumerate(rows, start=1)]  # fmt: skip
    return {"user_id": user_id, "known": bool(published), "dt": served.version.dt,
            "results": results, "models": list(served.version.models)}  # fmt: skip
