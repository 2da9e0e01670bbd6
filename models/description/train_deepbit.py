"""Train lakesight's shipped DeepBit descriptor, evaluate it against LSH and ITQ, register it.

Rebuild the shipped model (about 10 minutes on 2 CPU cores)::

    python -m lakesight.models.description.train_deepbit --out models/registry --version 1

1. Stage 1, supervised: the crop backbone learns the crop classes (the SSD's
   and more) on generated crops (seed 11).
2. Stage 2, unsupervised: backbone frozen; for a pool of unlabelled crops
   (seed 12) and their rotations by ±5° and ±10°, the backbone features are
   computed once, and the hash heads train on them with the DeepBit objectives.
   Thresholds = per-bit mean activation over the pool.
3. Evaluation (DeepBit's protocol): queries from held-out crops (seed 2026),
   database from other crops (seed 2027); mAP over the top 1000 by Hamming
   distance, relevant = same class; LSH and PCA-ITQ on the same backbone features.
4. ONNX export (outputs ``embedding`` and ``bits<K>``) and the registry entry.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from lakesight.models.description.deepbit import DeepBitConfig
from lakesight.models.detection.detector import InputSpec, preprocess
from lakesight.models.scenes import render_crop, scene_rng

PRETRAIN_SEED = 11
POOL_SEED = 12
QUERY_SEED = 2026
DATABASE_SEED = 2027


@dataclass(frozen=True)
class DeepBitTrainConfig:
    """Settings of both stages (defaults: the shipped model)."""

    pretrain_steps: int = 1500  # stage 1 optimiser steps
    pretrain_batch: int = 64  # crops per stage-1 step
    pretrain_lr: float = 3e-3  # AdamW peak, cosine to 0
    pool: int = 8000  # stage 2 unlabelled crops (each also seen at 4 rotations)
    epochs: int = 30  # stage 2 passes over the pool's cached features
    batch: int = 128  # stage-2 pool rows per step
    lr: float = 3e-3  # stage-2 AdamW learning rate
    queries: int = 1000  # evaluation queries (held-out seed)
    database: int = 10000  # evaluation database (another seed)
    top: int = 1000  # mAP over the top results, as DeepBit reports it
    threads: int = 2  # torch intra-op threads
    deepbit: DeepBitConfig = field(default_factory=DeepBitConfig)


def crops(n: int, seed: int, config: DeepBitConfig) -> tuple[list[np.ndarray], np.ndarray]:
    """``n`` crops of classes cycling through ``config.classes``, and their labels."""
    labels = np.arange(n) % len(config.classes)
    images = [
        render_crop(scene_rng(seed, i), config.classes[labels[i]], config.crop_size)
        for i in range(n)
    ]
    return images, labels


def rotate(image: np.ndarray, degrees: float) -> np.ndarray:
    """The crop turned by ``degrees`` about its centre, borders reflected (no black corners)."""
    import cv2

    if degrees == 0:
        return image
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101
    )


def spec_of(config: DeepBitConfig) -> InputSpec:
    """The input spec of a DeepBit config (RGB, square crops)."""
    return InputSpec(config.crop_size, config.mean, config.scale, "RGB")


def pretrain(config: DeepBitTrainConfig, *, quiet: bool = False) -> tuple[dict, dict]:
    """Stage 1: supervised crop classification. Returns (backbone state, facts)."""
    import torch
    import torch.nn.functional as F

    from lakesight.models.description.deepbit import CropClassifier

    torch.manual_seed(PRETRAIN_SEED)
    torch.set_num_threads(config.threads)
    db = config.deepbit
    model = CropClassifier(db)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.pretrain_lr, weight_decay=1e-4)
    spec = spec_of(db)
    started = time.perf_counter()
    history = []
    model.train()
    for step in range(config.pretrain_steps):
        lr = config.pretrain_lr * 0.5 * (1 + math.cos(math.pi * step / config.pretrain_steps))
        for group in optimiser.param_groups:
            group["lr"] = lr
        offset = step * config.pretrain_batch
        labels = (np.arange(offset, offset + config.pretrain_batch) * 7 + step) % len(db.classes)
        images = [
            render_crop(scene_rng(PRETRAIN_SEED, offset + i), db.classes[labels[i]], db.crop_size)
            for i in range(config.pretrain_batch)
        ]
        logits = model(torch.from_numpy(preprocess(images, spec)))
        loss = F.cross_entropy(logits, torch.from_numpy(labels))
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if (step + 1) % 100 == 0 or step + 1 == config.pretrain_steps:
            accuracy = float((logits.argmax(1).numpy() == labels).mean())
            entry = {
                "stage": 1,
                "step": step + 1,
                "loss": round(loss.item(), 4),
                "batch_accuracy": accuracy,
            }
            history.append(entry)
            if not quiet:
                print(f"[train_deepbit] {json.dumps(entry)}", file=sys.stderr, flush=True)
    facts = {"seconds": round(time.perf_counter() - started, 1), "history": history}
    return {k: v for k, v in model.backbone.state_dict().items()}, facts


def backbone_features(
    model, images: list[np.ndarray], config: DeepBitConfig, batch: int = 256
) -> np.ndarray:
    """L2-normalised backbone embeddings (N, D), in eval mode: what the hash heads see."""
    import torch

    spec = spec_of(config)
    out = []
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            features = model.backbone(torch.from_numpy(preprocess(images[i : i + batch], spec)))
            out.append(torch.nn.functional.normalize(features, dim=1).numpy())
    return np.concatenate(out)


def train_hash(model, config: DeepBitTrainConfig, *, quiet: bool = False) -> dict:
    """Stage 2 on cached features of the pool and its rotations; sets the thresholds."""
    import torch

    from lakesight.models.description.deepbit import deepbit_loss

    db = config.deepbit
    torch.manual_seed(POOL_SEED)
    model.freeze_backbone()
    pool, _ = crops(config.pool, POOL_SEED, db)  # labels unused: stage 2 is unsupervised
    started = time.perf_counter()
    features = [
        torch.from_numpy(backbone_features(model, [rotate(c, a) for c in pool], db))
        for a in db.rotations
    ]
    upright = db.rotations.index(0.0)
    if db.hidden == 0:
        for k in db.bits:
            model.heads[str(k)].init_from_itq(features[upright], seed=POOL_SEED)
    params = [p for p in model.heads.parameters()]
    optimiser = torch.optim.AdamW(params, lr=config.lr, weight_decay=1e-4)
    history = []
    generator = torch.Generator().manual_seed(POOL_SEED)
    for epoch in range(config.epochs):
        order = torch.randperm(config.pool, generator=generator)
        totals: dict[str, float] = {}
        for start in range(0, config.pool, config.batch):
            idx = order[start : start + config.batch]
            loss = 0.0
            for k in db.bits:
                head = model.heads[str(k)]
                acts = [head(f[idx]) for f in features]
                parts = deepbit_loss(acts[upright], acts, db)
                loss = loss + parts["total"]
                for name, value in parts.items():
                    totals[f"{k}_{name}"] = totals.get(f"{k}_{name}", 0.0) + value.item()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        n_batches = math.ceil(config.pool / config.batch)
        entry = {
            "stage": 2,
            "epoch": epoch + 1,
            **{k: round(v / n_batches, 4) for k, v in totals.items() if k.endswith("total")},
        }
        history.append(entry)
        if not quiet and ((epoch + 1) % 5 == 0 or epoch + 1 == config.epochs):
            print(f"[train_deepbit] {json.dumps(entry)}", file=sys.stderr, flush=True)
    with torch.no_grad():
        for k in db.bits:
            model.thresholds(k).copy_(model.heads[str(k)](features[upright]).mean(dim=0))
    return {"seconds": round(time.perf_counter() - started, 1), "history": history}


def evaluate_retrieval(
    describe: Callable[[list[np.ndarray], int], tuple[np.ndarray, np.ndarray]],
    config: DeepBitTrainConfig,
) -> dict:
    """mAP@top of DeepBit, PCA-ITQ and LSH at every code length, DeepBit's protocol.

    ``describe(crops, bits) -> (codes, embeddings)`` is the model under test (torch
    while training, the exported ONNX graph from the CLI). The baselines encode the
    same L2-normalised backbone embeddings, fitted on the unlabelled pool.
    """
    from lakesight.models.description.hashing import ITQ, LSH, retrieval_map

    db = config.deepbit
    q_images, q_labels = crops(config.queries, QUERY_SEED, db)
    d_images, d_labels = crops(config.database, DATABASE_SEED, db)
    pool, _ = crops(config.pool, POOL_SEED, db)
    pool_embeddings = describe(pool, db.bits[0])[1]
    result: dict[str, dict[str, float]] = {"deepbit": {}, "itq": {}, "lsh": {}}
    for k in db.bits:
        q_codes, q_emb = describe(q_images, k)
        d_codes, d_emb = describe(d_images, k)
        result["deepbit"][str(k)] = round(
            retrieval_map(q_codes, q_labels, d_codes, d_labels, k, config.top), 4
        )
        for name, method in (("itq", ITQ(k, seed=POOL_SEED)), ("lsh", LSH(k, seed=POOL_SEED))):
            method.fit(pool_embeddings)
            q_base, d_base = method.encode(q_emb), method.encode(d_emb)
            result[name][str(k)] = round(
                retrieval_map(q_base, q_labels, d_base, d_labels, k, config.top), 4
            )
    return {
        "map_at_1000": result,
        "queries": config.queries,
        "database": config.database,
        "top": config.top,
    }


def torch_describer(model) -> Callable[[list[np.ndarray], int], tuple[np.ndarray, np.ndarray]]:
    """``describe(crops, bits)`` with the torch model, as the exported graph computes it."""
    import torch

    from lakesight.models.description.hashing import pack

    db = model.config
    spec = spec_of(db)
    position = {k: i + 1 for i, k in enumerate(db.bits)}

    def describe(images: list[np.ndarray], bits: int, batch: int = 256):
        codes, embeddings = [], []
        model.eval()
        with torch.inference_mode():
            for i in range(0, len(images), batch):
                outputs = model(torch.from_numpy(preprocess(images[i : i + batch], spec)))
                embeddings.append(outputs[0].numpy())
                codes.append(pack((outputs[position[bits]] > model.thresholds(bits)).numpy()))
        return np.concatenate(codes), np.concatenate(embeddings)

    return describe


def export(model, path: Path) -> Path:
    """Export the DeepBit model to ONNX: input ``images``, outputs ``embedding`` and ``bits<K>``."""
    import torch

    from lakesight.models.runtime import ONNX_OPSET

    db = model.config
    model.eval()
    outputs = ["embedding", *(f"bits{k}" for k in db.bits)]
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, db.crop_size, db.crop_size),),
        str(path),
        dynamo=False,
        input_names=["images"],
        output_names=outputs,
        dynamic_axes={name: {0: "batch"} for name in ["images", *outputs]},
        opset_version=ONNX_OPSET,
    )
    model.eval()
    return path


def render_card(card: dict) -> str:
    """The human-readable model card, generated from ``card.json``."""
    scores = card["metrics"]["map_at_1000"]
    stage1, stage2 = card["training"]["stage1"], card["training"]["stage2"]
    lines = [
        f"# {card['name']}@{card['version']}",
        "",
        f"{card['architecture']}, trained by lakesight on its own generated crops.",
        "",
        f"- input: {card['input']['size']}x{card['input']['size']} {card['input']['channel_order']} crops, "
        f"(pixel - {card['input']['mean']}) * {card['input']['scale']:.6f}",
        f"- outputs: `embedding` (L2-normalised) and `bits<K>` activations for K in {card['bits']}; "
        "codes = activations > per-bit thresholds (in card.json), packed with numpy.packbits",
        f"- stage 1 (supervised backbone): {len(card['classes'])} crop classes, seed {stage1['seed']}, "
        f"{stage1['steps']} steps x {stage1['batch']}, {stage1['seconds']} s",
        f"- stage 2 (unsupervised DeepBit, backbone frozen): pool of {stage2['pool']} crops, seed {stage2['seed']}, "
        f"{stage2['epochs']} epochs, {stage2['seconds']} s",
        f"- evaluation: {card['evaluation']['protocol']}; queries seed {card['evaluation']['query_seed']}, "
        f"database seed {card['evaluation']['database_seed']} ({card['metrics']['queries']} x {card['metrics']['database']})",
        "",
        "| bits | DeepBit | PCA-ITQ | LSH |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {k} | {scores['deepbit'][k]:.4f} | {scores['itq'][k]:.4f} | {scores['lsh'][k]:.4f} |"
        for k in scores["deepbit"]
    ]
    lines += ["", "Files and sha256:", ""]
    lines += [f"- `{name}` {digest}" for name, digest in card["sha256"].items()]
    lines += ["", "Rebuild:", "", f"    {card['rebuild_command']}", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="models/registry")
    parser.add_argument("--name", default="deepbit_scenes")
    parser.add_argument("--version", default="1")
    parser.add_argument("--pretrain-steps", type=int, default=DeepBitTrainConfig.pretrain_steps)
    parser.add_argument("--epochs", type=int, default=DeepBitTrainConfig.epochs)
    parser.add_argument("--backbone", help="skip stage 1: a saved backbone state dict (.pt)")
    args = parser.parse_args(argv)
    # The command that rebuilds this entry from scratch (never the --backbone shortcut).
    command = (
        f"python -m lakesight.models.description.train_deepbit --out {args.out} --name {args.name} "
        f"--version {args.version} --pretrain-steps {args.pretrain_steps} --epochs {args.epochs}"
    )

    from lakesight.lake import code_version
    from lakesight.models.checkpoint import load_checkpoint, save_checkpoint
    from lakesight.models.description.deepbit import DeepBit
    from lakesight.models.runtime import write_card

    config = DeepBitTrainConfig(pretrain_steps=args.pretrain_steps, epochs=args.epochs)
    out_dir = Path(args.out) / args.name / args.version
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.backbone:
        saved = load_checkpoint(args.backbone)
        backbone_state, stage1 = saved["state"], saved["facts"]
    else:
        backbone_state, stage1 = pretrain(config)
        save_checkpoint(out_dir / "backbone.pt", backbone_state, facts=stage1)
    model = DeepBit(config.deepbit)
    model.backbone.load_state_dict(backbone_state)
    stage2 = train_hash(model, config)
    metrics = evaluate_retrieval(torch_describer(model), config)
    onnx_path = export(model, out_dir / "model.onnx")
    db = config.deepbit
    card = {
        "name": args.name,
        "version": args.version,
        "task": "description",
        "architecture": f"DeepBit: MobileNet-style crop backbone (width {db.width}), frozen"
        + (f" + fc7({db.hidden})" if db.hidden else "")
        + " + fc8_kevin (ITQ-initialised) + ReLU",
        "format": "onnx",
        "files": {"fp32": onnx_path.name},
        "outputs": ["embedding", *(f"bits{k}" for k in db.bits)],
        "bits": list(db.bits),
        "default_bits": 64,
        "thresholds": {str(k): model.thresholds(k).tolist() for k in db.bits},
        "classes": list(db.classes),
        "input": asdict(spec_of(db)),
        "deepbit_config": asdict(db),
        "training": {
            "stage1": {
                "seed": PRETRAIN_SEED,
                "steps": config.pretrain_steps,
                "batch": config.pretrain_batch,
                "seconds": stage1["seconds"],
                "final": stage1["history"][-1] if stage1["history"] else {},
            },
            "stage2": {
                "seed": POOL_SEED,
                "pool": config.pool,
                "epochs": config.epochs,
                "seconds": stage2["seconds"],
                "final": stage2["history"][-1],
            },
        },
        "evaluation": {
            "query_seed": QUERY_SEED,
            "database_seed": DATABASE_SEED,
            "protocol": "mAP@1000 by Hamming distance, relevant = same class",
        },
        "metrics": metrics,
        "rebuild_command": command,
        "code_version": code_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_card(out_dir, card, render_card)
    print(json.dumps(metrics, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
