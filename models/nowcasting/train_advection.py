"""Train the advection-residual nowcaster (:mod:`.advection`) under TorchDistributor, export it, register it.

Rebuild the shipped model (the command is in its card)::

    python -m lakesight.models.nowcasting.train_advection --out models/registry --version 1

Training frames are days of the training family only (:mod:`lakesight.radar_nowcast.weather`,
seed :data:`TRAIN_SEED`), rendered at their own 128 px: the held-out families of
:mod:`lakesight.radar_nowcast.families` are never trained on, nor used to choose anything.
A training set is :class:`~.train_convlstm.TrainingSet` (frames + window indices), as for
the ConvLSTM; each rank draws windows from it and turns every window into its moving-frame
inputs itself (:func:`.advection.moving_frame_inputs`, the inference code).

Because the model works per pixel-step, each drawn window is also **rescaled** (0.6-2x)
before its inputs are computed: the same weather at another grid, with other speeds and
sizes in pixels, so a 96 px or a 512 px radar is not a new world. Windows are turned by a
random quarter turn and flip, and their echo is scaled by a random gain in dBZ (another
climate); a random 64 px crop of every lead is what one step trains on. The window's
measured motion gets a smooth random error of up to half a pixel per step before the
inputs are made from it: a real motion estimate is never exact, and on weather it never
saw (the held-out families) a correction trained on exact motion reads the misplaced
texture as growth and decay (``motion_jitter_px``; without it the correction lost skill on
``spectral`` that it keeps with it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from lakesight.models.nowcasting.advection import AdvectionConfig, moving_frame_inputs
from lakesight.models.nowcasting.train_convlstm import (
    TRAIN_SEED,
    TrainingSet,
    finish_training,
    start_training,
)
from lakesight.radar_nowcast.families import TRAINING_FAMILY

NAME = "advection_radar"
CROP = 64
TRAIN_START = "2025-01-01"


@dataclass(frozen=True)
class AdvectionTrainConfig:
    steps: int = 800
    batch: int = 6  # windows per step (x outputs leads each)
    lr: float = 2e-3
    warmup: int = 30
    weight_decay: float = 1e-4
    seed: int = TRAIN_SEED
    threads: int = 2
    log_every: int = 50
    class_weights: tuple[float, ...] = (1.0, 1.0, 2.0, 5.0, 10.0, 30.0)
    scale_range: tuple[float, float] = (0.6, 2.0)
    gain_db: float = 4.0  # echo scaled by up to +-gain_db dBZ
    # Lead k (0-based) weighs 1 + early_lead_boost / 2^k, as for the ConvLSTM: the first
    # leads are where advection is nearly right and detail must not be traded away.
    early_lead_boost: float = 3.0
    # Weight of the squared rain-rate error (scaled by RAIN_SCALE_MM_H): the pixel loss alone
    # barely minds an overshoot to 60 dBZ, which costs hundreds of (mm/h)^2.
    rain_weight: float = 1.0
    # Weight of the exceedance loss: cross-entropy of "above t" at each verification
    # threshold, what CSI scores, made differentiable with a logistic EXCEEDANCE_SOFTNESS wide.
    exceedance_weight: float = 0.0
    # A smooth random error (px/step, at most) added to the measured motion of a training
    # window: real motion is never exact, and what misplaced texture leaves in the
    # tendencies must not be read as growth or decay.
    motion_jitter_px: float = 0.5
    model: AdvectionConfig = field(default_factory=AdvectionConfig)

    def to_dict(self) -> dict:
        return {**asdict(self), "model": self.model.to_dict()}


def rendered_training_set(n_days: int, seed: int, config: AdvectionConfig, cadence: int = 6):
    """Frames of ``n_days`` training days (whole days, every step) and every window in them."""
    from lakesight.radar_nowcast.weather import render_day

    start = date.fromisoformat(TRAIN_START)
    minutes = list(range(0, 1440, cadence))
    frames, windows = [], []
    length = config.inputs + config.outputs
    for d in range(n_days):
        dt = (start + timedelta(days=d)).isoformat()
        offset = len(minutes) * d
        frames.append(render_day(seed, dt, minutes))
        windows += [range(offset + i, offset + i + length) for i in range(len(minutes) - length)]
    return TrainingSet(np.concatenate(frames), np.asarray(windows, np.int32))


def augmented(window: np.ndarray, rng: np.random.Generator, config: AdvectionTrainConfig):
    """A window (L, H, W) uint8 as other weather: rescaled, turned, flipped, another gain."""
    import cv2

    scale = float(np.exp(rng.uniform(*np.log(config.scale_range))))
    height, width = (max(CROP + 8, round(side * scale)) for side in window.shape[-2:])
    frames = np.stack(
        [cv2.resize(f, (width, height), interpolation=cv2.INTER_LINEAR) for f in window]
    )
    frames = np.rot90(frames, int(rng.integers(4)), axes=(1, 2))
    if rng.random() < 0.5:
        frames = frames[:, :, ::-1]
    gain = rng.uniform(-config.gain_db, config.gain_db) * 255.0 / 70.0
    echo = frames > 0
    shifted = np.clip(np.rint(frames.astype(np.float32) + gain), 1, 255)
    return np.ascontiguousarray(np.where(echo, shifted, 0).astype(np.uint8))


def jittered_motion(window: np.ndarray, rng: np.random.Generator, config: AdvectionTrainConfig):
    """The window's measured motion plus a smooth random error of up to
    ``config.motion_jitter_px`` per step (none when it is 0)."""
    import cv2

    from lakesight.models.nowcasting.advection import MOTIONS

    motion = MOTIONS[config.model.motion](window, config.model.sampling)
    if not config.motion_jitter_px:
        return motion
    noise = rng.standard_normal(motion.shape).astype(np.float32)
    smooth = np.dstack([cv2.GaussianBlur(noise[..., i], (0, 0), 16.0) for i in range(2)])
    smooth *= config.motion_jitter_px / max(float(np.abs(smooth).max()), 1e-6)
    return motion + smooth


def training_batch(data: TrainingSet, rng, config: AdvectionTrainConfig):
    """(moving inputs (B*T, 4, C, C), targets (B, T, 1, C, C)) float32 of random windows."""
    m = config.model
    xs, ys = [], []
    while len(xs) < config.batch:
        window = augmented(data.frames[data.windows[rng.integers(len(data.windows))]], rng, config)
        if not window[m.inputs - 1].any():
            continue  # a clear window teaches nothing the model does not already do
        moving = moving_frame_inputs(
            window[: m.inputs],
            m.outputs,
            jittered_motion(window[: m.inputs], rng, config),
            sampling=m.sampling,
        )
        y0, x0 = (
            rng.integers(0, window.shape[1] - CROP + 1),
            rng.integers(0, window.shape[2] - CROP + 1),
        )
        crop = (slice(y0, y0 + CROP), slice(x0, x0 + CROP))
        xs.append(moving[:, :, crop[0], crop[1]])
        ys.append(window[m.inputs :, crop[0], crop[1]].astype(np.float32) / 255.0)
    return np.concatenate(xs), np.stack(ys)[:, :, None]


RAIN_SCALE_MM_H = 30.0
EXCEEDANCE_SOFTNESS = 2.0 / 255.0  # about 0.5 dBZ


def exceedance_error(forecast, target, edges):
    """Mean binary cross-entropy of "echo above each threshold pixel" (``edges``, 0..1)."""
    import torch
    from torch.nn import functional as F

    above = torch.sigmoid((forecast.unsqueeze(-1) - edges) / EXCEEDANCE_SOFTNESS)
    truth = (target.unsqueeze(-1) > edges).to(forecast.dtype)
    return F.binary_cross_entropy(above.clamp(1e-6, 1 - 1e-6), truth)


def rain_rate_error(forecast, target):
    """Mean squared rain-rate error (HKO-7 Z-R, as verification scores it) / RAIN_SCALE^2."""
    import torch

    def rain(p):
        dbz = 70.0 * p - 10.0
        return torch.where(p > 0, (10 ** (dbz / 10) / 58.53) ** (1 / 1.56), torch.zeros_like(p))

    return ((rain(forecast) - rain(target)) / RAIN_SCALE_MM_H).pow(2).mean()


def train(config: AdvectionTrainConfig, training_uri: str, *, distributed: bool = False,
          quiet: bool = False) -> dict:  # fmt: skip
    """The training loop (one rank); returns rank 0's state dict and facts."""
    import torch

    from lakesight.models.nn import TrainingLog, warmup_cosine
    from lakesight.models.nowcasting.advection import build_network
    from lakesight.models.nowcasting.convlstm import nowcast_loss

    run = start_training(config, lambda: build_network(config.model), training_uri, distributed)
    data, model, optimiser, rng = run.data, run.model, run.optimiser, run.rng
    edges = run.loss_weights[0]
    outputs = config.model.outputs
    log = TrainingLog("train_advection", config.log_every, config.steps, rank=run.rank,
                      quiet=quiet, decimals=6)  # fmt: skip
    model.train()
    for step in range(config.steps):
        x, y = (torch.from_numpy(a) for a in training_batch(data, rng, config))
        for group in optimiser.param_groups:
            group["lr"] = warmup_cosine(step, config.lr, config.warmup, config.steps)
        forecast = (x[:, :1] + model(x)).clamp(0.0, 1.0)
        forecast = forecast.view(config.batch, outputs, 1, CROP, CROP)
        loss = (
            nowcast_loss(forecast, y, *run.loss_weights)
            + config.rain_weight * rain_rate_error(forecast, y)
            + config.exceedance_weight * exceedance_error(forecast, y, edges[1:])
        )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        log.add(step, loss=loss.item())
    return finish_training(run, config, log, distributed, echo_floor_pixel=1)


