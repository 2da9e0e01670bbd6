"""SSD (Liu et al., 2016) with a MobileNet-style backbone, and its MultiBox loss.

Tensor contract of :class:`SSD`:

- input ``(B, 3, S, S)`` float32, RGB, normalised as ``(pixel - mean) * scale``
  with the config's ``mean`` and ``scale`` (MobileNet-SSD's 127.5 and 1/127.5);
- output ``loc (B, P, 4)``: box regressions against the priors of
  :meth:`SSDConfig.priors` (variances applied at decode time), and
  ``scores (B, P, C+1)``: softmax class probabilities, background at index 0.

Decoding and NMS are not part of the graph: :func:`lakesight.models.detection.boxes.detection_output`
does them in numpy for every runtime, so ONNX Runtime and OpenCV DNN can run
the exported graph as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lakesight.models.detection import boxes
from lakesight.models.nn import conv_bn, depthwise_separable, mobilenet_stride8, scaled
from lakesight.models.scenes import CLASSES


@dataclass(frozen=True)
class SSDConfig:
    """Architecture and box settings of an SSD."""

    classes: tuple[str, ...] = CLASSES  # foreground classes; class i has label i + 1
    image_size: int = 224  # square input side; the maps are S/8, S/16, S/32, then halving
    width: float = 0.5  # MobileNet width multiplier
    stride16_blocks: int = 3  # 512-channel blocks at stride 16 (MobileNet v1 has 5)
    # Ratios besides 1 per feature map, as in the paper's SSD300 (2 on the first and last maps).
    aspect_ratios: tuple[tuple[float, ...], ...] = (
        (2.0,),
        (2.0, 3.0),
        (2.0, 3.0),
        (2.0, 3.0),
        (2.0,),
        (2.0,),
    )
    min_scale: float = 0.1  # default-box scale on the first (finest) map
    max_scale: float = 0.9  # default-box scale on the last map
    variances: tuple[float, float] = (0.1, 0.2)  # centre and size variances of the box encoding
    mean: float = 127.5  # input normalisation: (pixel - mean) * scale
    scale: float = 1 / 127.5

    @classmethod
    def from_dict(cls, values: dict) -> SSDConfig:
        """Inverse of ``dataclasses.asdict`` after a JSON round trip (lists back to tuples)."""

        def as_tuple(value):
            return tuple(as_tuple(v) for v in value) if isinstance(value, list) else value

        return cls(**{k: as_tuple(v) for k, v in values.items()})

    @property
    def num_classes(self) -> int:
        """Classes including background."""
        return len(self.classes) + 1

    @property
    def feature_sizes(self) -> tuple[int, ...]:
        """Side of each of the six feature maps (stride-2 3x3 convs: ceil(n / 2))."""
        side, sizes = self.image_size, []
        for stride_step in range(8):
            side = (side + 1) // 2
            if stride_step >= 2:
                sizes.append(side)
        return tuple(sizes[:6])

    def priors(self) -> np.ndarray:
        """Default boxes (P, 4) cxcywh in head order."""
        return boxes.prior_boxes(
            self.feature_sizes, self.aspect_ratios, self.min_scale, self.max_scale
        )


class MobileNetBackbone(nn.Module):
    """MobileNet v1 body returning the stride-8, -16 and -32 feature maps."""

    def __init__(self, width: float, stride16_blocks: int) -> None:
        super().__init__()
        c = lambda n: scaled(n, width)  # noqa: E731
        self.stride8 = nn.Sequential(*mobilenet_stride8(width))
        self.stride16 = nn.Sequential(
            depthwise_separable(c(256), c(512), 2),
            *[depthwise_separable(c(512), c(512)) for _ in range(stride16_blocks)],
        )
        self.stride32 = nn.Sequential(
            depthwise_separable(c(512), c(1024), 2),
            depthwise_separable(c(1024), c(1024)),
        )
        self.channels = (c(256), c(512), c(1024))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f8 = self.stride8(x)
        f16 = self.stride16(f8)
        f32 = self.stride32(f16)
        return [f8, f16, f32]


class SSD(nn.Module):
    """MobileNet-SSD: backbone, three extra stride-2 stages, 3x3 loc/conf heads on six maps."""

    def __init__(self, config: SSDConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or SSDConfig()
        self.backbone = MobileNetBackbone(config.width, config.stride16_blocks)
        c = lambda n: scaled(n, config.width)  # noqa: E731
        extra_out = (c(512), c(256), c(256))
        self.extras = nn.ModuleList()
        c_in = self.backbone.channels[-1]
        for c_out in extra_out:
            self.extras.append(
                nn.Sequential(conv_bn(c_in, c_out // 2, 1), conv_bn(c_out // 2, c_out, 3, 2))
            )
            c_in = c_out
        map_channels = (*self.backbone.channels, *extra_out)
        anchors = boxes.priors_per_cell(config.aspect_ratios)
        self.loc_heads = nn.ModuleList(
            nn.Conv2d(ch, a * 4, 3, padding=1) for ch, a in zip(map_channels, anchors, strict=True)
        )
        self.conf_heads = nn.ModuleList(
            nn.Conv2d(ch, a * config.num_classes, 3, padding=1)
            for ch, a in zip(map_channels, anchors, strict=True)
        )
        self.num_priors = sum(s * s * a for s, a in zip(config.feature_sizes, anchors, strict=True))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        maps = self.backbone(x)
        for extra in self.extras:
            maps.append(extra(maps[-1]))
        return maps

    def forward(
        self, x: torch.Tensor, *, return_logits: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(loc (B, P, 4), scores (B, P, C+1))``: softmax scores, the exported contract.

        ``return_logits=True`` gives raw logits instead, for the loss.
        """
        size = self.config.image_size
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != size or x.shape[3] != size:
            raise ValueError(f"SSD expects (B, 3, {size}, {size}) input, got {tuple(x.shape)}")
        locs, confs = [], []
        c = self.config
        anchors = boxes.priors_per_cell(c.aspect_ratios)
        maps = zip(
            self.features(x), self.loc_heads, self.conf_heads, c.feature_sizes, anchors, strict=True
        )
        for fmap, loc_head, conf_head, side, a in maps:
            # (B, A*4, H, W) → (B, H, W, A*4) → (B, H*W*A, 4): row-major cells, as the priors.
            # Static sizes with -1 for the batch keep the exported Reshape free of Shape
            # ops, which OpenCV DNN would freeze at batch 1.
            locs.append(loc_head(fmap).permute(0, 2, 3, 1).reshape(-1, side * side * a, 4))
            confs.append(
                conf_head(fmap).permute(0, 2, 3, 1).reshape(-1, side * side * a, c.num_classes)
            )
        loc, logits = torch.cat(locs, dim=1), torch.cat(confs, dim=1)
        return (loc, logits) if return_logits else (loc, F.softmax(logits, dim=-1))


