"""The catalogue: every published day of both similarity tables, in memory, for the service.

``features/images`` becomes one :class:`ImageCatalogue` (codes, embeddings, ids, paths
and the day of every image, over all loaded days), ranked by the same
:func:`~lakesight.image_features.similar.nearest_images` as ``lakesight similar``.
``features/listings`` becomes one :class:`ListingCatalogue` around the
:class:`~lakesight.house_similarity.similar.ListingIndex` of ``lakesight houses similar``.

A catalogue is immutable once built. :class:`Catalogues` watches the lake and, when a
day is committed (its ``_SUCCESS`` appears) or re-committed (a new run id in its
manifest), builds the next catalogue beside the one being served and swaps the
reference in one assignment: queries never stop and never see a half-loaded index.
Days described by other models than the newest day's are left out (their codes are
not comparable) and health says why. A day that cannot be read (its manifest or a data
file unreadable or corrupt) does not stop the refresh: it is left out with a warning, or
kept as it was last loaded if it was, the other days are served, and health says
``"status": "degraded"`` with the dataset, the day and what failed, until a refresh
reads it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from lakesight.config import Settings

log = logging.getLogger("lakesight.serve")

SYNTHETIC_DAY = "synthetic"
IMAGE_COLUMNS = ["image_id", "path", "code", "code_bits", "embedding"]


@dataclass(frozen=True)
class DayVersion:
    """What identifies a committed day's content: a rerun commits a new run id."""

    dt: str
    run_id: str
    models: tuple[str, ...]
    # Which file of each model ran (fp32 or int8, lakesight.models.catalog.fastest_variant):
    # a query is described as the day was.
    variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageDay:
    """One day of ``features/images`` as arrays."""

    version: DayVersion
    ids: np.ndarray  # (n,) S32: the raw sha256 of each image
    paths: list  # (n,) str, or None for synthetic rows
    codes: np.ndarray  # (n, bytes) uint8
    bits: int
    embeddings: np.ndarray  # (n, dim) float32, L2-normalised

    def __len__(self) -> int:
        return len(self.ids)


def image_day_from_table(version: DayVersion, table) -> ImageDay:
    """A ``features/images`` partition (pyarrow Table of :data:`IMAGE_COLUMNS`, or None for a
    day without data files) as arrays."""
    if table is None:
        return ImageDay(version, np.zeros(0, "S32"), [], np.zeros((0, 8), np.uint8), 0,
                        np.zeros((0, 0), np.float32))  # fmt: skip
    n = table.num_rows
    codes = np.frombuffer(b"".join(table["code"].to_pylist()), np.uint8).reshape(n, -1)
    embedding = table["embedding"].combine_chunks()
    embeddings = embedding.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    ids = np.array([bytes.fromhex(i) for i in table["image_id"].to_pylist()], dtype="S32")
    bits = int(table["code_bits"][0].as_py()) if n else 0
    return ImageDay(version, ids, table["path"].to_pylist(), codes, bits,
                    embeddings.reshape(n, -1) if n else np.zeros((0, 0), np.float32))  # fmt: skip


