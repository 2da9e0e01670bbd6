"""DeepBit (Lin et al., CVPR 2016): compact binary descriptors learned without labels.

Two stages, as in DeepBit's recipe:

1. :class:`CropClassifier`: a small MobileNet-style backbone pretrained,
   supervised, on generated object crops (the stand-in for ImageNet weights,
   which cannot be downloaded here);
2. :class:`DeepBit`: the backbone frozen; one K-bit layer ``fc8_kevin`` per
   code length on top of the backbone's L2-normalised embedding (the role of
   VGG's pretrained fc7), trained with the three DeepBit objectives of
   :func:`deepbit_loss`. ``fc8_kevin`` starts from PCA-ITQ of the unlabelled
   training pool: DeepBit starts from pretrained weights, which cannot be had
   here, and from a random start the three objectives collapse on normalised
   features (every code alike, mAP at chance). An optional trainable ``fc7``
   (``hidden > 0``) sits in between when wanted.

Following the released code where it differs from the paper: a ReLU (not a
sigmoid) follows ``fc8_kevin``, and codes are the activations thresholded at
the per-bit mean of the training activations (stored with the model).

Tensor contract of :class:`DeepBit` (and of its ONNX export):

- input ``(B, 3, S, S)`` float32 RGB crops, ``(pixel - mean) * scale``;
- outputs ``embedding (B, D)``: L2-normalised backbone features, and
  ``bits<K> (B, K)``: non-negative activations for each K in the config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lakesight.models.nn import depthwise_separable, mobilenet_stride8, scaled
from lakesight.models.scenes import CROP_CLASSES


@dataclass(frozen=True)
class DeepBitConfig:
    """Architecture and objective settings."""

    classes: tuple[str, ...] = CROP_CLASSES  # stage-1 (supervised pretraining) labels
    crop_size: int = 64  # square input side
    width: float = 0.5  # backbone width multiplier
    hidden: int = 0  # fc7 width between the embedding and fc8_kevin; 0 = none (the shipped model)
    bits: tuple[int, ...] = (32, 64, 128)  # one fc8_kevin per code length
    # Rotations of the invariance term (degrees) and their weights exp(-(i-3)^2/2), i = 1..5.
    rotations: tuple[float, ...] = (-10.0, -5.0, 0.0, 5.0, 10.0)
    quantization_weight: float = 1.0  # weight of the push of activations towards 0/1
    # Even distribution is already near-satisfied from the ITQ start; a full weight
    # trades retrieval quality for exact 50/50 bits (measured: mAP@1000 -0.01..-0.02).
    balance_weight: float = 0.1
    rotation_weight: float = 1.0  # weight of the rotation invariance (5x measured: codes collapse)
    mean: float = 127.5  # input normalisation: (pixel - mean) * scale
    scale: float = 1 / 127.5

    @classmethod
    def from_dict(cls, values: dict) -> DeepBitConfig:
        """Inverse of ``dataclasses.asdict`` after a JSON round trip."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @property
    def rotation_weights(self) -> tuple[float, ...]:
        return tuple(math.exp(-((i - 3) ** 2) / 2) for i in range(1, len(self.rotations) + 1))


