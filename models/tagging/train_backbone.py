"""Pretrain ``places_backbone``: lakesight's stand-in for a Places365 CNN.

MLSListings cut CNNs pretrained on Places and trained only new heads on their
features. Public weights cannot be downloaded where lakesight is built, so this
script pretrains a small CNN on the *source* task of :mod:`.places`: generated
scenes of place categories (barns, churches, apartment blocks, kitchens,
forests...). It never sees a house tag. The house taggers later use the network
frozen, cut at its global pooling layer (``features``), exactly as they would use
GoogLeNet's ``pool5/drop_7x7_s1``.

Run: ``python -m lakesight.models.tagging.train_backbone --out models/registry``
(about 10 minutes on 2 cores; ``--per-class`` and ``--epochs`` shrink it for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lakesight.models.detection.detector import InputSpec, preprocess

NAME = "places_backbone"
TRAIN_SEED = 3  # the source scenes; evaluation of anything built on it uses other seeds
HOLDOUT_SEED = 4  # the source task's own held-out scenes (the card's source accuracy)
PHOTO_SIZE = (144, 192)  # what the generators render, as the sample listings' photos
# The network's input: the photos' 3:4 aspect, a quarter of their pixels.
INPUT = InputSpec(size=128, mean=127.5, scale=1 / 64, channel_order="RGB", shape=(96, 128))
# The cut: the last stage's map (6 x 8 at this input) average-pooled 2 x 2 to 3 x 4, kept
# spatial as VGG's pool5 is: where a roof or a row of windows sits in the frame is what
# tells a storey count, and a global average would throw it away.
LAYER = "pool5"
POOL5_GRID = (3, 4)


@dataclass(frozen=True)
class BackboneConfig:
    channels: tuple[int, ...] = (24, 48, 96, 192)  # per stage; each stage halves the grid
    dropout: float = 0.2

    def to_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}


@dataclass(frozen=True)
class TrainConfig:
    per_class: int = 600  # source scenes per place category
    epochs: int = 8
    batch: int = 64
    lr: float = 3e-3
    weight_decay: float = 5e-4
    warmup: int = 100
    seed: int = TRAIN_SEED
    threads: int = 2
    model: BackboneConfig = field(default_factory=BackboneConfig)

    def to_dict(self) -> dict:
        return {**asdict(self), "model": self.model.to_dict()}


def build_network(config: BackboneConfig, classes: int):
    """A plain VGG-style CNN: per stage a strided conv and a conv (BN + ReLU), then global
    average pooling (the cut layer) and a linear classifier over the place categories."""
    import torch
    from torch import nn

    layers, c_in = [], 3
    for c in config.channels:
        for stride in (2, 1):
            layers += [nn.Conv2d(c_in, c, 3, stride, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            c_in = c

    class PlacesNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(*layers)
            self.dropout = nn.Dropout(config.dropout)
            self.classifier = nn.Linear(c_in, classes)

        def forward(self, x: torch.Tensor):
            features = self.body(x).mean(dim=(2, 3))
            return features, self.classifier(self.dropout(features))

        def cut(self, x: torch.Tensor):
            """(pool5, logits): what the exported graph outputs."""
            stage4 = self.body(x)
            pool5 = torch.nn.functional.adaptive_avg_pool2d(stage4, POOL5_GRID)
            return pool5, self.classifier(stage4.mean(dim=(2, 3)))

    return PlacesNet()


def augmented(batch: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Training variety the renderer does not give: mirror images and small shifts."""
    out = batch.copy()
    flip = rng.random(len(out)) < 0.5
    out[flip] = out[flip, :, :, ::-1]
    dy, dx = rng.integers(-6, 7, 2)
    return np.roll(out, (int(dy), int(dx)), axis=(2, 3))


