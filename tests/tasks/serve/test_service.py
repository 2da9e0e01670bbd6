"""``lakesight serve`` on loopback over a lake that the real stages published: answers equal to
``lakesight similar`` / ``lakesight houses similar`` for the same query, the refresh on a
newly committed day (with queries running through it), bad input answered in one line
while the service goes on, and a smoke run of ``lakesight bench serve`` with Locust."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import httpx
import pytest

from lakesight.cli import main as lakesight
from lakesight.house_similarity import embed, ingest, publish, train
from lakesight.house_similarity.sample_data import write_sample_listings
from lakesight.image_features import analyze
from lakesight.image_features import ingest as image_ingest
from lakesight.image_features import publish as image_publish
from lakesight.image_features.sample_data import write_images_partition
from lakesight.image_features.similar import load_features
from lakesight.lake import LocalFileSystem, read_manifest, uri_path
from lakesight.listing_recs import datasets as recs_datasets
from lakesight.listing_recs import ingest as recs_ingest
from lakesight.listing_recs import recommend
from lakesight.listing_recs import train as recs_train
from lakesight.listing_recs.sample_data import write_sample_interactions
from lakesight.progress import Steps
from tests.support.lakes import scratch_lake
from tests.support.processes import StartedProcesses, free_port

pytestmark = [pytest.mark.spark, pytest.mark.e2e, pytest.mark.slow]
DAY, NEXT_DAY, HOUSES_DAY = "2026-10-01", "2026-10-02", "2026-10-01"
QUIET = Steps("test", quiet=True)
UPLOAD_LIMIT_MB = 1


class Service(StartedProcesses):
    """``lakesight serve`` as users start it, in its own process."""

    def __init__(self, env: dict, *args: str) -> None:
        self.env, self.args, self.process = env, args, None
        self.url = f"http://127.0.0.1:{free_port()}"

    def start(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lakesight.cli", "serve", "--port", port, *self.args],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stdout.read()
            try:
                httpx.get(f"{self.url}/v1/health", timeout=5).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.3)
        raise TimeoutError(f"lakesight serve did not answer on {self.url}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    def get(self, path: str, headers: dict | None = None, **params) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", params=params, headers=headers, timeout=60)

    def post(self, path: str, field: str, name: str, data: bytes, **params) -> httpx.Response:
        return httpx.post(f"{self.url}{path}", params=params, files={field: (name, data)},
                          timeout=60)  # fmt: skip


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    """A day of images and a day of listings, published by the real stages."""
    with scratch_lake(tmp_path_factory.mktemp("serve")) as (settings, _, _):
        fs = LocalFileSystem()
        write_images_partition(fs, settings, DAY, n=20, bad=2, seed=31)
        for stage in (image_ingest, analyze, image_publish):
            stage.run(spark, settings, DAY, steps=QUIET)
        listings = write_sample_listings(fs, settings, HOUSES_DAY, n=10)
        for stage in (ingest, embed, train, publish):
            stage.run(spark, settings, HOUSES_DAY, steps=QUIET)
        # The users of those listings, and their recommendations (a smoke-trained model).
        write_sample_interactions(fs, settings, HOUSES_DAY, per_day=10, market_days=1)
        recs_ingest.run(spark, settings, HOUSES_DAY, steps=QUIET)
        recs_train.run(spark, settings, HOUSES_DAY, steps=QUIET, epochs=2)
        recommend.run(spark, settings, HOUSES_DAY, steps=QUIET)
        yield settings, listings, dict(os.environ)


@pytest.fixture(scope="module")
def service(lake):
    *_, env = lake
    # --to: the day published during the refresh test stays out of this one's answers.
    with Service(env, "--to", DAY, "--max-upload-mb", str(UPLOAD_LIMIT_MB)) as running:
        yield running


def cli_json(capsys, *args: str) -> dict:
    capsys.readouterr()
    assert lakesight([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_health_says_what_is_loaded(lake, service):
    health = service.get("/v1/health").json()
    assert health["images"]["images"] == 20 and health["images"]["days"] == [DAY]
    assert health["images"]["models"] == ["ssd_scenes@1", "deepbit_scenes@1"]
    assert health["images"]["code_bits"] == 64
    # 8 bytes of code, 256 floats, 32 bytes of id and the id order: about 1.1 GB a million.
    assert 1.0e9 < health["images"]["bytes_per_million"] < 1.2e9
    assert health["listings"]["days"] == [HOUSES_DAY] and health["listings"]["listings"] == 9
    assert health["listings"]["models"] == ["places_backbone@1", "house_tags@2"]
    assert health["recommendations"]["day"] == HOUSES_DAY
    assert health["recommendations"]["models"] == ["listing_recs@1"]
    assert service.get("/openapi.json").json()["paths"].keys() >= {
        "/v1/images/similar", "/v1/houses/similar", "/v1/recommendations", "/v1/health",
    }  # fmt: skip


def published_recommendations(settings):
    import pyarrow.dataset as ds

    partition = recs_datasets.RECOMMENDATIONS.partition(settings, HOUSES_DAY)
    table = ds.dataset(uri_path(partition), format="parquet").to_table().to_pandas()
    return table.sort_values(["user_id", "rank"]), read_manifest(LocalFileSystem(), partition)


def test_a_users_recommendations_are_the_published_rows(lake, service):
    settings, *_ = lake
    table, _ = published_recommendations(settings)
    user = table["user_id"].iloc[0]
    rows = table[table["user_id"] == user]
    answer = service.get("/v1/recommendations", user_id=user, k=len(rows)).json()
    assert answer["known"] is True and answer["dt"] == HOUSES_DAY
    assert answer["models"] == ["listing_recs@1"]
    assert [(r["listing_id"], r["source"]) for r in answer["results"]] == list(
        zip(rows["listing_id"], rows["source"], strict=True)
    )
    assert [r["rank"] for r in answer["results"]] == list(range(1, len(rows) + 1))
    # More than the day holds for the user: filled with popular listings not given yet.
    more = service.get("/v1/recommendations", user_id=user, k=len(rows) + 3).json()["results"]
    assert more[: len(rows)] == answer["results"] and len({r["listing_id"] for r in more}) == len(
        more
    )
    assert {r["source"] for r in more[len(rows) :]} <= {"popular"}


def test_a_user_never_seen_gets_the_popular_listings(lake, service):
    settings, *_ = lake
    _, manifest = published_recommendations(settings)
    answer = service.get("/v1/recommendations", user_id="U-never-seen", k=3).json()
    assert answer["known"] is False
    assert [r["listing_id"] for r in answer["results"]] == [
        x for x, _ in manifest.extra["popular"][:3]
    ]
    assert {r["source"] for r in answer["results"]} == {"popular"}


@pytest.mark.parametrize(
    "params, status, says",
    [
        ({"user_id": "U-1", "k": 0}, 422, "k"),
        ({"user_id": "U-1", "k": 101}, 422, "k"),
        ({"user_id": "", "k": 3}, 422, "user_id"),
        ({"user_id": "a/b", "k": 3}, 422, "user_id"),
        ({"k": 3}, 422, "user_id"),
    ],
)
def test_bad_recommendation_queries_are_answered_in_one_line(service, params, status, says):
    answer = service.get("/v1/recommendations", **params)
    assert answer.status_code == status
    detail = answer.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and says in detail


def test_image_id_answers_are_lakesight_similar(lake, service, capsys, tmp_path):
    settings, *_ = lake
    features = load_features(settings, DAY, ["image_id", "path"])
    for image_id in features["image_id"][:4]:
        expected = cli_json(capsys, "similar", "--dt", DAY, "--image-id", image_id, "-k", "7",
                            "--picture", str(tmp_path / "sheet.png"))  # fmt: skip
        answer = service.get("/v1/images/similar", image_id=image_id, k=7).json()
        assert answer["query"]["image_id"] == image_id and answer["query"]["dt"] == DAY
        assert answer["searched"] == 20
        assert [
            (r["image_id"], r["path"], r["distance"], r["score"]) for r in answer["results"]
        ] == [(r["image_id"], r["path"], r["distance"], r["score"]) for r in expected["results"]]
        assert {r["dt"] for r in answer["results"]} == {DAY}


def test_upload_answers_are_lakesight_similar_for_the_file(lake, service, capsys, tmp_path):
    settings, *_ = lake
    path = uri_path(load_features(settings, DAY, ["path"])["path"][3])
    expected = cli_json(capsys, "similar", "--dt", DAY, "--image", path, "-k", "5",
                        "--picture", str(tmp_path / "sheet.png"))  # fmt: skip
    with open(path, "rb") as f:
        answer = service.post("/v1/images/similar", "image", "query.jpg", f.read(), k=5).json()
    assert answer["query"]["upload"] == "query.jpg"
    assert [(r["image_id"], r["distance"], r["score"]) for r in answer["results"]] == [
        (r["image_id"], r["distance"], r["score"]) for r in expected["results"]
    ]
    assert answer["results"][0]["distance"] == 0  # the file itself is published


def test_house_answers_are_lakesight_houses_similar(lake, service, capsys, tmp_path):
    _, listings, _ = lake
    front = next(p for p, (_, view) in sorted(listings.photos.items()) if view == "front")
    path = uri_path(f"{listings.uri.rstrip('/')}/photos/{front}")
    expected = cli_json(capsys, "houses", "similar", "--photo", path, "-k", "6",
                        "--picture", str(tmp_path / "houses.png"))  # fmt: skip
    with open(path, "rb") as f:
        uploaded = service.post("/v1/houses/similar", "photo", "front.jpg", f.read(), k=6).json()
    assert uploaded["ranking"] == expected["ranking"] == "tags + visual"
    assert [(r["listing_id"], r["score"], r["photo_id"]) for r in uploaded["results"]] == [
        (r["listing_id"], r["score"], r["photo_id"]) for r in expected["results"]
    ]
    assert {r["dt"] for r in uploaded["results"]} == {HOUSES_DAY}
    # The same photo by id: the same ranking, without the listing it belongs to.
    own = front.split("/")[0]
    photo_id = uploaded["results"][0]["photo_id"]
    assert uploaded["results"][0]["listing_id"] == own
    by_id = service.get("/v1/houses/similar", photo_id=photo_id, k=5).json()
    assert by_id["query"]["listing_id"] == own
    assert [r["listing_id"] for r in by_id["results"]] == [
        r["listing_id"] for r in uploaded["results"] if r["listing_id"] != own
    ][:5]
    assert by_id["query"]["style"] == uploaded["query"]["style"]


@pytest.mark.parametrize(
    ("request_", "status", "says"),
    [
        (("get", "/v1/images/similar", {"image_id": "../../etc/passwd"}), 422, "image_id:"),
        (("get", "/v1/images/similar", {"image_id": "ab" * 32}), 404, "not in the catalogue"),
        (("get", "/v1/images/similar", {"image_id": "ab" * 32, "k": 0}), 422, "k:"),
        (("get", "/v1/images/similar", {"image_id": "ab" * 32, "k": 101}), 422, "k:"),
        (("get", "/v1/images/similar", {"image_id": "ab" * 32, "k": "ten"}), 422, "k:"),
        (("get", "/v1/houses/similar", {"photo_id": "cd" * 32}), 404, "not in the catalogue"),
        (("get", "/v1/houses/similar", {}), 422, "photo_id:"),
        (("post", "/v1/images/similar", b"%PDF-1.4 not an image"), 415, "not_an_image"),
        (("post", "/v1/houses/similar", b"\x89PNG\r\n\x1a\n truncated"), 415, "photo:"),
        (("post", "/v1/images/similar", b"\xff" * (UPLOAD_LIMIT_MB * 2**20 + 1)), 413, "limit"),
    ],
    ids=[
        "traversal-id",
        "unknown-image",
        "k-0",
        "k-101",
        "k-word",
        "unknown-photo",
        "no-photo-id",
        "pdf",
        "truncated-png",
        "oversized",
    ],
)
def test_bad_input_is_a_4xx_in_one_line_and_the_service_goes_on(service, request_, status, says):
    method, path, payload = request_
    if method == "get":
        response = service.get(path, **payload)
    else:
        field = "image" if "images" in path else "photo"
        response = service.post(path, field, "upload.bin", payload)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and says in detail
    assert service.get("/v1/health").status_code == 200


def test_streamed_uploads_stop_at_the_limit_and_tag_filters_need_a_house(lake, service):
    def chunks():
        yield b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.jpg"\r\n\r\n'
        for _ in range(20 * UPLOAD_LIMIT_MB):  # 1.25 MB of a file in 64 KiB pieces
            yield b"\0" * 2**16

    # No Content-Length (chunked): refused once the bytes pass the limit.
    response = httpx.post(f"{service.url}/v1/images/similar", content=chunks(),
                          headers={"Content-Type": "multipart/form-data; boundary=x"})  # fmt: skip
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    # A photo that is no house exterior (an interior) has no tags to filter on.
    _, listings, _ = lake
    inside = next(p for p, (_, view) in sorted(listings.photos.items()) if view == "interior")
    with open(uri_path(f"{listings.uri.rstrip('/')}/photos/{inside}"), "rb") as f:
        data = f.read()
    plain = service.post("/v1/houses/similar", "photo", "inside.jpg", data).json()
    assert plain["ranking"] == "visual only" and len(plain["results"]) == 9
    filtered = service.post("/v1/houses/similar", "photo", "inside.jpg", data, same_style=True)
    assert filtered.status_code == 400 and "not a house exterior" in filtered.json()["detail"]


def test_a_newly_committed_day_is_served_without_stopping_queries(spark, lake):
    settings, _, env = lake
    image_id = load_features(settings, DAY, ["image_id"])["image_id"][0]
    with Service(env, "--from", DAY, "--refresh-s", "0.5") as running:
        seen, failures, stop = set(), [], threading.Event()

        def query_all_the_time() -> None:
            while not stop.is_set():
                response = running.get("/v1/images/similar", image_id=image_id, k=50)
                if response.status_code != 200:
                    failures.append(response.text)
                else:
                    seen.add(response.json()["searched"])

        querying = threading.Thread(target=query_all_the_time)
        querying.start()
        try:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("LAKESIGHT_ROOT", settings.root)
                patch.setenv("LAKESIGHT_MODEL_REGISTRY", env["LAKESIGHT_MODEL_REGISTRY"])
                write_images_partition(LocalFileSystem(), settings, NEXT_DAY, n=8, bad=0, seed=32)
                for stage in (image_ingest, analyze, image_publish):
                    stage.run(spark, settings, NEXT_DAY, steps=QUIET)
            deadline = time.monotonic() + 60
            while running.get("/v1/health").json()["images"]["days"] != [DAY, NEXT_DAY]:
                assert time.monotonic() < deadline, "the new day was never loaded"
                time.sleep(0.2)
        finally:
            stop.set()
            querying.join()
        answer = running.get("/v1/images/similar", image_id=image_id, k=50).json()
    assert not failures
    # Every answer searched one whole catalogue: the old day, or both days, nothing between.
    assert seen == {20, 28}
    assert answer["searched"] == 28 and {r["dt"] for r in answer["results"]} == {DAY, NEXT_DAY}


def test_bench_serve_reports_locust_and_in_process_figures(lake, capsys):
    payload = cli_json(capsys, "bench", "serve", "--synthetic", "20000", "--users", "2",
                       "--seconds", "3", "--upload-users", "1", "--upload-seconds", "2",
                       "--queries", "50", "--flood-users", "8", "--flood-seconds", "6")  # fmt: skip
    # The lake's every published day (the refresh test may have added one) + the synthetic.
    settings, *_ = lake
    real = sum(len(load_features(settings, dt, ["image_id"])) for dt in payload["real_days"])
    assert DAY in payload["real_days"] and payload["images"] == 20_000 + real
    for run in ("images_by_id", "images_by_upload", "houses_by_id", "recommendations"):
        assert payload[run]["requests"] > 0 and payload[run]["failures"] == 0, payload[run][
            "errors"
        ]
        assert payload[run]["rps"] > 0 and payload[run]["p99_ms"] >= payload[run]["p50_ms"]
    assert 0 < payload["in_process"]["id_query_ms"]["p50"] < 1000
    assert payload["index_bytes_per_million"] > 1e9
    # The flood: 8 users posting 12-megapixel uploads (36 MB decoded each) without pause,
    # against 2 slots + 4 queued. Refusals were served, and the service's memory grew by
    # less than 2 slots' worth of one upload's own peak (x 1.5): unbounded, the 8 users
    # would each hold one. Id queries kept answering through it.
    flood = payload["upload_flood"]
    assert flood["upload_slots"] == 2 and flood["upload_queue"] == 4
    assert flood["refused_503"] > 0 and flood["other_failures"] == 0
    assert flood["uploads"] > flood["refused_503"]  # some were analysed, too
    assert flood["rss_one_upload_mb"] > 36  # at least the decoded pixels: it was measured
    # Both figures are rounded to 0.1 MiB: 3 x 0.05 + 0.05 apart at most, plus float error.
    assert flood["rss_bound_mb"] == pytest.approx(3 * flood["rss_one_upload_mb"], abs=0.25)
    assert 0 < flood["rss_peak_mb"] - flood["rss_at_rest_mb"] < flood["rss_bound_mb"]
    assert flood["rss_bound_mb"] < flood["rss_unbounded_mb"]
    assert flood["id_requests_under_flood"] > 0 and flood["id_failures_under_flood"] == 0
    assert flood["id_p99_ms_under_flood"] > 0 and flood["id_p99_ms_at_rest"] > 0


def test_a_network_address_needs_the_token(lake, tmp_path):
    settings, _, env = lake
    token = "compose-secret-" + "7" * 32
    (tmp_path / "token").write_text(token + "\n")
    env = {k: v for k, v in env.items() if k != "LAKESIGHT_SERVE_TOKEN"}
    image_id = load_features(settings, DAY, ["image_id"])["image_id"][0]
    with Service(env, "--host", "0.0.0.0", "--to", DAY, "--token-file",
                 str(tmp_path / "token")) as running:  # fmt: skip
        assert running.get("/v1/health").status_code == 200  # open: probes carry no secret
        path, query = "/v1/images/similar", {"image_id": image_id, "k": 3}
        assert running.get(path, **query).status_code == 401
        wrong = running.get(path, headers={"Authorization": f"Bearer {token[:-1]}8"}, **query)
        assert wrong.status_code == 401 and token not in wrong.text
        right = running.get(path, headers={"Authorization": f"Bearer {token}"}, **query)
        assert right.status_code == 200 and len(right.json()["results"]) == 3
        running.stop()
        assert token not in running.process.stdout.read()  # never logged


def copied_lake(settings, tmp_path, days: list[str]):
    """The published features/images day copied to ``days`` of a lake of its own, so a test
    can break one without touching the module's lake."""
    import dataclasses
    import shutil

    root = tmp_path / "lake"
    source = uri_path(f"{settings.root}/features/images/dt={DAY}")
    for dt in days:
        shutil.copytree(source, root / "features" / "images" / f"dt={dt}")
    return dataclasses.replace(settings, root=root.as_uri())


