"""Fine-tuned heads: the backbone's last stage retrained with a new classifier, under TorchDistributor.

A head over the frozen backbone's features (:mod:`.heads`) can only weigh what the
cut layer already says. For the storey count it says too little: a linear head
on ``pool5`` stops near 0.88 however much it is regularised. Fine-tuning the
last stage of the backbone on the labelled photos, with the earlier stages
frozen, lets the network learn the floor lines and window rows themselves, which
is what "fine-tuning where that measurably wins" means: the head chooser
(:func:`lakesight.models.tagging.train_heads.fit_heads` and the pipeline's train
stage) takes this kind only when it wins on held-out photos.

Only a backbone lakesight can rebuild in torch can be fine-tuned: its card names
its ``torch`` weights and its ``training.model`` configuration (the shipped
``places_backbone`` does). A user's ONNX or Caffe backbone keeps Spark ML heads.

Training runs under Spark's TorchDistributor (local mode here, the same call on a
cluster), the photos handed to it as a file (:class:`TuningSet`). The result is one
ONNX graph from photo to class probabilities (:func:`export_onnx`), which the
heads' registry entry ships beside ``heads.npz`` (:class:`.heads.TunedHead`).
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lakesight.config import ConfigError
from lakesight.models.detection.detector import InputSpec, preprocess

# Layers of the backbone's body kept frozen: stages 1-3 (a strided conv and a conv per
# stage, each conv + BN + ReLU). The last stage and the classifier learn.
FROZEN_STAGES = 3
LAYERS_PER_STAGE = 6


@dataclass(frozen=True)
class TuneConfig:
    """Optimisation settings (defaults: the shipped heads')."""

    epochs: int = 6
    min_steps: int = 150  # small label sets still get this many optimiser steps
    batch: int = 64  # photos per step, over all processes
    lr: float = 1e-3  # AdamW peak, after `warmup` linear steps, cosine to 0
    warmup: int = 30
    weight_decay: float = 5e-4
    dropout: float = 0.2
    seed: int = 0
    threads: int = 2  # torch threads in all, split between processes
    pretrained: bool = True  # False: the same network from random weights, every layer trained

    def steps(self, photos: int) -> int:
        return max(self.min_steps, self.epochs * max(1, photos // self.batch))

    @classmethod
    def for_steps(cls, steps: int | None, option: str = "--tune-steps") -> TuneConfig:
        """The shipped schedule, or (``steps`` given) exactly ``steps`` optimiser steps with
        its warm-up scaled to them: a smoke run's, or a user's shorter retraining. A count
        below 1 is a bad ``option``."""
        if steps is None:
            return cls()
        if steps < 1:
            raise ConfigError(f"{option}: expected at least 1, got {steps}")
        return cls(epochs=0, min_steps=steps, warmup=max(1, steps // 5))

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TuningSet:
    """What a training process reads: photos (N, H, W, 3) uint8 RGB, labels (N,), classes."""

    images: np.ndarray
    labels: np.ndarray
    classes: int

    def write(self, path: Path) -> Path:
        np.savez(path, images=self.images, labels=self.labels, classes=self.classes)
        return path

    @classmethod
    def read(cls, path: str) -> TuningSet:
        with np.load(path) as npz:
            return cls(npz["images"], npz["labels"], int(npz["classes"]))


@dataclass(frozen=True)
class TunableBackbone:
    """A backbone lakesight can rebuild in torch: its weights, architecture and input."""

    name: str  # name@version
    weights: str  # path of the torch state dict
    model: dict  # the card's training.model (BackboneConfig fields)
    classes: int  # the source task's classes (the state dict's classifier)
    spec: InputSpec

    @classmethod
    def from_registry(cls, ref: str, registry: str | None = None) -> TunableBackbone:
        from lakesight.models.runtime import load_card, resolve, verified
        from lakesight.models.tagging.backbone import input_spec

        _, directory = resolve(ref, registry)
        card = load_card(directory)
        torch_file = card.get("files", {}).get("torch")
        model = card.get("training", {}).get("model")
        if not torch_file or not model or "source_task" not in card:
            raise ConfigError(
                f"backbone {ref}: no torch weights and architecture in its card, so it "
                "cannot be fine-tuned (its heads stay Spark ML)"
            )
        return cls(
            f"{card['name']}@{card['version']}",
            str(verified(directory, card, torch_file)),
            model,
            len(card["source_task"]["classes"]),
            input_spec(card["input"]),
        )

    @classmethod
    def available(cls, ref: str, registry: str | None = None) -> TunableBackbone | None:
        try:
            return cls.from_registry(ref, registry)
        except ConfigError:
            return None


def build_network(backbone: TunableBackbone, classes: int, config: TuneConfig):
    """The backbone's body (loaded, or random for ``pretrained=False``), its pool5 cut and a
    new linear classifier; the frozen stages stay in eval mode while the rest trains."""
    import torch

    from lakesight.models.tagging.train_backbone import POOL5_GRID, BackboneConfig
    from lakesight.models.tagging.train_backbone import build_network as places_network

    source = places_network(
        BackboneConfig(tuple(backbone.model["channels"]), backbone.model["dropout"]),
        backbone.classes,
    )
    if config.pretrained:
        source.load_state_dict(torch.load(backbone.weights, weights_only=True))
    frozen = FROZEN_STAGES * LAYERS_PER_STAGE if config.pretrained else 0
    cells = POOL5_GRID[0] * POOL5_GRID[1]

    class TunedNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = source.body
            self.dropout = torch.nn.Dropout(config.dropout)
            self.classifier = torch.nn.Linear(backbone.model["channels"][-1] * cells, classes)
            for layer in list(self.body)[:frozen]:
                layer.requires_grad_(False)

        def train(self, mode: bool = True):
            super().train(mode)
            for layer in list(self.body)[:frozen]:
                layer.eval()  # frozen batch norms keep the backbone's statistics
            return self

        def forward(self, x):
            pool5 = torch.nn.functional.adaptive_avg_pool2d(self.body(x), POOL5_GRID)
            return self.classifier(self.dropout(pool5.flatten(1)))

    return TunedNet()


def train(config: TuneConfig, backbone: TunableBackbone, set_path: str, *,
          distributed: bool = False, quiet: bool = True) -> dict:  # fmt: skip
    """The training loop (one process, or one rank of TorchDistributor's); returns rank 0's
    state dict and facts."""
    import torch
    import torch.distributed as dist

    from lakesight.models.nn import start_rank, warmup_cosine
    from lakesight.models.tagging.train_backbone import augmented

    rank, world = start_rank(distributed, config.seed, config.threads)
    data = TuningSet.read(set_path)
    model = build_network(backbone, data.classes, config)
    if distributed:
        model = torch.nn.parallel.DistributedDataParallel(model)
    core = model.module if distributed else model
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    total = config.steps(len(data.labels))
    per_rank = max(1, config.batch // world)
    rng = np.random.default_rng([config.seed, rank])  # ranks draw different photos
    started = time.perf_counter()
    model.train()
    losses = []
    for step in range(total):
        idx = rng.integers(len(data.labels), size=per_rank)
        x = torch.from_numpy(augmented(preprocess(data.images[idx], backbone.spec), rng))
        y = torch.from_numpy(data.labels[idx].astype(np.int64))
        for group in optimiser.param_groups:
            group["lr"] = warmup_cosine(step, config.lr, config.warmup, total)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if not quiet and rank == 0 and (step + 1) % 50 == 0:
            entry = {"step": step + 1, "loss": round(float(np.mean(losses[-50:])), 4)}
            print(f"[tuning] {json.dumps(entry)}", file=sys.stderr, flush=True)
    facts = {
        "seconds": round(time.perf_counter() - started, 1),
        "steps": total,
        "photos": len(data.labels),
        "world_size": world,
        "final_loss": round(float(np.mean(losses[-20:])), 4),
    }
    state = {k: v.detach().cpu() for k, v in core.state_dict().items()}
    if distributed:
        dist.destroy_process_group()
    return {"state": state, "facts": facts}


def export_onnx(backbone: TunableBackbone, classes: int, config: TuneConfig, state: dict) -> bytes:
    """One graph: ``images`` (N, 3, H, W), prepared as the backbone's input → ``probabilities``."""
    import torch

    from lakesight.models.runtime import ONNX_OPSET

    model = build_network(backbone, classes, config)
    model.load_state_dict(state)

    class Probabilities(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, images):
            return torch.softmax(self.inner(images), dim=1)

    buffer = io.BytesIO()
    torch.onnx.export(
        Probabilities(model.eval()).eval(),
        (torch.zeros(1, 3, *backbone.spec.height_width),),
        buffer,
        dynamo=False,
        input_names=["images"],
        output_names=["probabilities"],
        dynamic_axes={"images": {0: "batch"}, "probabilities": {0: "batch"}},
        opset_version=ONNX_OPSET,
    )
    return buffer.getvalue()


def at_input_size(images, spec: InputSpec) -> np.ndarray:
    """Photos of any sizes as one (N, H, W, 3) uint8 array at the network's input size: the
    resize :func:`preprocess` would do (a second resize to the same size is the identity)."""
    import cv2

    height, width = spec.height_width
    return np.stack(
        [cv2.resize(im, (width, height), interpolation=cv2.INTER_AREA) for im in images]
    )


def fine_tune(backbone: TunableBackbone, images: np.ndarray, labels: np.ndarray,
              classes: tuple[str, ...], config: TuneConfig | None = None, *,
              processes: int = 1):  # fmt: skip
    """A :class:`.heads.TunedHead` fine-tuned on ``images`` (RGB uint8) under TorchDistributor
    with ``processes`` local processes (an active SparkSession supplies its conf)."""
    from pyspark.ml.torch.distributor import TorchDistributor

    from lakesight.models.tagging.heads import TunedHead

    config = config or TuneConfig()
    if len(set(np.asarray(labels).tolist())) < 2:
        raise ValueError("a head needs at least 2 classes among its labels")
    with tempfile.TemporaryDirectory(prefix="lakesight-tuning-") as scratch:
        path = TuningSet(at_input_size(images, backbone.spec), np.asarray(labels), len(classes))
        path = path.write(Path(scratch, "tuning.npz"))
        distributor = TorchDistributor(num_processes=processes, local_mode=True, use_gpu=False)
        result = distributor.run(train, config, backbone, str(path), distributed=True)
    onnx = export_onnx(backbone, len(classes), config, result["state"])
    facts = {**result["facts"], "config": config.to_dict(), "tuned_from": backbone.name}
    return TunedHead(tuple(classes), onnx, backbone.spec, facts)
