"""Train the ConvLSTM nowcaster under Spark's TorchDistributor, export it to ONNX, register it.

Rebuild the shipped model (the command is in its card; about 20 minutes on 2 cores)::

    python -m lakesight.models.nowcasting.train_convlstm --out models/registry --version 1

Steps: generate ``--days`` days of radar from the training seed into a scratch lake
→ ``radar_nowcast.ingest`` each day → build the training windows in Spark
(:func:`lakesight.radar_nowcast.train.build_training_set`, the weekly DAG's code) →
train (torch, CPU; under TorchDistributor with ``--processes`` > 1) → export ONNX →
register with a card and ``MODEL_CARD.md``. Held-out evaluation is
``lakesight eval nowcast``, on days of a seed training never saw.

A training set is the frames at the model's grid (N, G, G) uint8 plus windows, rows
of ``inputs + outputs`` indices into them; it travels as one ``.npz`` on the lake,
so ranks on a cluster read it where the driver wrote it.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lakesight.models.nowcasting.convlstm import ConvLSTMConfig
from lakesight.radar_nowcast.encoding import THRESHOLDS_MM_H, threshold_pixel

TRAIN_SEED = 1  # the weather of training days; evaluation uses EVAL_SEED, never seen here
EVAL_SEED = 2026
NAME = "convlstm_radar"


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (defaults: the shipped model)."""

    steps: int = 1300  # optimiser steps of `batch` windows (per rank)
    batch: int = 16
    lr: float = 3e-3  # AdamW peak, after `warmup` linear steps, cosine to 0
    warmup: int = 50
    weight_decay: float = 1e-4
    seed: int = TRAIN_SEED  # window sampling and torch initialisation
    threads: int = 2  # torch threads in all, split between ranks
    log_every: int = 50
    # Balanced loss weights (Shi et al. 2017) for rain below 0.5, 0.5-2, 2-5, 5-10, 10-30, 30+.
    class_weights: tuple[float, ...] = (1.0, 1.0, 2.0, 5.0, 10.0, 30.0)
    # Lead k (0-based) weighs 1 + early_lead_boost / 2^k: the first leads keep fine detail,
    # which a loss dominated by the blurrier late leads would trade away.
    early_lead_boost: float = 3.0
    model: ConvLSTMConfig = field(default_factory=ConvLSTMConfig)

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "model": self.model.to_dict(),
            "class_weights": list(self.class_weights),
        }


