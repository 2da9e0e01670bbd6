"""Any embedder, binary codes from the user's own images: a CLIP-like ONNX image encoder
(random weights) imported as a backbone, codes fitted on a day's crops with
``image_features.fit_codes``, then used by the analyze stage on Spark."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lakesight.config import REPO_ROOT, load_settings
from lakesight.image_features import analyze, fit_codes, ingest
from lakesight.image_features.sample_data import write_images_partition
from lakesight.lake import LocalFileSystem, uri_path
from lakesight.stage import StageError
from tests.models.test_models_cli import lakesight

pytestmark = pytest.mark.spark
DT = "2026-12-04"


def export_clip_like_encoder(path: Path) -> Path:
    """A vision transformer shaped like CLIP's tower (patches, attention, pooled projection),
    random weights, exported as users export theirs: image_embeds (N, 96)."""
    import torch
    from torch import nn

    torch.manual_seed(0)

    class TinyVisionTower(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patches = nn.Conv2d(3, 48, kernel_size=8, stride=8)
            self.position = nn.Parameter(torch.randn(1, 64, 48) * 0.02)
            layer = nn.TransformerEncoderLayer(48, 4, 96, batch_first=True, dropout=0.0)
            self.encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.projection = nn.Linear(48, 96)

        def forward(self, pixel_values):
            tokens = self.patches(pixel_values).flatten(2).transpose(1, 2) + self.position
            return self.projection(self.encoder(tokens).mean(dim=1))

    torch.onnx.export(TinyVisionTower().eval(), (torch.zeros(1, 3, 64, 64),), str(path),
                      dynamo=False, opset_version=17, input_names=["pixel_values"],
                      output_names=["image_embeds"],
                      dynamic_axes={"pixel_values": {0: "n"}, "image_embeds": {0: "n"}})  # fmt: skip
    return path


def test_codes_fitted_for_an_imported_encoder_rank_as_its_embeddings(spark, lake_root, tmp_path,
                                                                     monkeypatch):  # fmt: skip
    registry = tmp_path / "registry"
    for shipped in ("ssd_scenes", "deepbit_scenes"):
        shutil.copytree(REPO_ROOT / "models" / "registry" / shipped, registry / shipped)
    monkeypatch.setenv("LAKESIGHT_MODEL_REGISTRY", registry.as_uri())
    encoder = export_clip_like_encoder(tmp_path / "clip_tiny.onnx")
    imported = lakesight("models", "import", str(encoder), "--task", "backbone", "--json")
    assert imported.returncode == 0, imported.stderr
    card = json.loads(imported.stdout)
    assert (card["ref"], card["layer"], card["metrics"]["trial_run"]["embedding_dim"]) == (
        "clip_tiny@1",
        "image_embeds",
        96,
    )

    settings = load_settings()
    write_images_partition(LocalFileSystem(), settings, DT, n=150, bad=0, seed=5)
    ingest.run(spark, settings, DT)
    analyze.run(spark, settings, DT)
    fitted = fit_codes.run(spark, settings, DT, embedder="clip_tiny@1", bits=32)
    counts, extra = fitted.manifest.counts, fitted.manifest.extra
    assert counts["in"] == counts["out"] + counts["quarantined"] and counts["out"] > 100
    assert extra["registered"] == "clip_tiny_itq@1" and extra["bits"] == 32
    assert extra["recall_at_10"] >= 0.9, extra
    # A rerun fits the same crops in the same order: the very same model, not a new version.
    rerun = fit_codes.run(spark, settings, DT, embedder="clip_tiny@1", bits=32)
    assert rerun.manifest.extra["registered"] == "clip_tiny_itq@1"
    with pytest.raises(StageError, match="--bits"):
        fit_codes.run(spark, settings, DT, embedder="clip_tiny@1", bits=12)

    described = analyze.run(spark, settings, DT, descriptor="clip_tiny_itq@1")
    assert [m["name"] for m in described.manifest.models] == ["ssd_scenes@1", "clip_tiny_itq@1"]
    assert described.manifest.counts["computed"] == described.manifest.counts["out"]  # a new key
    rows = pq.read_table(uri_path(described.output_uri)).to_pandas()
    codes = np.stack([np.frombuffer(c, np.uint8) for c in rows["code"]])
    embeddings = np.stack(rows["embedding"].to_numpy())
    assert codes.shape[1] == 4 and set(rows["code_bits"]) == {32}
    everyone = np.arange(len(rows))
    assert fit_codes.recall_at_10(codes, embeddings, everyone) >= 0.9
