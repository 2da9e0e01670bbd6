"""A trained recommender as a registry model: ONNX scores, its id vocabularies, its card.

``<registry>/listing_recs/<version>/``:

- ``model.onnx``: ``user`` (int64, N), ``item`` (int64, N) → ``score`` (float32, N), the
  logit that the user engages with the item; exported from the torch model and checked
  against it;
- ``users.txt`` and ``items.txt``: the ids the model knows, one a line, line k being
  index k (ids have no line breaks: ingest rejects control characters);
- ``card.json`` and ``MODEL_CARD.md`` (:func:`lakesight.models.runtime.write_card`).

:class:`Recommender` loads one and scores ``(user_id, listing_id)`` pairs of the lake's
own ids: a pair with an id the model never saw scores NaN, so its caller knows to fall
back (to the listing's photos, or to what is popular).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lakesight.models.recommendation.collaborative import RecConfig, build_model

NAME = "listing_recs"


def export_onnx(config: RecConfig, users: int, items: int, state: dict, path: Path) -> Path:
    """The torch model of ``config`` with ``state`` as ONNX (N dynamic), checked against
    torch on random pairs."""
    import torch

    from lakesight.models.runtime import ort_runner

    model = build_model(config, users, items)
    model.load_state_dict(state)
    model.eval()
    probe = (torch.zeros(2, dtype=torch.int64), torch.zeros(2, dtype=torch.int64))
    torch.onnx.export(
        model, probe, str(path), dynamo=False, input_names=["user", "item"],
        output_names=["score"], opset_version=17,
        dynamic_axes={"user": {0: "n"}, "item": {0: "n"}, "score": {0: "n"}},
    )  # fmt: skip
    rng = np.random.default_rng(0)
    u, i = rng.integers(users, size=257), rng.integers(items, size=257)
    with torch.no_grad():
        expected = model(torch.from_numpy(u), torch.from_numpy(i)).numpy()
    got = ort_runner(path, 1)({"user": u, "item": i})[0]
    if not np.allclose(expected, got, atol=1e-4):
        raise RuntimeError("ONNX export differs from torch on random pairs")
    return path


def write_release(out_dir: Path, config: RecConfig, state: dict, user_ids, item_ids,
                  card: dict) -> dict:  # fmt: skip
    """Write the model's files and card into ``out_dir``; returns the card written."""
    from lakesight.models.runtime import write_card

    out_dir.mkdir(parents=True, exist_ok=True)
    export_onnx(config, len(user_ids), len(item_ids), state, out_dir / "model.onnx")
    (out_dir / "users.txt").write_text("".join(f"{u}\n" for u in user_ids))
    (out_dir / "items.txt").write_text("".join(f"{i}\n" for i in item_ids))
    full = {
        "name": NAME,
        "version": card.pop("version", "candidate"),
        "task": "recommendation",
        "kind": config.model,
        "config": config.to_dict(),
        "files": {"fp32": "model.onnx", "users": "users.txt", "items": "items.txt"},
        "users": len(user_ids),
        "items": len(item_ids),
        **card,
    }
    return write_card(out_dir, full, model_card_markdown)


def model_card_markdown(card: dict) -> str:
    metrics = card.get("metrics", {})
    lines = [
        f"# {card['name']}@{card['version']}",
        "",
        f"Collaborative filtering ({card['kind']}) over users' views, saves and contacts "
        "with listings, trained by `listing_recs.train` on the lake's `curated/interactions`.",
        "",
        f"- Knows {card['users']} users and {card['items']} listings; any other id scores "
        "NaN, and `listing_recs.recommend` falls back to the listing's photos or to what is "
        "popular.",
        f"- Trained on: {card.get('training', {}).get('source', 'n/a')} "
        f"({card.get('training', {}).get('pairs', 'n/a')} user-listing pairs).",
        f"- Held-out (each user's last listing against sampled ones): {metrics}",
        "- Inputs `user`, `item` (int64 indices into users.txt / items.txt); output `score`, "
        "a logit.",
        "",
        "Limits: it knows only the users and listings of its training window; scores of "
        "different versions are not comparable.",
    ]
    return "\n".join(lines) + "\n"


@dataclass
class Recommender:
    """A released recommender: scores of (user_id, listing_id) pairs, NaN where an id is
    unknown to it."""

    ref: str
    users: dict[str, int]
    items: dict[str, int]
    run: object  # the ONNX runner

    @classmethod
    def load(cls, ref: str, registry: str | None = None) -> Recommender:
        from lakesight.models.runtime import load_card, ort_runner, resolve, verified

        resolved, directory = resolve(ref, registry)
        card = load_card(directory)
        files = card["files"]
        vocab = {
            role: {line: k for k, line in enumerate(
                verified(directory, card, files[role]).read_text().splitlines())}
            for role in ("users", "items")
        }  # fmt: skip
        runner = ort_runner(verified(directory, card, files["fp32"]), 1)
        return cls(str(resolved), vocab["users"], vocab["items"], runner)

    def score(self, user_ids, listing_ids) -> np.ndarray:
        """float32 scores of the pairs, NaN where the model does not know an id."""
        u = np.array([self.users.get(x, -1) for x in user_ids], np.int64)
        return self.score_indices(u, self.item_indices(listing_ids))

    def item_indices(self, listing_ids) -> np.ndarray:
        """The model's index of each listing, -1 where it does not know it: looked up once
        for a market that every user is scored over."""
        return np.array([self.items.get(x, -1) for x in listing_ids], np.int64)

    def score_indices(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        """:meth:`score` of pairs already as indices (-1: unknown)."""
        known = (u >= 0) & (i >= 0)
        out = np.full(len(u), np.nan, np.float32)
        if known.any():
            out[known] = self.run({"user": u[known], "item": i[known]})[0]
        return out
