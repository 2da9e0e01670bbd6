"""Train the shipped ``house_tags`` heads: Spark ML over the frozen features, or fine-tuned where that wins.

The labelled photos are generated (:func:`lakesight.models.tagging.houses.render_labelled`,
seed :data:`HEADS_SEED`; evaluation uses another seed) and embedded by the backbone.
Each head's kind is chosen on held-out photos: Spark ML's multinomial logistic
regression or a one-layer perceptron over the features, or the backbone's last stage
fine-tuned with the head under TorchDistributor (:mod:`.tuning`). The pipeline's
train stage refits the chosen kinds on a day's ``labels.csv``.

Run: ``python -m lakesight.models.tagging.train_heads --out models/registry`` (a few
minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

from lakesight.models.tagging.heads import DEFAULT_HEADS, DEFAULT_REG, HEADS, TagHeads

HEADS_SEED = 5  # the labelled photos of the shipped heads
PER_CLASS = 1000
VALIDATION_SHARE = 0.2
# A fine-tuned head costs a pass of the photo through the network at tagging time (a head
# over the features costs a matrix product): it is chosen only when it validates at least
# this much better than the best head over the features.
TUNED_MIN_GAIN = 0.01


def labelled_photos(seed: int, per_class: int, head: str) -> tuple[np.ndarray, np.ndarray]:
    """Generated labelled photos of one head: (images (N, H, W, 3), labels (N,))."""
    from lakesight.models.tagging.houses import render_labelled

    return render_labelled(seed, per_class, head)


def labels_digest(labels: dict[str, np.ndarray]) -> str:
    """A fingerprint of a generated label set, in the place a labels.csv's sha256 goes."""
    digest = hashlib.sha256()
    for head in sorted(labels):
        digest.update(head.encode() + labels[head].astype(np.int64).tobytes())
    return digest.hexdigest()


def choose_kind(scores: dict[str, float]) -> str:
    """The kind that validated best: ties go to the simpler head, and a fine-tuned head
    must beat the best head over the features by :data:`TUNED_MIN_GAIN`."""
    over_features = max(("logistic", "perceptron"), key=lambda k: (scores[k], k == "logistic"))
    if "tuned" in scores and scores["tuned"] >= scores[over_features] + TUNED_MIN_GAIN:
        return "tuned"
    return over_features


def fit_heads(spark, backbone, seed: int, per_class: int, reg: float = DEFAULT_REG, *,
              tunable=None, processes: int = 1) -> tuple[TagHeads, dict]:  # fmt: skip
    """All heads fit on generated photos of ``seed``; returns the heads and training facts.

    Per head, each kind (``logistic``, ``perceptron``, and ``tuned`` when ``tunable`` is
    a :class:`.tuning.TunableBackbone`) is fit on 80 % of the photos and scored on the
    other 20 % (same seed: the evaluation's seed stays unseen); the chosen kind
    (:func:`choose_kind`) is refit on all of them."""
    from lakesight.models.tagging.heads import fit_kind
    from lakesight.models.tagging.houses import HEAD_CLASSES

    started = time.perf_counter()
    heads, labels, photos, chosen = {}, {}, 0, {}
    rng = np.random.default_rng(seed)
    kinds = ("logistic", "perceptron", *(("tuned",) if tunable else ()))
    for head in HEADS:
        classes = tuple(HEAD_CLASSES[head])
        images, y = labelled_photos(seed, per_class, head)
        features = backbone.embed(list(images))
        held = rng.random(len(y)) < VALIDATION_SHARE
        scores = {}
        for kind in kinds:
            trial = fit_kind(spark, kind, classes, y[~held], features=features[~held],
                             photos=images[~held], tunable=tunable, reg=reg,
                             processes=processes)  # fmt: skip
            inputs = images[held] if trial.needs_photos else features[held]
            predicted = trial.probabilities(inputs).argmax(axis=1)
            scores[kind] = round(float((predicted == y[held]).mean()), 4)
            print(f"[train_heads] {head} {kind}: {scores[kind]}", file=sys.stderr, flush=True)
        best = choose_kind(scores)
        chosen[head] = {"kind": best, "validation_accuracy": scores}
        heads[head] = fit_kind(spark, best, classes, y, features=features, photos=images,
                               tunable=tunable, reg=reg, processes=processes)  # fmt: skip
        labels[head], photos = y, photos + len(y)
    facts = {"photos": photos, "per_class": per_class, "seed": seed, "reg": reg, "heads": chosen,
             "tuned_min_gain": TUNED_MIN_GAIN, "processes": processes,
             "seconds": round(time.perf_counter() - started, 1),
             "source": f"generated houses (lakesight.models.tagging.houses, seed {seed})"}  # fmt: skip
    return TagHeads("", backbone.name, heads), {
        "facts": facts,
        "labels_sha256": labels_digest(labels),
    }


def main(argv: list[str] | None = None) -> int:
    from lakesight.config import load_settings
    from lakesight.models.tagging.backbone import DEFAULT_BACKBONE, load_backbone
    from lakesight.models.tagging.heads import write_heads
    from lakesight.models.tagging.tuning import TunableBackbone
    from lakesight.spark import get_spark

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="registry directory")
    parser.add_argument("--version", default="1")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--per-class", type=int, default=PER_CLASS)
    parser.add_argument("--processes", type=int, default=1, help="TorchDistributor processes")
    parser.add_argument("--no-tuning", action="store_true", help="Spark ML heads only")
    args = parser.parse_args(argv)
    registry = Path(args.out).resolve().as_uri()
    backbone = load_backbone(args.backbone, registry)
    tunable = None if args.no_tuning else TunableBackbone.available(args.backbone, registry)
    spark = get_spark("lakesight-train-heads", load_settings())
    heads, trained = fit_heads(spark, backbone, HEADS_SEED, args.per_class, tunable=tunable,
                               processes=args.processes)  # fmt: skip
    card = write_heads(heads, Path(args.out) / DEFAULT_HEADS / args.version, {
        "name": DEFAULT_HEADS, "version": args.version, "labels_sha256": trained["labels_sha256"],
        "training": trained["facts"],
        "rebuild": f"python -m lakesight.models.tagging.train_heads --out <registry> --version {args.version}",
    })  # fmt: skip
    print(
        json.dumps(
            {
                "model": f"{DEFAULT_HEADS}@{args.version}",
                "backbone": card["backbone"],
                **trained["facts"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
