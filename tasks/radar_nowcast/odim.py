"""ODIM HDF5 composites (OPERA's exchange format) → frames in the contract's encoding.

European radar networks exchange composites as ODIM_H5 files (EUMETNET OPERA, "ODIM_H5
version 2.x"). The parts lakesight reads:

- the root group's ``what``: ``object`` (``COMP`` or ``IMAGE``: a Cartesian product),
  ``date`` (``YYYYMMDD``) and ``time`` (``HHmmss``), the nominal time of the product;
- ``datasetN/dataM/data``: a 2-D array of raw values, with the ``what`` group of
  ``dataM`` (or, inherited, of ``datasetN``) giving ``quantity`` and the linear
  conversion ``value = raw * gain + offset`` and two special raw values, ``nodata``
  (not scanned: outside coverage) and ``undetect`` (scanned, no echo).

Only the quantity ``DBZH`` (horizontal reflectivity, dBZ) is read: the first
``datasetN/dataM`` that holds it, in natural order (``dataset2`` before ``dataset10``).
It becomes the contract's pixels (:func:`lakesight.radar_nowcast.encoding.dbz_to_pixel`),
with ``undetect`` and ``nodata`` both 0, "no echo": the contract has no missing value,
and a nowcast treats unobserved air as dry, as pysteps does with its ``zerovalue``
after import. The fraction of ``nodata`` pixels is returned so that callers can say so.

A file that is HDF5 but not this is rejected with a reason (:class:`OdimRejected`):
``not_odim`` (no root ``what`` with ``date``/``time``), ``no_dbzh``, ``wrong_shape``
(not a 2-D array), ``truncated`` or ``corrupt`` (HDF5 cannot open or read it), and
``decompression_bomb`` (more pixels than allowed, judged before reading them).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import numpy as np

from lakesight.radar_nowcast.encoding import dbz_to_pixel

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
QUANTITY = "DBZH"


class OdimRejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class OdimFrame:
    pixels: np.ndarray  # (H, W) uint8, the contract's encoding
    date: str  # YYYYMMDD, the product's nominal date (root what/date)
    minute: int  # minute of the day of root what/time
    nodata_fraction: float


def is_hdf5(data: bytes) -> bool:
    return data[:8] == HDF5_SIGNATURE


def read_odim(data: bytes, max_pixels: int) -> OdimFrame:
    """The DBZH composite of an ODIM_H5 file's bytes, as contract pixels."""
    import h5py

    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            date, minute = _nominal_time(f)
            node, what = _dbzh(f)
            shape = node.shape
            if len(shape) != 2 or 0 in shape:
                raise OdimRejected("wrong_shape", f"{QUANTITY} data has shape {shape}, not (H, W)")
            if shape[0] * shape[1] > max_pixels:
                raise OdimRejected(
                    "decompression_bomb", f"{shape[1]}x{shape[0]} > {max_pixels} pixels"
                )
            raw = node[()]
    except OdimRejected:
        raise
    except (OSError, KeyError, ValueError, TypeError) as err:  # h5py's unreadable-file errors
        text = f"{type(err).__name__}: {err}"
        reason = "truncated" if "truncated" in text or "eof" in text.lower() else "corrupt"
        raise OdimRejected(reason, text[:200]) from None
    return OdimFrame(pixels=_to_pixels(raw, what), date=date, minute=minute,
                     nodata_fraction=float(np.mean(raw == what["nodata"])))  # fmt: skip


def dbz_of(raw: np.ndarray, what: dict) -> np.ndarray:
    """Reflectivity (dBZ, float32) of raw values: NaN at ``nodata`` and ``undetect``."""
    dbz = raw.astype(np.float32) * np.float32(what["gain"]) + np.float32(what["offset"])
    return np.where((raw == what["nodata"]) | (raw == what["undetect"]), np.float32(np.nan), dbz)


def _to_pixels(raw: np.ndarray, what: dict) -> np.ndarray:
    dbz = dbz_of(raw, what)
    return np.where(np.isnan(dbz), 0, dbz_to_pixel(np.nan_to_num(dbz, nan=-10.0))).astype(np.uint8)


def _text(value) -> str:
    if isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else value.tobytes()
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


def _nominal_time(f) -> tuple[str, int]:
    what = f.get("what")
    attrs = what.attrs if what is not None else {}
    if "date" not in attrs or "time" not in attrs:
        raise OdimRejected("not_odim", "no root what/date and what/time")
    date, time = _text(attrs["date"]).strip(), _text(attrs["time"]).strip()
    if not re.fullmatch(r"\d{8}", date) or not re.fullmatch(r"\d{6}", time):
        raise OdimRejected("not_odim", f"what/date {date!r}, what/time {time!r}")
    return date, 60 * int(time[:2]) + int(time[2:4])


