"""File names with ``%``, ``#``, ``?``, spaces and non-ASCII letters through image_features:
ingest → analyze → publish, ``lakesight similar`` and the explorer; every published ``path``
is a URI that pyarrow and urllib open to exactly the file's bytes."""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lakesight.cli import main as lakesight
from lakesight.image_features import analyze, ingest, publish
from lakesight.lake import uri_path
from lakesight.progress import Steps

pytestmark = pytest.mark.spark
DT = "2026-03-05"
QUIET = Steps("test", quiet=True)
ODD_NAMES = ["a#b.jpg", "what?.jpg", "sale%20x.jpg", "sale x.jpg", "straße ü.png"]


def picture(seed: int, fmt: str = "JPEG") -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = (rng.random((72, 96, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt)
    return buf.getvalue()


def write_day(folder: Path, names: list[str], seed: int = 0) -> dict[str, bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for i, name in enumerate(names):
        files[name] = picture(seed + i, "PNG" if name.endswith(".png") else "JPEG")
        (folder / name).write_bytes(files[name])
    return files


def opened(uri: str) -> tuple[bytes, bytes]:
    """The bytes behind a published path, as pyarrow and as urllib read it."""
    from pyarrow.fs import FileSystem

    fs, inner = FileSystem.from_uri(uri)
    with fs.open_input_file(inner) as f:
        by_arrow = f.read()
    with urllib.request.urlopen(uri) as f:
        by_urllib = f.read()
    return by_arrow, by_urllib


def test_odd_names_round_trip_through_every_stage(spark, settings, capsys):
    raw = Path(uri_path(settings.partition_uri("raw", "images", DT)))
    files = write_day(raw, [*ODD_NAMES, "plain.jpg"])
    ingest.run(spark, settings, DT, steps=QUIET)
    analyzed = analyze.run(spark, settings, DT, steps=QUIET)
    published = publish.run(spark, settings, DT, steps=QUIET)
    assert analyzed.manifest.counts["out"] == published.manifest.counts["out"] == len(files)
    assert published.manifest.schema_version == "features.images/v1.2"

    table = pq.read_table(uri_path(published.output_uri)).to_pandas()
    assert sorted(Path(uri_path(p)).name for p in table["path"]) == sorted(files)
    for path, image_id in zip(table["path"], table["image_id"], strict=True):
        assert path.startswith("file:///") and not {"#", "?", " "} & set(path), path
        for data in opened(path):
            assert hashlib.sha256(data).hexdigest() == image_id, path

    by_name = {
        Path(uri_path(p)).name: (p, i)
        for p, i in zip(table["path"], table["image_id"], strict=True)
    }
    for name in ("a#b.jpg", "sale%20x.jpg", "straße ü.png"):
        path, image_id = by_name[name]
        capsys.readouterr()
        assert lakesight(["similar", "--dt", DT, "--image-id", image_id, "-k", "2", "--json"]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert answer["query"] == {"image_id": image_id, "path": path}
        assert len(answer["results"]) == 2  # its neighbours, the query itself left out
        assert image_id not in {r["image_id"] for r in answer["results"]}
        assert {r["path"] for r in answer["results"]} <= set(table["path"])

    # The explorer draws the odd-named image from its published path.
    from lakesight_airflow.explorer import image_features as data

    path, image_id = by_name["what?.jpg"]
    png = data.image_picture(settings, DT, image_id, "thumb", published.manifest.run_id)
    assert png.startswith(b"\x89PNG")


def test_a_rerun_says_how_the_input_changed_and_curates_late_files(spark, settings):
    raw = Path(uri_path(settings.partition_uri("raw", "images", DT)))
    write_day(raw, ["one.jpg", "two.jpg", "three.jpg", "four#4.jpg"])
    first = ingest.run(spark, settings, DT, steps=QUIET)
    assert first.manifest.extra["input_change"] == {
        "previous_run_id": None, "added": 4, "removed": 0, "changed": 0, "unchanged": 0,
    }  # fmt: skip
    assert first.manifest.extra["inputs"]["files"] == 4

    (raw / "late arrival.jpg").write_bytes(picture(40))  # added after the day was processed
    (raw / "two.jpg").write_bytes(picture(41))  # replaced
    (raw / "three.jpg").unlink()  # deleted
    second = ingest.run(spark, settings, DT, steps=QUIET)
    assert second.manifest.extra["input_change"] == {
        "previous_run_id": first.manifest.run_id, "added": 1, "removed": 1, "changed": 1,
        "unchanged": 2,
    }  # fmt: skip
    curated = pq.read_table(uri_path(second.output_uri)).to_pandas()
    assert sorted(Path(uri_path(p)).name for p in curated["path"]) == [
        "four#4.jpg", "late arrival.jpg", "one.jpg", "two.jpg",
    ]  # fmt: skip
    late = curated[curated["path"].str.endswith("late%20arrival.jpg")]
    assert late["image_id"].tolist() == [hashlib.sha256(picture(40)).hexdigest()]

    third = ingest.run(spark, settings, DT, steps=QUIET)
    assert third.manifest.extra["input_change"] == {
        "previous_run_id": second.manifest.run_id, "added": 0, "removed": 0, "changed": 0,
        "unchanged": 4,
    }  # fmt: skip