@pytest.mark.faults
def test_an_unreadable_day_degrades_health_and_the_other_days_are_served(lake, tmp_path):
    from fastapi.testclient import TestClient

    from lakesight.serve.app import create_app
    from lakesight.serve.catalogue import Catalogues

    settings, *_ = lake
    days = ["2026-09-28", "2026-09-29", "2026-09-30"]
    copy = copied_lake(settings, tmp_path, days)
    image_id = load_features(settings, DAY, ["image_id"])["image_id"][0]

    def day_dir(dt):
        return tmp_path / "lake" / "features" / "images" / f"dt={dt}"

    manifest = day_dir(days[1]) / "_manifest.json"
    good = manifest.read_text()
    manifest.write_text(good[: len(good) // 2])  # cut short: not JSON
    catalogues = Catalogues(copy)  # the first load does not stop at it either
    with TestClient(create_app(catalogues)) as client:
        health = client.get("/v1/health").json()
        assert health["status"] == "degraded"
        assert health["images"]["days"] == [days[0], days[2]]
        assert list(health["unreadable"]) == [f"images/{days[1]}"]
        assert health["unreadable"][f"images/{days[1]}"].startswith("manifest: ManifestError")
        answer = client.get("/v1/images/similar", params={"image_id": image_id, "k": 50})
        assert answer.status_code == 200 and answer.json()["searched"] == 40
        assert {r["dt"] for r in answer.json()["results"]} == {days[0], days[2]}

        manifest.write_text(good)  # repaired: the next refresh serves it, and health is ok
        assert catalogues.refresh()
        health = client.get("/v1/health").json()
        assert health["status"] == "ok" and health["unreadable"] == {}
        assert health["images"]["days"] == days

        # A re-commit of a day whose data file is corrupt: the refresh keeps serving the
        # copy loaded before, and says so.
        data = sorted(day_dir(days[0]).glob("*.parquet"))[0]
        data.write_bytes(b"PAR1 not parquet at all PAR1")
        recommitted = json.loads(good)
        recommitted["run_id"] = "manual__rerun"
        (day_dir(days[0]) / "_manifest.json").write_text(json.dumps(recommitted))
        catalogues.refresh()
        health = client.get("/v1/health").json()
        assert health["status"] == "degraded" and list(health["unreadable"]) == [
            f"images/{days[0]}"
        ]
        reason = health["unreadable"][f"images/{days[0]}"]
        assert reason.startswith("data: ") and "serving the copy of run" in reason
        assert health["images"]["days"] == days
        answer = client.get("/v1/images/similar", params={"image_id": image_id, "k": 60})
        assert answer.status_code == 200 and answer.json()["searched"] == 60

    # Started afresh on that lake, the corrupt day is left out and the others are served.
    fresh = Catalogues(copy)
    assert fresh.health()["status"] == "degraded"
    assert fresh.health()["images"]["days"] == days[1:]
    assert fresh.unreadable[f"images/{days[0]}"].startswith("data: ")
