"""Train lakesight's shipped SSD on generated scenes, export it, quantise it, register it.

Rebuild the shipped model (about 15-20 minutes on 2 CPU cores)::

    python -m lakesight.models.detection.train_ssd --out models/registry --version 1

Steps: train (torch, CPU; ``--distributed`` runs the same loop under Spark's
TorchDistributor) → export ONNX (no NMS or decoding in the graph) → evaluate VOC
mAP@0.5 on held-out scenes from a seed training never used → static int8
quantisation calibrated on a third seed → ``<out>/<name>/<version>/`` with
``model.onnx``, ``model.int8.onnx`` and ``card.json`` (:mod:`.release`).

Training is deterministic by seed: scene ``i`` of step ``s`` is
``scene_rng(seed, s * batch + i)``, and torch's initialisation is seeded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lakesight.models.detection import boxes
from lakesight.models.detection.detector import InputSpec, preprocess
from lakesight.models.detection.ssd import SSDConfig
from lakesight.models.scenes import SceneConfig, render_scene, scene_rng

# Seeds: training scenes, held-out evaluation scenes, int8 calibration scenes.
TRAIN_SEED = 1
EVAL_SEED = 2026
CALIBRATION_SEED = 77


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (defaults: the shipped model)."""

    steps: int = (
        1600  # optimiser steps; each sees `batch` fresh scenes (no epochs: data is unlimited)
    )
    batch: int = 32  # scenes per step
    lr: float = 3e-3  # AdamW peak learning rate, after `warmup` linear steps, cosine to 0
    warmup: int = 50
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    seed: int = TRAIN_SEED  # scene stream and torch initialisation
    threads: int = 2  # torch intra-op threads for the training process
    log_every: int = 50  # steps between progress lines (and history entries)
    ssd: SSDConfig = field(default_factory=lambda: SSDConfig(image_size=160))
    scenes: SceneConfig = field(
        default_factory=lambda: SceneConfig(photo_backgrounds=True, photometric_jitter=True)
    )


def scene_targets(objects, classes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Ground truth of one scene as (boxes xyxy (G, 4), labels (G,) with background 0)."""
    gt = np.asarray(
        [[o.x_min, o.y_min, o.x_max, o.y_max] for o in objects], dtype=np.float64
    ).reshape(-1, 4)
    labels = np.asarray([classes.index(o.label) + 1 for o in objects], dtype=np.int64)
    return gt, labels


def make_batch(config: TrainConfig, step: int, priors: np.ndarray, offset: int = 0):
    """(images (B, 3, S, S), loc targets (B, P, 4), labels (B, P)) as numpy arrays."""
    ssd = config.ssd
    spec = InputSpec(ssd.image_size, ssd.mean, ssd.scale)
    images, locs, labels = [], [], []
    for i in range(config.batch):
        image, objects = render_scene(
            scene_rng(config.seed, offset + step * config.batch + i), config.scenes
        )
        gt, gt_labels = scene_targets(objects, ssd.classes)
        loc, lab = boxes.match(gt, gt_labels, priors, ssd.variances)
        images.append(image)
        locs.append(loc)
        labels.append(lab)
    return preprocess(images, spec), np.stack(locs), np.stack(labels)


def _batches(config: TrainConfig, priors: np.ndarray, rank: int, world: int):
    """Batches for one rank, made in a worker process so rendering overlaps training."""
    import torch
    from torch.utils.data import DataLoader, IterableDataset

    class Scenes(IterableDataset):
        def __iter__(self):
            torch.set_num_threads(1)
            for step in range(config.steps):
                # Ranks draw disjoint scenes: rank r takes global step s * world + r.
                x, loc, lab = make_batch(config, step * world + rank, priors)
                yield torch.from_numpy(x), torch.from_numpy(loc), torch.from_numpy(lab)

    return DataLoader(Scenes(), batch_size=None, num_workers=1, prefetch_factor=4)


def train(config: TrainConfig, *, distributed: bool = False, quiet: bool = False) -> dict:
    """Run the training loop; returns the model's state dict and training facts (rank 0's)."""
    import torch

    from lakesight.models.detection.ssd import SSD, multibox_loss
    from lakesight.models.nn import (
        TrainingLog,
        for_ranks,
        rank_zero_result,
        start_rank,
        warmup_cosine,
    )

    rank, world = start_rank(distributed, config.seed, config.threads)
    model = SSD(config.ssd)
    model, core = for_ranks(model, distributed)
    priors = config.ssd.priors()
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )

    model.train()
    log = TrainingLog("train_ssd", config.log_every, config.steps, rank=rank, quiet=quiet,
                      decimals=4, rate="images_per_s", per_step=config.batch * world)  # fmt: skip
    for step, (x, loc_t, lab_t) in enumerate(_batches(config, priors, rank, world)):
        for group in optimiser.param_groups:
            group["lr"] = warmup_cosine(step, config.lr, config.warmup, config.steps)
        loc, logits = model(x, return_logits=True)
        loc_loss, conf_loss = multibox_loss(loc, logits, loc_t, lab_t)
        optimiser.zero_grad(set_to_none=True)
        (loc_loss + conf_loss).backward()
        optimiser.step()
        log.add(step, loc_loss=loc_loss.item(), conf_loss=conf_loss.item())
    facts = {
        "seconds": round(time.perf_counter() - log.started, 1),
        "images_seen": config.steps * config.batch * world,
        "world_size": world,
        "history": log.history,
    }
    return rank_zero_result(core, facts, distributed)


def train_distributed(config: TrainConfig, num_processes: int = 2) -> dict:
    """The same loop under Spark's TorchDistributor (:func:`lakesight.models.nn.run_on_ranks`)."""
    from lakesight.models.nn import run_on_ranks

    return run_on_ranks(train, num_processes, config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="models/registry", help="registry directory to write into")
    parser.add_argument("--name", default="ssd_scenes")
    parser.add_argument("--version", default="1")
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--batch", type=int, default=TrainConfig.batch)
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument(
        "--distributed", action="store_true", help="train under Spark's TorchDistributor"
    )
    parser.add_argument("--checkpoint", help="skip training: release this saved state dict (.pt)")
    parser.add_argument("--eval-images", type=int, default=500)
    args = parser.parse_args(argv)

    from lakesight.models.checkpoint import load_checkpoint, save_checkpoint
    from lakesight.models.detection.release import release_ssd

    config = TrainConfig(steps=args.steps, batch=args.batch, seed=args.seed)
    out_dir = Path(args.out) / args.name / args.version
    out_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = Path(args.checkpoint) if args.checkpoint else out_dir / "checkpoint.pt"
    if args.checkpoint:
        saved = load_checkpoint(checkpoint)
        state, facts = saved["state"], saved["facts"]
    else:
        result = train_distributed(config) if args.distributed else train(config)
        state, facts = result["state"], result["facts"]
        save_checkpoint(checkpoint, state, facts=facts, config=asdict(config))
    # The command that rebuilds this entry from scratch (never the --checkpoint shortcut).
    command = (
        f"python -m lakesight.models.detection.train_ssd --out {args.out} --name {args.name} "
        f"--version {args.version} --steps {args.steps} --batch {args.batch} --seed {args.seed}"
        + (" --distributed" if args.distributed else "")
    )
    card = release_ssd(
        state, config, facts, out_dir, name=args.name, version=args.version,
        eval_images=args.eval_images, rebuild_command=command.strip(),
    )  # fmt: skip
    print(json.dumps({k: card[k] for k in ("name", "version", "metrics")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
