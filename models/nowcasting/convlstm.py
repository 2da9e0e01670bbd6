"""The ConvLSTM encoder–forecaster of Shi et al. (NeurIPS 2015), sized for CPUs.

Shi et al. stack ConvLSTM layers into an *encoder*, which reads the input
frames, and a *forecaster*, which starts from the encoder's states and unrolls
the future without input. As in their HKO-7 benchmark (Shi et al. 2017), the
frames are first brought down to coarser grids by strided convolutions, so the
recurrent layers see a wide area at little cost:

    frame (1, G, G) ─(conv/2)×L→ (c0, G/2^L) ─ConvLSTM(c1)→ ─conv/2→ (c1, G/2^(L+1)) ─ConvLSTM(c2)→
    forecaster: ConvLSTM(c2) (states copied from the encoder) ─up×2→
                ConvLSTM(c1) (states copied) ─(deconv×2)×L→ (1, G) per lead

The shipped model has G = 64 and L = 1 (ConvLSTMs at 32×32 and 16×16); L = 2 with
G = 128 keeps the recurrent cost and outputs at 128 pixels, at about 1.5× the training
time on these machines.

Inputs and outputs are frames in the contract's encoding scaled to 0..1
(``pixels / 255``); the output is a sigmoid, so forecasts stay in range.
The loops unroll at export: the ONNX graph maps ``frames (B, T_in, 1, G, G)`` to
``forecast (B, T_out, 1, G, G)`` with a dynamic batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ConvLSTMConfig:
    grid: int = 64  # the model's own grid; the forecast stage resamples frames to it
    # Stride-2 convolutions before the first ConvLSTM (and learned up-samplings after it):
    # the recurrent layers work at G / 2^levels and G / 2^(levels+1), the output at G.
    stem_levels: int = 1
    inputs: int = 5  # frames in (30 minutes at 6-minute steps)
    outputs: int = 10  # frames out (the next hour)
    stem: int = 16  # channels of the strided convolutions (and of the learned up-samplings)
    hidden: tuple[int, int] = (32, 48)  # ConvLSTM channels at G/2 and G/4
    kernel: int = 3

    def to_dict(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, values: dict) -> ConvLSTMConfig:
        return cls(**{**values, "hidden": tuple(values["hidden"])})


class ConvLSTMCell(nn.Module):
    """One ConvLSTM layer (Shi et al. eq. 3, without the peephole terms, as most
    implementations since): all four gates from one convolution of [x, h]."""

    def __init__(self, in_channels: int, hidden: int, kernel: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        h, c = state
        i, f, o, g = torch.chunk(self.gates(torch.cat([x, h], dim=1)), 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class EncoderForecaster(nn.Module):
    def __init__(self, config: ConvLSTMConfig = ConvLSTMConfig()) -> None:
        super().__init__()
        self.config = config
        c0, (c1, c2), k = config.stem, config.hidden, config.kernel
        stem: list[nn.Module] = []
        for level in range(config.stem_levels):
            stem += [
                nn.Conv2d(1 if level == 0 else c0, c0, 3, stride=2, padding=1),
                nn.LeakyReLU(0.2),
            ]
        self.stem = nn.Sequential(*stem)
        self.enc1 = ConvLSTMCell(c0, c1, k)
        self.down = nn.Sequential(nn.Conv2d(c1, c1, 3, stride=2, padding=1), nn.LeakyReLU(0.2))
        self.enc2 = ConvLSTMCell(c1, c2, k)
        # The forecaster's top layer has no input of its own (Shi et al.): a zero tensor.
        self.fore2 = ConvLSTMCell(1, c2, k)
        self.up = nn.Sequential(
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.LeakyReLU(0.2)
        )
        self.fore1 = ConvLSTMCell(c1, c1, k)
        head: list[nn.Module] = []
        for level in range(config.stem_levels):
            head += [
                nn.ConvTranspose2d(c1 if level == 0 else c0, c0, 4, stride=2, padding=1),
                nn.LeakyReLU(0.2),
            ]
        self.head = nn.Sequential(*head, nn.Conv2d(c0, 1, 3, padding=1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """``frames`` (B, T_in, 1, G, G) in 0..1 → forecast (B, T_out, 1, G, G) in 0..1."""
        b, _, _, g, _ = frames.shape
        c1, c2 = self.config.hidden
        g1 = g >> self.config.stem_levels  # the first ConvLSTM's grid
        zeros1 = frames.new_zeros(b, c1, g1, g1)
        zeros2 = frames.new_zeros(b, c2, g1 // 2, g1 // 2)
        s1, s2 = (zeros1, zeros1), (zeros2, zeros2)
        for t in range(self.config.inputs):
            s1 = self.enc1(self.stem(frames[:, t]), s1)
            s2 = self.enc2(self.down(s1[0]), s2)
        nothing = frames.new_zeros(b, 1, g1 // 2, g1 // 2)
        out = []
        for _ in range(self.config.outputs):
            s2 = self.fore2(nothing, s2)
            s1 = self.fore1(self.up(s2[0]), s1)
            out.append(torch.sigmoid(self.head(s1[0])))
        return torch.stack(out, dim=1)


def balanced_weights(
    target: torch.Tensor, edges: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Per-pixel loss weights by the target's rain class (Shi et al. 2017's balanced loss):
    heavy rain is rare, and without them a model learns to forecast drizzle everywhere.
    ``edges`` are the 0..1 pixel values of the rain thresholds, ``weights`` one more than edges."""
    return weights[torch.bucketize(target, edges, right=True)]


def nowcast_loss(
    forecast: torch.Tensor,
    target: torch.Tensor,
    edges: torch.Tensor,
    weights: torch.Tensor,
    lead_weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Balanced MSE + MAE, averaged over pixels, leads and the batch; ``lead_weights`` (T_out,)
    weigh the leads (the first ones, where a forecast must keep the detail it was given)."""
    w = balanced_weights(target, edges, weights)
    if lead_weights is not None:
        w = w * lead_weights.view(1, -1, 1, 1, 1)
    error = forecast - target
    return (w * (error**2 + error.abs())).mean()