def train_anyhow(config: AdvectionTrainConfig, training_uri: str, processes: int) -> dict:
    """One process, or ``processes`` under Spark's TorchDistributor."""
    from lakesight.models.nn import run_on_ranks

    return run_on_ranks(train, processes, config, training_uri)


def export_onnx(state: dict, config: AdvectionConfig, path: Path) -> Path:
    """``moving (N, 4, H, W)`` → ``correction (N, 1, H, W)``, N, H and W dynamic; checked
    against torch on an odd-sized probe."""
    import torch

    from lakesight.models.nowcasting.advection import CHANNELS, build_network
    from lakesight.models.runtime import ort_runner

    model = build_network(config)
    model.load_state_dict(state)
    model.eval()
    torch.onnx.export(
        model, (torch.zeros(2, CHANNELS, 64, 64),), str(path), dynamo=False,
        input_names=["moving"], output_names=["correction"], opset_version=17,
        dynamic_axes={"moving": {0: "n", 2: "height", 3: "width"},
                      "correction": {0: "n", 2: "height", 3: "width"}},
    )  # fmt: skip
    probe = np.random.default_rng(0).random((3, CHANNELS, 97, 130)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(probe)).numpy()
    got = ort_runner(path, 1)(probe)[0]
    if got.shape != expected.shape or not np.allclose(expected, got, atol=1e-4):
        raise RuntimeError("ONNX export differs from torch on a 97x130 probe")
    return path


