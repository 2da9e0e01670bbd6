"""lakesight settings: one place that reads, validates and documents every knob.

Every setting has an embedded default that runs on one machine with no servers,
and a ``LAKESIGHT_*`` environment variable that moves it to a cluster. The
Airflow connections are resolved by the plugin at task run time: ``spark_default``
becomes spark-submit's master and options, ``webhdfs_default`` the Airflow-side
storage client. The stages never import Airflow.

A wrong value raises :class:`ConfigError` whose message is one line that names
the setting; the CLI prints exactly that line.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

ORIGIN_FILE = "lakesight/_origin.json"


def _archive_origin() -> dict:
    """Where the code was installed, when it runs from a ``--py-files`` zip.

    spark-submit puts the zip ahead of site-packages, so paths derived from
    ``__file__`` would point into the zip; :func:`lakesight.spark.code_archive`
    records the real ones in it instead.
    """
    import zipfile

    archive = Path(__file__).parent.parent
    if archive.is_file() and zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            if ORIGIN_FILE in zipped.namelist():
                return json.loads(zipped.read(ORIGIN_FILE))
    return {}


ORIGIN = _archive_origin()
REPO_ROOT = Path(ORIGIN.get("repo_root") or Path(__file__).resolve().parent.parent)

SUPPORTED_SCHEMES = ("file", "hdfs", "webhdfs")
SUPPORTED_WEBHDFS_AUTH = ("insecure", "kerberos")
SPARK_LOG_LEVELS = ("ALL", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF", "TRACE")


class ConfigError(ValueError):
    """A setting is missing or wrong; ``str(err)`` is one line naming it."""


@dataclass(frozen=True)
class Settings:
    """Resolved lakesight settings. Build with :func:`load_settings`."""

    # Storage root of the lake: file://, hdfs:// or webhdfs:// URI, no trailing slash.
    root: str
    # Model registry root: <registry>/<name>/<version>/{model.onnx,card.json}.
    model_registry: str
    # Spark master used when a stage builds its own session (not under spark-submit).
    spark_master: str = "local[*]"
    # Extra Spark configuration, from LAKESIGHT_SPARK_CONF (a JSON object).
    spark_conf: Mapping[str, str] = field(default_factory=dict)
    # WebHDFS endpoint for Python-side access to an hdfs:// root (Airflow sensors, CLI);
    # None means "derive it from the root" (see lakesight.lake.webhdfs_url_for).
    webhdfs_url: str | None = None
    # User for insecure WebHDFS (ignored with Kerberos).
    webhdfs_user: str | None = None
    # "insecure" (user.name=) or "kerberos" (SPNEGO; needs the `kerberos` extra).
    webhdfs_auth: str = "insecure"
    # Seconds a WebHDFS request may wait to connect and, separately, for each read of
    # its answer; a stalled namenode fails a call instead of hanging it.
    webhdfs_timeout_s: float = 30.0
    # Retries after the first attempt for transient WebHDFS errors (5xx, reset,
    # timeout, a truncated body); 0 makes every call a single attempt.
    webhdfs_retries: int = 4
    # First backoff between WebHDFS attempts, doubled each retry (with jitter).
    webhdfs_backoff_s: float = 0.5
    # Decoded pixels above this are a decompression bomb (checked from the header,
    # before any pixel is decoded). 50 MP covers every phone camera.
    max_image_pixels: int = 50_000_000
    # Files above this many bytes are quarantined unread (a whole file is one Spark cell).
    max_file_bytes: int = 64 * 1024 * 1024
    # Images whose shorter side is below this are too small to detect anything in.
    min_image_side: int = 32
    # Model runtime threads; None = the Spark task's CPUs inside a task, else all cores.
    runtime_threads: int | None = None
    # Local copy of models from a non-local registry (checked against the card's sha256).
    model_cache: str = str(Path.home() / ".cache" / "lakesight" / "models")
    # The models image_features runs, NAME[@V] in the registry (no version: the newest).
    # A run's --detector/--descriptor (or the DAG's params) win over these.
    detector: str = "ssd_scenes"
    descriptor: str = "deepbit_scenes"
    # Spark's log level for stages (Spark's own default, INFO, floods task logs).
    spark_log_level: str = "WARN"
    # Minutes between radar frames (HKO-7: 6); frames are named HHMM at multiples of it.
    radar_cadence_min: int = 6
    # A writer's lease on (dataset, dt) lives this long without renewal (renewed every
    # third of it), so a killed writer holds a day at most this long (lakesight.lake.Lease).
    lease_ttl_s: float = 120.0
    # How long a second writer of the same day waits for the first; 0 fails fast.
    lease_wait_s: float = 600.0
    # The file a producer writes last into a raw drop (dt=D/) to say the day is whole;
    # the DAGs' sensors wait for it when a producer writes one.
    drop_marker: str = "_SUCCESS"
    # Without that marker, a raw drop is whole once nothing in it was added or changed
    # for this many minutes and no file is still in flight (0: as soon as none is).
    drop_quiet_min: float = 10.0
    # The service decodes and describes at most this many uploads at once (each may
    # decode to max_image_pixels x 3 bytes and runs the models), so memory stays bounded.
    serve_max_uploads: int = 2
    # Uploads that may wait for one of those slots; past them the service answers 503
    # with Retry-After. Id queries never wait here.
    serve_upload_queue: int = 4

    def dataset_uri(self, zone: str, dataset: str) -> str:
        """URI of a dataset, e.g. ``dataset_uri("raw", "images")``."""
        return f"{self.root}/{zone}/{dataset}"

    def partition_uri(self, zone: str, dataset: str, dt: str) -> str:
        """URI of one date partition of a dataset."""
        return f"{self.dataset_uri(zone, dataset)}/dt={dt}"

    def masked(self) -> dict[str, object]:
        """Settings as a dict for display, with credentials in URIs masked."""
        out: dict[str, object] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, str) and "@" in value and "://" in value:
                scheme, rest = value.split("://", 1)
                value = f"{scheme}://***@{rest.split('@', 1)[1]}"
            out[name] = dict(value) if isinstance(value, Mapping) else value
        return out


def default_root() -> str:
    """``<repo>/var/lake`` in a source checkout, else ``~/.lakesight/lake``."""
    if (REPO_ROOT / "pyproject.toml").exists():
        return (REPO_ROOT / "var" / "lake").as_uri()
    return (Path.home() / ".lakesight" / "lake").as_uri()


def default_model_registry() -> str:
    """The registry shipped inside the package; at scale, point it at hdfs://.../models."""
    if ORIGIN.get("model_registry"):
        return ORIGIN["model_registry"]
    import lakesight.models

    return (Path(lakesight.models.__file__).resolve().parent / "registry").as_uri()


