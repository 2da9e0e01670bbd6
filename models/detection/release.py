"""The SSD's release, from trained weights to a registry entry: ONNX export, parity check,
int8, evaluation, card."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lakesight.models.detection.detector import InputSpec, preprocess
from lakesight.models.runtime import ONNX_OPSET, quantize_int8, write_card

if TYPE_CHECKING:
    from lakesight.models.detection.ssd import SSDConfig
    from lakesight.models.detection.train_ssd import TrainConfig


def export_onnx(model, image_size: int, path: Path) -> Path:
    """Export an eval-mode model with a dynamic batch: input ``images``, outputs ``loc``, ``scores``."""
    import torch

    class Exported(torch.nn.Module):
        # The TorchScript exporter passes inputs positionally; keep the model's
        # keyword-only training switch out of the traced signature.
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, images):
            return self.inner(images)

    dynamic = {"images": {0: "batch"}, "loc": {0: "batch"}, "scores": {0: "batch"}}
    # The exporter restores the wrapper's train/eval mode, recursively: wrap an eval-mode
    # model in an eval-mode wrapper, or BatchNorm would be left in training mode.
    wrapper = Exported(model.eval()).eval()
    torch.onnx.export(
        wrapper,
        (torch.zeros(1, 3, image_size, image_size),),
        str(path),
        dynamo=False,
        input_names=["images"],
        output_names=["loc", "scores"],
        dynamic_axes=dynamic,
        opset_version=ONNX_OPSET,
    )
    return path


class SceneCalibration:
    """ONNX Runtime calibration reader over generated scenes (a seed neither train nor eval use)."""

    def __init__(
        self, spec: InputSpec, seed: int, n: int, batch: int = 16, scene_config=None
    ) -> None:
        from lakesight.models.detection.evaluation import held_out_scenes

        images, _ = held_out_scenes(n, seed, scene_config)
        self._batches = iter([preprocess(images[i : i + batch], spec) for i in range(0, n, batch)])

    def get_next(self):
        batch = next(self._batches, None)
        return None if batch is None else {"images": batch}


def release_ssd(
    state: dict,
    config: TrainConfig,
    facts: dict,
    out_dir: Path,
    *,
    name: str,
    version: str,
    eval_images: int = 500,
    calibration_images: int = 256,
    rebuild_command: str = "",
) -> dict:
    """Write ``model.onnx``, ``model.int8.onnx``, ``weights.pt``, ``card.json`` and
    ``MODEL_CARD.md`` into ``out_dir``; return the card."""
    import torch

    from lakesight.lake import code_version
    from lakesight.models.detection.evaluation import evaluate_detector, held_out_scenes
    from lakesight.models.detection.ssd import SSD
    from lakesight.models.detection.train_ssd import CALIBRATION_SEED, EVAL_SEED
    from lakesight.models.runtime import detector_from_card

    ssd: SSDConfig = config.ssd
    model = SSD(ssd)
    model.load_state_dict(state)
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32 = export_onnx(model, ssd.image_size, out_dir / "model.onnx")
    spec = InputSpec(ssd.image_size, ssd.mean, ssd.scale, "RGB")

    # The exported graph must compute what torch computes.
    probe_images, _ = held_out_scenes(4, EVAL_SEED + 1, config.scenes)
    probe = preprocess(probe_images, spec)
    with torch.no_grad():
        torch_loc, torch_scores = (t.numpy() for t in model(torch.from_numpy(probe)))
    calibration = SceneCalibration(
        spec, CALIBRATION_SEED, calibration_images, scene_config=config.scenes
    )
    int8 = quantize_int8(fp32, out_dir / "model.int8.onnx", calibration)
    # Torch weights too (fp16 halves the size), for the torch benchmark and for fine-tuning.
    weights = out_dir / "weights.pt"
    torch.save({k: v.half() if v.is_floating_point() else v for k, v in state.items()}, weights)

    card = {
        "name": name,
        "version": version,
        "task": "detection",
        "architecture": f"MobileNet-SSD (width {ssd.width}, {ssd.image_size}x{ssd.image_size})",
        "format": "onnx",
        "files": {"fp32": fp32.name, "int8": int8.name, "torch": weights.name},
        "ssd_config": {k: v for k, v in asdict(ssd).items()},
        "outputs": ["loc", "scores"],
        "classes": list(ssd.classes),
        "input": asdict(spec),
        "postprocess": {
            "feature_sizes": list(ssd.feature_sizes),
            "aspect_ratios": [list(r) for r in ssd.aspect_ratios],
            "min_scale": ssd.min_scale,
            "max_scale": ssd.max_scale,
            "variances": list(ssd.variances),
        },
        "training": {
            "seed": config.seed,
            "steps": config.steps,
            "batch": config.batch,
            "lr": config.lr,
            "data": "lakesight.models.scenes, photo backgrounds + photometric jitter",
            **{k: v for k, v in facts.items() if k != "history"},
            "final_losses": facts.get("history", [{}])[-1],
        },
        "evaluation": {
            "seed": EVAL_SEED,
            "images": eval_images,
            "protocol": "VOC mAP@0.5, all-point",
        },
        "calibration": {
            "seed": CALIBRATION_SEED,
            "images": calibration_images,
            "method": "MinMax, QDQ, per-channel",
        },
        "rebuild_command": rebuild_command,
        "code_version": code_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    detector = detector_from_card(out_dir, card, runtime="ort", variant="fp32")
    ort_loc, ort_scores = detector.runner(probe)
    card["parity_max_abs_diff"] = {
        "loc": float(np.abs(ort_loc - torch_loc).max()),
        "scores": float(np.abs(ort_scores - torch_scores).max()),
    }
    images, truths = held_out_scenes(eval_images, EVAL_SEED, config.scenes)
    metrics = {}
    for variant in ("fp32", "int8"):
        detector = detector_from_card(out_dir, card, runtime="ort", variant=variant)
        metrics[variant] = evaluate_detector(detector.detect, images, truths, ssd.classes)
    card["metrics"] = metrics
    return write_card(out_dir, card, render_card)


def render_card(card: dict) -> str:
    """The human-readable model card, generated from ``card.json``."""
    metrics = card.get("metrics", {})
    lines = [
        f"# {card['name']}@{card['version']}",
        "",
        f"{card['architecture']}, trained by lakesight on its own generated scenes",
        "(no public pretrained weights can be downloaded where it is built).",
        "",
        f"- classes: {', '.join(card['classes'])} (label i+1; 0 is background)",
        f"- input: {card['input']['size']}x{card['input']['size']} {card['input']['channel_order']}, "
        f"(pixel - {card['input']['mean']}) * {card['input']['scale']:.6f}",
        "- outputs: `loc` (B, P, 4) and `scores` (B, P, C+1); decoding and NMS in "
        "`lakesight.models.detection.boxes.detection_output`",
        f"- training: seed {card['training']['seed']}, {card['training']['steps']} steps x "
        f"{card['training']['batch']} scenes, {card['training'].get('seconds', '?')} s",
        f"- evaluation: {card['evaluation']['protocol']} on {card['evaluation']['images']} held-out "
        f"scenes, seed {card['evaluation']['seed']}",
    ]
    for variant, m in metrics.items():
        per_class = ", ".join(f"{k} {v:.3f}" for k, v in m["per_class_ap"].items())
        lines.append(f"- {variant}: mAP@0.5 = {m['map50']:.4f} ({per_class})")
    lines += ["", "Files and sha256:", ""]
    lines += [f"- `{name}` {digest}" for name, digest in card["sha256"].items()]
    lines += ["", "Rebuild:", "", f"    {card['rebuild_command']}", ""]
    return "\n".join(lines)
