"""The house taggers: one multinomial logistic regression per tag over a frozen backbone's features.

MLSListings' pattern: the pretrained network stays frozen, and each tag gets a
new fully-connected + softmax head trained on its features. Here the heads are
trained by Spark ML's multinomial ``LogisticRegression`` (:func:`fit_head`), so
training scales with the labelled photos like any Spark job, and are applied in
numpy (:meth:`TagHeads.predict`): a softmax over ``W x + b`` needs no JVM, so
the same heads tag photos inside Spark's Python workers and answer a query in
the CLI.

Registry entry ``house_tags/<version>``: ``heads.npz`` (per head ``<head>.W`` (K, D)
and ``<head>.b`` (K,)) and a card naming the backbone the heads were fit on (by
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


@dataclass(frozen=True)
class Head:
    """One tag's classifier: ``softmax(features @ W.T + b)`` over ``classes``."""

    classes: tuple[str, ...]
    weights: np.ndarray  # (K, D) float32
    bias: np.ndarray  # (K,) float32

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        logits = features.astype(np.float32) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)


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
            arrays[f"{tag}.W"], arrays[f"{tag}.b"] = head.weights, head.bias
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        return buf.getvalue()


def fit_head(frame: DataFrame, classes: tuple[str, ...], *, reg: float = DEFAULT_REG) -> Head:
    """Train one head with Spark ML. ``frame``: ``features`` (ml Vector), ``label`` (int index
    into ``classes``). Every class gets a row of W even when absent from ``frame``."""
    from pyspark.ml.classification import LogisticRegression

    labels = {int(r["label"]) for r in frame.select("label").distinct().collect()}
    if len(labels) < 2:
        raise ValueError(f"a head needs at least 2 classes among its labels, got {sorted(labels)}")
    model = LogisticRegression(
        family="multinomial", regParam=reg, elasticNetParam=0.0, maxIter=300, tol=1e-7
    ).fit(frame)
    weights = model.coefficientMatrix.toArray().astype(np.float32)
    bias = model.interceptVector.toArray().astype(np.float32)
    # Spark sizes the model by the largest label seen: pad classes it never saw with a
    # bias no softmax will pick.
    k, d = len(classes), weights.shape[1]
    full_w, full_b = np.zeros((k, d), np.float32), np.full(k, -1e4, np.float32)
    full_w[: len(weights)], full_b[: len(bias)] = weights, bias
    for missing in set(range(len(bias))) - labels:
        full_w[missing], full_b[missing] = 0.0, -1e4
    return Head(tuple(classes), full_w, full_b)


def fit_head_arrays(
    spark: SparkSession, features: np.ndarray, labels: np.ndarray, classes: tuple[str, ...],
    *, reg: float = DEFAULT_REG,
) -> Head:  # fmt: skip
    """:func:`fit_head` on numpy arrays (evaluation's labelled sets)."""
    from pyspark.ml.linalg import Vectors

    rows = [(Vectors.dense(f.astype(float)), int(y)) for f, y in zip(features, labels, strict=True)]
    return fit_head(spark.createDataFrame(rows, ["features", "label"]), classes, reg=reg)


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
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (out_dir / "MODEL_CARD.md").write_text(model_card_markdown(card))
    return card


def heads_from_card(directory: Path, card: dict) -> TagHeads:
    from lakesight.models.runtime import verified

    arrays = np.load(verified(directory, card, card["files"]["fp32"]))
    heads = {
        tag: Head(tuple(classes), arrays[f"{tag}.W"], arrays[f"{tag}.b"])
        for tag, classes in card["classes"].items()
    }
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
        "One multinomial logistic regression (Spark ML) per tag over the frozen features",
        f"of `{card['backbone']}`; applied in numpy as softmax(W x + b).",
        "",
        "## Heads",
        *[f"- {tag}: {', '.join(classes)}" for tag, classes in card["classes"].items()],
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
