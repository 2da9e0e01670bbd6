"""``lakesight bench serve``: the similarity service under load, next to its in-process cost.

The catalogue is the lake's published days plus ``synthetic`` random 64-bit codes (a
million by default). The service runs as its own process (``lakesight serve``) on
loopback; Locust (``locustfile.py``, headless, bounded in users and seconds) drives one
kind of query at a time and reports requests per second, latency percentiles and
failures. The same queries timed in this process, on the same catalogue, say how much of
a request is the search itself: Locust reports whole milliseconds.

Then an upload flood (``flood_users`` Locust users posting, without pause, a small JPEG
that decodes to 12 megapixels) runs beside the same id-query load, while the service's
resident memory is sampled: ``upload_flood`` reports the peak RSS under the flood and at
rest, one upload's own peak (the same image, one user), the bound the upload gate
promises (its slots x that, with half again for the allocator), the 503s it answered,
and the id queries' p99 with and without the flood.

When the lake has a ``features/recommendations`` day (``lakesight demo listing_recs``),
Locust also asks for users' recommendations: 9 in 10 of the day's users, 1 in 10 users it
has never seen (the popular fallback).
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from lakesight.config import ConfigError, Settings
from lakesight.progress import Steps

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
# The flood's image: a smooth JPEG of a few hundred KB that decodes to 36 MB of pixels,
# the kind of upload that made a handful of clients enough to exhaust memory.
FLOOD_SIZE = (4000, 3000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentiles_ms(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {"p50": round(float(np.median(ms)), 3), "p99": round(float(np.percentile(ms, 99)), 3)}


def in_process(catalogues, uploads: list[bytes], queries: int, rng) -> dict:
    """Id queries and upload queries timed in this process, as the service runs them."""
    from lakesight.image_features.similar import query_from_pixels
    from lakesight.imaging import decode_image
    from lakesight.models.runtime import load_descriptor, load_detector

    images = catalogues.images
    timings = []
    for position in rng.integers(0, len(images), queries):
        start = time.perf_counter()
        images.nearest(images.query_of(int(position)), 10, exclude=np.array([position]))
        timings.append(time.perf_counter() - start)
    detector = load_detector(images.models[0], variant=images.detector_variant)
    descriptor = load_descriptor(images.models[1])
    upload_timings = []
    for data in uploads:
        start = time.perf_counter()
        query, _ = query_from_pixels(decode_image(data, "upload").pixels, detector, descriptor)
        images.nearest(query, 10)
        upload_timings.append(time.perf_counter() - start)
    return {
        "id_query_ms": percentiles_ms(timings),
        "upload_query_ms": percentiles_ms(upload_timings),
    }


def locust_run(user_class: str, host: str, data_file: Path, users: int, seconds: int,
               workdir: Path) -> dict:  # fmt: skip
    """One headless Locust run; its aggregated line from the CSV it writes."""
    prefix = workdir / user_class
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
               "--host", host, "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
               "--stop-timeout", "5", "--csv", str(prefix), "--only-summary",
               "--loglevel", "WARNING", user_class]  # fmt: skip
    env = {**os.environ, "LAKESIGHT_LOCUST_DATA": str(data_file)}
    done = subprocess.run(command, env=env, capture_output=True, text=True,
                          timeout=seconds + 120)  # fmt: skip
    stats = Path(f"{prefix}_stats.csv")
    if not stats.exists():
        raise RuntimeError(f"locust {user_class} wrote no statistics: {done.stderr[-2000:]}")
    with stats.open() as f:
        total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
    with Path(f"{prefix}_failures.csv").open() as f:
        errors = {row["Error"]: int(row["Occurrences"]) for row in csv.DictReader(f)}
    return {
        "users": users,
        "seconds": seconds,
        "requests": int(total["Request Count"]),
        "failures": int(total["Failure Count"]),
        "rps": round(float(total["Requests/s"]), 1),
        "p50_ms": float(total["50%"]),
        "p95_ms": float(total["95%"]),
        "p99_ms": float(total["99%"]),
        "errors": errors,
    }


class RssSampler:
    """The resident memory of process ``pid``, sampled every ``every_s`` seconds in a
    thread while the block runs (``peak`` in bytes): VmHWM would keep the peak of the
    whole life, not of the block."""

    def __init__(self, pid: int, every_s: float = 0.05) -> None:
        import psutil

        self.process, self.every_s, self.peak = psutil.Process(pid), every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.process.memory_info().rss)
            if self._stop.wait(self.every_s):
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def flood_image(path: Path) -> Path:
    """A JPEG of :data:`FLOOD_SIZE` (a gradient: small on disk, whole when decoded)."""
    from PIL import Image

    width, height = FLOOD_SIZE
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    pixels = np.stack([x + 0 * y, y + 0 * x, (x + y) / 2], axis=-1).astype(np.uint8)
    Image.fromarray(pixels).save(path, quality=85)
    return path


def get_health(host: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{host}/v1/health", timeout=30) as response:
        return json.load(response)


def upload_flood(host: str, pid: int, data_file: Path, users: int, flood_users: int,
                 seconds: int, workdir: Path, at_rest: dict) -> dict:  # fmt: skip
    """``flood_users`` flooding uploads beside ``users`` id queries for ``seconds``, the
    service's RSS sampled throughout; ``at_rest`` is the id-query run without the flood."""
    with RssSampler(pid) as rest:
        time.sleep(2)
    # One upload at a time: what one analysis of the flood's image holds at its peak.
    (workdir / "single").mkdir(exist_ok=True)
    with RssSampler(pid) as single:
        locust_run("ImageUploadFlood", host, data_file, 1, 4, workdir / "single")
    per_upload = max(single.peak - rest.peak, 0)
    before = get_health(host)
    (workdir / "flood").mkdir(exist_ok=True)
    with RssSampler(pid) as flooded, ThreadPoolExecutor(2) as pool:
        flood = pool.submit(locust_run, "ImageUploadFlood", host, data_file, flood_users,
                            seconds, workdir / "flood")  # fmt: skip
        ids = pool.submit(locust_run, "ImageIdQueries", host, data_file, users, seconds,
                          workdir / "flood")  # fmt: skip
        flood, ids = flood.result(), ids.result()
    after = get_health(host)
    gate, mb = after["uploads"], 2**20
    refused = after["uploads"]["refused"] - before["uploads"]["refused"]
    return {
        "flood_users": flood_users,
        "seconds": seconds,
        "uploads": flood["requests"],
        "refused_503": refused,
        "other_failures": flood["failures"] - refused,
        "upload_slots": gate["slots"],
        "upload_queue": gate["queue"],
        "rss_at_rest_mb": round(rest.peak / mb, 1),
        "rss_peak_mb": round(flooded.peak / mb, 1),
        "rss_growth_mb": round((flooded.peak - rest.peak) / mb, 1),
        # One upload's peak growth, alone: its decode, the detector's and descriptor's
        # working memory. The gate promises no more than its slots of these at once (with
        # half again for the allocator); without it, the flood's users would each hold one.
        "rss_one_upload_mb": round(per_upload / mb, 1),
        "rss_bound_mb": round(1.5 * gate["slots"] * per_upload / mb, 1),
        "rss_unbounded_mb": round(flood_users * per_upload / mb, 1),
        # The same for the largest upload admitted (max_image_pixels), scaled by pixels.
        "rss_one_upload_at_max_pixels_mb": round(
            per_upload * gate["max_decoded_bytes"] / (3 * FLOOD_SIZE[0] * FLOOD_SIZE[1]) / mb
        ),
        "id_p99_ms_at_rest": at_rest["p99_ms"],
        "id_p99_ms_under_flood": ids["p99_ms"],
        "id_p50_ms_at_rest": at_rest["p50_ms"],
        "id_p50_ms_under_flood": ids["p50_ms"],
        "id_requests_under_flood": ids["requests"],
        "id_failures_under_flood": ids["failures"],
    }


