"""The service's guards without a lake: a Bearer token on every data path (constant-time,
never echoed), refused at start on a network address without one, and at most N uploads
analysed with a bounded queue (503 + Retry-After past it) while id queries still answer."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient

from lakesight.cli import main as lakesight
from lakesight.config import ConfigError, Settings
from lakesight.serve import image_features as app_module  # where decode_upload is called
from lakesight.serve.app import create_app
from lakesight.serve.catalogue import (
    DayVersion,
    ImageCatalogue,
    ImageDay,
    ListingCatalogue,
    synthetic_images,
)
from lakesight.serve.cli import TOKEN_ENV, is_loopback, serve_token

pytestmark = pytest.mark.unit
TOKEN = "s3cret-token-0123456789abcdef"
DAY = "2026-10-01"


def catalogues(max_uploads: int = 2, queue: int = 1) -> SimpleNamespace:
    """What the app reads of :class:`Catalogues`: one day of 50 images, no listings."""
    day = synthetic_images(50, 64, 16, seed=3)
    day = ImageDay(DayVersion(DAY, "run", ("ssd@1", "deepbit@1")), day.ids,
                   [f"{DAY}/{i}.jpg" for i in range(50)], day.codes, 64, day.embeddings)  # fmt: skip
    settings = Settings(root="file:///nowhere", model_registry="file:///nowhere/models",
                        serve_max_uploads=max_uploads, serve_upload_queue=queue)  # fmt: skip
    return SimpleNamespace(settings=settings, images=ImageCatalogue([day]),
                           listings=ListingCatalogue([]), health=lambda: {"status": "ok"})  # fmt: skip


def some_id(cats) -> str:
    return cats.images.image_id(0)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("0.0.0.0", False), ("::", False), ("192.168.1.5", False),
     ("myhost.example", False)],
)  # fmt: skip
def test_which_addresses_are_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_token_from_file_or_environment_and_required_off_loopback(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    assert serve_token(str(token_file), "0.0.0.0", env={}) == TOKEN
    assert serve_token(str(token_file), "0.0.0.0", env={TOKEN_ENV: "x" * 20}) == TOKEN
    assert serve_token(None, "0.0.0.0", env={TOKEN_ENV: TOKEN}) == TOKEN
    assert serve_token(None, "127.0.0.1", env={}) is None  # loopback: open
    assert serve_token(None, "127.0.0.1", env={TOKEN_ENV: TOKEN}) == TOKEN  # unless given
    with pytest.raises(ConfigError, match="non-loopback address needs a token"):
        serve_token(None, "0.0.0.0", env={})
    with pytest.raises(ConfigError, match="shorter than 16") as short:
        serve_token(None, "0.0.0.0", env={TOKEN_ENV: "hunter2"})
    assert "hunter2" not in str(short.value)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match=r"--token-file: .* is empty"):
        serve_token(str(tmp_path / "empty"), "127.0.0.1", env={})
    with pytest.raises(ConfigError, match="--token-file: cannot read"):
        serve_token(str(tmp_path / "missing"), "127.0.0.1", env={})


def test_serve_on_a_network_address_without_a_token_is_refused_at_start(monkeypatch, capsys):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    started = time.monotonic()
    assert lakesight(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "--host 0.0.0.0" in err and TOKEN_ENV in err and "--token-file" in err
    assert time.monotonic() - started < 10  # before any catalogue is loaded


def test_a_token_guards_every_data_path_but_health():
    cats = catalogues()
    with TestClient(create_app(cats, token=TOKEN)) as client:
        path = f"/v1/images/similar?image_id={some_id(cats)}&k=3"
        missing = client.get(path)
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        assert "\n" not in missing.json()["detail"]
        for wrong in (f"Bearer {TOKEN[:-1]}x", f"Bearer {TOKEN}x", TOKEN, f"Basic {TOKEN}"):
            response = client.get(path, headers={"Authorization": wrong})
            assert response.status_code == 401 and TOKEN not in response.text
        # An upload without the token is refused before its body is read.
        upload = client.post("/v1/images/similar", files={"image": ("a.jpg", b"\xff" * 100)})
        assert upload.status_code == 401
        right = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert right.status_code == 200 and len(right.json()["results"]) == 3
        assert client.get("/v1/health").status_code == 200
    # Without a token (loopback), the same query is open.
    with TestClient(create_app(cats)) as client:
        assert client.get(path).status_code == 200


def test_uploads_beyond_the_slots_and_queue_get_503_while_id_queries_answer(monkeypatch):
    slots, queue = 2, 1
    cats = catalogues(slots, queue)
    release, decoding = threading.Event(), []

    def held_decode(upload, field, settings):
        decoding.append(field)
        assert release.wait(30), "never released"
        raise HTTPException(415, f"{field}: held decode released")

    monkeypatch.setattr(app_module, "decode_upload", held_decode)
    app = create_app(cats)
    gate = app.state.uploads
    with TestClient(app) as client:

        def upload():
            return client.post("/v1/images/similar", files={"image": ("a.jpg", b"\xff" * 10)})

        held = [threading.Thread(target=upload) for _ in range(slots + queue)]
        for thread in held:
            thread.start()
        deadline = time.monotonic() + 20
        while gate.admitted < slots + queue or len(decoding) < slots:
            assert time.monotonic() < deadline, (gate.admitted, decoding)
            time.sleep(0.02)
        assert len(decoding) == slots  # the queued one waits for a slot, undecoded
        refused = upload()
        assert refused.status_code == 503 and refused.headers["retry-after"] == "2"
        assert "LAKESIGHT_SERVE_MAX_UPLOADS" in refused.json()["detail"]
        by_id = client.get("/v1/images/similar", params={"image_id": some_id(cats), "k": 5})
        assert by_id.status_code == 200 and len(by_id.json()["results"]) == 5
        assert client.get("/v1/health").json()["uploads"]["refused"] == 1
        release.set()
        for thread in held:
            thread.join(30)
        assert len(decoding) == slots + queue and gate.admitted == 0
        # The slots are free again: the next upload is decoded, not refused.
        assert upload().status_code == 415