def train(config: TrainConfig, *, quiet: bool = False) -> tuple[object, dict]:
    """Render the source scenes, train; returns the eval-mode network and training facts."""
    import torch

    from lakesight.models.nn import warmup_cosine
    from lakesight.models.tagging.places import PLACE_CATEGORIES, render_places

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    started = time.perf_counter()
    images, labels = render_places(config.seed, config.per_class, PHOTO_SIZE)
    x_all = preprocess(images, INPUT)
    rendered = time.perf_counter() - started
    model = build_network(config.model, len(PLACE_CATEGORIES))
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    rng = np.random.default_rng(config.seed)
    steps_per_epoch = len(x_all) // config.batch
    total = steps_per_epoch * config.epochs
    history, step = [], 0
    model.train()
    for epoch in range(config.epochs):
        order = rng.permutation(len(x_all))
        correct = seen = 0
        loss_sum = 0.0
        for k in range(steps_per_epoch):
            idx = order[k * config.batch : (k + 1) * config.batch]
            x = torch.from_numpy(augmented(x_all[idx], rng))
            y = torch.from_numpy(labels[idx])
            for group in optimiser.param_groups:
                group["lr"] = warmup_cosine(step, config.lr, config.warmup, total)
            _, logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.05)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            loss_sum += loss.item() * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
        entry = {
            "epoch": epoch + 1,
            "loss": round(loss_sum / seen, 4),
            "train_accuracy": round(correct / seen, 4),
            "seconds": round(time.perf_counter() - started, 1),
        }
        history.append(entry)
        if not quiet:
            print(f"[train_backbone] {json.dumps(entry)}", file=sys.stderr, flush=True)
    model.eval()
    facts = {
        "seconds": round(time.perf_counter() - started, 1),
        "render_seconds": round(rendered, 1),
        "source_images": len(x_all),
        "steps": total,
        "history": history,
    }
    return model, facts


def source_accuracy(model, per_class: int) -> float:
    """Accuracy on the source task's held-out scenes (a seed training never used)."""
    import torch

    from lakesight.models.tagging.places import render_places

    images, labels = render_places(HOLDOUT_SEED, per_class, PHOTO_SIZE)
    with torch.no_grad():
        _, logits = model(torch.from_numpy(preprocess(images, INPUT)))
    return round(float((logits.argmax(1).numpy() == labels).mean()), 4)


def export_onnx(model, path: Path) -> Path:
    """ONNX with a dynamic batch: input ``images`` (N, 3, H, W); outputs ``pool5`` (the cut
    layer, N x C x 3 x 4) and ``logits`` (the source task's, kept for inspection)."""
    import torch

    from lakesight.models.runtime import ONNX_OPSET

    class Cut(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, images):
            return self.inner.cut(images)

    torch.onnx.export(
        Cut(model.eval()).eval(),
        (torch.zeros(1, 3, *INPUT.height_width),),
        str(path),
        dynamo=False,
        input_names=["images"],
        output_names=[LAYER, "logits"],
        dynamic_axes={"images": {0: "batch"}, LAYER: {0: "batch"}, "logits": {0: "batch"}},
        opset_version=ONNX_OPSET,
    )
    return path


def check_parity(model, onnx_path: Path, images: np.ndarray) -> float:
    """Largest difference between torch's and ONNX Runtime's features on the same batch."""
    import torch

    from lakesight.models.runtime import ort_runner

    x = preprocess(images, INPUT)
    with torch.no_grad():
        expected = model.cut(torch.from_numpy(x))[0].numpy()
    got = ort_runner(onnx_path, 1, output_names=[LAYER])(x)[0]
    return float(np.abs(expected - got).max())


