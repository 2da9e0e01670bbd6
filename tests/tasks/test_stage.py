"""The stage framework itself (lakesight.stage): declarations, intervals, summaries, the
counting every stage shares, its input check, its commit, and its promotion step."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from lakesight.config import ConfigError, load_settings
from lakesight.stage import (
    DAY_MINUTES,
    Dataset,
    Interval,
    Stage,
    StageError,
    Tally,
    commit_stage,
    committed_input,
    format_summary,
    parse_interval,
    promote_if_better,
    stage_module,
    stage_modules,
    tally,
)

TASKS = Path(__file__).resolve().parents[2] / "tasks"
MAX_RUN_LINES = 60  # a driver reads as a story: check the input, compute, commit

UPSTREAM = Stage("testing.upstream", output=Dataset("curated", "things"), label="curated",
                 noun="things", verb="curated", quarantine=Dataset("quarantine", "things"))  # fmt: skip
DOWNSTREAM = Stage("testing.downstream", output=Dataset("features", "things"), label="features",
                   noun="things", verb="published")  # fmt: skip


def run_functions() -> list[tuple[str, int]]:
    """(``file:line``, length in lines) of every ``run`` function in a pipeline module."""
    found = []
    for path in sorted(TASKS.glob("*/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.name == "run":
                length = node.end_lineno - node.lineno + 1  # decorators aside
                found.append((f"{path.relative_to(TASKS)}:{node.lineno}", length))
    return found


@pytest.mark.unit
def test_every_run_in_a_pipeline_has_at_most_60_lines():
    runs = run_functions()
    assert len(runs) >= 15, runs  # every stage of the four pipelines, and the service's
    too_long = [(where, n) for where, n in runs if n > MAX_RUN_LINES]
    assert not too_long, f"run() over {MAX_RUN_LINES} lines: {too_long}"


@pytest.mark.unit
def test_every_stage_module_declares_its_stage_run_and_main():
    modules = stage_modules()
    assert {name.split(".")[0] for name in modules} == {
        "image_features", "radar_nowcast", "house_similarity", "listing_recs",
    }  # fmt: skip
    for name in modules:
        module = stage_module(name)
        assert module.STAGE.name == name
        assert callable(module.run) and callable(module.main)
        assert module.STAGE.output.zone in {"curated", "features", "forecasts", "scores"}
    with pytest.raises(ConfigError, match=r"unknown stage 'image_features\.nope'"):
        stage_module("image_features.nope")


@pytest.mark.unit
def test_intervals_take_clock_times_and_iso_timestamps_clipped_to_the_day():
    assert parse_interval("2026-03-02", None, None) == Interval(0, DAY_MINUTES)
    assert parse_interval("2026-03-02", "06:30", "07:00") == Interval(390, 420)
    # A DAG's "the hour before" may start the day before: clipped to the day.
    late = parse_interval("2026-03-02", "2026-03-01T23:30:00+00:00", "2026-03-02T00:30:00Z")
    assert late == Interval(0, 30) and 29 in late and 30 not in late
    assert Interval(0, 30).to_dict() == {"start": "00:00", "end": "00:30"}
    for start, end, message in [
        ("25:00", None, "--start: expected HH:MM"),
        ("06:00", "05:00", "empty interval"),
        ("06:00:30", None, "expected HH:MM"),
        ("2026-03-02T06:00:30", None, "not a whole minute"),
    ]:
        with pytest.raises(ConfigError, match=message) as raised:
            parse_interval("2026-03-02", start, end)
        assert "\n" not in str(raised.value)


@pytest.mark.unit
def test_a_summary_reads_counts_then_one_line_per_output():
    summary = {
        "dt": "2026-03-02", "models": ["ssd@1", "deepbit@2"],
        "counts": {"in": 10, "out": 7, "quarantined": 3, "reused": 4},
        "by_reason": {"corrupt": 2, "duplicate": 1},
        "outputs": {"curated": "file:///l/curated/things/dt=2026-03-02",
                    "quarantine": "file:///l/quarantine/things/dt=2026-03-02"},
    }  # fmt: skip
    lines = format_summary(summary, UPSTREAM).splitlines()
    assert lines[0] == (
        "upstream dt=2026-03-02 with ssd@1 + deepbit@2: 7 of 10 things curated (4 reused), "
        "3 quarantined"
    )
    assert lines[1].split() == ["curated:", "file:///l/curated/things/dt=2026-03-02"]
    assert lines[2].endswith("(corrupt 2, duplicate 1)")


@pytest.mark.unit
def test_a_tally_counts_every_row_in_or_out():
    counted = Tally(rows=10, quarantined=3, fingerprint="sum60:10:ab")
    assert counted.counts() == {"in": 10, "out": 7, "quarantined": 3}
    assert counted.counts(reused=4)["reused"] == 4


ROWS = [("a", None, None), ("b", "corrupt", "bad bytes"), ("c", None, None)]
SCHEMA = "path string, reason string, detail string"


@pytest.mark.spark
def test_tally_counts_rejects_and_fingerprints_in_one_job(spark):
    from pyspark.sql import functions as F

    from lakesight.spark import fingerprint_of

    rows = spark.createDataFrame(ROWS, SCHEMA)
    counted = tally(rows, ("path",), longest=F.max(F.length("path")))
    assert (counted.rows, counted.quarantined, counted.values) == (3, 1, {"longest": 1})
    assert counted.fingerprint == fingerprint_of(rows, "path")
    # Another set of paths is another input; the order of the rows is not.
    assert tally(rows.where("path != 'c'"), ("path",)).fingerprint != counted.fingerprint
    assert tally(rows.orderBy(F.desc("path")), ("path",)).fingerprint == counted.fingerprint
    # A stage that rejects nothing itself has no reason column.
    assert tally(rows.drop("reason"), ("path",)).quarantined == 0


@pytest.mark.spark
def test_a_commit_splits_rejects_to_quarantine_and_the_next_stage_reads_the_output(spark, settings):
    from lakesight.lake import HadoopFileSystem, read_manifest
    from lakesight.progress import Steps

    fs, dt = HadoopFileSystem(spark), "2026-03-02"
    # Before the commit, the next stage fails in one line naming the stage to run first.
    with pytest.raises(
        StageError,
        match=r"not committed: .*/curated/things/dt=2026-03-02 \(run testing\.upstream first\)$",
    ):
        committed_input(spark, settings, UPSTREAM, dt)
    rows = spark.createDataFrame(ROWS, SCHEMA).cache()
    counted = tally(rows, ("path",))
    result = commit_stage(
        fs, settings, UPSTREAM, dt, rows, output_columns=("path",), schema_version="things/v1",
        counts=counted.counts(), input_fingerprint=counted.fingerprint,
        steps=Steps("upstream", quiet=True),
    )  # fmt: skip
    assert result.summary()["by_reason"] == {"corrupt": 1}
    quarantine = read_manifest(fs, UPSTREAM.quarantine.partition(settings, dt))
    assert quarantine.counts == {"in": 3, "out": 2, "quarantined": 1}
    assert quarantine.schema_version == "quarantine/v1"
    rejected = spark.read.parquet(UPSTREAM.quarantine.partition(settings, dt)).collect()
    assert [(r.path, r.stage, r.reason, r.dt) for r in rejected] == [
        ("b", "testing.upstream", "corrupt", dt)
    ]
    _, uri, manifest = committed_input(spark, settings, UPSTREAM, dt)
    assert manifest.input_fingerprint == counted.fingerprint and manifest.run_id
    assert sorted(r.path for r in spark.read.parquet(uri).collect()) == ["a", "c"]
    assert json.loads(manifest.to_json())["counts"]["out"] == 2


@pytest.mark.unit
def test_promote_if_better_writes_and_registers_only_a_better_candidate(
    tmp_path, monkeypatch, lake_root
):
    registry = tmp_path / "registry"
    monkeypatch.setenv("LAKESIGHT_MODEL_REGISTRY", registry.as_uri())
    settings = load_settings()
    written = []

    def write_release(directory: Path) -> None:
        written.append(directory)
        directory.mkdir(parents=True)
        (directory / "card.json").write_text(json.dumps({"name": "m", "version": "candidate"}))
        (directory / "weights.bin").write_bytes(b"w")

    assert promote_if_better(settings, "m", False, write_release) is None
    assert not written and not registry.exists()
    assert promote_if_better(settings, "m", True, write_release) == "m@1"
    assert promote_if_better(settings, "m", True, write_release) == "m@2"
    assert json.loads((registry / "m" / "2" / "card.json").read_text())["version"] == "2"
    assert (registry / "m" / "1" / "weights.bin").read_bytes() == b"w"
    assert not written[0].exists()  # the scratch release is gone
