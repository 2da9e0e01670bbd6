"""Fit-codes stage: binary codes for any embedder, fitted on a sample of one day's crops.

``curated/descriptors/dt=D`` (each image's chosen crop) → ``curated/code_fits/dt=D`` (the
sampled crops' embeddings) and a new description model in the registry: the embedder
plus PCA + ITQ fitted to those embeddings (:mod:`lakesight.models.description.fitted`).
``image_features.analyze --descriptor NAME@V`` then describes with it.

The sample is deterministic (the crops with the smallest hash of their image id), so a
rerun embeds the same crops; the embedding runs on Spark next to the bytes, and only
the sample's vectors (``--sample`` x the embedder's width) reach the driver, where the fit
is a few matrix products. A tenth of the sample is held out: the card records how often a
held-out crop's nearest neighbour by embedding is among its 10 nearest by code
(recall@10), so a fit that lost the embedder's ranking is visible before anyone uses it.

Run: ``lakesight stage image_features.fit_codes --dt D [--embedder NAME[@V]] [--bits 64]``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lakesight.config import Settings
from lakesight.image_features import datasets
from lakesight.imaging import ImageRejected
from lakesight.models.tagging.backbone import DEFAULT_BACKBONE
from lakesight.progress import Steps
from lakesight.spark import ImageJob, check_content_id, map_files, per_worker
from lakesight.stage import (
    StageError,
    StageResult,
    commit_stage,
    committed_input,
    frees_cached_data,
    model_entries,
    stage_main,
    tally,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

STAGE = datasets.FIT_CODES
HOLDOUT_EVERY = 10  # every 10th sampled crop measures the codes instead of fitting them
OPTIONS = (
    ("--embedder", {"metavar": "NAME[@V]", "help": "image embedder (default: places_backbone)"}),
    ("--bits", {"type": int, "default": 64, "help": "code length (default 64)"}),
    ("--sample", {"type": int, "default": 4000, "help": "crops to fit on (default 4000)"}),
    ("--name", {"help": "registry name of the codes (default: <embedder>_itq)"}),
)


def load_embedder(embedder: str, *, registry: str):
    from lakesight.models.tagging.backbone import load_backbone

    return load_backbone(embedder, registry)


def embed_batch(batch: pd.DataFrame, embedder, job: ImageJob) -> pd.DataFrame:
    """Crops → embeddings. In: ``image_id``, ``path``, ``crop_box``, ``content``, ``split``.
    Out: :data:`datasets.CODE_FIT_SCHEMA`; a crop whose file no longer decodes has a reason."""
    rows, crops = [], []
    for image_id, path, box, content, split in zip(batch["image_id"], batch["path"],
                                                   batch["crop_box"], batch["content"],
                                                   batch["split"], strict=True):  # fmt: skip
        row = {"image_id": image_id, "path": path, "embedding": None, "split": split,
               "reason": None, "detail": None}  # fmt: skip
        try:
            check_content_id(content, image_id)
            pixels = job.decode(content, path)
        except ImageRejected as rejected:
            row["reason"], row["detail"] = rejected.reason, rejected.detail
        else:
            x0, y0, x1, y1 = (int(v) for v in box)
            crops.append((len(rows), pixels[y0:y1, x0:x1]))
        rows.append(row)
    if crops:
        vectors = embedder.embed([crop for _, crop in crops])
        for (index, _), vector in zip(crops, vectors, strict=True):
            rows[index]["embedding"] = vector.tolist()
    return pd.DataFrame(rows, columns=list(datasets.CODE_FIT_COLUMNS))


def recall_at_10(codes: np.ndarray, embeddings: np.ndarray, queries: np.ndarray) -> float:
    """Recall@10 of the codes (Jégou et al. 2011): the share of ``queries`` (indices) whose
    nearest neighbour by embedding cosine is among their 10 nearest by Hamming distance
    (cosine breaking ties), over all ``codes``, the query itself left out."""
    from lakesight.models.description.hashing import hamming

    if len(queries) == 0 or len(codes) < 2:
        return float("nan")
    cosine = embeddings[queries] @ embeddings.T
    cosine[np.arange(len(queries)), queries] = -np.inf  # never its own neighbour
    nearest = cosine.argmax(axis=1)
    by_codes = hamming(codes[queries], codes) - 0.5 * np.nan_to_num(cosine, neginf=0.0)
    by_codes[np.arange(len(queries)), queries] = np.inf
    top = np.argsort(by_codes, axis=1, kind="stable")[:, :10]
    return float((top == nearest[:, None]).any(axis=1).mean())


def fitted_release(embedder_card: dict, embedder_dir: Path, fit: np.ndarray, holdout: np.ndarray,
                   bits: int, name: str, out: Path) -> dict:  # fmt: skip
    """Fit ITQ and write the description model's files and card into ``out``."""
    import shutil

    from lakesight.models.description.fitted import ITQ_FILE, save_itq
    from lakesight.models.description.hashing import ITQ
    from lakesight.models.runtime import write_card

    itq = ITQ(bits).fit(fit)
    everything = np.concatenate([fit, holdout])
    held_out = np.arange(len(fit), len(everything))
    model_file = embedder_card["files"]["fp32"]
    shutil.copyfile(embedder_dir / model_file, out / model_file)
    save_itq(itq, out / ITQ_FILE)
    card = {
        "name": name, "version": None, "task": "description", "hashing": "itq",
        "format": embedder_card["format"], "files": {"fp32": model_file, "itq": ITQ_FILE},
        "layer": embedder_card["layer"], "pooling": embedder_card.get("pooling", "average"),
        "input": embedder_card["input"], "default_bits": bits,
        "embedder": f"{embedder_card['name']}@{embedder_card['version']}",
        "metrics": {"fitted_on": len(fit), "held_out": len(holdout),
                    "recall_at_10": (round(recall_at_10(itq.encode(everything), everything,
                                                        held_out), 4) if len(holdout) else None)},
    }  # fmt: skip
    return write_card(out, card)


