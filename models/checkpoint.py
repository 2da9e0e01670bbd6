"""Training checkpoints that ``torch.load(..., weights_only=True)`` accepts.

A checkpoint holds a state dict (tensors) and JSON-like metadata (facts, config). The
metadata goes through JSON on the way in, so numpy scalars (``round(np.float64, 4)`` stays
a numpy float) become plain floats: a weights-only load never has to unpickle an object,
and a checkpoint from somewhere else cannot run code when it is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_checkpoint(path: str | Path, state: dict, **metadata: Any) -> None:
    """Write ``{"state": state, **metadata}``, the metadata as plain JSON values."""
    import torch

    torch.save({"state": state, **json.loads(json.dumps(metadata))}, path)


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint with ``weights_only=True``: tensors and primitive values only."""
    import torch

    return torch.load(path, weights_only=True)