def release(model, config: TrainConfig, facts: dict, out_dir: Path, *, version: str) -> dict:
    """Write ``model.onnx``, ``weights.pt``, ``card.json`` and ``MODEL_CARD.md``."""
    import torch

    from lakesight.lake import code_version
    from lakesight.models.runtime import write_card
    from lakesight.models.tagging.places import PLACE_CATEGORIES, render_places

    out_dir.mkdir(parents=True, exist_ok=True)
    export_onnx(model, out_dir / "model.onnx")
    parity = check_parity(
        model, out_dir / "model.onnx", render_places(HOLDOUT_SEED, 2, PHOTO_SIZE)[0]
    )
    if parity > 1e-3:
        raise RuntimeError(f"ONNX export differs from torch by {parity}")
    torch.save(model.state_dict(), out_dir / "weights.pt")
    card = {
        "name": NAME,
        "version": version,
        "task": "backbone",
        "architecture": "VGG-style CNN, 4 stages of strided conv + conv (BN, ReLU), global average pool",
        "format": "onnx",
        "files": {"fp32": "model.onnx", "torch": "weights.pt"},
        "layer": LAYER,
        "pooling": "flatten",
        "input": {
            "height": INPUT.height_width[0],
            "width": INPUT.height_width[1],
            "channel_order": INPUT.channel_order,
            "mean": INPUT.mean,
            "scale": INPUT.scale,
        },
        "embedding_dim": config.model.channels[-1] * POOL5_GRID[0] * POOL5_GRID[1],
        "source_task": {
            "classes": list(PLACE_CATEGORIES),
            "generator": "lakesight.models.tagging.places",
            "seed": config.seed,
            "holdout_seed": HOLDOUT_SEED,
            "holdout_accuracy": facts["holdout_accuracy"],
        },
        "training": {**config.to_dict(), **{k: v for k, v in facts.items() if k != "history"}},
        "history": facts["history"],
        "onnx_parity_max_abs": parity,
        "code_version": code_version(),
        "rebuild": f"python -m lakesight.models.tagging.train_backbone --out <registry> --version {version}",
    }
    return write_card(out_dir, card, model_card_markdown)


def model_card_markdown(card: dict) -> str:
    t, src, prep = card["training"], card["source_task"], card["input"]
    return "\n".join(
        [
            f"# {card['name']}@{card['version']}: the frozen backbone of the house taggers",
            "",
            f"{card['architecture']}; cut at `{card['layer']}` (the last stage average-pooled to",
            f"3x4 cells, flattened: {card['embedding_dim']} floats, L2-normalised by lakesight).",
            "The stand-in for a Places365 CNN: pretrained on a",
            "*source* task that is not the house tags, then frozen.",
            "",
            "## Source task",
            f"- {len(src['classes'])} generated place categories ({src['generator']}):",
            f"  {', '.join(src['classes'])}",
            f"- {t['source_images']} scenes of seed {src['seed']}; held-out accuracy "
            f"{src['holdout_accuracy']} on seed {src['holdout_seed']}",
            "",
            "## Input",
            f"- RGB resized to {prep['height']}x{prep['width']} (area interpolation), "
            f"(pixel - {prep['mean']}) * {prep['scale']}",
            "",
            "## Training",
            f"- {t['epochs']} epochs, {t['steps']} AdamW steps of {t['batch']}, lr {t['lr']} "
            f"(cosine), {t['threads']} threads, {t['seconds']} s",
            f"- rebuild: `{card['rebuild']}`",
            "",
            "## Limits",
            "- Generated scenes only: for real photos plug in GoogLeNet-Places365 or VGG-16",
            "  through a card (format caffe or onnx, layer, input); see the README.",
            "",
            "Files and sha256:",
            "",
            *[f"- `{name}` {digest}" for name, digest in card["sha256"].items()],
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="registry directory")
    parser.add_argument("--version", default="1")
    parser.add_argument("--per-class", type=int, default=TrainConfig.per_class)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    args = parser.parse_args(argv)
    config = TrainConfig(per_class=args.per_class, epochs=args.epochs)
    model, facts = train(config)
    facts["holdout_accuracy"] = source_accuracy(model, per_class=40)
    card = release(model, config, facts, Path(args.out) / NAME / args.version, version=args.version)
    print(
        json.dumps(
            {"model": f"{NAME}@{args.version}", **card["source_task"], "seconds": facts["seconds"]}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
