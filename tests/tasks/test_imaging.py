"""decode_image: every odd-but-valid file normalised, every broken one rejected with its reason."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lakesight.image_features.sample_data import decompression_bomb_png, encode
from lakesight.imaging import EXTENSIONS, ImageRejected, decode_image
from lakesight.models.scenes import SceneConfig, render_scene, scene_rng

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return render_scene(scene_rng(3, 0), SceneConfig(height=120, width=160))[0]


def real_photos() -> list[Path]:
    """Real photographs shipped inside scikit-learn and scikit-image."""
    import skimage.data
    import sklearn.datasets

    sk = Path(sklearn.datasets.__file__).parent / "images"
    ski = Path(skimage.data.__file__).parent
    photos = [sk / "china.jpg", sk / "flower.jpg"]
    photos += [
        ski / n for n in ("astronaut.png", "coffee.png", "chelsea.png", "camera.png", "rocket.jpg")
    ]
    return [p for p in photos if p.exists()]


def rejected(data: bytes, name: str, **kw) -> ImageRejected:
    with pytest.raises(ImageRejected) as err:
        decode_image(data, name, **kw)
    return err.value


@pytest.mark.parametrize("how", ["jpeg", "png", "webp", "bmp", "tiff"])
def test_colour_formats_round_trip(scene, how):
    ext = {"jpeg": "x.JPG", "png": "x.png", "webp": "x.webp", "bmp": "x.bmp", "tiff": "x.tiff"}[how]
    image = decode_image(encode(scene, how), ext)
    assert image.pixels.shape == scene.shape and image.pixels.dtype == np.uint8
    tolerance = 0 if how in ("png", "bmp", "tiff") else 12
    assert np.abs(image.pixels.astype(int) - scene).mean() <= tolerance


def test_exif_orientation_is_applied(scene):
    image = decode_image(encode(scene, "jpeg_exif_rotated"), "r.jpg")
    assert image.orientation == 8
    assert image.pixels.shape == scene.shape  # displayed size, not stored size
    assert np.abs(image.pixels.astype(int) - scene).mean() < 12


def test_grayscale_16bit_is_scaled_not_clipped(scene):
    image = decode_image(encode(scene, "png_gray16"), "d.png")
    assert image.source_mode.startswith("I")
    gray = np.asarray(Image.fromarray(scene).convert("L"), dtype=int)
    assert np.abs(image.pixels[:, :, 0].astype(int) - gray).max() <= 1
    assert (image.pixels[:, :, 0] == image.pixels[:, :, 2]).all()


def test_alpha_is_composited_over_white():
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[:, :20] = (255, 0, 0, 255)  # opaque red left half, transparent black right half
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, "PNG")
    pixels = decode_image(buf.getvalue(), "a.png").pixels
    assert tuple(pixels[5, 5]) == (255, 0, 0)
    assert tuple(pixels[5, 35]) == (255, 255, 255)


@pytest.mark.parametrize(("how", "mode"), [("jpeg_cmyk", "CMYK"), ("gif", "P"), ("jpeg_gray", "L")])
def test_cmyk_palette_gray_become_rgb(scene, how, mode):
    name = "x.gif" if how == "gif" else "x.jpg"
    image = decode_image(encode(scene, how), name)
    assert image.source_mode == mode and image.pixels.shape == scene.shape
    expected = (
        np.asarray(Image.fromarray(scene).convert("L").convert("RGB")) if mode == "L" else scene
    )
    assert np.abs(image.pixels.astype(int) - expected).mean() < 20


def test_animated_gif_gives_first_frame():
    frames = [Image.new("RGB", (48, 48), c) for c in ((200, 10, 10), (10, 200, 10))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    pixels = decode_image(buf.getvalue(), "anim.gif").pixels
    assert pixels[0, 0, 0] > 150 and pixels[0, 0, 1] < 60


def test_decompression_bomb_rejected_from_header_without_decoding():
    import tracemalloc

    tracemalloc.start()
    err = rejected(decompression_bomb_png(60000, 60000), "bomb.png")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert err.reason == "decompression_bomb"
    assert peak < 50_000_000  # the 10.8 GB of pixels the header claims were never allocated
    # Under Pillow's own limit but over ours: still a bomb.
    err = rejected(decompression_bomb_png(8000, 8000), "big.png", max_pixels=10_000_000)
    assert err.reason == "decompression_bomb" and "8000x8000" in err.detail


@pytest.mark.parametrize(
    ("data", "name", "reason"),
    [
        (b"", "e.jpg", "empty_file"),
        (b"hello world, not an image\n" * 3, "notes.jpg", "not_an_image"),
        (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, "g.jpg", "corrupt"),
    ],
)
def test_broken_bytes(data, name, reason):
    assert rejected(data, name).reason == reason


def test_truncated_jpeg(scene):
    data = encode(scene, "jpeg")
    assert rejected(data[: len(data) // 2], "t.jpg").reason == "truncated"


def test_images_are_judged_by_content_not_name(scene):
    png, jpeg = encode(scene, "png"), encode(scene, "jpeg")
    named_jpg = decode_image(png, "photo.jpg")
    assert (named_jpg.format, named_jpg.name_matches_format) == ("PNG", False)
    no_extension = decode_image(jpeg, "IMG_0001")
    assert (no_extension.format, no_extension.name_matches_format) == ("JPEG", False)
    upper = decode_image(jpeg, "holiday.JPEG")
    assert (upper.format, upper.name_matches_format) == ("JPEG", True)
    np.testing.assert_array_equal(named_jpg.pixels, decode_image(png, "photo.png").pixels)


def test_too_small():
    tiny = encode(np.zeros((20, 50, 3), np.uint8), "png")
    assert rejected(tiny, "t.png", min_side=32).reason == "too_small"
    assert decode_image(tiny, "t.png", min_side=16).width == 50


def test_every_extension_maps_to_one_format():
    seen = [e for exts in EXTENSIONS.values() for e in exts]
    assert len(seen) == len(set(seen))


def test_real_photographs_decode():
    photos = real_photos()
    assert len(photos) >= 4
    for path in photos:
        image = decode_image(path.read_bytes(), path.name)
        assert image.pixels.ndim == 3 and image.pixels.shape[2] == 3
        assert min(image.width, image.height) >= 32
