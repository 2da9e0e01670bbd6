"""The house taggers: one fully-connected + softmax head per tag over a frozen backbone's features.

MLSListings' pattern: the pretrained network stays frozen, and each tag gets a
new fully-connected + softmax head trained on its features. Here the heads are
trained by Spark ML (:func:`fit_head`): a multinomial ``LogisticRegression``, or a
``MultilayerPerceptronClassifier`` with one sigmoid layer where that validates
better, so training scales with the labelled photos like any Spark job. They are
applied in numpy (:meth:`TagHeads.predict`): a few matrix products need no JVM, so
the same heads tag photos inside Spark's Python workers and answer a query in
the CLI.

Where a head over the frozen features is not good enough, the backbone's last stage
is fine-tuned with the head under TorchDistributor (:mod:`.tuning`): a
:class:`TunedHead` answers from the photo itself, through one ONNX graph. Which kind
each tag gets is chosen on held-out photos and written in the card's ``kinds``.

Registry entry ``house_tags/<version>``: ``heads.npz`` (per head over features and layer
``<head>.W<i>`` (in, out) and ``<head>.b<i>`` (out,)), ``<head>.onnx`` per fine-tuned head,
and a card naming the backbone the heads were fit on (by ``name@version`` and file
sha256: features of another backbone are meaningless to them), the classes, each
head's kind, the labels' sha256 and the training counts.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lakesight.config import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakesight.models.detection.detector import InputSpec

DEFAULT_HEADS = "house_tags"
HEADS = ("exterior", "style", "stories")
# L2 penalty of the heads (on standardised features): enough to stop a head from
# memorising a few dozen photos per class, small next to what the features separate.
DEFAULT_REG = 0.01
LR_BLOCK_MB = 16.0
HIDDEN_ITERATIONS = 200  # L-BFGS iterations of a perceptron head (Spark ML has no L2 there)
PERCEPTRON_HIDDEN = 128  # sigmoid units of a perceptron head


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
                # Spark's MLP hidden layers are sigmoids; exp(-x) overflows float32 below
                # x = -88, where the sigmoid is 0 to float precision anyway.
                x = 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))
        x -= x.max(axis=1, keepdims=True)
        p = np.exp(x)
        return p / p.sum(axis=1, keepdims=True)

    @property
    def hidden(self) -> int:
        """Units of the hidden layer (0: a logistic regression)."""
        return self.layers[0][0].shape[1] if len(self.layers) > 1 else 0

    @property
    def kind(self) -> str:
        return "perceptron" if self.hidden else "logistic"

    needs_photos = False  # it answers from the backbone's features


@dataclass
class TunedHead:
    """A fine-tuned head (:mod:`.tuning`): one ONNX graph from a photo (prepared as
    ``spec`` says) to the probabilities of ``classes``. Pickles without its session, so
    Spark ships it to the workers as bytes."""

    classes: tuple[str, ...]
    onnx: bytes
    spec: InputSpec
    facts: dict = field(default_factory=dict)
    batch_size: int = 32
    _run: object = field(default=None, repr=False, compare=False)

    kind = "tuned"
    hidden = 0
    needs_photos = True  # it answers from the photo's pixels

    def probabilities(self, photos: Sequence[np.ndarray]) -> np.ndarray:
        """(N, classes) for RGB photos of any sizes."""
        from lakesight.models.detection.detector import preprocess

        if self._run is None:
            self._run = _onnx_runner(self.onnx)
        parts = [
            self._run(preprocess(photos[i : i + self.batch_size], self.spec))[0]
            for i in range(0, len(photos), self.batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros((0, len(self.classes)), np.float32)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_run": None}


def _onnx_runner(model: bytes):
    import onnxruntime as ort

    from lakesight.models.runtime import task_threads

    options = ort.SessionOptions()
    options.intra_op_num_threads = task_threads()
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})


@dataclass(frozen=True)
class TagHeads:
    """Every tag's head, fit on one backbone's features."""

    name: str  # name@version in the registry ("" before release)
    backbone: str  # name@version of the backbone the features come from
    heads: dict[str, Head | TunedHead]

    @property
    def needs_photos(self) -> bool:
        """Whether some head answers from the photos, not only from their features."""
        return any(head.needs_photos for head in self.heads.values())

    def probabilities(
        self, tag: str, features: np.ndarray, photos: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """One head's (N, classes): from the features, or from the photos for a tuned head."""
        head = self.heads[tag]
        if not head.needs_photos:
            return head.probabilities(features)
        if photos is None:
            raise ValueError(f"the {tag} head of {self.name or 'these heads'} needs the photos")
        return head.probabilities(photos)

    def predict(
        self, features: np.ndarray, photos: Sequence[np.ndarray] | None = None
    ) -> dict[str, tuple[list[str], np.ndarray]]:
        """Per head: the most probable class of each row and its probability."""
        return {tag: self.predict_tag(tag, features, photos) for tag in self.heads}

    def predict_tag(
        self, tag: str, features: np.ndarray, photos: Sequence[np.ndarray] | None = None
    ) -> tuple[list[str], np.ndarray]:
        p = self.probabilities(tag, features, photos)
        best = p.argmax(axis=1)
        return [self.heads[tag].classes[i] for i in best], p[np.arange(len(p)), best]

    def to_npz(self) -> bytes:
        """The heads over features (the tuned ones are ONNX files of their own)."""
        arrays = {}
        for tag, head in self.heads.items():
            if head.needs_photos:
                continue
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


