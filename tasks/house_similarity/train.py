"""Train stage: retrain the tag heads when the day's ``labels.csv`` changed, promote them only if better.

A day without ``labels.csv``, or with the labels the current heads were trained on or
the last training decision saw (the same sha256, on the same backbone), keeps the
current heads. Otherwise:

1. each label row is joined to its photo's embedding (``curated/listing_embeddings``);
   a row naming no accepted photo (``unknown_photo``) or a tag that does not exist
   (``bad_label``) goes to ``quarantine/listing_labels``;
2. the labelled photos are split by listing (a hash, so all photos of a listing fall
   on one side and reruns split the same way): 80 % to train, 20 % held out;
3. the three heads are refit, each of its current kind
   (:func:`lakesight.models.tagging.heads.fit_kind`): Spark ML over the embeddings, or, for a
   head fine-tuned on pixels, the backbone's last stage fine-tuned again on the labelled
   photos under TorchDistributor (the photos are then read on the driver);
4. candidate and current heads are scored on the held-out photos (mean accuracy over
   the heads): the candidate is promoted, as the next version of ``house_tags`` in the
   registry, only if it is at least as good. A few dozen labels of a new market do not
   replace heads that tag it better.

The decision, both scores and the counts go in the manifest; the output holds the
label rows used, with their split.

Run: ``lakesight stage house_similarity.train --dt D``, or spark-submit this file.
"""

from __future__ import annotations

import hashlib
import sys
import time
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

import numpy as np
import pandas as pd

