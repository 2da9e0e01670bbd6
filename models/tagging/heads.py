"""The house taggers: one fully-connected + softmax head per tag over a frozen backbone's features.

MLSListings' pattern: the pretrained network stays frozen, and each tag gets a
new fully-connected + softmax head trained on its features. Here the heads are
trained by Spark ML (:func:`fit_head`): a multinomial ``LogisticRegression``, or a
``MultilayerPerceptronClassifier`` with one sigmoid layer where that validates
better, so training scales with the labelled photos like any Spark job. They are
applied in numpy (:meth:`TagHeads.predict`): a few matrix products need no JVM, so
the same heads tag photos inside Spark's Python workers and answer a query in
the CLI.

Registry entry ``house_tags/<version>``: ``heads.npz`` (per head and layer ``<head>.W<i>``
(in, out) and ``<head>.b<i>`` (out,)) and a card naming the backbone the heads were fit on (by
``name@version`` and file sha256: features of another backbone are meaningless
to them), the classes, the labels' sha256 and the training counts.
"""

from __future__ import annotations

import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lakesight.config import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

DEFAULT_HEADS = "house_tags"
HEADS = ("exterior", "style", "stories")
# L2 penalty of the heads (on standardised features): enough to stop a head from
# memorising a few dozen photos per class, small next to what the features separate.
DEFAULT_REG = 0.01
LR_BLOCK_MB = 16.0
HIDDEN_ITERATIONS = 200  # L-BFGS iterations of a perceptron head (Spark ML has no L2 there)


@dataclass(frozen=True)
class Head:
    """One tag's classifier over ``classes``: fully-connected layers ``(W (in, out), b)``,
    a sigmoid between them (Spark ML's multilayer perceptron), a softmax at the end. One
    layer is a multinomial logistic regression."""

    classes: tuple[str, ...]
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        x = features.astype(np.float32)
        for i, (weights, bias) in enumerate(self.layers):
            x = x @ weights + bias
            if i < len(self.layers) - 1:
                x = 1.0 / (1.0 + np.exp(-x))
        x -= x.max(axis=1, keepdims=True)
        p = np.exp(x)
        return p / p.sum(axis=1, keepdims=True)

    @property
    def hidden(self) -> int:
        """Units of the hidden layer (0: a logistic regression)."""
        return self.layers[0][0].shape[1] if len(self.layers) > 1 else 0


@dataclass(frozen=True)
class TagHeads:
    """Every tag's head, fit on one backbone's features."""

    name: str  # name@version in the registry ("" before release)
    backbone: str  # name@version of the backbone the features come from
    heads: dict[str, Head]

    def predict(self, features: np.ndarray) -> dict[str, tuple[list[str], np.ndarray]]:
        """Per head: the most probable class of each row and its probability."""
        out = {}
        for tag, head in self.heads.items():
            p = head.probabilities(features)
            best = p.argmax(axis=1)
            out[tag] = ([head.classes[i] for i in best], p[np.arange(len(p)), best])
        return out

    def to_npz(self) -> bytes:
        arrays = {}
        for tag, head in self.heads.items():
            for i, (weights, bias) in enumerate(head.layers):
                arrays[f"{tag}.W{i}"], arrays[f"{tag}.b{i}"] = weights, bias
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()


def fit_head(frame: DataFrame, classes: tuple[str, ...], *, reg: float = DEFAULT_REG,
             hidden: int = 0, seed: int = 0) -> Head:  # fmt: skip
    """Train one head with Spark ML. ``frame``: ``features`` (ml Vector), ``label`` (int index
    into ``classes``). ``hidden`` 0: multinomial logistic regression (L2 ``reg``); else a
    perceptron with one sigmoid layer of ``hidden`` units. Every class gets an output,
    present in ``frame`` or not."""
    from pyspark.ml.classification import LogisticRegression, MultilayerPerceptronClassifier

    labels = {int(r["label"]) for r in frame.select("label").distinct().collect()}
    if len(labels) < 2:
        raise ValueError(f"a head needs at least 2 classes among its labels, got {sorted(labels)}")
    k = len(classes)
    if hidden:
        d = len(frame.first()["features"])
        model = MultilayerPerceptronClassifier(
            layers=[d, hidden, k], maxIter=HIDDEN_ITERATIONS, seed=seed, blockSize=128
        ).fit(frame)
        w = model.weights.toArray().astype(np.float32)
        # Spark lays each layer out as W (in x out, row-major), then its bias.
        w1, w = w[: d * hidden].reshape(d, hidden), w[d * hidden :]
        b1, w = w[:hidden], w[hidden:]
        w2, b2 = w[: hidden * k].reshape(hidden, k), w[hidden * k :]
        return Head(tuple(classes), ((w1, b1), (w2, b2)))
    # An explicit block size: with Spark 4.2's automatic one, a few hundred rows of wide
    # dense vectors (2,304 raw pixels) stop after 2 iterations at the intercept-only model.
    model = LogisticRegression(
        family="multinomial", regParam=reg, elasticNetParam=0.0, maxIter=300, tol=1e-7,
        maxBlockSizeInMB=LR_BLOCK_MB,
    ).fit(frame)  # fmt: skip
    weights = model.coefficientMatrix.toArray().astype(np.float32)
    bias = model.interceptVector.toArray().astype(np.float32)
    # Spark sizes the model by the largest label seen: a class it never saw gets a bias
    # no softmax will pick.
    full_w = np.zeros((weights.shape[1], k), np.float32)
    full_b = np.full(k, -1e4, np.float32)
    for c in labels:
        full_w[:, c], full_b[c] = weights[c], bias[c]
    return Head(tuple(classes), ((full_w, full_b),))