class CropBackbone(nn.Module):
    """MobileNet-style body for crops: (B, 3, S, S) → pooled features (B, D)."""

    def __init__(self, width: float) -> None:
        super().__init__()
        c = lambda n: scaled(n, width)  # noqa: E731
        self.body = nn.Sequential(
            *mobilenet_stride8(width),
            depthwise_separable(c(256), c(512), 2),
            depthwise_separable(c(512), c(512)),
        )
        self.dim = c(512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


class CropClassifier(nn.Module):
    """Stage 1: backbone + linear classifier over the crop classes."""

    def __init__(self, config: DeepBitConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DeepBitConfig()
        self.backbone = CropBackbone(config.width)
        self.classifier = nn.Sequential(
            nn.Dropout(0.2), nn.Linear(self.backbone.dim, len(config.classes))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.config.crop_size)
        return self.classifier(self.backbone(x))


class HashHead(nn.Module):
    """[fc7 → ReLU →] fc8_kevin (K units) → ReLU: the released DeepBit's hash layer."""

    def __init__(self, dim: int, hidden: int, bits: int) -> None:
        super().__init__()
        self.fc7 = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU()) if hidden else nn.Identity()
        self.fc8_kevin = nn.Linear(hidden or dim, bits)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc8_kevin(self.fc7(embedding)))

    def init_from_itq(self, embeddings: torch.Tensor, seed: int) -> None:
        """Start fc8_kevin at PCA-ITQ of ``embeddings`` (needs no fc7): its codes, at 0.5 ± ~0.5."""
        from lakesight.models.description.hashing import ITQ

        if not isinstance(self.fc7, nn.Identity):
            raise ValueError(
                "ITQ initialisation needs fc8_kevin directly on the embedding (hidden=0)"
            )
        data = embeddings.detach().numpy().astype(np.float64)
        itq = ITQ(self.fc8_kevin.out_features, seed=seed).fit(data)
        projection = (itq.pca_ @ itq.rotation_).T  # (K, D)
        # Scale so that a typical projection moves the activation by 0.5 from the 0.5 midpoint.
        scale = 0.5 / np.abs((data - itq.mean_) @ projection.T).mean()
        with torch.no_grad():
            self.fc8_kevin.weight.copy_(torch.from_numpy(projection * scale))
            self.fc8_kevin.bias.copy_(torch.from_numpy(0.5 - (itq.mean_ @ projection.T) * scale))


class DeepBit(nn.Module):
    """Stage 2: frozen backbone, one :class:`HashHead` per code length."""

    def __init__(self, config: DeepBitConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DeepBitConfig()
        self.backbone = CropBackbone(config.width)
        self.heads = nn.ModuleDict(
            {str(k): HashHead(self.backbone.dim, config.hidden, k) for k in config.bits}
        )
        # Per-bit thresholds: the mean training activation (set after training).
        for k in config.bits:
            self.register_buffer(f"threshold{k}", torch.full((k,), 0.5))

    def freeze_backbone(self) -> None:
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.backbone.eval()  # BatchNorm statistics stay those of stage 1

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``(embedding (B, D), bits<K> (B, K) for each K)``."""
        _check_input(x, self.config.crop_size)
        embedding = F.normalize(self.backbone(x), dim=1)
        return (embedding, *(self.heads[str(k)](embedding) for k in self.config.bits))

    def thresholds(self, bits: int) -> torch.Tensor:
        return getattr(self, f"threshold{bits}")


def _check_input(x: torch.Tensor, size: int) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != size or x.shape[3] != size:
        raise ValueError(f"expected (B, 3, {size}, {size}) crops, got {tuple(x.shape)}")


def deepbit_loss(
    activations: torch.Tensor, rotated: list[torch.Tensor], config: DeepBitConfig
) -> dict[str, torch.Tensor]:
    """The three DeepBit objectives for one head.

    ``activations (B, K)`` of the crops and, for each angle of ``config.rotations``,
    ``rotated[i] (B, K)`` of the same crops rotated.

    - quantisation: activations pushed towards their binary code (0 or 1);
    - even distribution: each bit on for half of the batch;
    - rotation invariance: activations of rotated crops close to the upright ones,
      weighted by exp(-(i-3)^2/2) over the rotations.
    """
    codes = (activations > 0.5).float().detach()
    quantization = ((activations - codes) ** 2).sum(dim=1).mean()
    balance = ((activations.mean(dim=0) - 0.5) ** 2).sum()
    weights = config.rotation_weights
    rotation = sum(
        w * ((activations - r) ** 2).sum(dim=1).mean()
        for w, r, angle in zip(weights, rotated, config.rotations, strict=True)
        if angle != 0
    ) / sum(w for w, angle in zip(weights, config.rotations, strict=True) if angle != 0)
    total = (
        config.quantization_weight * quantization
        + config.balance_weight * balance
        + config.rotation_weight * rotation
    )
    return {"total": total, "quantization": quantization, "balance": balance, "rotation": rotation}
