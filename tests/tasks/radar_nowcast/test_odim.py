"""ODIM_H5 composites: lakesight's reader against pysteps' importer, bad files, and the ingest stage."""

from __future__ import annotations

import io

import h5py
import numpy as np
import pyarrow.dataset as ds
import pytest

from lakesight.lake import LocalFileSystem, join, uri_path
from lakesight.progress import Steps
from lakesight.radar_nowcast import datasets, ingest, odim
from lakesight.radar_nowcast.encoding import dbz_to_pixel, pixel_to_dbz
from lakesight.radar_nowcast.sample_data import write_sample_radar

DT = "2026-05-21"


def composite(seed: int = 3, shape=(96, 128)):
    """A reflectivity field with echo, undetect (NaN) and a strip never scanned."""
    rng = np.random.default_rng(seed)
    dbz = rng.uniform(-5.0, 60.0, size=shape).astype(np.float32)
    dbz[rng.random(shape) < 0.4] = np.nan  # no echo
    nodata = np.zeros(shape, bool)
    nodata[:, :7] = True
    return dbz, nodata


@pytest.mark.unit
def test_reader_gives_the_contract_encoding_of_the_packed_reflectivity():
    dbz, nodata = composite()
    frame = odim.read_odim(odim.write_odim(dbz, "20260521", "120600", nodata_mask=nodata), 10**6)
    assert (frame.date, frame.minute) == ("20260521", 12 * 60 + 6)
    assert frame.nodata_fraction == pytest.approx(7 / 128)
    packed = np.rint((dbz + 32.0) / 0.5) * 0.5 - 32.0  # gain 0.5, offset -32: what the file holds
    expected = np.where(np.isnan(dbz) | nodata, 0, dbz_to_pixel(np.nan_to_num(packed, nan=-10)))
    assert np.array_equal(frame.pixels, expected)
    assert (frame.pixels[:, :7] == 0).all()
    # The encoding's own step (70/255 dBZ) is the only error left on echo.
    echo = frame.pixels > 0
    assert np.abs(pixel_to_dbz(frame.pixels[echo]) - packed[echo]).max() <= 70 / 255 / 2 + 1e-4


@pytest.mark.unit
def test_reader_agrees_with_pysteps_import_odim_hdf5(tmp_path):
    from pysteps.io.importers import import_odim_hdf5

    dbz, nodata = composite(seed=5)
    path = tmp_path / "composite.h5"
    path.write_bytes(odim.write_odim(dbz, "20260521", "000600", nodata_mask=nodata))
    theirs, _, meta = import_odim_hdf5(str(path), qty="DBZH")
    ours = odim.read_odim(path.read_bytes(), 10**6)
    assert meta["unit"] == "dBZ" and theirs.shape == ours.pixels.shape
    # pysteps: nodata is NaN, undetect its zerovalue; every other value the same dBZ as ours.
    assert np.array_equal(np.isnan(theirs), nodata)
    measured = ~nodata & ~np.isnan(dbz)
    with h5py.File(path, "r") as f:
        raw = f["dataset1/data1/data"][()]
        what = {k: float(v) for k, v in f["dataset1/data1/what"].attrs.items() if k != "quantity"}
    assert np.allclose(theirs[measured], odim.dbz_of(raw, what)[measured], atol=1e-4)
    assert np.array_equal(ours.pixels[measured], dbz_to_pixel(theirs[measured]))
    undetect = ~nodata & np.isnan(dbz)
    assert (theirs[undetect] == meta["zerovalue"]).all() and (ours.pixels[undetect] == 0).all()


def _rewrite(data: bytes, edit) -> bytes:
    """The file's bytes after ``edit(h5py.File)``."""
    buffer = io.BytesIO(data)
    with h5py.File(buffer, "r+") as f:
        edit(f)
    return buffer.getvalue()


def _bad_files() -> dict[str, tuple[bytes, str]]:
    dbz, _ = composite(shape=(32, 32))
    good = odim.write_odim(dbz, "20260521", "000000")

    def only_th(f):
        f["dataset1/data1/what"].attrs["quantity"] = np.bytes_("TH")

    def cube(f):
        del f["dataset1/data1/data"]
        f["dataset1/data1"].create_dataset("data", data=np.zeros((2, 32, 32), np.uint8))

    def no_what(f):
        del f["what"]

    return {
        "no_dbzh": (_rewrite(good, only_th), "no_dbzh"),
        "cube": (_rewrite(good, cube), "wrong_shape"),
        "truncated": (good[: len(good) // 2], "truncated"),
        "no_what": (_rewrite(good, no_what), "not_odim"),
    }


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["no_dbzh", "cube", "truncated", "no_what"])
def test_bad_hdf5_is_rejected_with_its_reason(kind):
    data, reason = _bad_files()[kind]
    with pytest.raises(odim.OdimRejected) as rejected:
        odim.read_odim(data, 10**6)
    assert rejected.value.reason == reason


@pytest.mark.unit
def test_too_many_pixels_is_judged_before_reading_them():
    dbz, _ = composite(shape=(64, 64))
    with pytest.raises(odim.OdimRejected) as rejected:
        odim.read_odim(odim.write_odim(dbz, "20260521", "000000"), max_pixels=64 * 63)
    assert rejected.value.reason == "decompression_bomb"


@pytest.mark.spark
@pytest.mark.slow
def test_ingest_reads_an_odim_day_like_its_png_twin_and_quarantines_bad_hdf5(spark, settings):
    fs = LocalFileSystem()
    day = write_sample_radar(fs, settings, DT, size=64, end=60, file_format="odim")
    assert all(name.endswith(".h5") for name in day.written) and len(day.written) == 10
    bad = {f"{name}.h5": data for name, (data, _) in _bad_files().items()}
    # Named for free steps so that only their content is wrong.
    named = dict(zip(["0100.h5", "0106.h5", "0112.h5", "0118.h5"], bad.values(), strict=True))
    named["0124.h5"] = odim.write_odim(composite(shape=(64, 64))[0], "20260521", "013000")
    for name, data in named.items():
        fs.write_bytes(join(day.uri, name), data)

    result = ingest.run(spark, settings, DT, steps=Steps("test", quiet=True))

    assert result.manifest.counts == {"in": 15, "out": 10, "quarantined": 5}
    assert result.manifest.extra["quarantined_by_reason"] == {
        "no_dbzh": 1, "wrong_shape": 1, "truncated": 1, "not_odim": 1, "time_mismatch": 1,
    }  # fmt: skip
    frames = ds.dataset(uri_path(datasets.FRAMES.partition(settings, DT))).to_table().to_pandas()
    assert len(frames) == 10 and (frames["height"] == 64).all()
    # Each frame holds exactly the pixels the PNG day would: the contract, through DBZH.
    from lakesight.radar_nowcast.weather import render_day

    minutes = list(range(0, 60, 6))
    rendered = dict(zip(minutes, render_day(11, DT, minutes, size=64), strict=True))
    for row in frames.itertuples():
        minute = row.frame_time.hour * 60 + row.frame_time.minute
        got = np.frombuffer(row.pixels, np.uint8).reshape(64, 64)
        assert np.array_equal(got, rendered[minute]), minute
