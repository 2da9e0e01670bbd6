"""``lakesight eval recs`` as users run it: MovieLens-100k fetched, every model ranked on
the same candidates, one JSON object on stdout; bad arguments answered in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e]
LAKESIGHT = str(Path(sys.executable).with_name("lakesight"))


def test_eval_recs_ranks_every_model_on_movielens():
    done = subprocess.run([LAKESIGHT, "eval", "recs", "--only", "ml100k", "--seeds", "2", "--epochs", "1",
                           "--json"],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ml = json.loads(done.stdout)["ml100k"]
    models = {"random", "itempop", "bpr", "als", "recbole_neumf", "mf", "neumf"}
    for metric in ("hr10", "ndcg10", "full_recall10", "full_ndcg10"):
        assert set(ml[metric]) == set(ml[f"{metric}_std"]) == models
    assert ml["seeds"] == 2 and (ml["users"], ml["items"]) == (943, 1682)
    # Known floors of this data: chance puts 1 in 10 in the top 10 of 100 candidates, and
    # item popularity about 0.42 (two seeds of negatives: the spread is small, not zero).
    assert 0.07 < ml["hr10"]["random"] < 0.13
    assert 0.38 < ml["hr10"]["itempop"] < 0.46 and 0 < ml["hr10_std"]["itempop"] < 0.02
    # One epoch (ALS: its 15 iterations) already learns something: far above chance on
    # both rankings, RecBole's NeuMF too (trained in its own venv, on the same split).
    for name in ("bpr", "als", "recbole_neumf", "mf", "neumf"):
        assert ml["hr10"][name] > 0.25 and ml["full_recall10"][name] > ml["full_recall10"]["random"]
    assert all(kept == [1, 1] for kept in ml["epochs_kept"].values())
    assert ml["configs"]["recbole_neumf"]["recbole"] == "1.2.1"


@pytest.mark.parametrize(
    "args", [["--seeds", "0"], ["--epochs", "-1"], ["--seeds", "x"], ["--only", "cold"]]
)
def test_eval_recs_answers_bad_arguments_in_one_line(args):
    done = subprocess.run([LAKESIGHT, "eval", "recs", *args], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "lakesight: error:" in done.stderr