@dataclass
class TrainingSet:
    frames: np.ndarray  # (N, G, G) uint8, the model's grid
    windows: np.ndarray  # (M, inputs + outputs) int32 indices into frames, oldest first

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez_compressed(buf, frames=self.frames, windows=self.windows)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> TrainingSet:
        with np.load(io.BytesIO(data)) as npz:
            return cls(npz["frames"], npz["windows"])

    @classmethod
    def read(cls, uri: str) -> TrainingSet:
        from lakesight.config import load_settings
        from lakesight.lake import filesystem_for

        return cls.from_bytes(filesystem_for(uri, load_settings()).read_bytes(uri))

    def batch(self, indices: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Windows (B, L, 1, G, G) float32 in 0..1, each turned by a random quarter turn and
        flip: rain moves every way, so the eight symmetries are all plausible weather."""
        x = self.frames[self.windows[indices]].astype(np.float32) / 255.0
        x = np.rot90(x, int(rng.integers(4)), axes=(2, 3))
        if rng.random() < 0.5:
            x = x[:, :, :, ::-1]
        return np.ascontiguousarray(x)[:, :, None]


@dataclass
class TrainingRun:
    """What a nowcaster's training loop starts from on one rank: the ConvLSTM's and the
    advection model's (:mod:`.train_advection`) loops both start here."""

    rank: int
    world: int
    data: TrainingSet
    model: object  # what trains: wrapped in DistributedDataParallel under TorchDistributor
    core: object  # the module itself, saved and exported
    optimiser: object
    loss_weights: tuple  # (edges, class weights, lead weights) of convlstm.nowcast_loss
    rng: np.random.Generator  # ranks draw different windows


def start_training(config, network: Callable[[], object], training_uri: str,
                   distributed: bool) -> TrainingRun:  # fmt: skip
    """Join the ranks (seeding torch), read the training set, build ``network()`` and its
    optimiser, and the loss's weights: rain classes by ``config.class_weights``, lead k by
    ``1 + config.early_lead_boost / 2^k``."""
    import torch

    from lakesight.models.nn import for_ranks, start_rank

    rank, world = start_rank(distributed, config.seed, config.threads)
    data = TrainingSet.read(training_uri)
    model, core = for_ranks(network(), distributed)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    edges = torch.tensor([threshold_pixel(t) / 255.0 for t in THRESHOLDS_MM_H])
    weights = torch.tensor(config.class_weights)
    leads = torch.arange(config.model.outputs, dtype=torch.float32)
    lead_weights = 1.0 + config.early_lead_boost * 0.5**leads
    rng = np.random.default_rng([config.seed, rank])
    return TrainingRun(rank, world, data, model, core, optimiser, (edges, weights, lead_weights),
                       rng)  # fmt: skip


def finish_training(run: TrainingRun, config, log, distributed: bool, *,
                    echo_floor_pixel: int) -> dict:  # fmt: skip
    """Rank 0's state dict and the run's facts, on every rank (:func:`.nn.rank_zero_result`)."""
    from lakesight.models.nn import rank_zero_result

    facts = {
        "seconds": round(time.perf_counter() - log.started, 1),
        "windows_seen": config.steps * config.batch * run.world,
        "world_size": run.world,
        "training_windows": len(run.data.windows),
        "history": log.history,
        "echo_floor_pixel": echo_floor_pixel,
    }
    return rank_zero_result(run.core, facts, distributed)


def train(
    config: TrainConfig, training_uri: str, *, distributed: bool = False, quiet: bool = False
) -> dict:
    """The training loop; returns the state dict and training facts (rank 0's)."""
    import torch

    from lakesight.models.nn import TrainingLog, warmup_cosine
    from lakesight.models.nowcasting.convlstm import EncoderForecaster, nowcast_loss

    run = start_training(config, lambda: EncoderForecaster(config.model), training_uri,
                         distributed)  # fmt: skip
    data, model, optimiser, rng = run.data, run.model, run.optimiser, run.rng
    inputs = config.model.inputs

    model.train()
    log = TrainingLog("train_convlstm", config.log_every, config.steps, rank=run.rank,
                      quiet=quiet, decimals=5, rate="windows_per_s",
                      per_step=config.batch * run.world)  # fmt: skip
    for step in range(config.steps):
        x = torch.from_numpy(data.batch(rng.integers(len(data.windows), size=config.batch), rng))
        for group in optimiser.param_groups:
            group["lr"] = warmup_cosine(step, config.lr, config.warmup, config.steps)
        target = x[:, inputs:].contiguous()
        loss = nowcast_loss(model(x[:, :inputs]), target, *run.loss_weights)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        log.add(step, loss=loss.item())
    # The smallest echo the training frames hold: forecasts below it are no echo.
    floor = int(data.frames[data.frames > 0].min()) if data.frames.any() else 1
    return finish_training(run, config, log, distributed, echo_floor_pixel=floor)


def train_distributed(config: TrainConfig, training_uri: str, num_processes: int = 2) -> dict:
    """The same loop under Spark's TorchDistributor (:func:`lakesight.models.nn.run_on_ranks`)."""
    from lakesight.models.nn import run_on_ranks

    return run_on_ranks(train, num_processes, config, training_uri, quiet=False)


def train_anyhow(config: TrainConfig, training_uri: str, processes: int) -> dict:
    from lakesight.models.nn import run_on_ranks

    return run_on_ranks(train, processes, config, training_uri)


def export_onnx(state: dict, config: ConvLSTMConfig, path: Path) -> Path:
    """Export with a dynamic batch: ``frames (B, T_in, 1, G, G)`` → ``forecast (B, T_out, 1, G, G)``."""
    import torch

    from lakesight.models.nowcasting.convlstm import EncoderForecaster

    model = EncoderForecaster(config)
    model.load_state_dict(state)
    model.eval()
    example = torch.zeros(1, config.inputs, 1, config.grid, config.grid)
    torch.onnx.export(
        model,
        (example,),
        str(path),
        dynamo=False,
        input_names=["frames"],
        output_names=["forecast"],
        opset_version=17,
        dynamic_axes={"frames": {0: "batch"}, "forecast": {0: "batch"}},
    )
    # Parity: ONNX Runtime must give what torch gives.
    from lakesight.models.runtime import ort_runner

    probe = np.random.default_rng(0).random((2, config.inputs, 1, config.grid, config.grid))
    probe = probe.astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(probe)).numpy()
    got = ort_runner(path, 1)(probe)[0]
    if not np.allclose(expected, got, atol=1e-4):
        raise RuntimeError(f"ONNX export differs from torch by {np.abs(expected - got).max()}")
    return path


