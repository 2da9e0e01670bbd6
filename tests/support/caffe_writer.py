"""Write a ``.caffemodel`` without Caffe: just enough protobuf for OpenCV DNN to read weights.

A caffemodel is a serialised ``caffe.NetParameter``. OpenCV matches its layers
to the prototxt by name and takes their ``blobs``, so the file needs only, per
layer, ``name`` (field 1), ``type`` (2) and ``blobs`` (7), each blob a
``BlobProto`` with ``shape`` (7: ``BlobShape.dim``, field 1) and packed float
``data`` (5). Field numbers are those of Caffe's ``caffe.proto``.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _blob(array: np.ndarray) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.float32)
    shape = _field(1, b"".join(_varint(int(d)) for d in array.shape))  # packed int64 dims
    data = _field(5, struct.pack(f"<{array.size}f", *array.ravel()))  # packed floats
    return _field(7, shape) + data


def caffemodel(layers: Sequence[tuple[str, str, Sequence[np.ndarray]]]) -> bytes:
    """Serialise ``[(name, type, [blobs...]), ...]`` as a NetParameter."""
    out = b""
    for name, kind, blobs in layers:
        layer = _field(1, name.encode()) + _field(2, kind.encode())
        layer += b"".join(_field(7, _blob(b)) for b in blobs)
        out += _field(100, layer)
    return out