def normalise_uri(value: str, setting: str) -> str:
    """Validate a storage URI and return it without a trailing slash.

    A bare absolute path is accepted as ``file://``; relative paths are not,
    because Spark executors and Airflow workers do not share a working directory.
    """
    value = value.strip()
    if not value:
        raise ConfigError(f"{setting}: empty; expected a file://, hdfs:// or webhdfs:// URI")
    if value.startswith("/"):
        value = Path(value).as_uri()
    parsed = urlparse(value)
    if parsed.scheme not in SUPPORTED_SCHEMES:
        raise ConfigError(
            f"{setting}: unknown URI scheme {parsed.scheme or '(none)'!r} in {value!r}; "
            f"expected one of {', '.join(s + '://' for s in SUPPORTED_SCHEMES)}"
        )
    if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
        raise ConfigError(f"{setting}: file:// URI must be absolute (file:///path), got {value!r}")
    if parsed.scheme in ("hdfs", "webhdfs") and not parsed.netloc:
        raise ConfigError(f"{setting}: {parsed.scheme}:// URI needs a host, got {value!r}")
    if not parsed.path.startswith("/"):
        raise ConfigError(f"{setting}: URI needs an absolute path, got {value!r}")
    return value.rstrip("/") if parsed.path != "/" else value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    """A positive integer setting (``default`` when unset; 0 as default means "unset")."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError as err:
        raise ConfigError(f"{name}: expected a positive integer, got {raw!r}") from err
    if value <= 0:
        raise ConfigError(f"{name}: expected a positive integer, got {raw!r}")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number >= 0 (``default`` when unset)."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigError(f"{name}: expected a whole number >= 0, got {raw!r}")
    return value


def _seconds(env: Mapping[str, str], name: str, default: float, *, zero_ok: bool = False) -> float:
    """A duration in seconds (``default`` when unset); positive, or also 0 if ``zero_ok``."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value > 0 or (zero_ok and value == 0)):
        kind = "a number of seconds >= 0" if zero_ok else "a positive number of seconds"
        raise ConfigError(f"{name}: expected {kind}, got {raw!r}")
    return value


