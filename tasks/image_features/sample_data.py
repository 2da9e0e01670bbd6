"""``lakesight sample-data``: write a raw partition of generated scenes, odd files and broken ones.

Good files exercise everything a real camera dump contains: nested folders,
upper-case extensions, spaces and non-ASCII names, JPEG/PNG/WebP/BMP/TIFF/GIF,
grayscale, palette, alpha, 16-bit, CMYK and EXIF-rotated JPEGs, and mislabelled files
(a PNG named .jpg, a JPEG with no extension) that are images all the same. Each is a scene
from :mod:`lakesight.models.scenes` and its exact boxes go to the sidecar
``raw/image_labels/dt=D/labels.jsonl`` (one JSON object per image, keyed by the
path relative to the partition), outside the image partition so that ingest
never sees it.

``--bad K`` adds K broken files, cycling through :data:`BAD_KINDS`; the
sidecar's ``expected`` field says what ingest must conclude about every file.
"""

from __future__ import annotations

import hashlib
import io
import json
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lakesight.config import Settings
from lakesight.image_features.datasets import RAW_IMAGES, RAW_LABELS
from lakesight.lake import LakeFileSystem, join
from lakesight.models.scenes import SceneConfig, render_scene, scene_rng

# How each good file is stored: (folder, name pattern, encoder). The pattern gets the index.
GOOD_VARIANTS: tuple[tuple[str, str, str], ...] = (
    ("cam01", "img_{i:05d}.jpg", "jpeg"),
    ("cam01/2026", "IMG_{i:05d}.JPG", "jpeg"),
    ("cam 02/Überblick", "bild {i:05d}.jpeg", "jpeg"),
    ("png", "scene_{i:05d}.png", "png"),
    ("webp", "scene_{i:05d}.WEBP", "webp"),
    ("mixed", "gray_{i:05d}.jpg", "jpeg_gray"),
    ("mixed", "rotated_{i:05d}.jpg", "jpeg_exif_rotated"),
    ("mixed", "alpha_{i:05d}.png", "png_rgba"),
    ("mixed", "deep_{i:05d}.png", "png_gray16"),
    ("mixed", "palette_{i:05d}.gif", "gif"),
    ("mixed", "print_{i:05d}.jpg", "jpeg_cmyk"),
    ("legacy", "scan_{i:05d}.bmp", "bmp"),
    ("legacy", "scan_{i:05d}.TIF", "tiff"),
    ("日本", "写真_{i:05d}.jpg", "jpeg"),
    # Mislabelled, as real catalogues hold them: images all the same, judged by content.
    ("mislabelled", "photo_{i:05d}.jpg", "png"),
    ("mislabelled", "scan_{i:05d}", "jpeg"),
    ("mislabelled", "holiday_{i:05d}.JPEG", "jpeg"),
)

# Broken inputs, and the quarantine reason ingest must give each.
BAD_KINDS: tuple[tuple[str, str], ...] = (
    ("zero_byte", "empty_file"),
    ("truncated_jpeg", "truncated"),
    ("text_named_jpg", "not_an_image"),
    ("garbage_after_jpeg_magic", "corrupt"),
    ("decompression_bomb", "decompression_bomb"),
    ("tiny_image", "too_small"),
    ("duplicate_bytes", "duplicate"),
    ("hidden_name", "hidden_file"),
)


@dataclass(frozen=True)
class SampleSummary:
    dt: str
    partition_uri: str
    labels_uri: str
    good: int
    bad: int
    by_expected: dict[str, int]