def wait_until_serving(url: str, process: subprocess.Popen, log: Path, timeout_s: float) -> dict:
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"lakesight serve exited {process.returncode}: "
                               f"{log.read_text()[-2000:]}")  # fmt: skip
        try:
            with urllib.request.urlopen(f"{url}/v1/health", timeout=5) as response:
                return json.load(response)
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"lakesight serve did not answer within {timeout_s:.0f}s; see {log}")


def recommendation_users(served, rng, known: int = 900, unknown: int = 100) -> list[str]:
    """Users to ask recommendations for: up to ``known`` of the day's, and ``unknown`` it
    has never seen (answered with the popular fallback), as a site's traffic mixes them."""
    users = pd.unique(served.user_ids) if len(served.user_ids) else []
    picked = [str(u) for u in rng.choice(users, min(known, len(users)), replace=False)]
    return picked + [f"U-bench-unseen-{k:04d}" for k in range(unknown)]


def bench_serve(settings: Settings, *, synthetic: int = 1_000_000, users: int = 8,
                seconds: int = 20, upload_users: int = 2, upload_seconds: int = 10,
                queries: int = 500, flood_users: int = 16, flood_seconds: int = 10,
                steps: Steps | None = None) -> dict:  # fmt: skip
    from lakesight.lake import filesystem_for
    from lakesight.serve.catalogue import SYNTHETIC_DAY, Catalogues, process_rss

    steps = steps or Steps("bench serve", quiet=True)
    rng = np.random.default_rng(7)
    with steps.step(f"catalogue: the lake's published days + {synthetic:,} synthetic codes"):
        rss_before = process_rss()
        catalogues = Catalogues(settings, synthetic=synthetic)
        rss_growth = process_rss() - rss_before
    images = catalogues.images
    real = [d.dt for d in images.days if d.dt != SYNTHETIC_DAY]
    if not real:
        raise ConfigError(
            f"bench serve: no published features/images day under {settings.root} "
            "(run `lakesight demo` or image_features for a day first)"
        )
    fs = filesystem_for(settings.root, settings)
    real_positions = [i for i in range(len(images)) if images.paths[i] is not None]
    upload_paths = [images.paths[i] for i in real_positions[:20]]
    uploads = [fs.read_bytes(path) for path in upload_paths]
    with steps.step(f"in process: {queries} id queries, {len(uploads)} upload queries"):
        timed = in_process(catalogues, uploads, queries, rng)
    with tempfile.TemporaryDirectory(prefix="lakesight-bench-serve-") as tmp:
        workdir = Path(tmp)
        for i, data in enumerate(uploads):
            (workdir / f"upload_{i:02d}{Path(upload_paths[i]).suffix}").write_bytes(data)
        # Id queries over the whole catalogue: the real day's images and synthetic ones.
        picks = rng.choice(len(images), min(1000, len(images)), replace=False)
        data_file = workdir / "queries.json"
        data_file.write_text(json.dumps({
            "image_ids": [images.image_id(int(i)) for i in picks],
            "uploads": sorted(str(p) for p in workdir.glob("upload_*")),
            "photo_ids": list(catalogues.listings.index.photo_positions)[:1000],
            "flood": [str(flood_image(workdir / "flood.jpg"))] if flood_users else [],
            "user_ids": recommendation_users(catalogues.recommendations, rng),
        }))  # fmt: skip
        port = free_port()
        log = workdir / "serve.log"
        command = [sys.executable, "-m", "lakesight.cli", "serve", "--port", str(port),
                   "--synthetic", str(synthetic), "--refresh-s", "3600"]  # fmt: skip
        with log.open("w") as out, subprocess.Popen(command, stdout=out, stderr=out) as server:
            try:
                host = f"http://127.0.0.1:{port}"
                with steps.step(f"lakesight serve on {host}"):
                    health = wait_until_serving(host, server, log, timeout_s=300)
                runs = {}
                with steps.step(f"locust: id queries, {users} users for {seconds}s"):
                    runs["images_by_id"] = locust_run("ImageIdQueries", host, data_file, users,
                                                      seconds, workdir)  # fmt: skip
                with steps.step(f"locust: upload queries, {upload_users} users for "
                                f"{upload_seconds}s"):  # fmt: skip
                    runs["images_by_upload"] = locust_run("ImageUploadQueries", host, data_file,
                                                          upload_users, upload_seconds, workdir)  # fmt: skip
                if catalogues.listings.photos:
                    with steps.step(f"locust: listing queries, {users} users for {seconds}s"):
                        runs["houses_by_id"] = locust_run("HouseIdQueries", host, data_file,
                                                          users, seconds, workdir)  # fmt: skip
                if catalogues.recommendations.version:
                    with steps.step(f"locust: recommendations, {users} users for {seconds}s"):
                        runs["recommendations"] = locust_run("RecommendationQueries", host,
                                                             data_file, users, seconds, workdir)  # fmt: skip
                if flood_users:
                    with steps.step(f"locust: an upload flood of {flood_users} users beside "
                                    f"{users} id-query users for {flood_seconds}s"):  # fmt: skip
                        runs["upload_flood"] = upload_flood(
                            host, server.pid, data_file, users, flood_users, flood_seconds,
                            workdir, at_rest=runs["images_by_id"])  # fmt: skip
            finally:
                server.terminate()
    return {
        "images": len(images),
        "synthetic": synthetic,
        "real_days": real,
        "code_bits": images.bits,
        "listings": len(catalogues.listings),
        "index_bytes_per_million": health["images"]["bytes_per_million"],
        "rss_growth_per_million_mb": round(rss_growth / len(images) * 1e6 / 2**20, 1),
        "in_process": timed,
        **runs,
        "cpus": os.cpu_count(),
    }