MOTION_WORDS = {
    "regional": "dense DIS or tracked Lucas-Kanade, weighed region by region by how well "
    "each retraces the window",
    "retraced": "dense DIS or tracked Lucas-Kanade, whichever retraces the window",
    "echo_dis": "dense DIS, carried from the echo into clear air",
}
GATE_WORDS = {
    "hindcast": ", applied where it bettered the window's own last frames",
    "none": "",
}
SAMPLING_WORDS = {"rain": "semi-Lagrangian extrapolation in rain rate",
                  "reflectivity": "semi-Lagrangian extrapolation"}  # fmt: skip


def architecture(config: AdvectionConfig) -> str:
    """The card's one-line description of a model of ``config``."""
    chance = (
        f"{config.spread_probability:.0%} chance (down to {config.spread_floor:.0%} where its "
        f"skill is lower)"
        if config.spread_skill
        else f"{config.spread_probability:.0%} chance"
    )
    spread = (
        f", each lead the rain reached with a {chance} under a "
        f"motion error of {config.spread_px_per_step} px per step"
        + (
            f" on top of {config.spread_px_at_issue} px at the issue time"
            if config.spread_px_at_issue
            else ""
        )
    )
    fewer = (
        f" ({config.short_leads_where_growth_persists} where growth persisted over the last "
        f"steps, correlation at least {config.growth_persists_from})"
        if config.growth_persists_from is not None
        else ""
    )
    short = (
        f"; the first {config.short_leads} leads along the motion that retraces the last "
        f"step, uncorrected{fewer}"
    )
    ensemble = (
        f"; where growth did not persist over the last steps (correlation below "
        f"{config.ensemble_below}), the later leads are the retrace-weighted mean of the advections "
        f"along every candidate motion, uncorrected"
    )
    within = "; within the class each pixel's rain likely reaches, the rain to expect there"
    held = (
        f"; the correction keeps rain of {config.heavy_rain_held_from_mm_h:g} mm/h or more at "
        f"that rate or above"
    )
    return (
        f"advection + learned residual in the moving frame: measured motion "
        f"({MOTION_WORDS[config.motion]}), {SAMPLING_WORDS[config.sampling]}, a fully "
        f"convolutional correction of growth and decay{GATE_WORDS[config.gate]}"
        f"{spread if config.spread_px_per_step else ''}{short if config.short_leads else ''}"
        f"{ensemble if config.ensemble_below is not None else ''}"
        f"{within if config.spread_px_per_step and config.within_class == 'expected' else ''}"
        f"{held if config.heavy_rain_held_from_mm_h is not None else ''}"
    )