def synthetic_images(n: int, bits: int, dim: int, seed: int = 0) -> ImageDay:
    """``n`` random codes and unit embeddings with random ids: the load test's catalogue of a
    million images, which no day of generated pictures could publish in a CI minute."""
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((n, dim), dtype=np.float32)
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    return ImageDay(
        DayVersion(SYNTHETIC_DAY, f"seed-{seed}", ()),
        np.frombuffer(rng.bytes(32 * n), dtype="S32").copy(),
        [None] * n,
        rng.integers(0, 256, (n, bits // 8), dtype=np.uint8),
        bits,
        embeddings,
    )


def process_rss() -> int:
    """This process's resident memory, in bytes."""
    import psutil

    return int(psutil.Process().memory_info().rss)


class ImageCatalogue:
    """Every loaded image: Hamming top-k over all codes, cosine tie-break, ids found by binary
    search (no dictionary of a million strings). Safe for concurrent queries: each one
    borrows one of ``searchers`` scratch buffers over the shared codes."""

    def __init__(self, days: list[ImageDay], searchers: int = 2) -> None:
        from lakesight.models.description.hashing import HammingIndex, as_words

        days = [d for d in days if len(d)]
        self.days = [d.version for d in days]
        self.bits = days[0].bits if days else 64
        self.ids = np.concatenate([d.ids for d in days]) if days else np.zeros(0, "S32")
        self.paths = [p for d in days for p in d.paths]
        codes = np.concatenate([d.codes for d in days]) if days else np.zeros((0, 8), np.uint8)
        self.words = as_words(codes)
        self.embeddings = (
            np.concatenate([d.embeddings for d in days]) if days else np.zeros((0, 1), np.float32)
        )
        self.day_sizes = [len(d) for d in days]
        self.day_ends = np.cumsum(self.day_sizes)
        self.by_id = np.argsort(self.ids, kind="stable")
        self.sorted_ids = self.ids[self.by_id]
        self._searchers: queue.Queue = queue.Queue()
        for _ in range(max(1, searchers)):
            self._searchers.put(HammingIndex(self.words, self.bits))

    def __len__(self) -> int:
        return len(self.ids)

    def day_views(self) -> list[ImageDay]:
        """The loaded days as views into this catalogue's arrays (no copies): what the next
        catalogue is built from, so a day is held in memory once."""
        views, start = [], 0
        codes = self.words.view(np.uint8)[:, : self.bits // 8]
        for version, end in zip(self.days, self.day_ends, strict=True):
            views.append(ImageDay(version, self.ids[start:end], self.paths[start:end],
                                  codes[start:end], self.bits, self.embeddings[start:end]))  # fmt: skip
            start = end
        return views

    @contextlib.contextmanager
    def searcher(self) -> Iterator:
        index = self._searchers.get()
        try:
            yield index
        finally:
            self._searchers.put(index)

    def positions_of(self, image_id: str) -> np.ndarray:
        """Every position holding ``image_id`` (an image published on several days), in order."""
        key = np.array([bytes.fromhex(image_id)], dtype="S32")
        lo, hi = (
            np.searchsorted(self.sorted_ids, key[0], "left"),
            np.searchsorted(self.sorted_ids, key[0], "right"),
        )
        return np.sort(self.by_id[lo:hi])

    def dt_of(self, position: int) -> str:
        return self.days[int(np.searchsorted(self.day_ends, position, "right"))].dt

    def image_id(self, position: int) -> str:
        # numpy drops an S32 value's trailing zero bytes: put them back (1 id in 256 has one).
        return self.ids[position].ljust(32, b"\0").hex()

    def describe(self, position: int) -> dict:
        return {
            "image_id": self.image_id(position),
            "path": self.paths[position],
            "dt": self.dt_of(position),
        }

    def query_of(self, position: int):
        from lakesight.image_features.similar import Query

        code = np.ascontiguousarray(self.words[position]).view(np.uint8)[: self.bits // 8]
        return Query(code.tobytes(), self.embeddings[position], self.describe(position))

    def nearest(self, query, k: int, exclude: np.ndarray | None = None) -> list[dict]:
        """The top ``k`` images for ``query``: the ranking of ``lakesight similar``."""
        from lakesight.image_features.similar import nearest_images

        with self.searcher() as index:
            order, distance, score = nearest_images(index, self.embeddings, query, k, exclude)
        return [
            {**self.describe(int(i)), "distance": int(d), "score": round(float(s), 6)}
            for i, d, s in zip(order, distance, score, strict=True)
        ]

    @property
    def models(self) -> tuple[str, ...]:
        """The models that described the real days (the newest day's: all agree)."""
        real = [d for d in self.days if d.dt != SYNTHETIC_DAY]
        return real[-1].models if real else ()

    @property
    def detector_variant(self) -> str:
        """The detector file (fp32 or int8) that described the newest real day."""
        real = [d for d in self.days if d.dt != SYNTHETIC_DAY and d.variants]
        return real[-1].variants[0] if real else "fp32"

    @property
    def memory_bytes(self) -> int:
        """What the index holds: codes, embeddings, ids and the id order (paths excluded:
        they are the day's own strings, about 100 bytes an image on a real lake)."""
        return int(self.words.nbytes + self.embeddings.nbytes + self.ids.nbytes
                   + self.by_id.nbytes + self.sorted_ids.nbytes)  # fmt: skip


class ListingCatalogue:
    """Every loaded listing's photos: the house ranking over all days. A listing published
    on several days is answered from its latest day (re-listed houses get new photos)."""

    def __init__(self, days: list[tuple[DayVersion, pd.DataFrame]]) -> None:
        from lakesight.house_similarity.similar import ListingIndex

        self.days = [version for version, table in days if len(table)]
        frames = [table.assign(dt=version.dt) for version, table in days if len(table)]
        rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
            columns=["listing_id", "photo_id", "path", "exterior", "exterior_score", "style",
                     "style_score", "stories", "stories_score", "embedding", "dt"]
        )  # fmt: skip
        latest = rows.groupby("listing_id")["dt"].transform("max")
        self.index = ListingIndex(rows[rows["dt"] == latest])

    def __len__(self) -> int:
        return len(self.index)

    @property
    def photos(self) -> int:
        return len(self.index.rows)

    @property
    def models(self) -> tuple[str, ...]:
        return self.days[-1].models if self.days else ()

    @property
    def memory_bytes(self) -> int:
        return int(self.index.embeddings.nbytes)


RECOMMENDATION_COLUMNS = ["user_id", "rank", "listing_id", "score", "source"]


class RecommendationCatalogue:
    """The newest committed day of ``features/recommendations``: each user's ranked rows,
    found by binary search over the sorted user ids, and the day's popular listings (its
    manifest's) for users it has no row for. Recommendations are made afresh each day, so
    one day is the whole answer."""

    def __init__(self, version: DayVersion | None = None, table: pd.DataFrame | None = None,
                 popular: list | None = None) -> None:  # fmt: skip
        table = table if table is not None else pd.DataFrame(columns=RECOMMENDATION_COLUMNS)
        table = table.sort_values(["user_id", "rank"], kind="stable").reset_index(drop=True)
        self.version = version
        self.user_ids = table["user_id"].to_numpy(dtype=object)
        self.rows = table[["rank", "listing_id", "score", "source"]]
        self.popular = [(str(x), int(n)) for x, n in (popular or [])]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def users(self) -> int:
        return len(pd.unique(self.user_ids)) if len(self.user_ids) else 0

    def of(self, user_id: str) -> list[dict]:
        """The user's rows, best first (empty for a user the day has no row for)."""
        start = int(np.searchsorted(self.user_ids, user_id, side="left"))
        end = int(np.searchsorted(self.user_ids, user_id, side="right"))
        return self.rows.iloc[start:end].to_dict("records")


@dataclass
class Catalogues:
    """The served catalogues and what keeps them current.

    ``first``/``last`` bound the days loaded (None: all); ``synthetic`` adds that many
    random images (the load test's million). :meth:`refresh` rebuilds whatever changed in
    the lake and swaps it in; :meth:`start` does so every ``interval_s`` seconds.
    """

    settings: Settings
    first: str | None = None
    last: str | None = None
    synthetic: int = 0
    searchers: int = 2
    # (detector, descriptor) whose days to serve; None: the newest day's.
    image_models: tuple[str, ...] | None = None
    images: ImageCatalogue = field(init=False)
    listings: ListingCatalogue = field(init=False)
    recommendations: RecommendationCatalogue = field(init=False)
    skipped: dict = field(default_factory=dict)
    unreadable: dict = field(default_factory=dict)
    refreshes: int = 0
    refreshed_at: str = ""
    last_error: str | None = None

    def __post_init__(self) -> None:
        self._image_days: dict[str, ImageDay] = {}
        # features/images_live: the days the daily run has not sealed yet, each of all its
        # committed micro-batches (DayVersion.run_id names them), checked every live tick.
        self._live_days: dict[str, ImageDay] = {}
        self._listing_days: dict[str, tuple[DayVersion, pd.DataFrame]] = {}
        self._synthetic: ImageDay | None = None
        self._failing: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.images = ImageCatalogue([], self.searchers)
        self.listings = ListingCatalogue([])
        self.recommendations = RecommendationCatalogue()
        self.refresh()

    # ------------------------------------------------------------------ the lake
    def _unreadable(self, kind: str, dt: str, what: str, err: Exception) -> None:
        reason = f"{what}: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        self._failing[f"{kind}/{dt}"] = reason
        log.warning("%s day %s left out of this refresh: %s", kind, dt, reason)

    def _committed(self, kind: str, dataset) -> dict[str, DayVersion]:
        from lakesight.lake import filesystem_for, list_partitions, read_manifest

        uri = dataset.uri(self.settings)
        fs = filesystem_for(uri, self.settings)
        versions = {}
        for dt in list_partitions(fs, uri):
            if (self.first and dt < self.first) or (self.last and dt > self.last):
                continue
            try:
                manifest = read_manifest(fs, dataset.partition(self.settings, dt))
            except Exception as err:  # one bad day must not hide the others
                self._unreadable(kind, dt, "manifest", err)
                continue
            if manifest is not None:  # re-committed between the listing and the read
                versions[dt] = DayVersion(
                    dt, manifest.run_id, tuple(m["name"] for m in manifest.models),
                    tuple(m.get("variant", "fp32") for m in manifest.models),
                )  # fmt: skip
        return versions

    def _comparable(self, kind: str, versions: dict[str, DayVersion],
                    wanted: tuple[str, ...] | None = None) -> dict[str, DayVersion]:  # fmt: skip
        """The days described by the ``wanted`` models (default: the newest day's); the
        others go to ``skipped``."""
        if not versions:
            return {}
        models = wanted or versions[max(versions)].models
        served = "the served" if wanted else "the newest day's"
        for dt, version in versions.items():
            if version.models != models:
                self.skipped[f"{kind}/{dt}"] = (
                    f"models {', '.join(version.models)} differ from {served} "
                    f"{', '.join(models)}: codes are not comparable"
                )
        return {dt: v for dt, v in versions.items() if v.models == models}

    def _read(self, dataset, version: DayVersion, columns: list[str]):
        from lakesight.lake import filesystem_for, read_partition_arrow

        partition = dataset.partition(self.settings, version.dt)
        return read_partition_arrow(filesystem_for(partition, self.settings), partition, columns)

    def _load(self, kind: str, wanted: dict[str, DayVersion], current: dict, version_of,
              read) -> dict:  # fmt: skip
        """The days of ``wanted``, each reused from ``current`` when unchanged, else
        ``read(version)``. A day that fails to read keeps its copy in ``current`` (if any)
        and goes to :attr:`unreadable`; so does one whose manifest failed, which
        ``wanted`` lacks."""
        loaded = {}
        for dt in sorted({*wanted, *(d for d in current if f"{kind}/{d}" in self._failing)}):
            old, version = current.get(dt), wanted.get(dt)
            if version is None or (old is not None and version_of(old) == version):
                loaded[dt] = old  # unchanged, or its manifest failed: keep what is served
                continue
            try:
                loaded[dt] = read(version)
            except Exception as err:  # a corrupt data file: this day only
                self._unreadable(kind, dt, "data", err)
                if old is not None:
                    loaded[dt] = old
        for dt in loaded:
            if f"{kind}/{dt}" in self._failing:
                self._failing[f"{kind}/{dt}"] += (
                    f" (serving the copy of run {version_of(loaded[dt]).run_id} loaded before)"
                )
        return loaded

    def refresh(self) -> bool:
        """Load what was committed, re-committed or removed since the last refresh; swap in
        new catalogues if anything changed. Returns whether it did."""
        from lakesight.house_similarity.datasets import FEATURES as LISTINGS
        from lakesight.house_similarity.similar import INDEX_COLUMNS
        from lakesight.image_features.datasets import FEATURES as IMAGES

        # Health reads the last refresh's findings until this one is done.
        self.skipped, self._failing = {}, {}
        images = self._comparable("images", self._committed("images", IMAGES), self.image_models)
        listings = self._comparable("listings", self._committed("listings", LISTINGS))
        changed = False
        served = {dt: d.version for dt, d in self._image_days.items()}
        loaded = self._load("images", images, self._image_days, lambda d: d.version,
                            lambda v: image_day_from_table(v, self._read(IMAGES, v, IMAGE_COLUMNS)))  # fmt: skip
        if {dt: d.version for dt, d in loaded.items()} != served:
            self._image_days = loaded
            changed = True
        changed |= self._load_live(images)
        if self.synthetic and self._synthetic is None:
            real = next(iter(self._image_days.values()), None)
            bits, dim = (real.bits, real.embeddings.shape[1]) if real else (64, 256)
            self._synthetic = synthetic_images(self.synthetic, bits, dim)
            changed = True
        if changed:
            self._swap_images()

        def read_listings(version: DayVersion) -> tuple[DayVersion, pd.DataFrame]:
            table = self._read(LISTINGS, version, INDEX_COLUMNS)
            return version, table.to_pandas() if table is not None else pd.DataFrame()

        served = {dt: v for dt, (v, _) in self._listing_days.items()}
        loaded = self._load("listings", listings, self._listing_days, lambda d: d[0],
                            read_listings)  # fmt: skip
        if {dt: v for dt, (v, _) in loaded.items()} != served:
            self._listing_days = loaded
            self.listings = ListingCatalogue(list(loaded.values()))
            changed = True
        changed |= self._refresh_recommendations()
        self.unreadable = self._failing
        self.refreshes += 1
        self.refreshed_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return changed

    def _swap_images(self) -> None:
        """Build the next image catalogue from the loaded days (daily, live, synthetic) and
        swap it in with one assignment."""
        days = [*self._image_days.values(), *self._live_days.values(),
                *([self._synthetic] if self._synthetic else [])]  # fmt: skip
        self.images = ImageCatalogue(days, self.searchers)
        # Keep the days as views of what is served, not as second copies.
        views = {(day.version.dt, day.version.run_id): day for day in self.images.day_views()}
        self._synthetic = next((v for (dt, _), v in views.items() if dt == SYNTHETIC_DAY), None)
        # (an empty day is not in the catalogue: it stays as it was loaded)
        for loaded in (self._image_days, self._live_days):
            loaded.update({key: views.get((day.version.dt, day.version.run_id), day)
                           for key, day in loaded.items()})  # fmt: skip

    def _load_live(self, daily: dict[str, DayVersion]) -> bool:
        """Load the live days (``features/images_live``) whose batches changed; a day the
        daily run has published is served from there. Returns whether anything changed."""
        from lakesight.image_features.datasets import LIVE
        from lakesight.image_features.live import committed_batches
        from lakesight.lake import filesystem_for, read_manifest, read_partition_arrow

        fs = filesystem_for(LIVE.uri(self.settings), self.settings)
        days = sorted(d[3:] for d in fs.list_dirs(LIVE.uri(self.settings)) if d.startswith("dt="))
        wanted = {}
        for dt in days:
            if dt in daily or (self.first and dt < self.first) or (self.last and dt > self.last):
                continue
            batches = committed_batches(fs, self.settings, dt)
            if batches:
                wanted[dt] = (DayVersion(dt, "live:" + ",".join(b.rsplit("=", 1)[1] for b in batches),
                                         ()), batches)  # fmt: skip
        live = {}
        for dt, (version, batches) in wanted.items():
            old = self._live_days.get(dt)
            if old is not None and old.version.run_id == version.run_id:
                live[dt] = old
                continue
            try:
                models = tuple(m["name"] for m in read_manifest(fs, batches[-1]).models)
                tables = [read_partition_arrow(fs, b, IMAGE_COLUMNS) for b in batches]
                table = pa.concat_tables([t for t in tables if t is not None])
                live[dt] = image_day_from_table(DayVersion(dt, version.run_id, models), table)
            except Exception as err:  # a batch being retired by the seal, a corrupt file
                self._unreadable("images_live", dt, "data", err)
                if old is not None:
                    live[dt] = old
        served = self.images.models
        for dt, day in list(live.items()):
            if served and day.version.models != served:
                self.skipped[f"images_live/{dt}"] = "models differ from the served days'"
                del live[dt]
        changed = {dt: d.version for dt, d in live.items()} != {
            dt: d.version for dt, d in self._live_days.items()
        }
        self._live_days = live
        return changed

    def refresh_live(self) -> bool:
        """The fast tick: only the live days; swap in a new catalogue if a batch came or went."""
        from lakesight.image_features.datasets import FEATURES as IMAGES
        from lakesight.lake import filesystem_for, list_partitions

        daily = set(list_partitions(filesystem_for(IMAGES.uri(self.settings), self.settings),
                                    IMAGES.uri(self.settings)))  # fmt: skip
        if not self._load_live(dict.fromkeys(daily)):
            return False
        self._swap_images()
        return True

    def _refresh_recommendations(self) -> bool:
        """Load the newest committed recommendations day if it is not the one served."""
        from lakesight.lake import filesystem_for, read_manifest
        from lakesight.listing_recs.datasets import RECOMMENDATIONS

        versions = self._committed("recommendations", RECOMMENDATIONS)
        newest = versions[max(versions)] if versions else None
        if newest == self.recommendations.version:
            return False
        try:
            table = self._read(RECOMMENDATIONS, newest, RECOMMENDATION_COLUMNS)
            partition = RECOMMENDATIONS.partition(self.settings, newest.dt)
            manifest = read_manifest(filesystem_for(partition, self.settings), partition)
        except Exception as err:  # keep serving the day loaded before
            self._unreadable("recommendations", newest.dt, "data", err)
            return False
        self.recommendations = RecommendationCatalogue(
            newest, table.to_pandas() if table is not None else None,
            manifest.extra.get("popular", []) if manifest else [],
        )  # fmt: skip
        return True

    # ------------------------------------------------------------------ background refresh
    def start(self, interval_s: float, live_interval_s: float | None = None) -> None:
        """Refresh every ``interval_s``; between, every ``live_interval_s`` (default: the
        same), only the live days, whose listing is small and changes every few seconds."""
        live_s = min(interval_s, live_interval_s or interval_s)

        def loop() -> None:
            next_full = time.monotonic() + interval_s
            while not self._stop.wait(live_s):
                try:
                    if time.monotonic() < next_full:
                        self.refresh_live()
                        continue
                    next_full = time.monotonic() + interval_s
                    if self.refresh():
                        log.info("catalogue refreshed: %d images, %d listings",
                                 len(self.images), len(self.listings))  # fmt: skip
                    self.last_error = None
                except Exception as err:  # keep serving the last good catalogue
                    self.last_error = f"{type(err).__name__}: {err}"
                    log.exception("catalogue refresh failed; still serving the previous one")

        self._thread = threading.Thread(target=loop, name="catalogue-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ health
    def health(self) -> dict:
        images, listings, recommendations = self.images, self.listings, self.recommendations
        real = [d for d in images.days if d.dt != SYNTHETIC_DAY]
        # Read once: the refresh thread replaces these dicts, never edits a served one.
        unreadable, last_error = self.unreadable, self.last_error
        return {
            "status": "degraded" if unreadable or last_error else "ok",
            # "images/2026-10-01": "manifest: ManifestError: unreadable manifest …"
            "unreadable": unreadable,
            "images": {
                "images": len(images),
                "days": [d.dt for d in real if not d.run_id.startswith("live:")],
                # features/images_live: days not sealed yet -> their committed batches
                "live": {d.dt: d.run_id.count(",") + 1 for d in real if d.run_id.startswith("live:")},
                "synthetic": sum(size for day, size in zip(images.days, images.day_sizes,
                                                           strict=True) if day.dt == SYNTHETIC_DAY),
                "code_bits": images.bits,
                "models": list(images.models),
                "memory_bytes": images.memory_bytes,
                "bytes_per_million": round(images.memory_bytes / len(images) * 1e6)
                if len(images) else None,
            },
            "listings": {
                "listings": len(listings),
                "photos": listings.photos,
                "days": [d.dt for d in listings.days],
                "models": list(listings.models),
                "memory_bytes": listings.memory_bytes,
            },
            "recommendations": {
                "day": recommendations.version.dt if recommendations.version else None,
                "users": recommendations.users,
                "rows": len(recommendations),
                "models": list(recommendations.version.models) if recommendations.version else [],
            },
            "skipped": self.skipped,
            "refreshes": self.refreshes,
            "refreshed_at": self.refreshed_at,
            "last_error": last_error,
            "process_rss_bytes": process_rss(),
        }  # fmt: skip
