"""Synthetic scenes with exact ground-truth boxes: sample data now, SSD training data later.

A scene is a textured background with 1..``max_objects`` objects of
:data:`CLASSES`, each drawn at a random scale, rotation and colour, with a solid
or striped fill; later objects may partly hide earlier ones. Boxes are the
tight axis-aligned extent of each object's drawn outline, clipped to the image,
normalised to 0..1 (VOC convention: occluded parts still count).

Deterministic: the same ``seed`` and index always give the same scene.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross")
# Object crops for the descriptor: the detector's classes and more.
CROP_CLASSES: tuple[str, ...] = (
    *CLASSES, "pentagon", "hexagon", "diamond", "ellipse", "arrow", "heart", "crescent",
)  # fmt: skip


@dataclass(frozen=True)
class SceneConfig:
    """Knobs of the scene generator."""

    height: int = 240  # output image height in pixels
    width: int = 320  # output image width in pixels
    min_objects: int = 1  # objects per scene, inclusive range
    max_objects: int = 4
    min_scale: float = 0.12  # object size as a fraction of the shorter image side
    max_scale: float = 0.45
    # An object hidden more than this fraction by later ones is redrawn elsewhere,
    # so every labelled object stays recognisable.
    max_occlusion: float = 0.5
    classes: tuple[str, ...] = field(default=CLASSES)
    # Draw some backgrounds from real photographs (scikit-image / scikit-learn samples,
    # the `train` extra). Off for sample data, so that it needs no extra package.
    photo_backgrounds: bool = False
    # Blur and sensor noise, as cameras add them (training variety).
    photometric_jitter: bool = False


@dataclass(frozen=True)
class SceneObject:
    """One labelled object: class name and its box normalised to 0..1."""

    label: str
    x_min: float
    y_min: float
    x_max: float
    y_max: float

    def as_dict(self) -> dict[str, float | str]:
        return {
            "label": self.label,
            "x_min": self.x_min,
            "y_min": self.y_min,
            "x_max": self.x_max,
            "y_max": self.y_max,
        }


def scene_rng(seed: int, index: int) -> np.random.Generator:
    """Independent stream per (seed, index), so scenes can be made in any order."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


def render_scene(
    rng: np.random.Generator, config: SceneConfig | None = None
) -> tuple[np.ndarray, list[SceneObject]]:
    """One scene: (H, W, 3) uint8 RGB pixels and its objects."""
    import cv2

    config = config or SceneConfig()
    h, w = config.height, config.width
    if config.photo_backgrounds and rng.random() < 0.5:
        image = _photo_background(rng, h, w)
    else:
        image = _background(rng, h, w)
    masks: list[np.ndarray] = []
    objects: list[tuple[str, np.ndarray]] = []
    n = int(rng.integers(config.min_objects, config.max_objects + 1))
    for _ in range(n):
        label = config.classes[int(rng.integers(len(config.classes)))]
        outline = _outline(rng, label, h, w, config)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [outline.astype(np.int32)], 1)
        if mask.sum() < 16:
            continue
        # Refuse an object that would hide too much of one already placed.
        if any(_hidden_fraction(prev, mask) > config.max_occlusion for prev in masks):
            continue
        _paint(rng, image, mask)
        for i, prev in enumerate(masks):
            masks[i] = prev & (1 - mask)
        masks.append(mask)
        objects.append((label, outline))
    if config.photometric_jitter:
        image = _jitter(rng, image)
    labelled = []
    for (label, outline), _mask in zip(objects, masks, strict=True):
        xs = np.clip(outline[:, 0], 0, w - 1)
        ys = np.clip(outline[:, 1], 0, h - 1)
        labelled.append(
            SceneObject(
                label,
                round(float(xs.min()) / w, 5),
                round(float(ys.min()) / h, 5),
                round(float(xs.max() + 1) / w, 5),
                round(float(ys.max() + 1) / h, 5),
            )
        )
    return image, labelled


