"""The published contracts as Airflow Assets, one event per committed day.

The stage task that publishes a contract (:data:`CONTRACTS`) declares its Asset as an
outlet, and when the stage has committed day D it emits one asset event with partition
key D, whose ``extra`` says where the day is and what its manifest counted
(``LakesightStageOperator``). A consumer's DAG scheduled with
``PartitionedAssetTimetable(assets=contract_asset("features/images"))`` then runs once per
day published, with ``dag_run.partition_key`` = D, and a backfill that republishes one day
triggers that day's consumers only (``dags/example_images_consumer.py``).

The asset is the contract, not a location: its URI (``x-lakesight://features/images``)
does not depend on where the lake lives, so DAG files are parsed without settings and a
consumer's DAG names the same asset on a laptop and on a cluster. The day's location is
in each event's ``extra["uri"]``.

Consumers scheduled on the asset without a partitioned timetable (``schedule=[asset]``)
are not triggered: Airflow queues those only for events without a partition key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset

if TYPE_CHECKING:
    from lakesight.lake import LakeFileSystem

# Every consumer contract (zone/name, ARCHITECTURE.md "The lake") and the stage that
# commits it.
CONTRACTS = {
    "features/images": "image_features.publish",
    "features/images_live": "image_features.stream",
    "features/listings": "house_similarity.publish",
    "features/recommendations": "listing_recs.recommend",
    "forecasts/radar": "radar_nowcast.forecast",
    "scores/radar": "radar_nowcast.verify",
}


def published_by(stage: str) -> str | None:
    """The contract ``stage`` commits, if it commits one."""
    return next((contract for contract, s in CONTRACTS.items() if s == stage), None)


def contract_asset(contract: str) -> Asset:
    """The Asset of a consumer contract, ``zone/name`` as in :data:`CONTRACTS`."""
    if contract not in CONTRACTS:
        raise ValueError(f"not a lakesight contract: {contract!r} (one of {', '.join(CONTRACTS)})")
    return Asset(name=contract, uri=f"x-lakesight://{contract}", group="lakesight")


def published_day(fs: LakeFileSystem, settings, contract: str, dt: str) -> dict[str, Any]:
    """What a day's asset event carries: the committed partition and its manifest's counts.

    Raises when the day has no committed manifest: an event must never announce a day
    that consumers cannot read."""
    from lakesight.lake import read_manifest

    zone, name = contract.split("/")
    uri = settings.partition_uri(zone, name, dt)
    manifest = read_manifest(fs, uri)
    if manifest is None:
        raise RuntimeError(f"{contract} dt={dt}: no committed manifest at {uri}")
    return {
        "dt": dt,
        "uri": uri,
        "schema_version": manifest.schema_version,
        "counts": {k: manifest.counts[k] for k in ("in", "out", "quarantined")},
        "run_id": manifest.run_id,
    }


def live_batch_keys(fs: LakeFileSystem, settings, contract: str) -> set[tuple[str, str]]:
    """``(dt, batch)`` of every committed micro-batch of a live contract
    (``zone/name/dt=D/batch=B`` with its ``_SUCCESS``): a listing, no manifest read."""
    from lakesight.lake import join

    zone, name = contract.split("/")
    keys = set()
    days = [d[3:] for d in fs.list_dirs(settings.dataset_uri(zone, name)) if d.startswith("dt=")]
    for dt in days:  # a live day has no commit of its own, only its batches'
        day = settings.partition_uri(zone, name, dt)
        keys |= {(dt, b) for b in fs.list_dirs(day)
                 if b.startswith("batch=") and fs.exists(join(day, b, "_SUCCESS"))}  # fmt: skip
    return keys


def live_batches(fs: LakeFileSystem, settings, contract: str,
                 keys: set[tuple[str, str]]) -> list[dict]:  # fmt: skip
    """What a stream task announces of the batches ``keys``: each one's day, name, counts and
    stream ids, from its manifest."""
    from lakesight.lake import join, read_manifest

    zone, name = contract.split("/")
    batches = []
    for dt, batch in sorted(keys):
        manifest = read_manifest(fs, join(settings.partition_uri(zone, name, dt), batch))
        if manifest is not None:  # retired by a seal since it was listed
            counts = {k: manifest.counts[k] for k in ("in", "out", "quarantined")}
            batches.append({"dt": dt, "batch": batch, "counts": counts,
                            "stream": manifest.extra.get("stream", {})})  # fmt: skip
    return batches
