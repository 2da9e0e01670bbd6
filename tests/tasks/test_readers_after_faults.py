"""What readers see of a day whose commit was cut short between its two renames.

A writer killed there (SIGKILL, a lost node: no ``except`` runs) leaves ``dt=D`` absent
and the last good copy in ``_trash/``. Until the next writer of the day puts it back,
every reader (the next stage, ``lakesight similar``, the explorer and the service) reads
that copy: the day is never missing and never empty.
"""

from __future__ import annotations

import json

import pytest

from lakesight.cli import main as lakesight
from lakesight.image_features import analyze, ingest, publish
from lakesight.image_features.datasets import CURATED_IMAGES, FEATURES
from lakesight.image_features.sample_data import write_images_partition
from lakesight.lake import LocalFileSystem, join, read_manifest
from lakesight.progress import Steps
from tests.support.lakes import scratch_lake

pytestmark = [pytest.mark.spark, pytest.mark.faults]
DT = "2026-03-02"
QUIET = Steps("test", quiet=True)


def cut_short(fs: LocalFileSystem, partition_uri: str) -> None:
    """The state a writer killed between ``dt=D -> _trash/`` and ``staging -> dt=D`` leaves."""
    dataset_uri, name = partition_uri.rsplit("/", 1)
    fs.rename(partition_uri, join(dataset_uri, "_trash", f"{name}.20260303T000000-killed00"))
    assert not fs.exists(partition_uri)


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory):
    with scratch_lake(tmp_path_factory.mktemp("readers")) as (settings, _, _):
        write_images_partition(LocalFileSystem(), settings, DT, n=12, bad=1, seed=11)
        results = [stage.run(spark, settings, DT, steps=QUIET) for stage in (ingest, analyze)]
        results.append(publish.run(spark, settings, DT, steps=QUIET))
        yield settings, results


def test_consumers_read_the_last_good_copy_of_a_cut_short_day(lake, capsys):
    from lakesight.serve.catalogue import Catalogues
    from lakesight_airflow.explorer import image_features as images_view
    from lakesight_airflow.explorer import overview

    settings, (_, _, published) = lake
    fs = LocalFileSystem()
    partition = FEATURES.partition(settings, DT)
    cut_short(fs, partition)
    assert read_manifest(fs, partition).run_id == published.manifest.run_id
    image_id = images_view.image_features(settings, DT)[0]["image_id"].iloc[0]
    capsys.readouterr()
    assert lakesight(["similar", "--dt", DT, "--image-id", image_id, "-k", "3", "--json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert len(answer["results"]) == 3
    overview = {
        (p["stage"].name, p["dt"]) for o in overview.overview(settings) for p in o["partitions"]
    }
    assert ("image_features.publish", DT) in overview
    served = Catalogues(settings).health()["images"]
    assert served["days"] == [DT] and served["images"] == published.manifest.counts["out"]


def test_the_next_stage_reads_it_and_the_next_writer_restores_it(lake, spark):
    settings, (ingested, analyzed, _) = lake
    fs = LocalFileSystem()
    cut_short(fs, CURATED_IMAGES.partition(settings, DT))
    again = analyze.run(spark, settings, DT, steps=QUIET)  # its input, from the copy
    counted = ("in", "out", "quarantined")
    assert [again.manifest.counts[k] for k in counted] == [
        analyzed.manifest.counts[k] for k in counted
    ]
    assert again.manifest.counts["reused"] == analyzed.manifest.counts["out"]  # from the cache
    assert again.manifest.input_fingerprint == analyzed.manifest.input_fingerprint
    rerun = ingest.run(spark, settings, DT, steps=QUIET)  # the day's writer puts it back
    assert rerun.manifest.counts == ingested.manifest.counts
    assert fs.exists(join(CURATED_IMAGES.partition(settings, DT), "_SUCCESS"))
    assert fs.list_dirs(join(CURATED_IMAGES.uri(settings), "_trash")) == []


def test_a_stage_run_by_hand_on_a_day_being_written_fails_in_one_line(lake):
    """`lakesight stage` by hand while a scheduled run holds the day: one line naming it."""
    import os
    import subprocess
    import sys

    from lakesight.lake import Lease, LeasePolicy

    settings, _ = lake
    holder = Lease(LocalFileSystem(), CURATED_IMAGES.uri(settings), f"dt={DT}",
                   "scheduled__2026-03-03T00:00:00+00:00", LeasePolicy(ttl_s=300))  # fmt: skip
    with holder:
        env = {**os.environ, "LAKESIGHT_LEASE_WAIT_S": "0", "LAKESIGHT_SPARK_MASTER": "local[1]"}
        proc = subprocess.run(
            [sys.executable, "-m", "lakesight.cli", "stage", "image_features.ingest", "--dt", DT],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("lakesight: error:")]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    assert "being written by run scheduled__2026-03-03T00:00:00+00:00" in errors[0]
    assert "LAKESIGHT_LEASE_WAIT_S=0" in errors[0]