def release(
    state: dict,
    config: TrainConfig,
    facts: dict,
    out_dir: Path,
    *,
    name: str,
    version: str,
    cadence_min: int,
    data: dict,
    rebuild_command: str = "",
    metrics: dict | None = None,
) -> dict:
    """Write ``model.onnx``, ``weights.pt``, ``card.json`` and ``MODEL_CARD.md``; return the card."""
    import torch

    from lakesight.lake import code_version
    from lakesight.models.runtime import write_card

    out_dir.mkdir(parents=True, exist_ok=True)
    export_onnx(state, config.model, out_dir / "model.onnx")
    torch.save(state, out_dir / "weights.pt")
    card = {
        "name": name,
        "version": version,
        "task": "nowcasting",
        "architecture": "ConvLSTM encoder-forecaster (Shi et al. 2015), strided to G/2 and G/4",
        "format": "onnx",
        "files": {"fp32": "model.onnx", "torch": "weights.pt"},
        "model_config": config.model.to_dict(),
        "input": "frames (B, T_in, 1, G, G) float32 = HKO-7 pixels / 255, oldest first",
        "output": "forecast (B, T_out, 1, G, G) float32 in 0..1 (x 255 = pixels), lead k = (k+1) x cadence",
        "cadence_min": cadence_min,
        "echo_floor_pixel": facts["echo_floor_pixel"],
        "training": {**config.to_dict(), **{k: v for k, v in facts.items() if k != "history"}},
        "history": facts.get("history", []),
        "data": data,
        "metrics": metrics or {},
        "code_version": code_version(),
        "rebuild": rebuild_command,
    }
    return write_card(out_dir, card, model_card_markdown)


def model_card_markdown(card: dict) -> str:
    t, m = card["training"], card["model_config"]
    lines = [
        f"# {card['name']}@{card['version']}: radar nowcasting",
        "",
        f"{card['architecture']}. {m['inputs']} frames in, {m['outputs']} out, every "
        f"{card['cadence_min']} minutes: the next {m['outputs'] * card['cadence_min']} minutes.",
        f"Grid {m['grid']}x{m['grid']} (the forecast stage resamples any frame size to it and "
        f"back); ConvLSTM channels {m['hidden']}; ONNX opset 17, dynamic batch.",
        "",
        "## Data",
        f"- {card['data'].get('description', '')}",
        f"- training windows: {t['training_windows']}, windows seen: {t['windows_seen']}",
        "- loss: balanced MSE + MAE (Shi et al. 2017), class weights "
        f"{t['class_weights']} by rain rate (< 0.5, 0.5-2, 2-5, 5-10, 10-30, 30+ mm/h)",
        "",
        "## Training",
        f"- {t['steps']} AdamW steps of {t['batch']} windows per rank, lr {t['lr']} (cosine), "
        f"{t['world_size']} process(es) under TorchDistributor, {t['seconds']} s",
        f"- seed {t['seed']}; rebuild: `{card['rebuild']}`",
        "",
        "## Evaluation",
        "Held-out days of a seed training never saw (`lakesight eval nowcast --record`):",
        "",
        *metrics_table(card.get("metrics") or {}),
        "",
        "## Limits",
        "- Trained on generated weather (lakesight.radar_nowcast.weather), not a real radar:",
        "  retrain on your archive with the weekly `radar_nowcast_train` DAG.",
        "- No echo is forecast below the smallest echo of the training frames "
        f"(pixel {card['echo_floor_pixel']}).",
    ]
    return "\n".join(lines) + "\n"


