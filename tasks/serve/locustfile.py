"""Locust load test of the similarity service (``lakesight bench serve`` runs it headless).

The queries come from the JSON file named by ``LAKESIGHT_LOCUST_DATA``:
``{"image_ids": [...], "uploads": [path, ...], "photo_ids": [...], "flood": [path, ...],
"user_ids": [...]}`` (``flood``: large-pixel images for :class:`ImageUploadFlood`;
``user_ids``: users of the recommendations day, and some it has never seen). When
``LAKESIGHT_SERVE_TOKEN`` is set, every request carries it as a Bearer token. Each user class is
one kind of query, picked on the command line; users send their next request as soon as
the last one is answered (no think time), so the run measures what the service sustains.
By hand, against a running ``lakesight serve``::

    LAKESIGHT_LOCUST_DATA=queries.json locust -f tasks/serve/locustfile.py --headless \\
        -u 8 -r 8 -t 20s --host http://127.0.0.1:8765 ImageIdQueries
"""

from __future__ import annotations

import json
import os
import random
import uuid
from pathlib import Path

from locust import task
from locust.contrib.fasthttp import FastHttpUser

DATA = (
    json.loads(Path(os.environ["LAKESIGHT_LOCUST_DATA"]).read_text())
    if os.environ.get("LAKESIGHT_LOCUST_DATA")
    else {"image_ids": [], "uploads": [], "photo_ids": []}
)
TOKEN = os.environ.get("LAKESIGHT_SERVE_TOKEN", "").strip()
AUTH = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}


def multipart(field: str, path: str) -> tuple[bytes, str]:
    """A multipart/form-data body with one file: FastHttpUser sends bytes, not ``files=``."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            f'filename="{Path(path).name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + Path(path).read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


UPLOADS = [multipart("image", path) for path in DATA["uploads"]]
FLOOD = [multipart("image", path) for path in DATA.get("flood", [])]


class ImageIdQueries(FastHttpUser):
    """Images similar to a published image, by id: the downstream teams' common query."""

    @task
    def similar_by_id(self) -> None:
        image_id = random.choice(DATA["image_ids"])
        self.client.get(f"/v1/images/similar?image_id={image_id}&k=10",
                        name="GET /v1/images/similar", headers=AUTH)  # fmt: skip


class ImageUploadQueries(FastHttpUser):
    """Images similar to an uploaded file: detect, crop and describe, then search."""

    @task
    def similar_to_upload(self) -> None:
        body, content_type = random.choice(UPLOADS)
        self.client.post("/v1/images/similar?k=10", data=body,
                         headers={"Content-Type": content_type, **AUTH},
                         name="POST /v1/images/similar")  # fmt: skip


class ImageUploadFlood(FastHttpUser):
    """Uploads as fast as answered, ignoring Retry-After: each a small file that decodes to
    many pixels. What the service must survive with bounded memory; its refusals (503)
    are counted apart from its other failures."""

    @task
    def flood(self) -> None:
        body, content_type = random.choice(FLOOD)
        with self.client.post("/v1/images/similar?k=10", data=body,
                              headers={"Content-Type": content_type, **AUTH},
                              name="POST /v1/images/similar (flood)",
                              catch_response=True) as response:  # fmt: skip
            if response.status_code == 503 and response.headers.get("Retry-After"):
                response.failure("refused: 503 with Retry-After")


class HouseIdQueries(FastHttpUser):
    """Listings similar to a published listing photo, by id."""

    @task
    def similar_listings(self) -> None:
        photo_id = random.choice(DATA["photo_ids"])
        self.client.get(f"/v1/houses/similar?photo_id={photo_id}&k=10",
                        name="GET /v1/houses/similar", headers=AUTH)  # fmt: skip


class RecommendationQueries(FastHttpUser):
    """A user's recommendations: a known user's list, or the popular fallback for one the
    day has never seen."""

    @task
    def recommendations(self) -> None:
        user_id = random.choice(DATA["user_ids"])
        self.client.get(f"/v1/recommendations?user_id={user_id}&k=10",
                        name="GET /v1/recommendations", headers=AUTH)  # fmt: skip