def release(state: dict, config: AdvectionTrainConfig, facts: dict, out_dir: Path, *,
            name: str, version: str, data: dict, rebuild_command: str = "",
            cadence_min: int = 6, reused: dict | None = None) -> dict:  # fmt: skip
    """Write ``model.onnx``, ``weights.pt``, ``card.json`` and ``MODEL_CARD.md``; return the card.

    ``reused``: the card of the version whose weights these are (:func:`release_reused`);
    the new card keeps its training, history and data, and names it.
    """
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
        "architecture": architecture(config.model),
        "format": "onnx",
        "files": {"fp32": "model.onnx", "torch": "weights.pt"},
        "model_config": config.model.to_dict(),
        "input": "moving (N, 4, H, W) float32: per lead, the advected last frame / 255 and two "
        "Lagrangian tendencies, and lead / T_out (models.nowcasting.advection)",
        "output": "correction (N, 1, H, W) float32; forecast = clip(advected + correction, 0, 1) x 255",
        "resolution": "the radar's own: any H x W",
        "cadence_min": cadence_min,
        "echo_floor_pixel": facts["echo_floor_pixel"],
        "training": {**config.to_dict(), **{k: v for k, v in facts.items() if k != "history"}},
        "history": facts.get("history", []),
        "data": data,
        "metrics": {},
        "code_version": code_version(),
        "rebuild": rebuild_command,
    }
    if reused:
        card |= {k: reused[k] for k in ("training", "history", "data")}
        card["weights_from"] = f"{reused['name']}@{reused['version']}"
    return write_card(out_dir, card, model_card_markdown)


def release_reused(ref: str, registry: str | None, out_dir: Path, *, name: str, version: str,
                   rebuild_command: str) -> dict:  # fmt: skip
    """A registered version's weights released, untrained, under this code's motion, gate,
    sampling and spread (:class:`AdvectionConfig`'s defaults): a new way of running a trained
    correction is a new version, and its card says whose weights it runs."""
    import torch

    from lakesight.models.runtime import load_card, resolve

    _, source = resolve(ref, registry)
    card = load_card(source)
    trained = AdvectionConfig.from_dict(card["model_config"])
    running = (
        "motion",
        "gate",
        "sampling",
        "spread_px_per_step",
        "spread_px_at_issue",
        "spread_probability",
        "spread_skill",
        "spread_floor",
        "short_leads",
        "ensemble_below",
        "within_class",
        "growth_persists_from",
        "short_leads_where_growth_persists",
        "heavy_rain_held_from_mm_h",
    )  # how it runs, not what it learned
    defaults = AdvectionConfig()
    model = AdvectionConfig(**{**trained.to_dict(),
                               **{k: getattr(defaults, k) for k in running}})  # fmt: skip
    state = torch.load(source / card["files"]["torch"], weights_only=True)
    facts = {"echo_floor_pixel": card["echo_floor_pixel"]}
    return release(state, AdvectionTrainConfig(model=model), facts, out_dir, name=name,
                   version=version, data=card["data"], rebuild_command=rebuild_command,
                   cadence_min=card["cadence_min"], reused=card)  # fmt: skip