def _hidden_fraction(prev_visible: np.ndarray, new_mask: np.ndarray) -> float:
    area = prev_visible.sum()
    return float((prev_visible & new_mask).sum()) / float(area) if area else 1.0


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Gradient, noise, stripes or checker: textures an SSD must learn to ignore."""
    import cv2

    kind = int(rng.integers(4))
    c0 = rng.integers(0, 256, 3).astype(np.float32)
    c1 = rng.integers(0, 256, 3).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 0:
        angle = rng.uniform(0, np.pi)
        t = (np.cos(angle) * xx / w + np.sin(angle) * yy / h + 1.0) / 2.0
    elif kind == 1:
        small = rng.random((max(2, h // 16), max(2, w // 16))).astype(np.float32)
        t = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    elif kind == 2:
        period = rng.uniform(8, 40)
        t = (np.sin((xx * np.cos(rng.uniform(0, np.pi)) + yy) / period) + 1) / 2
    else:
        cell = int(rng.integers(12, 48))
        t = (((xx // cell) + (yy // cell)) % 2).astype(np.float32) * 0.6 + 0.2
    image = c0 * (1 - t[..., None]) + c1 * t[..., None]
    image += rng.normal(0, 6, image.shape).astype(np.float32)
    return image.clip(0, 255).astype(np.uint8)


@functools.cache
def photo_library() -> tuple[np.ndarray, ...]:
    """Real photographs shipped inside scikit-image and scikit-learn, as RGB arrays."""
    from pathlib import Path

    import skimage.data
    import sklearn.datasets
    from PIL import Image

    ski = Path(skimage.data.__file__).parent
    skl = Path(sklearn.datasets.__file__).parent / "images"
    names = [
        ski / n
        for n in (
            "astronaut.png",
            "coffee.png",
            "chelsea.png",
            "rocket.jpg",
            "motorcycle_left.png",
            "brick.png",
            "grass.png",
            "gravel.png",
            "color.png",
            "retina.jpg",
            "hubble_deep_field.jpg",
            "camera.png",
            "moon.png",
            "page.png",
        )
    ]
    names += [skl / "china.jpg", skl / "flower.jpg"]
    return tuple(np.asarray(Image.open(p).convert("RGB")) for p in names if p.exists())


def _photo_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A random crop of a real photograph, resized, flipped and recoloured."""
    import cv2

    photos = photo_library()
    photo = photos[int(rng.integers(len(photos)))]
    ph, pw = photo.shape[:2]
    crop = rng.uniform(0.35, 1.0)
    ch, cw = max(16, int(ph * crop)), max(16, int(pw * crop))
    y0, x0 = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    image = cv2.resize(photo[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        image = image[:, ::-1]
    gain = rng.uniform(0.6, 1.3, 3)
    return np.clip(image * gain, 0, 255).astype(np.uint8)


def _jitter(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    import cv2

    if rng.random() < 0.3:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.5:
        noise = rng.normal(0, rng.uniform(2, 10), image.shape)
        image = np.clip(image + noise, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(image)


def _outline(
    rng: np.random.Generator, label: str, h: int, w: int, config: SceneConfig
) -> np.ndarray:
    """Polygon (N, 2) float32 in pixels for an object of class ``label`` somewhere in the scene."""
    size = rng.uniform(config.min_scale, config.max_scale) * min(h, w)
    cx = rng.uniform(0.1, 0.9) * w
    cy = rng.uniform(0.1, 0.9) * h
    return _place(rng, _shape_points(rng, label, size / 2), cx, cy)


def _place(
    rng: np.random.Generator, pts: np.ndarray, cx: float, cy: float, max_turn: float = np.pi / 4
):
    theta = rng.uniform(-max_turn, max_turn)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    return (pts @ rot.T + [cx, cy]).astype(np.float32)


def _shape_points(rng: np.random.Generator, label: str, r: float) -> np.ndarray:
    """Polygon (N, 2) of a class, centred on 0 with radius about ``r``."""
    if label == "circle":
        aspect = rng.uniform(0.8, 1.25)
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return np.stack([np.cos(t) * r * aspect, np.sin(t) * r], axis=1)
    if label == "square":
        aspect = rng.uniform(0.75, 1.33)
        return np.array([[-r * aspect, -r], [r * aspect, -r], [r * aspect, r], [-r * aspect, r]])
    if label == "triangle":
        return _regular(3, r)
    if label == "star":
        t = np.linspace(-np.pi / 2, 3 * np.pi / 2, 10, endpoint=False)
        radii = np.where(np.arange(10) % 2 == 0, r, r * 0.42)
        return np.stack([np.cos(t) * radii, np.sin(t) * radii], axis=1)
    if label == "cross":
        a, b = r, r * 0.33
        return np.array(
            [[-b, -a], [b, -a], [b, -b], [a, -b], [a, b], [b, b], [b, a], [-b, a], [-b, b],
             [-a, b], [-a, -b], [-b, -b]]
        )  # fmt: skip
    # Further classes: not in the detector's scenes, they give the descriptor's
    # backbone (DeepBit stage 1) more variety than the SSD classes alone.
    if label == "pentagon":
        return _regular(5, r)
    if label == "hexagon":
        return _regular(6, r)
    if label == "diamond":
        return np.array([[0, -r], [r * 0.55, 0], [0, r], [-r * 0.55, 0]])
    if label == "ellipse":
        t = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        return np.stack([np.cos(t) * r, np.sin(t) * r * rng.uniform(0.35, 0.55)], axis=1)
    if label == "arrow":
        a, b = r, r * 0.25
        return np.array([[-a, -b], [0, -b], [0, -a * 0.6], [a, 0], [0, a * 0.6], [0, b], [-a, b]])
    if label == "heart":
        t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
        x = 16 * np.sin(t) ** 3
        y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
        return np.stack([x, y], axis=1) * (r / 17)
    if label == "crescent":
        t = np.linspace(-np.pi / 2, np.pi / 2, 30)
        outer = np.stack([np.cos(t) * r, np.sin(t) * r], axis=1)
        inner = np.stack([np.cos(t[::-1]) * r * 0.45, np.sin(t[::-1]) * r], axis=1)
        return np.concatenate([outer, inner])
    raise ValueError(f"unknown class {label!r}; known: {', '.join(CROP_CLASSES)}")


def _regular(n: int, r: float) -> np.ndarray:
    t = -np.pi / 2 + np.arange(n) * 2 * np.pi / n
    return np.stack([np.cos(t) * r, np.sin(t) * r], axis=1)


def render_crop(
    rng: np.random.Generator, label: str, size: int = 64, config: SceneConfig | None = None
) -> np.ndarray:
    """An object crop as the detector's crop stage yields one: (size, size, 3) uint8 RGB.

    The object fills 45-85% of the crop, at any rotation, on a texture or photo,
    sometimes partly hidden by a second, unlabelled object at the border.
    """
    import cv2

    config = config or SceneConfig(photo_backgrounds=True, photometric_jitter=True)
    if config.photo_backgrounds and rng.random() < 0.5:
        image = _photo_background(rng, size, size)
    else:
        image = _background(rng, size, size)
    centre = size / 2 + rng.uniform(-0.08, 0.08, 2) * size
    pts = _place(
        rng, _shape_points(rng, label, rng.uniform(0.45, 0.85) * size / 2), *centre, max_turn=np.pi
    )
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [pts.astype(np.int32)], 1)
    _paint(rng, image, mask)
    if rng.random() < 0.25:
        other = config.classes[int(rng.integers(len(config.classes)))]
        edge = rng.choice([-0.05, 1.05], 2) * size
        occluder = _place(rng, _shape_points(rng, other, size * 0.3), *edge, max_turn=np.pi)
        occ_mask = np.zeros((size, size), np.uint8)
        cv2.fillPoly(occ_mask, [occluder.astype(np.int32)], 1)
        _paint(rng, image, occ_mask)
    return _jitter(rng, image) if config.photometric_jitter else image


def _paint(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray) -> None:
    """Fill ``mask`` with a solid colour or two-colour stripes, plus an outline."""
    import cv2

    colour = rng.integers(0, 256, 3)
    if rng.random() < 0.3:
        other = rng.integers(0, 256, 3)
        yy, xx = np.nonzero(mask)
        period = int(rng.integers(4, 12))
        stripes = ((xx + yy) // period) % 2 == 0
        image[yy[stripes], xx[stripes]] = colour
        image[yy[~stripes], xx[~stripes]] = other
    else:
        image[mask.astype(bool)] = colour
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    edge = tuple(int(c) for c in (255 - colour))
    cv2.drawContours(image, contours, -1, edge, 1)
