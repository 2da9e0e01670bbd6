"""Small torch parts shared by the model families, and the one weight-loading builder."""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from collections.abc import Mapping


def conv_bn(
    c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    """Conv → BatchNorm → ReLU6, 'same' padding for odd kernels."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU6(inplace=True),
    )


def depthwise_separable(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """MobileNet v1 block: 3x3 depthwise conv, then 1x1 pointwise conv."""
    return nn.Sequential(conv_bn(c_in, c_in, 3, stride, groups=c_in), conv_bn(c_in, c_out, 1))


def scaled(channels: int, width: float, minimum: int = 8) -> int:
    """Channels under a width multiplier, rounded to a multiple of 8 (SIMD-friendly)."""
    return max(minimum, int(channels * width + 4) // 8 * 8)


def mobilenet_stride8(width: float) -> list[nn.Module]:
    """MobileNet v1's first six blocks, 3 → 256·width channels at stride 8: the shared stem.

    Returned as a list so each model keeps its own ``nn.Sequential`` (and so its
    state-dict keys) around it.
    """
    c = lambda n: scaled(n, width)  # noqa: E731
    return [
        conv_bn(3, c(32), 3, 2),
        depthwise_separable(c(32), c(64)),
        depthwise_separable(c(64), c(128), 2),
        depthwise_separable(c(128), c(128)),
        depthwise_separable(c(128), c(256), 2),
        depthwise_separable(c(256), c(256)),
    ]


@dataclass
class LoadReport:
    """What :func:`load_state` did: keys it could not fill, ignored, or dropped for shape."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped_mismatched: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"missing={len(self.missing)} unexpected={len(self.unexpected)} "
            f"dropped_mismatched={len(self.dropped_mismatched)}"
        )


def load_state(
    model: nn.Module, state: Mapping[str, torch.Tensor], *, drop_mismatched: bool = False
) -> LoadReport:
    """Load ``state`` into ``model`` and report what did not fit.

    With ``drop_mismatched`` (transfer learning), tensors whose shape differs from
    the model's (typically a classifier head with another number of classes) are
    skipped and reported instead of raising.
    """
    own = model.state_dict()
    report = LoadReport()
    usable = {}
    for key, tensor in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif own[key].shape != tensor.shape:
            if not drop_mismatched:
                raise ValueError(
                    f"{key}: checkpoint shape {tuple(tensor.shape)} != model {tuple(own[key].shape)}"
                )
            report.dropped_mismatched.append(key)
        else:
            usable[key] = tensor
    result = model.load_state_dict(usable, strict=False)
    report.missing = sorted(set(result.missing_keys))
    return report


def warmup_cosine(step: int, peak: float, warmup: int, steps: int) -> float:
    """Learning rate at ``step``: linear warm-up to ``peak`` over ``warmup`` steps, then a
    cosine decay to 0 at ``steps`` (the schedule every lakesight trainer uses)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * 0.5 * (1 + math.cos(math.pi * progress))


class TrainingLog:
    """A training loop's progress: every ``every`` steps (and at the last), the mean of each
    loss since the previous entry and how fast it went, kept in ``history`` (the model's card
    records it) and printed by rank 0 unless ``quiet``. ``rate`` names the throughput
    (``images_per_s``: ``per_step`` items per step over all ranks); without one, an entry
    gives the seconds since the start."""

    def __init__(self, name: str, every: int, steps: int, *, rank: int, quiet: bool,
                 decimals: int, rate: str | None = None, per_step: int = 0) -> None:  # fmt: skip
        self.name, self.every, self.steps, self.decimals = name, every, steps, decimals
        self.loud, self.rate, self.per_step = rank == 0 and not quiet, rate, per_step
        self.history: list[dict] = []
        self.started = time.perf_counter()
        self._sums: dict[str, float] = {}

    def add(self, step: int, **losses: float) -> None:
        """Record the losses of 0-based ``step``; writes an entry when one is due."""
        for key, value in losses.items():
            self._sums[key] = self._sums.get(key, 0.0) + value
        if (step + 1) % self.every and step + 1 != self.steps:
            return
        n, elapsed = step % self.every + 1, time.perf_counter() - self.started
        entry = {"step": step + 1}
        entry.update((k, round(total / n, self.decimals)) for k, total in self._sums.items())
        if self.rate:
            entry[self.rate] = round((step + 1) * self.per_step / elapsed, 1)
        else:
            entry["seconds"] = round(elapsed, 1)
        self.history.append(entry)
        self._sums = {}
        if self.loud:
            print(f"[{self.name}] {json.dumps(entry)}", file=sys.stderr, flush=True)


def start_rank(distributed: bool, seed: int, threads: int) -> tuple[int, int]:
    """A training process's (rank, world size), the same for every lakesight trainer: under
    TorchDistributor it joins the gloo process group; torch is seeded and gets its share
    of ``threads``."""
    rank, world = 0, 1
    if distributed:
        import torch.distributed as dist

        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, threads // world))
    return rank, world


def for_ranks(model, distributed: bool):
    """``(model to train, its core)``: under TorchDistributor the model is wrapped in
    DistributedDataParallel, and the core is what is saved and exported either way."""
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(model)
    return model, (model.module if distributed else model)


def rank_zero_result(core, facts: dict, distributed: bool) -> dict:
    """What a training process returns: ``{"state", "facts"}``, rank 0's on every rank (in
    local mode every rank writes the same result file and the last one wins; BatchNorm
    buffers can differ between ranks), then the process group is left."""
    state = {k: v.detach().cpu() for k, v in core.state_dict().items()}
    if distributed:
        import torch.distributed as dist

        for tensor in state.values():
            dist.broadcast(tensor, src=0)
        shared = [facts]
        dist.broadcast_object_list(shared, src=0)
        facts = shared[0]
        dist.destroy_process_group()
    return {"state": state, "facts": facts}


def run_on_ranks(train, processes: int, *args, **kwargs) -> dict:
    """``train(*args, **kwargs)`` in this process, or in ``processes`` processes under Spark's
    TorchDistributor (local mode here, ``local_mode=False`` on a cluster) with
    ``distributed=True``; rank 0's result either way."""
    if processes <= 1:
        return train(*args, **kwargs)
    from pyspark.ml.torch.distributor import TorchDistributor

    from lakesight.spark import get_spark

    # TorchDistributor runs on the active session; a training script may not have one yet.
    get_spark("lakesight-train", master=f"local[{processes}]")
    distributor = TorchDistributor(num_processes=processes, local_mode=True, use_gpu=False)
    return distributor.run(train, *args, distributed=True, **kwargs)
