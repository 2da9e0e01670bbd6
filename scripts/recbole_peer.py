"""Train RecBole's own NeuMF on lakesight's split and score every (user, item) pair with it.

``lakesight eval recs`` and ``bench recs`` run this in RecBole's virtual environment
(scripts/recbole-venv.sh; RecBole's pins clash with Airflow's), so it must not import
lakesight. It is RecBole as its users run it: its NeuMF with the model's own defaults, its
data pipeline, sampler, trainer and early stopping, and the split the issue names
(``eval_args: {split: {LS: valid_and_test}, order: TO, mode: uni100}``).

Input: ``--inter`` an atomic ``.inter`` file (``user_id:token item_id:token
timestamp:float``) whose timestamps are each user's position in lakesight's time order,
so RecBole's leave-one-out takes the same validation and test items as lakesight's.
Output (``--out``): ``scores.npy``, float32 (users, items) in lakesight's contiguous ids;
``test_pairs.npy``, the (user, item) pairs RecBole tested on, in the same ids; and ``facts.json``: the epochs run, the best validation figures, training seconds and
training pairs (positives plus sampled negatives) per second.

Then lakesight ranks the shared candidate table with these scores, exactly as it ranks its
own models.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

# RecBole 1.2.1 saves its Config inside checkpoints; torch >= 2.6 loads weights only by
# default and would refuse the best epoch's checkpoint.
torch.load = functools.partial(torch.load, weights_only=False)

from recbole.config import Config  # noqa: E402
from recbole.data import create_dataset, data_preparation  # noqa: E402
from recbole.data.interaction import Interaction  # noqa: E402
from recbole.model.general_recommender import NeuMF  # noqa: E402
from recbole.trainer import Trainer  # noqa: E402
from recbole.utils import init_seed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inter", type=Path, required=True)
    parser.add_argument("--users", type=int, required=True, help="lakesight's user count")
    parser.add_argument("--items", type=int, required=True, help="lakesight's item count")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=300, help="RecBole's default")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--bench",
        action="store_true",
        help="train only (no validation, no scores): facts.json's pairs a second",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="recbole-peer-"))
    try:
        name = args.inter.stem
        (work / name).mkdir()
        shutil.copy(args.inter, work / name / f"{name}.inter")
        config = Config(model="NeuMF", dataset=name, config_dict={
            "data_path": str(work), "checkpoint_dir": str(work / "saved"),
            "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
            "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO",
                          "mode": "uni100", "group_by": "user"},
            "metrics": ["Hit", "NDCG"], "topk": [10], "valid_metric": "NDCG@10",
            "epochs": args.epochs, "seed": args.seed, "reproducibility": True,
            "device": "cpu", "use_gpu": False, "show_progress": False, "worker": 0,
            "save_dataset": False, "save_dataloaders": False, "log_wandb": False,
        })  # fmt: skip
        logging.disable(logging.INFO)  # RecBole logs every epoch; the caller prints the facts
        init_seed(config["seed"], config["reproducibility"])
        dataset = create_dataset(config)
        train, valid, test = data_preparation(config, dataset)
        init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
        model = NeuMF(config, train.dataset).to("cpu")
        trainer = Trainer(config, model)
        if args.bench:
            write_bench_facts(args.out, trainer, train, config)
            return
        started = time.perf_counter()
        best_score, best_valid = trainer.fit(train, valid, saved=True, show_progress=False)
        seconds = time.perf_counter() - started
        # fit() leaves the last epoch in the model: load the best one, as evaluate() would.
        checkpoint = torch.load(trainer.saved_model_file, map_location="cpu")
        model.load_state_dict(checkpoint["state_dict"])
        model.eval()
        scores = score_everything(model, dataset, args.users, args.items)
        # Each training epoch feeds every training positive and its sampled negatives.
        per_epoch = len(train.dataset) * (1 + config["train_neg_sample_args"]["sample_num"])
        trained_epochs = len(trainer.train_loss_dict)
        args.out.mkdir(parents=True, exist_ok=True)
        np.save(args.out / "scores.npy", scores)
        np.save(args.out / "test_pairs.npy", held_out_pairs(test.dataset))
        (args.out / "facts.json").write_text(json.dumps({
            "recbole": __import__("recbole").__version__, "torch": torch.__version__,
            "epochs_trained": trained_epochs, "best_epoch": trained_epochs - trainer.cur_step,
            "best_valid_ndcg10": round(float(best_score), 4),
            "best_valid": {k: round(float(v), 4) for k, v in best_valid.items()},
            "train_seconds": round(seconds, 1),
            "train_pairs_per_s": round(per_epoch * trained_epochs / seconds, 1),
            "config": {k: config[k] for k in ("mf_embedding_size", "mlp_embedding_size",
                                              "mlp_hidden_size", "dropout_prob",
                                              "learning_rate", "train_batch_size",
                                              "train_neg_sample_args", "stopping_step")},
        }, indent=1))  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_bench_facts(out: Path, trainer, train, config) -> None:
    """Train every epoch without validating (RecBole's fit skips it without valid data)
    and write how many scored pairs a second its trainer went through."""
    started = time.perf_counter()
    trainer.fit(train, None, saved=False, show_progress=False)
    seconds = time.perf_counter() - started
    per_epoch = len(train.dataset) * (1 + config["train_neg_sample_args"]["sample_num"])
    epochs = len(trainer.train_loss_dict)
    out.mkdir(parents=True, exist_ok=True)
    (out / "facts.json").write_text(json.dumps({
        "recbole": __import__("recbole").__version__, "epochs_trained": epochs,
        "train_seconds": round(seconds, 2),
        "train_pairs_per_s": round(per_epoch * epochs / seconds, 1),
    }))  # fmt: skip


def held_out_pairs(dataset) -> np.ndarray:
    """(N, 2) the (user, item) pairs RecBole holds out for test, in lakesight's ids: the
    caller checks that RecBole's split is lakesight's."""
    frame = dataset.inter_feat
    users = dataset.id2token(dataset.uid_field, frame[dataset.uid_field].numpy())
    items = dataset.id2token(dataset.iid_field, frame[dataset.iid_field].numpy())
    return np.stack([users.astype(np.int64), items.astype(np.int64)], axis=1)


def score_everything(model, dataset, users: int, items: int) -> np.ndarray:
    """(users, items) scores in lakesight's contiguous ids (RecBole renumbers tokens)."""
    uid, iid = dataset.uid_field, dataset.iid_field
    item_index = torch.as_tensor(dataset.token2id(iid, [str(i) for i in range(items)]))
    scores = np.full((users, items), -np.inf, np.float32)
    with torch.no_grad():
        for user in range(users):
            try:
                inner = dataset.token2id(uid, str(user))
            except ValueError:
                continue  # a user RecBole dropped: ranked last everywhere
            batch = Interaction({uid: torch.full((items,), inner), iid: item_index})
            scores[user] = model.predict(batch).numpy()
    return scores


if __name__ == "__main__":
    main()