from lakesight.config import Settings
from lakesight.house_similarity import datasets
from lakesight.house_similarity.listings import parse_labels, split_of
from lakesight.lake import PATH_SAFE, join
from lakesight.progress import Steps
from lakesight.stage import (
    StageError,
    StageResult,
    commit_stage,
    committed_input,
    frees_cached_data,
    model_entries,
    promote_if_better,
    stage_main,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = datasets.TRAIN
RULE = "promote if the candidate's mean held-out accuracy over the heads >= the current heads'"


def head_rows(labelled: pd.DataFrame, tag: str) -> pd.DataFrame:
    """The labelled photos a head learns from: every photo for ``exterior``, the photos
    that show a style or a storey count (front exteriors) for the others."""
    return labelled if tag == "exterior" else labelled[labelled[tag].notna()]


def label_index(tag: str, values: pd.Series, classes: tuple[str, ...]) -> np.ndarray:
    """Label values → class indices of the head (exterior 0/1 is its own index)."""
    if tag == "exterior":
        return values.astype(int).to_numpy()
    # Storey counts are numbers in labels.csv and class names in the heads.
    names = values if tag == "style" else values.astype(int).astype(str)
    lookup = {c: i for i, c in enumerate(classes)}
    return np.array([lookup[v] for v in names], np.int64)


def holdout_accuracy(heads, labelled: pd.DataFrame, photos: PhotoReader) -> dict:
    """Per head, accuracy on the held-out photos, and their mean (None without any)."""
    scores = {}
    for tag, head in heads.heads.items():
        rows = head_rows(labelled, tag)
        if rows.empty:
            continue
        features = np.stack(rows["embedding"].to_numpy()).astype(np.float32)
        pixels = photos.of(rows["path"]) if head.needs_photos else None
        predicted = heads.probabilities(tag, features, pixels).argmax(axis=1)
        scores[tag] = round(
            float((predicted == label_index(tag, rows[tag], head.classes)).mean()), 4
        )
    scores["mean"] = round(float(np.mean(list(scores.values()))), 4) if scores else None
    return scores


class PhotoReader:
    """The labelled photos' pixels, read and decoded once on the driver (only heads
    fine-tuned on pixels ask for them; label sets are thousands of photos, not millions)."""

    def __init__(self, fs, settings: Settings) -> None:
        from lakesight.imaging import DecodeLimits

        self.fs, self.limits, self.pixels = fs, DecodeLimits.from_settings(settings), {}

    def of(self, paths) -> list[np.ndarray]:
        from lakesight.imaging import ImageRejected
        from lakesight.lake import hadoop_location

        for path in paths:
            if path not in self.pixels:
                try:
                    data = self.fs.read_bytes(hadoop_location(path))  # a URI, in Hadoop's spelling
                    self.pixels[path] = self.limits.decode(data, path).pixels
                except (OSError, ImageRejected) as err:
                    raise StageError(f"labelled photo {path} changed since embed: {err}") from None
        return [self.pixels[p] for p in paths]


def fit_candidate(spark: SparkSession, training: pd.DataFrame, current, photos: PhotoReader,
                  tunable=None, schedule=None):  # fmt: skip
    """New heads of the current heads' kinds fit on the training photos: Spark ML over the
    embeddings, or fine-tuning under TorchDistributor (on ``schedule``, a
    :class:`~lakesight.models.tagging.tuning.TuneConfig`) for a head fine-tuned on pixels.
    None (and why) when a head has fewer than two classes to learn."""
    from lakesight.models.tagging.heads import PERCEPTRON_HIDDEN, TagHeads, fit_kind

    heads = {}
    for tag, head in current.heads.items():
        rows = head_rows(training, tag)
        labels = label_index(tag, rows[tag], head.classes) if len(rows) else np.array([])
        if len(set(labels.tolist())) < 2:
            return None, f"the {tag} head has fewer than 2 classes among the training labels"
        features = np.stack(rows["embedding"].to_numpy()).astype(np.float32)
        pixels = photos.of(rows["path"]) if head.needs_photos else None
        heads[tag] = fit_kind(spark, head.kind, head.classes, labels, features=features,
                              photos=pixels, tunable=tunable, schedule=schedule,
                              hidden=head.hidden or PERCEPTRON_HIDDEN)  # fmt: skip
    return TagHeads("", current.backbone, heads), None


def last_training(fs, settings: Settings, dt: str) -> tuple[str | None, str | None]:
    """(day, labels sha256) of the last training decision before ``dt``: labels seen then
    are not retrained on again, whether that run promoted its heads or not."""
    from lakesight.lake import list_partitions, read_manifest

    days = [d for d in list_partitions(fs, datasets.TRAINING.uri(settings)) if d < dt]
    for day in reversed(days):
        manifest = read_manifest(fs, datasets.TRAINING.partition(settings, day))
        digest = manifest.extra.get("decision", {}).get("labels_sha256") if manifest else None
        if digest:
            return day, digest
    return None, None


def retraining_skipped(labels_sha256: str | None, heads_labels_sha256: str | None,
                       heads_backbone: str, embedded_with: str | None,
                       previous_day: str | None, previous_sha256: str | None) -> str | None:  # fmt: skip
    """Why the day's labels are not trained on (the current heads stay), or None to retrain:
    no labels, the labels the heads were trained on or the last decision saw (on the same
    backbone), or embeddings of another backbone than the heads'."""
    same_backbone = embedded_with == heads_backbone
    if labels_sha256 is None:
        return "no labels.csv: the current heads stay"
    if labels_sha256 == heads_labels_sha256 and same_backbone:
        return "labels.csv unchanged since the current heads were trained"
    if labels_sha256 == previous_sha256 and same_backbone:
        return f"labels.csv unchanged since the training of dt={previous_day}"
    if not same_backbone:
        return f"embeddings are of {embedded_with}, the heads of {heads_backbone}"
    return None


def holds_up(candidate: dict, current: dict) -> bool:
    """:data:`RULE` on two :func:`holdout_accuracy` results."""
    return candidate["mean"] is not None and candidate["mean"] >= (current["mean"] or 0.0)


def labelled_photos(spark: SparkSession, embeddings_uri: str, dt: str,
                    usable: list[dict]) -> tuple[pd.DataFrame, list[dict]]:  # fmt: skip
    """Each usable label row joined to its photo's embedding, with its split; and the rows
    that name no accepted photo (``unknown_photo``). Only the labelled photos' embeddings
    come to the driver: the heads are fit there, so the labelled set must be whole; the
    day's other photos never leave Spark."""
    from pyspark.sql import functions as F

    # Published paths are URIs: the labels' names are matched in their encoded form.
    wanted = spark.createDataFrame(
        [(quote(label["photo"], safe=PATH_SAFE),) for label in usable], "photo string"
    ).distinct()
    embedded = (
        spark.read.parquet(embeddings_uri)
        .select(
            F.element_at(F.split("path", f"/dt={dt}/{datasets.PHOTOS_DIR}/", 2), 2).alias("photo"),
            "path", "embedding",
        )
        .join(wanted, "photo")
        .toPandas()
        if usable
        else pd.DataFrame(columns=["photo", "path", "embedding"])
    )  # fmt: skip
    # Paths are percent-encoded URIs; labels.csv names photos as they are on disk.
    by_photo = embedded.assign(photo=embedded["photo"].map(unquote)).set_index("photo")
    rows, unknown = [], []
    for label in usable:
        if label["photo"] not in by_photo.index:
            unknown.append({"photo": label["photo"], "reason": "unknown_photo",
                            "detail": "no accepted photo at photos/" + label["photo"]})  # fmt: skip
            continue
        hit = by_photo.loc[label["photo"]]
        rows.append({**label, "path": hit["path"], "embedding": hit["embedding"],
                     "split": split_of(label["photo"])})  # fmt: skip
    columns = ["photo", "exterior", "style", "stories", "path", "embedding", "split"]
    return pd.DataFrame(rows, columns=columns), unknown


def retrain(spark: SparkSession, fs, settings: Settings, current, current_ref: str,
            labelled: pd.DataFrame, labels_uri: str, digest: str, steps: Steps,
            schedule=None):  # fmt: skip
    """Fit candidate heads on the training split (fine-tuned ones on ``schedule``), score
    them and the current heads on the held-out split, promote the candidate if it
    :func:`holds_up`: (the decision's outcome, the scores)."""
    from lakesight.models.tagging.heads import write_heads
    from lakesight.models.tagging.tuning import TunableBackbone

    training = labelled[labelled["split"] == "train"]
    holdout = labelled[labelled["split"] == "holdout"]
    photos = PhotoReader(fs, settings)
    tunable = (
        TunableBackbone.from_registry(current.backbone, settings.model_registry)
        if current.needs_photos
        else None
    )
    kinds = "/".join(sorted({h.kind for h in current.heads.values()}))
    with steps.step(f"fit heads ({kinds})"):
        started = time.perf_counter()
        candidate, problem = fit_candidate(spark, training, current, photos, tunable, schedule)
        seconds = round(time.perf_counter() - started, 1)
    if candidate is None:
        return {"why": problem}, {}
    scores = {"candidate": holdout_accuracy(candidate, holdout, photos),
              "current": holdout_accuracy(current, holdout, photos)}  # fmt: skip
    better = holds_up(scores["candidate"], scores["current"])
    name = current_ref.split("@")[0]
    card = {"name": name, "version": "candidate", "labels_sha256": digest,
            "training": {"photos": len(training), "holdout": len(holdout),
                         "source": f"{labels_uri}", "seconds": seconds},
            "metrics": {"holdout_accuracy": scores["candidate"]}}  # fmt: skip
    promoted = promote_if_better(settings, name, better,
                                 lambda release_dir: write_heads(candidate, release_dir, card))  # fmt: skip
    verdict = f"promoted as {promoted}" if better else "kept the current heads"
    tuned = {tag: h.facts["steps"] for tag, h in candidate.heads.items() if h.needs_photos}
    return {"retrained": True, "promoted": promoted, "tuned_steps": tuned,
            "why": f"held-out accuracy {scores['candidate']['mean']} vs current "
                   f"{scores['current']['mean']}: {verdict}"}, scores  # fmt: skip


def label_rows(labelled: pd.DataFrame, rejects: list[dict], labels_uri: str) -> list[dict]:
    """The output's rows (:data:`datasets.LABEL_SCHEMA`): the labels used, with their split,
    then the rejected ones with their reasons."""
    return [
        {"photo": r["photo"], "path": r["path"], "exterior": int(r["exterior"]),
         "style": r["style"] if isinstance(r["style"], str) else None,
         "stories": None if pd.isna(r["stories"]) else int(r["stories"]), "split": r["split"],
         "reason": None, "detail": None}
        for r in labelled.to_dict("records")
    ] + [
        {"photo": r["photo"], "path": f"{labels_uri}#{r['photo']}", "exterior": None,
         "style": None, "stories": None, "split": None, "reason": r["reason"], "detail": r["detail"]}
        for r in rejects
    ]  # fmt: skip


@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        heads: str | None = None, tune_steps: int | None = None) -> StageResult:  # fmt: skip
    """Retrain the heads on the day's labels when they changed; promote only if better.
    ``tune_steps``: optimiser steps of each fine-tuned head (default the shipped schedule)."""
    from pyspark.sql import functions as F

    from lakesight.models.tagging.heads import DEFAULT_HEADS, load_heads
    from lakesight.models.tagging.tuning import TuneConfig

    schedule = TuneConfig.for_steps(tune_steps)  # a bad count fails before Spark reads
    steps = steps or Steps(STAGE.short)
    fs, embeddings_uri, embed_manifest = committed_input(spark, settings, datasets.EMBED, dt)
    entries, cards = model_entries([heads or DEFAULT_HEADS])
    current_ref = entries[0]["name"]
    current = load_heads(current_ref, settings.model_registry)
    labels_uri = join(datasets.RAW_LISTINGS.partition(settings, dt), datasets.LABELS_FILE)
    data = fs.read_bytes(labels_uri) if fs.exists(labels_uri) else None
    digest = hashlib.sha256(data).hexdigest() if data is not None else None
    usable, rejects = parse_labels(
        data or b"photo\n", {t: h.classes for t, h in current.heads.items()}
    )
    embedded_with = embed_manifest.models[0]["name"] if embed_manifest.models else None
    why = retraining_skipped(digest, cards[0].get("labels_sha256"), current.backbone,
                             embedded_with, *last_training(fs, settings, dt))  # fmt: skip
    decision = {"current": current_ref, "labels_sha256": digest, "rule": RULE, "retrained": False}
    with steps.step("join labels to embeddings"):
        labelled, unknown = labelled_photos(spark, embeddings_uri, dt, usable)
    rejects += unknown
    outcome, scores = (
        ({"why": why}, {}) if why else
        retrain(spark, fs, settings, current, current_ref, labelled, labels_uri, digest, steps,
                schedule)
    )  # fmt: skip
    decision.update(outcome)
    steps.say(decision["why"])
    rows = label_rows(labelled, rejects, labels_uri)
    table = spark.createDataFrame(rows, datasets.LABEL_SCHEMA).withColumn("dt", F.lit(dt)).cache()
    return commit_stage(
        fs, settings, STAGE, dt, table, output_columns=datasets.TRAINING_COLUMNS,
        schema_version=datasets.TRAINING_SCHEMA_VERSION,
        counts={"in": len(rows), "out": len(labelled), "quarantined": len(rejects),
                "training": int((labelled["split"] == "train").sum()),
                "holdout": int((labelled["split"] == "holdout").sum())},
        input_fingerprint=f"labels:{digest}:embeddings:{embed_manifest.input_fingerprint}",
        steps=steps, models=entries, extra={"decision": decision, "scores": scores},
        quarantine_columns=("photo",),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage house_similarity.train``."""
    return stage_main(
        STAGE, run, argv,
        options=(
            ("--tune-steps", {"type": int, "help": "optimiser steps of each fine-tuned head "
                                                   "(default: the shipped heads' schedule)"}),
        ),
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