def fit_kind(spark: SparkSession, kind: str, classes: tuple[str, ...], labels: np.ndarray, *,
             features: np.ndarray | None = None, photos: Sequence[np.ndarray] | None = None,
             tunable=None, reg: float = DEFAULT_REG, hidden: int = PERCEPTRON_HIDDEN,
             processes: int = 1, schedule=None) -> Head | TunedHead:  # fmt: skip
    """One head of ``kind`` fit on ``labels``: ``logistic`` or ``perceptron`` (``hidden``
    sigmoid units), Spark ML on the ``features``; or ``tuned``, ``tunable``'s last stage (a
    :class:`.tuning.TunableBackbone`) fine-tuned on the ``photos`` under TorchDistributor,
    on ``schedule`` (a :class:`.tuning.TuneConfig`; default the shipped heads')."""
    if kind == "tuned":
        from lakesight.models.tagging.tuning import fine_tune

        if tunable is None or photos is None:
            raise ValueError("a fine-tuned head is fit on the photos of a tunable backbone")
        return fine_tune(tunable, photos, labels, classes, schedule, processes=processes)
    hidden = hidden if kind == "perceptron" else 0
    return fit_head_arrays(spark, features, labels, classes, reg=reg, hidden=hidden)


def write_heads(heads: TagHeads, out_dir: Path, card: dict) -> dict:
    """Write ``heads.npz`` and ``card.json`` (+ ``MODEL_CARD.md``) of a registry entry."""
    from lakesight.models.runtime import write_card

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "heads.npz").write_bytes(heads.to_npz())
    files, tuned = {"fp32": "heads.npz"}, {}
    for tag, head in heads.heads.items():
        if head.needs_photos:
            (out_dir / f"{tag}.onnx").write_bytes(head.onnx)
            files[f"tuned_{tag}"] = f"{tag}.onnx"
            tuned[tag] = {"file": f"{tag}.onnx", "input": spec_dict(head.spec),
                          "training": head.facts}  # fmt: skip
    card = {
        **card,
        "task": "tagging",
        "format": "npz",
        "files": files,
        "backbone": heads.backbone,
        "classes": {tag: list(head.classes) for tag, head in heads.heads.items()},
        "kinds": {tag: head.kind for tag, head in heads.heads.items()},
        "hidden": {tag: head.hidden for tag, head in heads.heads.items()},
        "tuned": tuned,
    }
    return write_card(out_dir, card, model_card_markdown)


def heads_from_card(directory: Path, card: dict) -> TagHeads:
    from lakesight.models.runtime import verified

    arrays = np.load(verified(directory, card, card["files"]["fp32"]))

    def layers(tag: str) -> tuple:
        count = sum(1 for key in arrays.files if key.startswith(f"{tag}.W"))
        return tuple((arrays[f"{tag}.W{i}"], arrays[f"{tag}.b{i}"]) for i in range(count))

    def head(tag: str, classes: list[str]) -> Head | TunedHead:
        tuned = card.get("tuned", {}).get(tag)
        if tuned is None:
            return Head(tuple(classes), layers(tag))
        from lakesight.models.tagging.backbone import input_spec

        onnx = verified(directory, card, tuned["file"]).read_bytes()
        return TunedHead(
            tuple(classes), onnx, input_spec(tuned["input"]), tuned.get("training", {})
        )

    heads = {tag: head(tag, classes) for tag, classes in card["classes"].items()}
    return TagHeads(f"{card['name']}@{card['version']}", card["backbone"], heads)


def spec_dict(spec: InputSpec) -> dict:
    """An input spec as a card's ``input`` (what :func:`.backbone.input_spec` reads)."""
    height, width = spec.height_width
    mean = spec.mean if isinstance(spec.mean, int | float) else list(spec.mean)
    return {"height": height, "width": width, "channel_order": spec.channel_order,
            "mean": mean, "scale": spec.scale}  # fmt: skip


@functools.cache
def load_heads(ref: str = DEFAULT_HEADS, registry: str | None = None) -> TagHeads:
    """Load registry heads once per process."""
    from lakesight.models.runtime import load_card, resolve

    _, directory = resolve(ref, registry)
    card = load_card(directory)
    if card.get("task") != "tagging":
        raise ConfigError(f"LAKESIGHT_MODEL_REGISTRY: {ref} is not a set of tag heads")
    return heads_from_card(directory, card)


def head_kind_text(card: dict, tag: str) -> str:
    if card.get("kinds", {}).get(tag) == "tuned":
        tuned = card["tuned"][tag]
        source = tuned.get("training", {}).get("tuned_from", "the backbone")
        return f"fine-tuned last stage of {source}, `{tuned['file']}`"
    hidden = card.get("hidden", {}).get(tag)
    return f"{hidden} hidden units" if hidden else "logistic"


def model_card_markdown(card: dict) -> str:
    training = card.get("training", {})
    lines = [
        f"# {card['name']}@{card['version']}: house photo taggers",
        "",
        "One head per tag over the frozen features of",
        f"`{card['backbone']}`, trained with Spark ML: a multinomial logistic regression, or a",
        "perceptron with one sigmoid layer where that validated better; applied in numpy.",
        "Where fine-tuning validated better still, the backbone's last stage was fine-tuned",
        "with the head under TorchDistributor, and the head is an ONNX graph from the photo.",
        "",
        "## Heads",
        *[
            f"- {tag}: {', '.join(classes)} ({head_kind_text(card, tag)})"
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