def record_metrics(ref: str, metrics: dict) -> Path:
    """Write held-out metrics (``lakesight eval nowcast --record``) into a local registry
    entry's card and ``MODEL_CARD.md``; the model files and their sha256 are unchanged."""
    from lakesight.config import ConfigError
    from lakesight.models.runtime import load_card, resolve, write_card

    _, directory = resolve(ref)
    if not os.access(directory, os.W_OK):
        raise ConfigError(f"--record: cannot write the card of {ref} in {directory}")
    card = {**load_card(directory), "metrics": metrics}
    markdown = model_card_markdown
    if card["model_config"].get("kind") == "advection_residual":
        from lakesight.models.nowcasting.train_advection import model_card_markdown as markdown
    write_card(directory, card, markdown, stamp=False)
    return directory


def metrics_table(metrics: dict) -> list[str]:
    """CSI at 2 and 5 mm/h and MSE by lead, every model, as Markdown table lines."""
    if not metrics.get("leads_min"):
        return ["(not evaluated yet)"]
    leads = metrics["leads_min"]
    lines = [
        "| score | model | " + " | ".join(f"+{lead}" for lead in leads) + " |",
        "|---|---|" + "---|" * len(leads),
    ]
    for key, label in (("2", "CSI >= 2 mm/h"), ("5", "CSI >= 5 mm/h")):
        for model, by in metrics["csi"].items():
            values = " | ".join("-" if v is None else f"{v:.3f}" for v in by[key])
            lines.append(f"| {label} | {model} | {values} |")
    for model, values in metrics["mse"].items():
        lines.append(f"| MSE (mm/h)^2 | {model} | " + " | ".join(f"{v:.2f}" for v in values) + " |")
    days = ", ".join(metrics.get("days", []))
    lines += [
        "",
        f"Days {days} (seed {metrics.get('seed')}); target met: {metrics.get('target_met')}",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="models/registry", help="registry directory to write into")
    parser.add_argument("--name", default=NAME)
    parser.add_argument("--version", default="1")
    parser.add_argument("--days", type=int, default=40, help="generated training days")
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--processes", type=int, default=1, help="TorchDistributor processes")
    parser.add_argument("--seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--work", default="var/train-nowcast", help="scratch lake for the days")
    parser.add_argument("--eval-days", type=int, default=3)
    args = parser.parse_args(argv)

    from lakesight.radar_nowcast.train import generated_training_set

    work = Path(args.work).resolve()
    os.environ["LAKESIGHT_ROOT"] = work.as_uri()
    config = TrainConfig(steps=args.steps, seed=args.seed)
    started = time.perf_counter()
    training_uri, data = generated_training_set(args.days, args.seed, config.model)
    prepared = time.perf_counter() - started
    result = train_anyhow(config, training_uri, args.processes)
    facts = {**result["facts"], "data_seconds": round(prepared, 1)}
    out_dir = Path(args.out) / args.name / args.version
    command = (
        f"python -m lakesight.models.nowcasting.train_convlstm --out {args.out} "
        f"--name {args.name} --version {args.version} --days {args.days} --steps "
        f"{args.steps} --processes {args.processes} --seed {args.seed}"
    )
    card = release(
        result["state"],
        config,
        facts,
        out_dir,
        name=args.name,
        version=args.version,
        cadence_min=6,
        data=data,
        rebuild_command=command,
    )
    print(json.dumps({k: card[k] for k in ("name", "version")} | {"seconds": facts["seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
