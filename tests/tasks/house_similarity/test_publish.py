"""The publish stage's tagging: heads over features, heads fine-tuned on pixels, and a photo that fails."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pandas as pd
import pytest

from lakesight.house_similarity.publish import tag_batch, tag_photos
from lakesight.imaging import DecodeLimits
from lakesight.models.detection.detector import InputSpec
from lakesight.spark import ImageJob

pytestmark = pytest.mark.unit
DIM = 4


def brightness_head_onnx() -> bytes:
    """A tiny "fine-tuned" graph: bright photos are class 0, dark ones class 2."""
    import torch

    class Brightness(torch.nn.Module):
        def forward(self, images):
            m = images.mean(dim=(1, 2, 3)).unsqueeze(1)
            return torch.softmax(torch.cat([10 * m, 0 * m, -10 * m], dim=1), dim=1)

    buffer = io.BytesIO()
    torch.onnx.export(Brightness(), (torch.zeros(1, 3, 24, 32),), buffer, dynamo=False,
                      input_names=["images"], output_names=["probabilities"],
                      dynamic_axes={"images": {0: "n"}, "probabilities": {0: "n"}})  # fmt: skip
    return buffer.getvalue()


def logistic(classes, answer: int):
    from lakesight.models.tagging.heads import Head

    bias = np.full(len(classes), -5.0, np.float32)
    bias[answer] = 5.0
    return Head(tuple(classes), ((np.zeros((DIM, len(classes)), np.float32), bias),))


@pytest.fixture(scope="module")
def heads():
    from lakesight.models.tagging.heads import TagHeads, TunedHead

    spec = InputSpec(size=32, mean=127.5, scale=1 / 127.5, shape=(24, 32))
    stories = TunedHead(("1", "2", "3"), brightness_head_onnx(), spec)
    return TagHeads("house_tags@9", "places_backbone@1", {
        "exterior": logistic(("other", "exterior"), 1),
        "style": logistic(("colonial", "victorian", "ranch", "modern"), 2),
        "stories": stories,
    })  # fmt: skip


def png(value: int) -> bytes:
    return cv2.imencode(".png", np.full((48, 64, 3), value, np.uint8))[1].tobytes()


def test_a_fine_tuned_head_tags_from_the_photo_and_a_broken_one_is_quarantined(heads):
    batch = pd.DataFrame({
        "photo_id": ["bright", "dark", "broken"],
        "path": ["file:/lake/a.png", "file:/lake/b.png", "file:/lake/c.png"],
        "embedding": [np.zeros(DIM, np.float32)] * 3,
        "content": [png(250), png(5), b"\x89PNG\r\n\x1a\n truncated"],
    })  # fmt: skip
    job = ImageJob(("house_tags@9",), "", DecodeLimits(max_pixels=10_000_000, min_side=16))
    out = tag_batch(batch, heads, job).set_index("photo_id")
    assert out.loc["bright", "stories"] == 1 and out.loc["dark", "stories"] == 3
    assert out.loc["bright", "style"] == "ranch" and bool(out.loc["dark", "exterior"])
    assert out.loc["bright", "stories_score"] > 0.9
    assert out["reason"].isna().tolist() == [True, True, False]
    assert out.loc["broken", "reason"] and out.loc["broken", "detail"]
    assert pd.isna(out.loc["broken", "exterior"]) and pd.isna(out.loc["broken", "stories"])


def test_tags_beyond_exterior_are_left_empty_for_other_views(heads):
    from lakesight.models.tagging.heads import TagHeads

    interior = TagHeads("", "", {**heads.heads, "exterior": logistic(("other", "exterior"), 0)})
    photos = [np.full((48, 64, 3), 250, np.uint8)] * 2
    tags = tag_photos(np.zeros((2, DIM), np.float32), interior, photos)
    assert tags["exterior"] == [False, False]
    assert tags["stories"] == [None, None] and tags["style_score"] == [None, None]
    with pytest.raises(ValueError, match="needs the photos"):
        tag_photos(np.zeros((2, DIM), np.float32), heads)