def encode(pixels: np.ndarray, how: str) -> bytes:
    """Encode (H, W, 3) uint8 RGB pixels as ``how`` (see :data:`GOOD_VARIANTS`)."""
    from PIL import Image

    img = Image.fromarray(pixels, "RGB")
    buf = io.BytesIO()
    if how == "jpeg":
        img.save(buf, "JPEG", quality=90)
    elif how == "jpeg_gray":
        img.convert("L").save(buf, "JPEG", quality=90)
    elif how == "jpeg_cmyk":
        img.convert("CMYK").save(buf, "JPEG", quality=92)
    elif how == "jpeg_exif_rotated":
        # Store the pixels turned 90° clockwise and EXIF orientation 8 ("rotate 270° CW
        # to display"), as a camera held sideways does; the displayed image is `pixels`.
        exif = Image.Exif()
        exif[0x0112] = 8
        img.transpose(Image.Transpose.ROTATE_270).save(buf, "JPEG", quality=90, exif=exif)
    elif how == "png":
        img.save(buf, "PNG")
    elif how == "png_rgba":
        rgba = img.convert("RGBA")
        rgba.putalpha(255)
        rgba.save(buf, "PNG")
    elif how == "png_gray16":
        gray = np.asarray(img.convert("L"), dtype=np.uint16) * 257
        Image.fromarray(gray).save(buf, "PNG")  # uint16 array -> mode I;16
    elif how == "gif":
        img.quantize(colors=128).save(buf, "GIF")
    elif how == "webp":
        img.save(buf, "WEBP", quality=90)
    elif how == "bmp":
        img.save(buf, "BMP")
    elif how == "tiff":
        img.save(buf, "TIFF", compression="tiff_deflate")
    else:
        raise ValueError(f"unknown encoding {how!r}")
    return buf.getvalue()


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def decompression_bomb_png(width: int = 60000, height: int = 60000) -> bytes:
    """A valid-looking PNG of a few hundred bytes whose header claims width x height."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # One compressed row of zeros is enough to look like the start of real data.
    idat = zlib.compress(b"\x00" * (width * 3 + 1), 9)[:256]
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def bad_file(kind: str, i: int, good_jpeg: bytes, rng: np.random.Generator) -> tuple[str, bytes]:
    """Name and bytes of broken file number ``i`` of ``kind``."""
    makers: dict[str, Callable[[], tuple[str, bytes]]] = {
        "zero_byte": lambda: (f"bad/empty_{i:04d}.jpg", b""),
        "truncated_jpeg": lambda: (
            f"bad/cut off_{i:04d}.jpg",
            good_jpeg[: len(good_jpeg) * 3 // 5],
        ),
        "text_named_jpg": lambda: (
            f"bad/notes_{i:04d}.jpg",
            b"this is a shopping list, not a photo\n" * 4,
        ),
        "garbage_after_jpeg_magic": lambda: (
            f"bad/garbage_{i:04d}.jpg",
            b"\xff\xd8\xff\xe0" + rng.integers(0, 256, 2048, dtype=np.uint8).tobytes(),
        ),
        "decompression_bomb": lambda: (f"bad/bomb_{i:04d}.png", decompression_bomb_png()),
        "tiny_image": lambda: (
            f"bad/thumb_{i:04d}.png",
            encode(np.zeros((12, 16, 3), np.uint8), "png"),
        ),
        "duplicate_bytes": lambda: (f"copies/copy of img_{i:04d}.jpg", good_jpeg),
        "hidden_name": lambda: (f"bad/.hidden_{i:04d}.jpg", good_jpeg),
    }
    return makers[kind]()


def write_images_partition(
    fs: LakeFileSystem,
    settings: Settings,
    dt: str,
    *,
    n: int = 200,
    bad: int = 0,
    seed: int = 0,
    scene: SceneConfig | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SampleSummary:
    """Replace ``raw/images/dt=dt`` with ``n`` scenes and ``bad`` broken files."""
    scene = scene or SceneConfig()
    partition = RAW_IMAGES.partition(settings, dt)
    labels_partition = RAW_LABELS.partition(settings, dt)
    # Sample data replaces the partition, as every lakesight output does.
    fs.delete(partition)
    fs.delete(labels_partition)
    fs.mkdirs(partition)
    records: list[dict] = []
    for i in range(n):
        pixels, objects = render_scene(scene_rng(seed, i), scene)
        folder, pattern, how = GOOD_VARIANTS[i % len(GOOD_VARIANTS)]
        rel = f"{folder}/{pattern.format(i=i)}"
        data = encode(pixels, how)
        fs.write_bytes(join(partition, rel), data)
        records.append(
            {
                "path": rel,
                "image_id": hashlib.sha256(data).hexdigest(),
                "width": scene.width,
                "height": scene.height,
                "encoding": how,
                "objects": [o.as_dict() for o in objects],
                "expected": "ok",
            }
        )
        if progress:
            progress(i + 1, n + bad)
    # Scene 0 stored as plain JPEG: the same bytes as the first good file, so the
    # "duplicate_bytes" copy has a twin; truncated and hidden files start from it too.
    twin_pixels, twin_objects = render_scene(scene_rng(seed, 0), scene)
    twin_jpeg = encode(twin_pixels, "jpeg")
    if bad and n == 0:
        # Named to sort before the copy: ingest keeps the smallest path of equal bytes.
        fs.write_bytes(join(partition, "copies/a original.jpg"), twin_jpeg)
        records.append(
            {"path": "copies/a original.jpg", "expected": "ok",
             "objects": [o.as_dict() for o in twin_objects]}
        )  # fmt: skip
    rng = np.random.default_rng([seed, 7])
    for j in range(bad):
        kind, expected = BAD_KINDS[j % len(BAD_KINDS)]
        rel, data = bad_file(kind, j, twin_jpeg, rng)
        fs.write_bytes(join(partition, rel), data)
        records.append({"path": rel, "expected": expected, "bad_kind": kind})
        if progress:
            progress(n + j + 1, n + bad)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    labels_uri = join(labels_partition, "labels.jsonl")
    fs.write_bytes(labels_uri, lines.encode())
    by_expected: dict[str, int] = {}
    for r in records:
        by_expected[r["expected"]] = by_expected.get(r["expected"], 0) + 1
    return SampleSummary(
        dt=dt,
        partition_uri=partition,
        labels_uri=labels_uri,
        good=by_expected.get("ok", 0),
        bad=len(records) - by_expected.get("ok", 0),
        by_expected=by_expected,
    )
