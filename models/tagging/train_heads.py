"""Train the shipped ``house_tags`` heads: Spark ML over the frozen backbone's features.

The labelled photos are generated (:func:`lakesight.models.tagging.houses.render_labelled`,
seed :data:`HEADS_SEED`; evaluation uses another seed), embedded by the backbone, and
each head is fit with Spark ML's multinomial logistic regression, exactly as the
pipeline's train stage fits heads on a day's ``labels.csv``.

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
HIDDEN_CHOICES = (0, 128)  # logistic regression, or one sigmoid layer: chosen per head
VALIDATION_SHARE = 0.2


def labelled_features(
    backbone, seed: int, per_class: int, head: str
) -> tuple[np.ndarray, np.ndarray]:
    """Generated labelled photos of one head, embedded: (features (N, D), labels (N,))."""
    from lakesight.models.tagging.houses import render_labelled

    images, labels = render_labelled(seed, per_class, head)
    return backbone.embed(list(images)), labels


def labels_digest(labels: dict[str, np.ndarray]) -> str:
    """A fingerprint of a generated label set, in the place a labels.csv's sha256 goes."""
    digest = hashlib.sha256()
    for head in sorted(labels):
        digest.update(head.encode() + labels[head].astype(np.int64).tobytes())
    return digest.hexdigest()


def fit_heads(
    spark, backbone, seed: int, per_class: int, reg: float = DEFAULT_REG
) -> tuple[TagHeads, dict]:
    """All heads fit on generated photos of ``seed``; returns the heads and training facts.

    Per head, each kind of :data:`HIDDEN_CHOICES` is fit on 80 % of the photos and scored
    on the other 20 % (same seed: the evaluation's seed stays unseen); the better kind is
    refit on all of them."""
    from lakesight.models.tagging.heads import fit_head_arrays
    from lakesight.models.tagging.houses import HEAD_CLASSES

    started = time.perf_counter()
    heads, labels, photos, chosen = {}, {}, 0, {}
    rng = np.random.default_rng(seed)
    for head in HEADS:
        classes = tuple(HEAD_CLASSES[head])
        features, y = labelled_features(backbone, seed, per_class, head)
        held = rng.random(len(y)) < VALIDATION_SHARE
        scores = {}
        for hidden in HIDDEN_CHOICES:
            trial = fit_head_arrays(
                spark, features[~held], y[~held], classes, reg=reg, hidden=hidden
            )
            predicted = trial.probabilities(features[held]).argmax(axis=1)
            scores[hidden] = round(float((predicted == y[held]).mean()), 4)
        best = max(HIDDEN_CHOICES, key=lambda h: (scores[h], -h))  # ties: the simpler head
        chosen[head] = {"hidden": best, "validation_accuracy": scores}
        heads[head] = fit_head_arrays(spark, features, y, classes, reg=reg, hidden=best)
        labels[head], photos = y, photos + len(y)
    facts = {"photos": photos, "per_class": per_class, "seed": seed, "reg": reg, "heads": chosen,
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
    from lakesight.spark import get_spark

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="registry directory")
    parser.add_argument("--version", default="1")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE)
    parser.add_argument("--per-class", type=int, default=PER_CLASS)
    args = parser.parse_args(argv)
    backbone = load_backbone(args.backbone, Path(args.out).resolve().as_uri())
    spark = get_spark("lakesight-train-heads", load_settings())
    heads, trained = fit_heads(spark, backbone, HEADS_SEED, args.per_class)
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
