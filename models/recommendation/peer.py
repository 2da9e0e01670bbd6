"""RecBole's own NeuMF, the peer of ``eval recs`` and ``bench recs``, on lakesight's split.

RecBole's pins clash with Airflow's, so it lives in a virtual environment of its own
(``scripts/recbole-venv.sh``, made on first use) and runs as a subprocess
(``scripts/recbole_peer.py``). lakesight hands it the split as an atomic ``.inter`` file
whose timestamps are each user's position in lakesight's time order, so RecBole's
``LS: valid_and_test`` with ``order: TO`` leaves out the same validation and test items.
RecBole trains with its own sampler, trainer and early stopping, then scores every (user,
item) pair; lakesight ranks the shared candidate table with those scores, exactly as it
ranks its own models.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from lakesight.models.recommendation.protocol import Scorer, Split

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / "var" / "recbole-venv"


def atomic_inter_rows(split: Split) -> np.ndarray:
    """(N, 3) rows ``user, item, position``: per user its training items in time order,
    then its validation item, then its test item, numbered 0, 1, 2, ..."""
    parts = [split.train]
    for held in (split.valid, split.test):
        users = np.flatnonzero(held >= 0)
        parts.append(np.stack([users, held[users]], axis=1))
    rows = np.concatenate(parts)
    order = np.argsort(rows[:, 0], kind="stable")  # train, valid, test within each user
    rows = rows[order]
    starts = np.searchsorted(rows[:, 0], rows[:, 0], side="left")
    return np.column_stack([rows, np.arange(len(rows)) - starts])


def write_atomic_inter(split: Split, path: Path) -> Path:
    rows = atomic_inter_rows(split)
    with open(path, "w") as out:
        out.write("user_id:token\titem_id:token\ttimestamp:float\n")
        np.savetxt(out, rows, fmt="%d", delimiter="\t")
    return path


def ensure_venv() -> Path:
    """The peer's interpreter, creating its venv first if needed (a minute, once)."""
    subprocess.run(["bash", str(REPO / "scripts" / "recbole-venv.sh"), str(VENV)], check=True)
    return VENV / "bin" / "python"


def run_peer(split: Split, work: str, seed: int, epochs: int | None, threads: int,
             *options: str) -> dict:  # fmt: skip
    """Run ``scripts/recbole_peer.py`` on ``split`` in ``work``; its facts."""
    python = ensure_venv()
    inter = write_atomic_inter(split, Path(work) / "lakesight_split.inter")
    command = [str(python), str(REPO / "scripts" / "recbole_peer.py"), "--inter", str(inter),
               "--users", str(split.users), "--items", str(split.items), "--seed", str(seed),
               "--threads", str(threads), "--out", work, *options]  # fmt: skip
    if epochs:
        command += ["--epochs", str(epochs)]
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    # RecBole writes its TensorBoard logs under the working directory: keep them there.
    done = subprocess.run(command, capture_output=True, text=True, env=environment, cwd=work)
    if done.returncode != 0:
        raise RuntimeError(f"RecBole's NeuMF failed: {done.stderr.strip()[-2000:]}")
    return json.loads((Path(work) / "facts.json").read_text())


def recbole_training_rate(split: Split, epochs: int, threads: int = 2) -> dict:
    """RecBole's trainer on ``split`` for ``epochs``, without validation: its facts
    (``train_pairs_per_s``: positives and sampled negatives a second)."""
    with tempfile.TemporaryDirectory(prefix="lakesight-recbole-") as work:
        return run_peer(split, work, 0, epochs, threads, "--bench")


def recbole_neumf(split: Split, seed: int, *, epochs: int | None = None,
                  threads: int = 2) -> tuple[Scorer, dict]:  # fmt: skip
    """Train RecBole's NeuMF on ``split`` and return its scorer and facts."""
    with tempfile.TemporaryDirectory(prefix="lakesight-recbole-") as work:
        facts = run_peer(split, work, seed, epochs, threads)
        scores = np.load(Path(work) / "scores.npy")
        tested = np.load(Path(work) / "test_pairs.npy")
    users = split.test_users()
    ours = np.stack([users, split.test[users]], axis=1)
    if not np.array_equal(tested[np.lexsort(tested.T[::-1])], ours):
        raise RuntimeError("RecBole held out other test items than lakesight's split")
    return (lambda users, items: scores[users, items]), facts