def _spark_master(raw: str) -> str:
    master = raw.strip()
    known = ("local", "local[", "local-cluster[", "spark://", "yarn", "k8s://", "mesos://")
    if not master.startswith(known):
        raise ConfigError(
            f"LAKESIGHT_SPARK_MASTER: unrecognised master {raw!r}; expected local[*], "
            "local-cluster[N,C,M], spark://host:port, yarn or k8s://https://host:port"
        )
    return master


def _spark_conf(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        conf = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ConfigError(f"LAKESIGHT_SPARK_CONF: not valid JSON ({err.msg})") from err
    if not isinstance(conf, dict) or not all(isinstance(k, str) for k in conf):
        raise ConfigError('LAKESIGHT_SPARK_CONF: expected a JSON object like {"spark.x": "y"}')
    return {k: str(v) for k, v in conf.items()}


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    auth = env.get("LAKESIGHT_WEBHDFS_AUTH", "insecure").strip().lower()
    if auth not in SUPPORTED_WEBHDFS_AUTH:
        raise ConfigError(
            f"LAKESIGHT_WEBHDFS_AUTH: expected one of {', '.join(SUPPORTED_WEBHDFS_AUTH)}, got {auth!r}"
        )
    webhdfs_url = env.get("LAKESIGHT_WEBHDFS_URL") or None
    if webhdfs_url and urlparse(webhdfs_url).scheme not in ("http", "https"):
        raise ConfigError(
            f"LAKESIGHT_WEBHDFS_URL: expected http(s)://namenode:port, got {webhdfs_url!r}"
        )
    return Settings(
        root=normalise_uri(env.get("LAKESIGHT_ROOT") or default_root(), "LAKESIGHT_ROOT"),
        model_registry=normalise_uri(
            env.get("LAKESIGHT_MODEL_REGISTRY") or default_model_registry(),
            "LAKESIGHT_MODEL_REGISTRY",
        ),
        spark_master=_spark_master(env.get("LAKESIGHT_SPARK_MASTER") or "local[*]"),
        spark_conf=_spark_conf(env.get("LAKESIGHT_SPARK_CONF")),
        webhdfs_url=webhdfs_url.rstrip("/") if webhdfs_url else None,
        webhdfs_user=env.get("LAKESIGHT_WEBHDFS_USER") or None,
        webhdfs_auth=auth,
        webhdfs_timeout_s=_webhdfs_timeout(env),
        webhdfs_retries=_count(env, "LAKESIGHT_WEBHDFS_RETRIES", 4),
        webhdfs_backoff_s=_seconds(env, "LAKESIGHT_WEBHDFS_BACKOFF_S", 0.5, zero_ok=True),
        max_image_pixels=_positive_int(env, "LAKESIGHT_MAX_IMAGE_PIXELS", 50_000_000),
        max_file_bytes=_positive_int(env, "LAKESIGHT_MAX_FILE_BYTES", 64 * 1024 * 1024),
        min_image_side=_positive_int(env, "LAKESIGHT_MIN_IMAGE_SIDE", 32),
        runtime_threads=_positive_int(env, "LAKESIGHT_RUNTIME_THREADS", 0) or None,
        model_cache=env.get("LAKESIGHT_MODEL_CACHE")
        or str(Path.home() / ".cache" / "lakesight" / "models"),
        detector=model_ref(env.get("LAKESIGHT_DETECTOR") or "ssd_scenes", "LAKESIGHT_DETECTOR"),
        descriptor=model_ref(
            env.get("LAKESIGHT_DESCRIPTOR") or "deepbit_scenes", "LAKESIGHT_DESCRIPTOR"
        ),
        spark_log_level=_log_level(env.get("LAKESIGHT_SPARK_LOG_LEVEL") or "WARN"),
        radar_cadence_min=_radar_cadence(env),
        lease_ttl_s=_seconds(env, "LAKESIGHT_LEASE_TTL_S", 120.0),
        lease_wait_s=_seconds(env, "LAKESIGHT_LEASE_WAIT_S", 600.0, zero_ok=True),
        drop_marker=_file_name(env, "LAKESIGHT_DROP_MARKER", "_SUCCESS"),
        drop_quiet_min=_quiet_minutes(env.get("LAKESIGHT_DROP_QUIET_MIN")),
        serve_max_uploads=_positive_int(env, "LAKESIGHT_SERVE_MAX_UPLOADS", 2),
        serve_upload_queue=_count(env, "LAKESIGHT_SERVE_UPLOAD_QUEUE", 4),
    )


MODEL_REF = re.compile(r"[a-z][a-z0-9_]*(@[1-9][0-9]*)?")


def model_ref(raw: str, setting: str) -> str:
    """A registry reference ``NAME[@V]``, as ``lakesight models`` names models."""
    value = raw.strip()
    if not MODEL_REF.fullmatch(value):
        raise ConfigError(
            f"{setting}: expected NAME or NAME@VERSION (e.g. ssd_scenes@1), got {raw!r}"
        )
    return value


def _webhdfs_timeout(env: Mapping[str, str]) -> float:
    value = _seconds(env, "LAKESIGHT_WEBHDFS_TIMEOUT_S", 30.0)
    if value == float("inf"):  # "wait forever" is the hang this setting exists to prevent
        raise ConfigError(
            f"LAKESIGHT_WEBHDFS_TIMEOUT_S: expected a finite number of seconds, "
            f"got {env['LAKESIGHT_WEBHDFS_TIMEOUT_S']!r}"
        )
    return value


def _file_name(env: Mapping[str, str], name: str, default: str) -> str:
    """A bare file name (no folder), ``default`` when unset."""
    raw = (env.get(name) or "").strip() or default
    if "/" in raw or "\\" in raw or raw in (".", ".."):
        raise ConfigError(f"{name}: expected a file name without a folder, got {raw!r}")
    return raw


def _quiet_minutes(raw: str | None) -> float:
    if raw is None or raw.strip() == "":
        return 10.0
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value >= 0:  # NaN fails too
        raise ConfigError(f"LAKESIGHT_DROP_QUIET_MIN: expected minutes >= 0, got {raw!r}")
    return value


def _radar_cadence(env: Mapping[str, str]) -> int:
    cadence = _positive_int(env, "LAKESIGHT_RADAR_CADENCE_MIN", 6)
    # Frames are named by their time of day: a cadence must tile the day exactly.
    if cadence > 60 or 1440 % cadence:
        raise ConfigError(
            f"LAKESIGHT_RADAR_CADENCE_MIN: expected a divisor of 1440 up to 60, got {cadence}"
        )
    return cadence


def _log_level(raw: str) -> str:
    level = raw.strip().upper()
    if level not in SPARK_LOG_LEVELS:
        raise ConfigError(
            f"LAKESIGHT_SPARK_LOG_LEVEL: expected one of {', '.join(SPARK_LOG_LEVELS)}, got {raw!r}"
        )
    return level


def validate_dt(dt: str, setting: str = "--dt") -> str:
    """Check a partition date is a real ``YYYY-MM-DD``; return it unchanged."""
    from datetime import date

    try:
        ok = date.fromisoformat(dt).isoformat() == dt
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(f"{setting}: expected a date YYYY-MM-DD, got {dt!r}")
    return dt


def scratch_settings(workdir: str | None, name: str) -> Settings:
    """The settings with the lake at ``workdir`` (default ``var/<name>``): where eval and bench
    generate their data, away from the user's lake."""
    root = Path(workdir) if workdir else REPO_ROOT / "var" / name
    root.mkdir(parents=True, exist_ok=True)
    return replace(load_settings(), root=root.resolve().as_uri())