def multibox_loss(
    loc_pred: torch.Tensor,
    logits: torch.Tensor,
    loc_target: torch.Tensor,
    label_target: torch.Tensor,
    neg_pos_ratio: int = 3,
) -> tuple[torch.Tensor, torch.Tensor]:
    """MultiBox loss: (smooth-L1 localisation, cross-entropy confidence), each / #positives.

    Shapes: ``loc_* (B, P, 4)``, ``logits (B, P, C+1)``, ``label_target (B, P)`` int64.
    Hard negative mining keeps, per image, the ``neg_pos_ratio × positives`` background
    priors with the highest confidence loss.
    """
    positive = label_target > 0  # (B, P)
    n_pos = positive.sum(dim=1, keepdim=True)  # (B, 1)
    ce = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), label_target.reshape(-1), reduction="none"
    )
    ce = ce.view_as(label_target)
    with torch.no_grad():
        mining = ce.clone()
        mining[positive] = 0.0
        rank = mining.argsort(dim=1, descending=True).argsort(dim=1)
        hard_negative = rank < (neg_pos_ratio * n_pos).clamp(max=label_target.shape[1] - 1)
    selected = positive | hard_negative
    total_pos = n_pos.sum().clamp(min=1).float()
    loc_loss = (
        F.smooth_l1_loss(loc_pred[positive], loc_target[positive], reduction="sum") / total_pos
    )
    conf_loss = ce[selected].sum() / total_pos
    return loc_loss, conf_loss
