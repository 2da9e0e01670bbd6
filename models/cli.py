"""``lakesight models``: bring a model, see what the registry holds, check it, quantize it, remove it.

Every subcommand takes ``--json`` and ``--registry URI`` (default: the
``LAKESIGHT_MODEL_REGISTRY`` setting, a local folder or ``hdfs://``). A bad argument is
answered with one line and exit code 2 (:class:`lakesight.config.ConfigError`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lakesight.cli import emit


def cmd_list(args: argparse.Namespace) -> int:
    from lakesight.models.catalog import list_models

    entries = list_models(args.registry)
    emit(
        {"models": entries}, args.json,
        lambda d: "\n".join(
            f"{e['ref']:<24} {e['task'] or '-':<12} {e['format'] or '-':<6} {e['head'] or '-':<16}"
            f" {e['classes']} classes" for e in d["models"]
        ) or "no models",
    )  # fmt: skip
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from lakesight.models.catalog import show

    card = show(args.ref, args.registry)
    emit(card, args.json, lambda d: json.dumps(d, indent=2))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from lakesight.models.importing import Overrides, import_model, read_labels

    given = Overrides(
        head=args.head, input_size=args.input_size, mean=args.mean, scale=args.scale,
        channel_order=args.channel_order, resize=args.resize, conf=args.conf, iou=args.iou,
        labels=read_labels(args.labels) if args.labels else None, output=args.output,
        pooling=args.pooling,
    )  # fmt: skip
    given.given = [k for k, v in vars(given).items() if v is not None and k != "given"]
    card = import_model(Path(args.path), args.task, args.name, given, args.registry)
    emit(card, args.json, format_import)
    return 0


def format_import(d: dict) -> str:
    trial = d["metrics"]["trial_run"]
    if d["task"] == "backbone":
        what = f"backbone, output {d['layer']}, {trial['embedding_dim']}-d embeddings"
    else:
        what = (f"{d['format']}, head {d['head']}, {len(d['classes'])} classes, input "
                f"{d['input']['size']} px {d['input']['resize']}")  # fmt: skip
    found = ("" if d["task"] == "backbone"
             else f"{trial['detections']} detections on {trial['images']} sample images, ")  # fmt: skip
    return (f"registered {d['ref']} ({what}) in {d['registry']}\n"
            f"  trial run: {found}{trial['seconds_per_image'] * 1000:.1f} ms per image")  # fmt: skip


def cmd_verify(args: argparse.Namespace) -> int:
    from lakesight.models.catalog import verify

    result = verify(args.ref, args.registry)
    emit(result, args.json, lambda d: " ".join(f"{k}={v}" for k, v in d.items()))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from lakesight.models.catalog import remove

    result = remove(args.ref, args.registry)
    emit(result, args.json, lambda d: f"removed {d['removed']} from {d['registry']}")
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    from lakesight.models.catalog import quantize

    result = quantize(args.ref, args.registry)
    choice = result["choice"]
    emit(
        result, args.json,
        lambda d: (f"registered {d['ref']} (int8 of {d['quantized_from']}); on this CPU "
                   f"int8 runs at {choice['int8_vs_fp32']}x fp32, the runtime takes {choice['variant']}"),
    )  # fmt: skip
    return 0


def register(sub, groups) -> None:
    from lakesight.models.detection.detector import HEADS, RESIZES
    from lakesight.models.importing import POOLINGS, TASKS

    models = sub.add_parser("models", help="import, list, show, verify and remove models")
    commands = models.add_subparsers(dest="models_command", required=True)

    def command(name: str, help_text: str, func, ref: str | None = None):
        p = commands.add_parser(name, help=help_text)
        if ref:
            p.add_argument("ref", metavar=ref)
        p.add_argument("--registry", help="registry URI (default: LAKESIGHT_MODEL_REGISTRY)")
        p.add_argument("--json", action="store_true")
        p.set_defaults(func=func)
        return p

    command("list", "every registered model version", cmd_list)
    command("show", "a model's card", cmd_show, "NAME[@V]")
    command("verify", "checksums, one run, throughput", cmd_verify, "NAME[@V]")
    command("remove", "delete one version", cmd_remove, "NAME@V")
    command("quantize", "a static int8 copy, calibrated on sample images", cmd_quantize, "NAME[@V]")
    p = command("import", "inspect an exported model, run it once, register it", cmd_import)
    p.add_argument("path", metavar="PATH", help="model.onnx, or a Caffe deploy .prototxt")
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument("--name", help="registry name (default: from the file name)")
    p.add_argument("--labels", metavar="FILE", help="class names, one per line")
    p.add_argument("--head", choices=HEADS, help="the head format, when it cannot be recognised")
    p.add_argument("--input-size", type=int, help="input side in px, when the file leaves it open")
    p.add_argument("--mean", type=float, help="subtracted from each pixel value")
    p.add_argument("--scale", type=float, help="multiplies (pixel - mean)")
    p.add_argument("--channel-order", choices=("RGB", "BGR"))
    p.add_argument("--resize", choices=RESIZES)
    p.add_argument("--conf", type=float, help="score threshold")
    p.add_argument("--iou", type=float, help="NMS IoU threshold")
    p.add_argument("--output", help="backbone: the output to embed with (default: the first)")
    p.add_argument(
        "--pooling", choices=POOLINGS, help="backbone: of a spatial map (default: average)"
    )