def _natural(name: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def _dbzh(f):
    """The first ``datasetN/dataM/data`` whose (inherited) ``what/quantity`` is DBZH."""
    seen = []
    for ds_name in sorted((k for k in f if k.startswith("dataset")), key=_natural):
        dataset = f[ds_name]
        inherited = dict(dataset["what"].attrs) if "what" in dataset else {}
        for d_name in sorted((k for k in dataset if k.startswith("data")), key=_natural):
            group = dataset[d_name]
            if "data" not in group:
                continue
            what = {**inherited, **(dict(group["what"].attrs) if "what" in group else {})}
            quantity = _text(what.get("quantity", "")).strip()
            seen.append(quantity or "?")
            if quantity == QUANTITY:
                conversion = {
                    "gain": float(what.get("gain", 1.0)),
                    "offset": float(what.get("offset", 0.0)),
                    "nodata": float(what.get("nodata", np.nan)),
                    "undetect": float(what.get("undetect", np.nan)),
                }
                return group["data"], conversion
    raise OdimRejected("no_dbzh", f"quantities {sorted(set(seen)) or 'none'}, no {QUANTITY}")


@dataclass(frozen=True)
class Packing:
    """How a writer packs dBZ into raw values: ``raw = round((dBZ - offset) / gain)``."""

    dtype: type
    gain: float
    offset: float
    nodata: int
    undetect: int


# OPERA's common 8-bit DBZH packing (0.5 dBZ steps), and a 16-bit one fine enough that a
# contract pixel (70/255 dBZ steps) goes through dBZ and back unchanged.
OPERA_UINT8 = Packing(np.uint8, 0.5, -32.0, 255, 0)
FINE_UINT16 = Packing(np.uint16, 0.01, -32.0, 65535, 0)


def write_odim(
    dbz: np.ndarray,
    date: str,
    time: str,
    *,
    nodata_mask: np.ndarray | None = None,
    packing: Packing = OPERA_UINT8,
    pixel_m: float = 2000.0,
) -> bytes:
    """An ODIM_H5 2.2 Cartesian composite (``object=COMP``) of one DBZH field, as bytes.

    ``dbz``: (H, W) reflectivity, NaN where the radar saw no echo (written ``undetect``);
    ``nodata_mask``: True where nothing was scanned (written ``nodata``). Raw values are
    packed by ``packing``, clipped to the values between the two special ones. ``date``
    ``YYYYMMDD``, ``time`` ``HHmmss``. The ``where`` group describes a polar stereographic
    grid of ``pixel_m`` metres, so that readers which georeference the product (pysteps)
    accept it.
    """
    import h5py

    dbz = np.asarray(dbz, dtype=np.float32)
    height, width = dbz.shape
    p = packing
    lowest, highest = min(p.nodata, p.undetect) + 1, max(p.nodata, p.undetect) - 1
    raw = np.clip(np.rint((np.nan_to_num(dbz, nan=p.offset) - p.offset) / p.gain), lowest, highest)
    raw = np.where(np.isnan(dbz), p.undetect, raw)
    if nodata_mask is not None:
        raw = np.where(nodata_mask, p.nodata, raw)
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["Conventions"] = np.bytes_("ODIM_H5/V2_2")
        _attrs(f.create_group("what"), object="COMP", version="H5rad 2.2", date=date, time=time,
               source="ORG:247,CMT:lakesight")  # fmt: skip
        _attrs(f.create_group("where"),
               projdef="+proj=stere +lat_0=90 +lon_0=0 +lat_ts=60 +ellps=WGS84",
               xsize=np.int64(width), ysize=np.int64(height),
               xscale=np.float64(pixel_m), yscale=np.float64(pixel_m),
               LL_lon=0.0, LL_lat=50.0, UL_lon=0.0, UL_lat=52.0,
               UR_lon=3.0, UR_lat=52.0, LR_lon=3.0, LR_lat=50.0)  # fmt: skip
        _attrs(f.create_group("how"), simulated="True")
        dataset = f.create_group("dataset1")
        _attrs(dataset.create_group("what"), product="COMP", startdate=date, starttime=time,
               enddate=date, endtime=time)  # fmt: skip
        data = dataset.create_group("data1")
        _attrs(data.create_group("what"), quantity="DBZH", gain=np.float64(p.gain),
               offset=np.float64(p.offset), nodata=np.float64(p.nodata),
               undetect=np.float64(p.undetect))  # fmt: skip
        array = data.create_dataset("data", data=raw.astype(p.dtype), compression="gzip")
        _attrs(array, CLASS="IMAGE", IMAGE_VERSION="1.2")
    return buffer.getvalue()


def _attrs(node, **values) -> None:
    # ODIM strings are fixed-length, null-terminated ASCII, which h5py writes from bytes_.
    for key, value in values.items():
        node.attrs[key] = np.bytes_(value) if isinstance(value, str) else value
