"""Checkpoints load with ``torch.load(weights_only=True)``, and nothing loads them otherwise."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def test_checkpoint_with_numpy_facts_round_trips_weights_only(tmp_path):
    import torch

    from lakesight.models.checkpoint import load_checkpoint, save_checkpoint

    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    # What the trainers' facts hold: round() of a numpy float stays a numpy float.
    facts = {"seconds": 1.5, "history": [{"loss": round(np.float64(0.123456), 4), "step": 1}]}
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state, facts=facts, config={"steps": 2, "sizes": (3, 4)})
    with pytest.raises(Exception, match=r"weights_only|Unsupported global"):
        # The same dict saved as is does not load weights-only: the conversion is needed.
        torch.save({"state": state, "facts": facts}, tmp_path / "raw.pt")
        torch.load(tmp_path / "raw.pt", weights_only=True)
    saved = load_checkpoint(path)
    assert torch.equal(saved["state"]["w"], state["w"])
    assert saved["facts"] == {"seconds": 1.5, "history": [{"loss": 0.1235, "step": 1}]}
    assert type(saved["facts"]["history"][0]["loss"]) is float
    assert saved["config"] == {"steps": 2, "sizes": [3, 4]}


def test_every_torch_load_is_weights_only():
    calls = []
    for root in ("models", "tasks"):
        for path in (REPO / root).rglob("*.py"):
            text = path.read_text()
            for match in re.finditer(r"torch\.load\(([^()]|\([^()]*\))*\)", text):
                calls.append((path.relative_to(REPO), match.group(0)))
    assert calls, "no torch.load call found: the pattern is stale"
    unsafe = [(str(p), c) for p, c in calls if "weights_only=True" not in c]
    assert not unsafe