def sampled_crops(spark: SparkSession, descriptors_uri: str, sample: int):
    """The ``sample`` crops whose image ids hash lowest (the same ones on every rerun), each
    marked ``fit`` or, one in :data:`HOLDOUT_EVERY`, ``holdout``."""
    from pyspark.sql import functions as F

    order = F.xxhash64("image_id")
    split = F.when(F.abs(order) % HOLDOUT_EVERY == 0, "holdout").otherwise("fit")
    return (
        spark.read.parquet(descriptors_uri).where(F.col("crop_box").isNotNull())
        .orderBy(order, "image_id").limit(sample)
        .select("image_id", "path", "crop_box", split.alias("split"))
    )  # fmt: skip


def register_codes(settings: Settings, embedder: str, vectors: pd.DataFrame, bits: int, name: str,
                   dt: str) -> tuple[str, dict]:  # fmt: skip
    """Fit ITQ on the ``fit`` rows of ``vectors`` and register the codes as ``name``: the
    version a rerun registered before if it made the very same model, else the next one."""
    from lakesight.lake import filesystem_for
    from lakesight.models.runtime import identical_version, load_card, promote_release, resolve

    rows = lambda split: np.asarray(  # noqa: E731
        vectors.loc[vectors["split"] == split, "embedding"].tolist(), np.float32
    )
    fit, holdout = rows("fit"), rows("holdout")
    width = fit.shape[1] if fit.ndim == 2 else 0
    if len(fit) < bits or width < bits:  # PCA to `bits` dimensions needs that many of both
        raise StageError(f"--bits {bits}: fitting needs at least {bits} crops and dimensions, "
                         f"dt={dt} has {len(fit)} crops of {width}")  # fmt: skip
    registry = settings.model_registry
    fs = filesystem_for(registry, settings)
    with tempfile.TemporaryDirectory() as tmp:
        _, embedder_dir = resolve(embedder)
        card = fitted_release(load_card(embedder_dir), embedder_dir, fit, holdout, bits, name,
                              Path(tmp))  # fmt: skip
        ref = identical_version(fs, registry, name, card) or promote_release(
            fs, registry, name, Path(tmp)
        )
    return ref, card["metrics"]


@frees_cached_data
def run(spark: SparkSession, settings: Settings, dt: str, *, steps: Steps | None = None,
        embedder: str | None = None, bits: int = 64, sample: int = 4000,
        name: str | None = None) -> StageResult:  # fmt: skip
    """Embed a sample of the day's crops, fit ITQ codes to them, register the codes."""
    from pyspark.sql import functions as F

    steps = steps or Steps(STAGE.short)
    fs, descriptors_uri, _ = committed_input(spark, settings, datasets.ANALYZE, dt)
    if bits < 8 or bits % 8:  # codes are packed bytes
        raise StageError(f"--bits: expected a multiple of 8 from 8 up, got {bits}")
    models, (card,) = model_entries([embedder or DEFAULT_BACKBONE])
    if not card.get("layer"):
        raise StageError(
            f"--embedder: {models[0]['name']} is a {card.get('task')} model, not an embedder"
        )
    name = name or f"{card['name']}_itq"
    job = ImageJob.for_models(settings, models[0]["name"])
    with steps.step(f"embed up to {sample} crops"):
        result = map_files(
            sampled_crops(spark, descriptors_uri, sample), settings,
            per_worker(load_embedder, embed_batch, job, 64), datasets.CODE_FIT_SCHEMA,
        ).cache()  # fmt: skip
        counted = tally(result, ("image_id", "path"))
        vectors = (
            result.where(F.col("reason").isNull()).select("image_id", "embedding", "split")
            .toPandas().sort_values("image_id")  # the fit sees the same rows in the same order
        )  # fmt: skip
    with steps.step(f"fit {bits}-bit ITQ codes"):
        ref, metrics = register_codes(settings, models[0]["name"], vectors, bits, name, dt)
    return commit_stage(
        fs, settings, STAGE, dt, result.withColumn("model", F.lit(ref)).withColumn("dt", F.lit(dt)),
        output_columns=datasets.CODE_FITS_COLUMNS, schema_version=datasets.CODE_FITS_SCHEMA_VERSION,
        counts=counted.counts(), input_fingerprint=counted.fingerprint, steps=steps, models=models,
        extra={"registered": ref, "bits": bits, "input": descriptors_uri, **metrics},
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point for spark-submit and ``lakesight stage image_features.fit_codes``."""
    return stage_main(STAGE, run, argv, options=OPTIONS)


if __name__ == "__main__":
    sys.exit(main())