def fit_head_arrays(
    spark: SparkSession, features: np.ndarray, labels: np.ndarray, classes: tuple[str, ...],
    *, reg: float = DEFAULT_REG, hidden: int = 0,
) -> Head:  # fmt: skip
    """:func:`fit_head` on numpy arrays (evaluation's labelled sets)."""
    from pyspark.ml.linalg import Vectors

    rows = [(Vectors.dense(f.astype(float)), int(y)) for f, y in zip(features, labels, strict=True)]
    frame = spark.createDataFrame(rows, ["features", "label"])
    return fit_head(frame, classes, reg=reg, hidden=hidden)


def write_heads(heads: TagHeads, out_dir: Path, card: dict) -> dict:
    """Write ``heads.npz`` and ``card.json`` (+ ``MODEL_CARD.md``) of a registry entry."""
    from lakesight.models.runtime import sha256_file

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "heads.npz").write_bytes(heads.to_npz())
    card = {
        **card,
        "task": "tagging",
        "format": "npz",
        "files": {"fp32": "heads.npz"},
        "sha256": {"heads.npz": sha256_file(out_dir / "heads.npz")},
        "backbone": heads.backbone,
        "classes": {tag: list(head.classes) for tag, head in heads.heads.items()},
        "hidden": {tag: head.hidden for tag, head in heads.heads.items()},
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (out_dir / "MODEL_CARD.md").write_text(model_card_markdown(card))
    return card


def heads_from_card(directory: Path, card: dict) -> TagHeads:
    from lakesight.models.runtime import verified

    arrays = np.load(verified(directory, card, card["files"]["fp32"]))

    def layers(tag: str) -> tuple:
        count = sum(1 for key in arrays.files if key.startswith(f"{tag}.W"))
        return tuple((arrays[f"{tag}.W{i}"], arrays[f"{tag}.b{i}"]) for i in range(count))

    heads = {tag: Head(tuple(classes), layers(tag)) for tag, classes in card["classes"].items()}
    return TagHeads(f"{card['name']}@{card['version']}", card["backbone"], heads)


@functools.cache
def load_heads(ref: str = DEFAULT_HEADS, registry: str | None = None) -> TagHeads:
    """Load registry heads once per process."""
    from lakesight.models.runtime import load_card, resolve

    _, directory = resolve(ref, registry)
    card = load_card(directory)
    if card.get("task") != "tagging":
        raise ConfigError(f"LAKESIGHT_MODEL_REGISTRY: {ref} is not a set of tag heads")
    return heads_from_card(directory, card)


def model_card_markdown(card: dict) -> str:
    training = card.get("training", {})
    lines = [
        f"# {card['name']}@{card['version']}: house photo taggers",
        "",
        "One head per tag over the frozen features of",
        f"`{card['backbone']}`, trained with Spark ML: a multinomial logistic regression, or a",
        "perceptron with one sigmoid layer where that validated better; applied in numpy.",
        "",
        "## Heads",
        *[
            f"- {tag}: {', '.join(classes)} ("
            + (
                f"{card['hidden'][tag]} hidden units"
                if card.get("hidden", {}).get(tag)
                else "logistic"
            )
            + ")"
            for tag, classes in card["classes"].items()
        ],
        "",
        "## Training",
        f"- labelled photos: {training.get('photos', '?')} ({training.get('source', '')})",
        f"- labels sha256: {card.get('labels_sha256', '-')}",
        f"- L2 penalty {training.get('reg', DEFAULT_REG)}; {training.get('seconds', '?')} s",
    ]
    metrics = card.get("metrics") or {}
    if metrics:
        lines += ["", "## Evaluation (held-out generated listings, `lakesight eval houses`)", ""]
        lines += [f"- {k}: {json.dumps(v)}" for k, v in metrics.items()]
    lines += ["", "Files and sha256:", ""]
    lines += [f"- `{name}` {digest}" for name, digest in card["sha256"].items()]
    return "\n".join(lines) + "\n"