def model_card_markdown(card: dict) -> str:
    t, m = card["training"], card["model_config"]
    return "\n".join([
        f"# {card['name']}@{card['version']}: radar nowcasting",
        "",
        f"{card['architecture']}. {m['inputs']} frames in (the last 3 used), {m['outputs']} "
        f"leads out every {card['cadence_min']} minutes, at the radar's own resolution.",
        "An untrained model is advection along the measured motion; training learns the "
        "correction.",
        "",
        "## Data",
        f"- {card['data'].get('description', '')}",
        f"- training windows: {t['training_windows']}, windows seen: {t['windows_seen']}",
        f"- augmentation: rescaled {t['scale_range']}, quarter turns and flips, gain "
        f"+-{t['gain_db']} dBZ, {CROP} px crops, motion error up to "
        f"{t.get('motion_jitter_px', 0)} px/step",
        "",
        "## Training",
        f"- {t['steps']} AdamW steps of {t['batch']} windows x {m['outputs']} leads, lr "
        f"{t['lr']} (cosine), {t['world_size']} process(es), {t['seconds']} s",
        f"- rebuild: `{card['rebuild']}`",
        *([f"- weights: {card['weights_from']}'s, trained with its motion "
           f"({t['model'].get('motion', 'echo_dis')}) and not retrained; run here with "
           f"motion {m['motion']}, gate {m.get('gate', 'none')}, sampling "
           f"{m.get('sampling', 'reflectivity')} and spread "
           f"{m.get('spread_px_per_step', 0.0)} px/step"
           + (f" (from {m['spread_px_at_issue']} px at the issue time)"
              if m.get("spread_px_at_issue") else "")
           + f" at {m.get('spread_probability', AdvectionConfig.spread_probability):.0%}"
           + (f" (down to {m['spread_floor']:.0%} where its skill is lower)"
              if m.get("spread_skill") else "")
           + (f"; its first {m['short_leads']} leads uncorrected, along the last step's "
              f"motion" if m.get("short_leads") else "")
           + (f" ({m['short_leads_where_growth_persists']} where growth persists at "
              f"{m['growth_persists_from']} or more)"
              if m.get("short_leads") and m.get("growth_persists_from") is not None else "")
           + (f"; below a growth persistence of {m['ensemble_below']}, its later leads the "
              f"ensemble mean of its candidate motions, uncorrected"
              if m.get("ensemble_below") is not None else "")
           + ("; within each class its spread forecasts, the expected rain"
              if m.get("within_class") == "expected" else "")
           + (f"; rain of {m['heavy_rain_held_from_mm_h']:g} mm/h or more kept at that rate "
              f"or above" if m.get("heavy_rain_held_from_mm_h") is not None else "")]
          if card.get("weights_from") else []),
        "",
        "## Evaluation",
        "`lakesight eval nowcast --family all --model NAME`: every family against flow, "
        "persistence and pysteps (README, radar section).",
        "",
        "## Limits",
        "- Trained on generated weather of one family, not a real radar: retrain on your "
        "archive with the weekly `radar_nowcast_train` DAG.",
    ]) + "\n"  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="models/registry")
    parser.add_argument("--name", default=NAME)
    parser.add_argument("--version", default="1")
    parser.add_argument("--days", type=int, default=20, help="generated training days")
    parser.add_argument("--steps", type=int, default=AdvectionTrainConfig.steps)
    parser.add_argument("--processes", type=int, default=1, help="TorchDistributor processes")
    parser.add_argument("--work", default="var/train-advection")
    parser.add_argument("--reuse", metavar="NAME@V", help="no training: release that "
                        "registered version's weights under this code's motion, gate, sampling and spread")  # fmt: skip
    args = parser.parse_args(argv)
    if args.reuse:
        command = (
            f"python -m lakesight.models.nowcasting.train_advection --out {args.out} --name "
            f"{args.name} --version {args.version} --reuse {args.reuse}"
        )
        card = release_reused(args.reuse, Path(args.out).resolve().as_uri(),
                              Path(args.out) / args.name / args.version, name=args.name,
                              version=args.version, rebuild_command=command)  # fmt: skip
        print(json.dumps({k: card[k] for k in ("name", "version", "weights_from")}))
        return 0

    config = AdvectionTrainConfig(steps=args.steps)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = rendered_training_set(args.days, config.seed, config.model)
    training = work / f"seed={config.seed}-days={args.days}.npz"
    training.write_bytes(data.to_bytes())
    prepared = time.perf_counter() - started
    result = train_anyhow(config, training.as_uri(), args.processes)
    facts = {**result["facts"], "data_seconds": round(prepared, 1)}
    command = (
        f"python -m lakesight.models.nowcasting.train_advection --out {args.out} --name "
        f"{args.name} --version {args.version} --days {args.days} --steps {args.steps} "
        f"--processes {args.processes}"
    )
    described = {
        "description": f"{args.days} generated days of the training family (weather.py, seed "
        f"{config.seed}) from {TRAIN_START}, every 6-minute step, 128 px",
        "days": args.days,
        "family": TRAINING_FAMILY,  # what `lakesight eval nowcast` holds it to on that family
    }
    card = release(result["state"], config, facts, Path(args.out) / args.name / args.version,
                   name=args.name, version=args.version, data=described,
                   rebuild_command=command)  # fmt: skip
    print(json.dumps({k: card[k] for k in ("name", "version")} | {"seconds": facts["seconds"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
