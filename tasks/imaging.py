"""Decoding images from untrusted bytes into 8-bit RGB, or a reason why not.

Pure functions, no Spark: ingest uses them to validate, and every later stage
uses the same :func:`decode_image` so that what ingest accepted, detect can read.

The rules, in the order they are checked:

============================  =====================================================
reason                        when
============================  =====================================================
``empty_file``                zero bytes
``not_an_image``              no supported image format recognised in the bytes
``decompression_bomb``        the header claims more than ``max_pixels`` pixels;
                              checked before any pixel is decoded
``truncated``                 the pixel data ends early
``corrupt``                   the decoder fails any other way
``too_small``                 the shorter side is below ``min_side``
============================  =====================================================

Accepted images are normalised: EXIF orientation applied; grayscale, palette,
CMYK (through its ICC profile when it has one), 16-bit and alpha (composited
over white) converted to (H, W, 3) uint8 RGB; animated files give their first frame.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image as PILImage

# Formats lakesight reads, with the extensions each may be named with.
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "JPEG": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "PNG": (".png",),
    "GIF": (".gif",),
    "WEBP": (".webp",),
    "BMP": (".bmp", ".dib"),
    "TIFF": (".tif", ".tiff"),
}

REJECT_REASONS = (
    "empty_file",
    "not_an_image",
    "decompression_bomb",
    "truncated",
    "corrupt",
    "too_small",
)


class ImageRejected(Exception):
    """The bytes are not an image lakesight accepts; ``reason`` is machine-readable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class DecodedImage:
    """An accepted image: pixels (H, W, 3) uint8 RGB after orientation, plus facts."""

    pixels: np.ndarray
    format: str  # one of EXTENSIONS
    source_mode: str  # Pillow mode before normalisation, e.g. "CMYK", "I;16", "P"
    orientation: int  # EXIF orientation that was applied (1 = none)
    # Whether the name's extension is one of the format's (a note, never a reason to reject).
    name_matches_format: bool = True

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])


def decode_image(
    data: bytes,
    name: str,
    *,
    max_pixels: int = 50_000_000,
    min_side: int = 32,
) -> DecodedImage:
    """Decode untrusted ``data`` (file ``name``) or raise :class:`ImageRejected`.

    The format is read from the bytes, never from the name: a PNG named ``.jpg``, a
    JPEG without an extension or named ``.JPEG`` is an image like any other (mislabelled
    photos are common in real catalogues); :attr:`DecodedImage.name_matches_format` says
    whether the name agrees.
    """
    from PIL import Image, ImageOps

    if not data:
        raise ImageRejected("empty_file", "0 bytes")
    # Pillow raises its own bomb error at 2x this; keep it from undercutting a larger setting.
    Image.MAX_IMAGE_PIXELS = max(Image.MAX_IMAGE_PIXELS or 0, max_pixels)
    with warnings.catch_warnings():
        # Pillow warns between MAX_IMAGE_PIXELS and 2x; we apply our own limit below.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=list(EXTENSIONS))
        except Image.DecompressionBombError as err:
            raise ImageRejected("decompression_bomb", str(err)[:200]) from err
        except Image.UnidentifiedImageError as err:
            claimed = sniff_format(data)
            if claimed is not None:
                raise ImageRejected("corrupt", f"{claimed} signature, undecodable header") from err
            raise ImageRejected("not_an_image", _describe_bytes(data)) from err
        except (OSError, SyntaxError, ValueError) as err:
            raise ImageRejected("corrupt", f"header: {err}"[:200]) from err

        fmt = img.format or "?"
        width, height = img.size
        if width * height > max_pixels:
            raise ImageRejected(
                "decompression_bomb",
                f"header claims {width}x{height} = {width * height} pixels > {max_pixels}",
            )
        source_mode = img.mode
        try:
            img.load()
            orientation = int(img.getexif().get(0x0112, 1) or 1)
            img = ImageOps.exif_transpose(img)
            pixels = to_rgb8(img)
        except Image.DecompressionBombError as err:
            raise ImageRejected("decompression_bomb", str(err)[:200]) from err
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as err:
            message = str(err)
            reason = "truncated" if "truncat" in message.lower() else "corrupt"
            raise ImageRejected(reason, f"{fmt}: {message}"[:200]) from err

    if min(pixels.shape[:2]) < min_side:
        raise ImageRejected(
            "too_small", f"{pixels.shape[1]}x{pixels.shape[0]}, shorter side < {min_side}"
        )
    return DecodedImage(
        pixels=pixels,
        format=fmt,
        source_mode=source_mode,
        orientation=orientation,
        name_matches_format=PurePosixPath(name).suffix.lower() in EXTENSIONS.get(fmt, ()),
    )


def to_rgb8(img: PILImage.Image) -> np.ndarray:
    """Any Pillow image → contiguous (H, W, 3) uint8 RGB."""
    from PIL import Image

    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        # Pillow's own convert("L") clips 16-bit values at 255; scale instead.
        arr = np.asarray(img)
        if mode == "F" or arr.max(initial=0) > 65535 or arr.min(initial=0) < 0:
            lo, hi = float(arr.min()), float(arr.max())
            gray = ((arr - lo) * (255.0 / (hi - lo or 1.0))).astype(np.uint8)
        else:
            gray = (arr.astype(np.uint32) >> 8).astype(np.uint8)
        return np.ascontiguousarray(np.repeat(gray[:, :, None], 3, axis=2))
    if mode == "CMYK" and img.info.get("icc_profile"):
        converted = _cmyk_via_icc(img)
        if converted is not None:
            return converted
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def _cmyk_via_icc(img: PILImage.Image) -> np.ndarray | None:
    """CMYK → sRGB through the embedded profile; None if littlecms refuses it."""
    try:
        from PIL import ImageCms

        source = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
        target = ImageCms.createProfile("sRGB")
        rgb = ImageCms.profileToProfile(img, source, target, outputMode="RGB")
    except Exception:  # a broken profile is not a broken image: fall back to the formula
        return None
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


# File signatures of the supported formats (TIFF: both byte orders; WebP: RIFF....WEBP).
SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def sniff_format(data: bytes) -> str | None:
    """The format a file's signature claims, without parsing anything else."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for magic, fmt in SIGNATURES if data.startswith(magic)), None)


def _describe_bytes(data: bytes) -> str:
    head = data[:8]
    printable = all(32 <= b < 127 or b in (9, 10, 13) for b in data[:64])
    kind = "text" if printable else "binary"
    return f"{len(data)} bytes of {kind}, starting {head!r}"


@dataclass(frozen=True)
class DecodeLimits:
    """The decoder's limits from the settings, shipped to executors with the job."""

    max_pixels: int
    min_side: int

    @classmethod
    def from_settings(cls, settings) -> DecodeLimits:
        return cls(settings.max_image_pixels, settings.min_image_side)

    def decode(self, content: bytes | None, path: str) -> DecodedImage:
        """One file's image, with ingest's rules; raises :class:`ImageRejected`."""
        from lakesight.lake import uri_path

        data = bytes(content) if content is not None else b""
        return decode_image(
            data, uri_path(path), max_pixels=self.max_pixels, min_side=self.min_side
        )
