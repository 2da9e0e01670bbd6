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
import tempfile
import time
from pathlib import Path
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
                  tunable=None):  # fmt: skip
    """New heads of the current heads' kinds fit on the training photos: Spark ML over the
    embeddings, or fine-tuning under TorchDistributor for a head fine-tuned on pixels.
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
                              photos=pixels, tunable=tunable,
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


@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        heads: str | None = None) -> StageResult:  # fmt: skip
    """Retrain the heads on the day's labels when they changed; promote only if better."""
    from pyspark.sql import functions as F

    from lakesight.lake import filesystem_for
    from lakesight.models.runtime import promote_release
    from lakesight.models.tagging.heads import DEFAULT_HEADS, load_heads, write_heads
    from lakesight.models.tagging.tuning import TunableBackbone

    steps = steps or Steps(STAGE.short)
    fs, embeddings_uri, embed_manifest = committed_input(
        spark, settings, datasets.EMBEDDINGS, dt, made_by="house_similarity.embed"
    )
    entries, cards = model_entries([heads or DEFAULT_HEADS])
    current_ref, current_card = entries[0]["name"], cards[0]
    current = load_heads(current_ref, settings.model_registry)
    backbone = embed_manifest.models[0]["name"] if embed_manifest.models else None
    labels_uri = join(datasets.RAW_LISTINGS.partition(settings, dt), datasets.LABELS_FILE)
    data = fs.read_bytes(labels_uri) if fs.exists(labels_uri) else None
    digest = hashlib.sha256(data).hexdigest() if data is not None else None
    decision = {"current": current_ref, "labels_sha256": digest, "rule": RULE, "retrained": False}
    usable, rejects = parse_labels(
        data or b"photo\n", {t: h.classes for t, h in current.heads.items()}
    )
    previous_day, previous_digest = last_training(fs, settings, dt)
    if data is None:
        decision["why"] = "no labels.csv: the current heads stay"
    elif digest == current_card.get("labels_sha256") and backbone == current.backbone:
        decision["why"] = "labels.csv unchanged since the current heads were trained"
    elif digest == previous_digest and backbone == current.backbone:
        decision["why"] = f"labels.csv unchanged since the training of dt={previous_day}"
    elif backbone != current.backbone:
        decision["why"] = f"embeddings are of {backbone}, the heads of {current.backbone}"

    with steps.step("join labels to embeddings"):
        # Only the labelled photos' embeddings come to the driver (the heads are fit there,
        # so the labelled set must be whole; the day's other photos never leave Spark).
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
        rows = []
        for label in usable:
            if label["photo"] not in by_photo.index:
                rejects.append({"photo": label["photo"], "reason": "unknown_photo",
                                "detail": "no accepted photo at photos/" + label["photo"]})  # fmt: skip
                continue
            hit = by_photo.loc[label["photo"]]
            rows.append({**label, "path": hit["path"], "embedding": hit["embedding"],
                         "split": split_of(label["photo"])})  # fmt: skip
        labelled = pd.DataFrame(rows, columns=["photo", "exterior", "style", "stories", "path",
                                               "embedding", "split"])  # fmt: skip
    scores = {}
    if data is not None and "why" not in decision:
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
            candidate, problem = fit_candidate(spark, training, current, photos, tunable)
            seconds = round(time.perf_counter() - started, 1)
        if candidate is None:
            decision["why"] = problem
        else:
            decision["retrained"] = True
            scores = {"candidate": holdout_accuracy(candidate, holdout, photos),
                      "current": holdout_accuracy(current, holdout, photos)}  # fmt: skip
            better = scores["candidate"]["mean"] is not None and (
                scores["candidate"]["mean"] >= (scores["current"]["mean"] or 0.0)
            )
            decision["promoted"] = None
            if better:
                with tempfile.TemporaryDirectory(prefix="lakesight-heads-") as scratch:
                    release_dir = Path(scratch, "release")
                    name = current_ref.split("@")[0]
                    write_heads(candidate, release_dir, {
                        "name": name, "version": "candidate", "labels_sha256": digest,
                        "training": {"photos": len(training), "holdout": len(holdout),
                                     "source": f"{labels_uri}", "seconds": seconds},
                        "metrics": {"holdout_accuracy": scores["candidate"]},
                    })  # fmt: skip
                    decision["promoted"] = promote_release(
                        filesystem_for(settings.model_registry, settings),
                        settings.model_registry, name, release_dir,
                    )  # fmt: skip
            decision["why"] = (
                f"held-out accuracy {scores['candidate']['mean']} vs current "
                f"{scores['current']['mean']}: "
                + (f"promoted as {decision['promoted']}" if better else "kept the current heads")
            )
    steps.say(decision["why"])
    out_rows = [
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
    table = (
        spark.createDataFrame(out_rows, datasets.LABEL_SCHEMA).withColumn("dt", F.lit(dt)).cache()
    )
    n_in = len(out_rows)
    return commit_stage(
        fs, settings, STAGE, dt, table, output_columns=datasets.TRAINING_COLUMNS,
        schema_version=datasets.TRAINING_SCHEMA_VERSION,
        counts={"in": n_in, "out": len(labelled), "quarantined": len(rejects),
                "training": int((labelled["split"] == "train").sum()),
                "holdout": int((labelled["split"] == "holdout").sum())},
        input_fingerprint=f"labels:{digest}:embeddings:{embed_manifest.input_fingerprint}",
        steps=steps, models=entries, extra={"decision": decision, "scores": scores},
        quarantine_columns=("photo",),
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage house_similarity.train``."""
    return stage_main(STAGE, run, argv)


if __name__ == "__main__":
    sys.exit(main())
