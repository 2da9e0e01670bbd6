"""Build tiny detector ONNX files with the real exporters and record the frameworks' own answers.

lakesight's detection runtime decodes ONNX files exported by Ultralytics (YOLOv8, YOLO11, RT-DETR)
and torchvision (SSDlite). Its tests cannot import Ultralytics or torchvision: the only torchvision
that pairs with the pinned torch 2.13.0 is a CUDA build, so exporting needs a venv of its own that
pulls about 3 GB of wheels (see ../shared/STACK-NOTES.md, "Packages that ship real data or real
models"). So this script runs once, in that exporter venv, and its output is committed as test
fixtures under tests/fixtures/detectors/:

- small ONNX files, exported by the frameworks' own exporters from scaled-down copies of the real
  model definitions (random weights, fixed seeds; the heads and output formats are the real ones);
- expected.json: each file's inputs, outputs and metadata as ONNX Runtime reports them, the
  framework's preprocessing and thresholds, and the framework's own detections on four real
  photos from scikit-image's data folder (astronaut, coffee, chelsea, motorcycle_left).

Random weights alone detect nothing useful: BatchNorm stays at mean 0 / variance 1, so features
barely depend on the image and every class score ties. Before export the script therefore
re-estimates BatchNorm statistics on the photos and refits the final class layer (see
`fit_score_rows`) so that every photo gets a handful of detections with distinct scores above a
realistic confidence threshold.

Rebuild (about 15 seconds on 2 CPU cores once the venv exists):

    scripts/exporter-venv.sh var/exporter-venv        # once: ~3 minutes, ~3 GB
    var/exporter-venv/bin/python scripts/build_detector_fixtures.py --out tests/fixtures/detectors

The script must not import lakesight (the exporter venv does not have it). It reads the photos from
the project's .venv (scikit-image's data folder) unless --photos-dir says otherwise, and keeps
Ultralytics offline (YOLO_OFFLINE=1, YOLO_AUTOINSTALL=false, settings in a temporary directory).
Rebuilt files differ from the committed ones only in Ultralytics' `date` metadata (and in the last
bits of floats on another CPU).
"""

from __future__ import annotations

import argparse
import copy
import glob
import hashlib
import itertools
import json
import math
import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

SEED = 0
PHOTOS = ("astronaut", "coffee", "chelsea", "motorcycle_left")
# Few classes keep the class layers small; the names make the metadata look like a real model's.
CLASS_NAMES = {0: "person", 1: "cat", 2: "cup", 3: "motorcycle"}
IMGSZ = 320  # square network input for every model (SSDlite320's native size)
# Ultralytics' predict defaults (ultralytics/cfg/default.yaml); SSDlite gets the same threshold.
CONF, IOU, MAX_DET = 0.25, 0.7, 300
SSD_NMS, SSD_TOPK = 0.55, 300  # torchvision's ssdlite320_mobilenet_v3_large defaults
# Detections per photo and model that check_counts insists on (the refits aim inside this).
WANTED_PER_PHOTO = (3, 30)
# The best position over all photos of each score row scores a value drawn from this range
# (drawn, so that no two rows tie at the top).
TOP_SCORES = (0.55, 0.95)
BN_GAIN = 4.0  # BatchNorm scale for random weights (see recalibrate_batchnorm)
DFL_BIN_SLOPE = 0.5  # YOLO box bins' logit falls by this per bin (see refit_yolo_head)


# ---------------------------------------------------------------------------------------------
# Photos
# ---------------------------------------------------------------------------------------------


def default_photos_dir() -> Path:
    """scikit-image's data folder in the project's .venv (the exporter venv has no scikit-image)."""
    repo = Path(__file__).resolve().parents[1]
    found = sorted(glob.glob(str(repo / ".venv/lib/python3*/site-packages/skimage/data")))
    if not found:
        raise SystemExit(
            f"no skimage/data under {repo}/.venv: run `make setup` or pass --photos-dir"
        )
    return Path(found[-1])


def load_photos(photos_dir: Path) -> dict[str, np.ndarray]:
    """The fixture photos as RGB uint8 (H, W, 3), as `skimage.data.<name>()` returns them."""
    import cv2

    photos = {}
    for name in PHOTOS:
        path = photos_dir / f"{name}.png"
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)  # IMREAD_COLOR drops any alpha channel
        if bgr is None:
            raise SystemExit(f"cannot read {path}")
        photos[name] = np.ascontiguousarray(bgr[..., ::-1])
    return photos


def photo_records(photos: dict[str, np.ndarray]) -> dict[str, Any]:
    """Names, shapes and pixel checksums, so a test can tell it loaded the same pixels."""
    skimage_call = {
        "astronaut": "skimage.data.astronaut()",
        "coffee": "skimage.data.coffee()",
        "chelsea": "skimage.data.chelsea()",
        "motorcycle_left": "skimage.data.stereo_motorcycle()[0]",
    }
    return {
        name: {
            "file": f"{name}.png",
            "skimage": skimage_call[name],
            "shape": list(rgb.shape),
            "dtype": "uint8",
            "channels": "RGB",
            "sha256_rgb_bytes": hashlib.sha256(rgb.tobytes()).hexdigest(),
        }
        for name, rgb in photos.items()
    }


# ---------------------------------------------------------------------------------------------
# Making random weights detect something
# ---------------------------------------------------------------------------------------------


def recalibrate_batchnorm(model, forward, gain: float = BN_GAIN) -> None:
    """Re-estimate every BatchNorm's running statistics from one `forward()` over the photos.

    momentum=None makes the running statistics a plain average of the batches seen; only the
    BatchNorm layers train, so heads keep their inference paths (no denoising, no dropout).

    Each BatchNorm's scale is set to `gain` first. At the init scale of 1 a random SiLU/ReLU6 net
    squeezes a low-contrast photo a little more at every layer (SiLU's slope is 1/2 near 0): by
    the heads the cat's features varied 10x less than the astronaut's, and no threshold suited
    both. At 4 the activations reach the near-linear parts, as in a trained net.
    """
    import torch

    model.eval()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None
            if bn.affine:
                bn.weight.fill_(gain)
            bn.train()
    with torch.no_grad():
        forward()
    model.eval()


@contextmanager
def capture_inputs(modules):
    """Record the input tensor of each module during the forward passes run inside the block."""
    seen: dict[int, Any] = {}
    hooks = [
        m.register_forward_hook(lambda _m, args, _out, i=i: seen.__setitem__(i, args[0].detach()))
        for i, m in enumerate(modules)
    ]
    try:
        yield seen
    finally:
        for h in hooks:
            h.remove()


def seeded_generator():
    """A fresh generator per model, so changing one model leaves the others' fixtures alone."""
    import torch

    return torch.Generator().manual_seed(SEED)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def fit_score_rows(feats, active, gen, per_photo=(1, 3), trials=2000):
    """Weights (R, C) and biases (R,) for a final class layer, one row per output logit.

    feats: (B, N, C) inputs of the layer over the B photos (N positions or queries each).
    active: R booleans. An active row scores above CONF at `per_photo[0]` to `per_photo[1]`
    positions of every photo if the features allow it; an inactive row stays below CONF on all.

    Rescaling the random layer is not enough: photos differ in contrast, so one threshold gives
    hundreds of detections on the astronaut and none on the cat. Each active row instead takes,
    of `trials` seeded random directions in feature space, the one whose top scores are most even
    across the photos, after removing directions that shift a whole photo up or down. It then
    maps that direction's logits linearly so the threshold falls between the per-photo counts
    and the best position over all photos scores a value drawn from TOP_SCORES.
    """
    import torch

    f = feats.double()
    _, n, c = f.shape
    lo_k, hi_k = per_photo
    if any(active) and n <= hi_k:
        raise ValueError(f"{n} positions per photo cannot hold at most {hi_k} detections")
    photo_means = f.mean(1)  # (B, C)
    # Orthonormal basis of the photo-to-photo differences of the mean feature: directions in it
    # move whole photos up or down, which is what makes counts so uneven.
    basis, _ = torch.linalg.qr((photo_means - photo_means.mean(0)).T)  # (C, B)
    weights, biases = [], []
    for is_active in active:
        top_score = TOP_SCORES[0] + (TOP_SCORES[1] - TOP_SCORES[0]) * float(
            torch.rand(1, generator=gen, dtype=torch.float64)
        )
        if not is_active:  # one random direction, its best position scoring CONF / 8
            d = torch.randn(c, generator=gen, dtype=torch.float64)
            z = f @ d
            sd = float(z.std()) if z.numel() > 1 else 0.0
            if sd < 1e-9:  # e.g. a 1x1 map: no spread to use, so a constant low score
                weights.append(torch.zeros(c, dtype=torch.float64))
                biases.append(_logit(CONF / 8))
            else:
                weights.append(d / sd)
                biases.append(_logit(CONF / 8) - float(z.max()) / sd)
            continue
        d = torch.randn(trials, c, generator=gen, dtype=torch.float64)
        d = d - (d @ basis) @ basis.T
        z = torch.einsum("tc,bnc->tbn", d, f)  # (T, B, N)
        mu = z.mean((1, 2))
        sd = z.std((1, 2)).clamp_min(1e-12)
        z = (z - mu[:, None, None]) / sd[:, None, None]
        top = z.topk(hi_k + 1, dim=2).values  # (T, B, hi_k + 1) best positions per photo
        weakest = top[..., lo_k - 1].amin(1)  # worst photo's lo_k-th best position
        strongest = top[..., hi_k].amax(1)  # best position that must stay below, any photo
        best = int(torch.argmax(weakest - strongest))
        peak = float(top[best, :, 0].max())
        thr = (float(weakest[best]) + float(strongest[best])) / 2
        if peak - thr < 1e-3:  # degenerate features: fall back to a plain slope
            thr = peak - 1.0
        slope = (_logit(top_score) - _logit(CONF)) / (peak - thr)
        # logit = slope * ((d·x - mu) / sd - thr) + logit(CONF)
        weights.append(slope * d[best] / sd[best])
        biases.append(slope * (-float(mu[best]) / float(sd[best]) - thr) + _logit(CONF))
    return torch.stack(weights).float(), torch.tensor(biases, dtype=torch.float32)


def set_conv1x1(conv, weight, bias) -> None:
    """Load (R, C) weights and (R,) biases into a 1x1 Conv2d (or Linear) layer."""
    import torch

    with torch.no_grad():
        conv.weight.copy_(weight.reshape(conv.weight.shape))
        conv.bias.copy_(bias)


def check_counts(name: str, detections: dict[str, list]) -> None:
    """Fail loudly when the refit did not give each photo a handful of distinctly scored boxes."""
    lo, hi = WANTED_PER_PHOTO
    for photo, dets in detections.items():
        scores = sorted(d[1] for d in dets)
        ties = any(b - a < 1e-6 for a, b in itertools.pairwise(scores))
        if not lo <= len(dets) <= hi or ties:
            raise SystemExit(
                f"{name}: {len(dets)} detections on {photo} (ties: {ties}); wanted {lo}-{hi}"
            )


# ---------------------------------------------------------------------------------------------
# ONNX facts
# ---------------------------------------------------------------------------------------------


def onnx_facts(path: Path) -> dict[str, Any]:
    """What a consumer sees: ORT's inputs/outputs, metadata_props, opset and notable operators."""
    import onnx
    import onnxruntime as ort

    proto = onnx.load(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])

    def describe(args):
        return [{"name": a.name, "shape": list(a.shape), "type": a.type} for a in args]

    ops = sorted(_op_types(proto.graph))
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "opset": {imp.domain or "ai.onnx": imp.version for imp in proto.opset_import},
        "inputs": describe(session.get_inputs()),
        "outputs": describe(session.get_outputs()),
        "metadata_props": {p.key: p.value for p in proto.metadata_props},
        # OpenCV DNN cannot load NonMaxSuppression, Loop or Tile (STACK-NOTES).
        "notable_ops": [
            op for op in ops if op in {"NonMaxSuppression", "Loop", "Tile", "TopK", "If"}
        ],
    }


def _op_types(graph) -> set[str]:
    """Operator types in a graph and in its subgraphs (If branches, Loop bodies)."""
    found = set()
    for node in graph.node:
        found.add(node.op_type)
        for attr in node.attribute:
            for sub in [attr.g, *attr.graphs]:
                if sub.node:
                    found |= _op_types(sub)
    return found


def sort_detections(rows: list[list[float]]) -> list[list[float]]:
    """[class, score, x1, y1, x2, y2] rows, best score first (stable for equal scores)."""
    return sorted(rows, key=lambda r: -r[1])


# ---------------------------------------------------------------------------------------------
# Ultralytics: YOLOv8, YOLO11, RT-DETR
# ---------------------------------------------------------------------------------------------

ULTRALYTICS_PREPROCESS = {
    "imgsz": [IMGSZ, IMGSZ],
    "resize": "letterbox",
    "letterbox": (
        "r = min(320/h0, 320/w0) (scales up too); new_w, new_h = round(w0*r), round(h0*r); "
        "cv2.resize(INTER_LINEAR) on the BGR uint8 image; pad to 320x320 with 114 on all channels, "
        "centred: left = round(dw/2 - 0.1), right = round(dw/2 + 0.1) (Python round), top/bottom alike"
    ),
    "pad_value": 114,
    "interpolation": "cv2.INTER_LINEAR",
    "channels": "RGB (predict takes BGR numpy images and flips them)",
    "scale": "1/255",
    "mean_std": None,
    "layout": "NCHW float32",
    "boxes_back_to_original": (
        "x = (x - left) / (new_w / w0), y = (y - top) / (new_h / h0), then clip to the image "
        "(ultralytics.utils.ops.scale_boxes: the gains come from the rounded resized size)"
    ),
}

RTDETR_PREPROCESS = {
    "imgsz": [IMGSZ, IMGSZ],
    "resize": "stretch",
    "letterbox": "none: cv2.resize(INTER_LINEAR) of the BGR uint8 image straight to 320x320",
    "pad_value": None,
    "interpolation": "cv2.INTER_LINEAR",
    "channels": "RGB (predict takes BGR numpy images and flips them)",
    "scale": "1/255",
    "mean_std": None,
    "layout": "NCHW float32",
    "boxes_back_to_original": "x * w0, y * h0 from normalised xyxy; no clipping",
}


def ultralytics_env(tmp: Path) -> None:
    """Keep Ultralytics offline, with its settings file in the temporary directory."""
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ["YOLO_CONFIG_DIR"] = str(tmp / "ultralytics-settings")


def ultralytics_cfg(rel: str) -> dict[str, Any]:
    """A copy of one of Ultralytics' model yamls, as a dict."""
    import ultralytics
    from ultralytics.utils import YAML

    return copy.deepcopy(YAML.load(Path(ultralytics.__file__).parent / "cfg/models" / rel))


def write_yaml(cfg: dict[str, Any], name: str) -> str:
    """Write cfg in the working directory: Ultralytics exports next to the yaml's name there."""
    from ultralytics.utils import YAML

    YAML.save(Path(name), cfg)
    return name


def ultralytics_letterbox(photos: dict[str, np.ndarray], stretch: bool) -> dict[str, Any]:
    """Each photo as the predictor's pre_transform makes it (RGB uint8), with its parameters."""
    from ultralytics.data.augment import LetterBox

    resize = LetterBox(IMGSZ, auto=False, scale_fill=stretch)
    out = {}
    for name, rgb in photos.items():
        bgr = np.ascontiguousarray(rgb[..., ::-1])  # the predictor's own input order
        params = resize.get_params({"img": bgr})
        out[name] = (np.ascontiguousarray(resize(image=bgr)[..., ::-1]), params)
    return out


def ultralytics_batch(photos: dict[str, np.ndarray], stretch: bool):
    """The photos as the network sees them: letterboxed (or stretched), RGB, 0..1, NCHW."""
    import torch

    imgs = [img for img, _ in ultralytics_letterbox(photos, stretch).values()]
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float() / 255


def network_inputs(photos: dict[str, np.ndarray], stretch: bool) -> dict[str, Any]:
    """Per photo: resized size, padding and a checksum of the network's input image.

    lakesight's preprocessing can be checked on its own against these before any decoding.
    """
    return {
        name: {
            "resized_wh": [int(v) for v in params["new_unpad"]],
            "pad_left_top_right_bottom": [
                int(params[k]) for k in ("left", "top", "right", "bottom")
            ],
            "sha256_uint8_rgb_hwc": hashlib.sha256(img.tobytes()).hexdigest(),
        }
        for name, (img, params) in ultralytics_letterbox(photos, stretch).items()
    }


def refit_yolo_head(net, batch, gen) -> None:
    """BatchNorm from the photos, then each level's box and class convs refitted.

    Box conv (Detect.cv2[i][-1]): each side's distance is the mean of a softmax over reg_max
    bins, in strides. Detect.bias_init gives every bin the same bias, so untrained boxes reach
    ~7.5 strides each way (at stride 32, past the image on every side) and clipping hides the
    decoding. Here each bin's logit is random with std 1 plus a bias of -DFL_BIN_SLOPE * bin,
    which gives a few strides per side, varying across the photo, like a trained head.
    Class conv (Detect.cv3[i][-1]): see fit_score_rows.
    """
    import torch

    recalibrate_batchnorm(net, lambda: net(batch))
    detect = net.model[-1]
    box_convs = [branch[-1] for branch in detect.cv2]
    class_convs = [branch[-1] for branch in detect.cv3]
    with capture_inputs(box_convs + class_convs) as seen:
        net(batch)
    bins = torch.arange(detect.reg_max, dtype=torch.float32)
    for i, conv in enumerate(box_convs):
        with torch.no_grad():
            z = conv(seen[i]) - conv.bias[:, None, None]  # (B, 4 * reg_max, H, W)
            sd = z.std((0, 2, 3)).clamp_min(1e-6)
            conv.weight.div_(sd[:, None, None, None])
            conv.bias.copy_((-DFL_BIN_SLOPE * bins).repeat(4) - z.mean((0, 2, 3)) / sd)
    for i, conv in enumerate(class_convs):
        x = seen[len(box_convs) + i].flatten(2).transpose(1, 2)  # (B, H*W, C)
        weight, bias = fit_score_rows(x, [True] * conv.out_channels, gen)
        set_conv1x1(conv, weight, bias)


def refit_rtdetr_head(net, batch, gen) -> None:
    """Random box refinement, BatchNorm from the photos, then the last score head refitted.

    RT-DETR initialises the last layer of every box head to zero, so untrained boxes are exactly
    the anchor grid (centres at (i + 0.5) / w, sides 0.05 * 2**level): small random weights make
    the decoder move and resize them, as a trained one does. In eval mode only
    dec_score_head[eval_idx] (the last) scores queries, and its output does not feed back into
    the decoder, so the captured query features stay valid after the refit.
    """
    import torch

    decoder = net.model[-1]
    with torch.no_grad():
        for mlp in [decoder.enc_bbox_head, *decoder.dec_bbox_head]:
            last = mlp.layers[-1]  # Linear(hd, 4): offsets to the boxes' logits (cx, cy, w, h)
            last.weight.normal_(0.0, 0.5 / math.sqrt(last.in_features), generator=gen)
    recalibrate_batchnorm(net, lambda: net(batch))
    score_head = decoder.dec_score_head[-1]  # Linear(hd, nc)
    with capture_inputs([score_head]) as seen:
        net(batch)
    weight, bias = fit_score_rows(seen[0], [True] * score_head.out_features, gen, per_photo=(2, 6))
    set_conv1x1(score_head, weight, bias)


def ultralytics_predict(onnx_path: Path, photos, rtdetr: bool) -> dict[str, list]:
    """The framework's answer: Ultralytics' own predict on the exported file (BGR input)."""
    from ultralytics import RTDETR, YOLO

    model = RTDETR(str(onnx_path)) if rtdetr else YOLO(str(onnx_path), task="detect")
    out = {}
    for name, rgb in photos.items():
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        (result,) = model.predict(
            bgr, imgsz=IMGSZ, conf=CONF, iou=IOU, max_det=MAX_DET, verbose=False
        )
        boxes = result.boxes
        rows = [
            [int(c), float(s), *map(float, xyxy)]
            for c, s, xyxy in zip(
                boxes.cls.tolist(), boxes.conf.tolist(), boxes.xyxy.tolist(), strict=True
            )
        ]
        out[name] = sort_detections(rows)
    return out


def export_ultralytics(model, out: Path, **kwargs) -> Path:
    """Export with the framework's exporter and move the file into the fixture folder."""
    produced = model.export(format="onnx", simplify=False, imgsz=IMGSZ, dynamic=False, **kwargs)
    shutil.move(produced, out)
    return out


def yolo_record(
    facts, detections, photos, *, architecture, yaml_changes, output_format, thresholds
):
    """The expected.json entry of one Ultralytics YOLO file (build_rtdetr adjusts its own)."""
    return {
        **facts,
        "framework": "ultralytics",
        "architecture": architecture,
        "yaml_changes": yaml_changes,
        "class_names": {str(k): v for k, v in CLASS_NAMES.items()},
        "class_index_base": 0,
        "preprocess": ULTRALYTICS_PREPROCESS,
        "network_input": network_inputs(photos, stretch=False),
        "output_format": output_format,
        "thresholds": thresholds,
        "framework_call": (
            f"YOLO(file, task='detect').predict(image_bgr, imgsz={IMGSZ}, conf={CONF}, iou={IOU}, "
            f"max_det={MAX_DET}, verbose=False)"
        ),
        "detections_format": "[class_index, score, x1, y1, x2, y2] in original image pixels",
        "detections": detections,
    }


RAW_HEAD_FORMAT = {
    "output0": "[1, 4+nc, N] float32, N = 40*40 + 20*20 + 10*10 = 2100 anchors (strides 8, 16, 32)",
    "rows": "0-3: cx, cy, w, h in letterboxed 320x320 input pixels; 4..: per-class sigmoid scores",
    "objectness": "none",
    "nms": "not in the graph: class-wise NMS, best class per anchor, keep score > conf (strict)",
    "anchor_order": "level by level (stride 8 first), row-major (y, then x) within a level",
}


def build_yolo(out_dir: Path, photos, *, version: str) -> dict[str, Any]:
    """YOLOv8 or YOLO11 from a tiny-scaled copy of its yaml: raw head (and, for v8, nms=True)."""
    import torch
    from ultralytics import YOLO

    rel, stem = {"v8": ("v8/yolov8.yaml", "yolov8"), "11": ("11/yolo11.yaml", "yolo11")}[version]
    cfg = ultralytics_cfg(rel)
    depth = cfg["scales"]["n"][0]
    # One tiny scale: the n model's depth, 1/4 of its width, channels capped at 256 before
    # scaling (so at most 16). No n/s/m/l/x in the file name, so Ultralytics takes the only scale.
    cfg["scales"] = {"t": [depth, 0.0625, 256]}
    cfg["nc"] = len(CLASS_NAMES)
    yaml_changes = f"scales -> {{t: [{depth}, 0.0625, 256]}}, nc -> {len(CLASS_NAMES)}"
    torch.manual_seed(SEED)
    model = YOLO(write_yaml(cfg, f"{stem}-tiny.yaml"))
    model.model.names = dict(CLASS_NAMES)  # exported as the `names` metadata
    refit_yolo_head(model.model, ultralytics_batch(photos, stretch=False), seeded_generator())

    records = {}
    path = export_ultralytics(model, out_dir / f"{stem}.onnx")
    detections = ultralytics_predict(path, photos, rtdetr=False)
    check_counts(stem, detections)
    records[stem] = yolo_record(
        onnx_facts(path),
        detections,
        photos,
        architecture=f"Ultralytics {stem} Detect head ({rel} scaled down)",
        yaml_changes=yaml_changes,
        output_format=RAW_HEAD_FORMAT,
        thresholds={"conf": CONF, "iou": IOU, "max_det": MAX_DET, "agnostic_nms": False},
    )
    if version == "v8":
        path = export_ultralytics(
            model, out_dir / f"{stem}_nms.onnx", nms=True, conf=CONF, iou=IOU, max_det=MAX_DET
        )
        detections = ultralytics_predict(path, photos, rtdetr=False)
        check_counts(f"{stem}_nms", detections)
        records[f"{stem}_nms"] = yolo_record(
            onnx_facts(path),
            detections,
            photos,
            architecture=f"Ultralytics {stem} exported with nms=True (NMS inside the graph)",
            yaml_changes=yaml_changes,
            output_format={
                "output0": "[1, max_det=300, 6] float32, rows past the last detection are all 0",
                "columns": "x1, y1, x2, y2 (letterboxed 320x320 input pixels), score, class index as float",
                "nms": (
                    "in the graph (ONNX NonMaxSuppression): score > conf, best class per anchor, "
                    "class-wise, iou and conf baked in at export"
                ),
                "predict": "keeps rows with score > conf (strict), then scales boxes back like the raw head",
            },
            thresholds={
                "conf": CONF,
                "iou": IOU,
                "max_det": MAX_DET,
                "agnostic_nms": False,
                "baked_into_graph_at_export": {"conf": CONF, "iou": IOU, "max_det": MAX_DET},
            },
        )
    return records


# rtdetr-l.yaml layer index -> (repeats, args): channels about 1/8 and fewer repeats; the layer
# types and their wiring stay rtdetr-l's.
RTDETR_TINY_LAYERS = {
    0: ("HGStem", 1, [8, 8]),
    1: ("HGBlock", 2, [8, 16, 3]),
    2: ("DWConv", 1, [16, 3, 2, 1, False]),
    3: ("HGBlock", 2, [16, 64, 3]),
    4: ("DWConv", 1, [64, 3, 2, 1, False]),
    5: ("HGBlock", 2, [24, 128, 5, True, False]),
    6: ("HGBlock", 2, [24, 128, 5, True, True]),
    7: ("HGBlock", 2, [24, 128, 5, True, True]),
    8: ("DWConv", 1, [128, 3, 2, 1, False]),
    9: ("HGBlock", 2, [32, 128, 5, True, False]),
    10: ("Conv", 1, [32, 1, 1, None, 1, 1, False]),
    11: ("AIFI", 1, [128, 4]),
    12: ("Conv", 1, [32, 1, 1]),
    14: ("Conv", 1, [32, 1, 1, None, 1, 1, False]),
    16: ("RepC3", 1, [32]),
    17: ("Conv", 1, [32, 1, 1]),
    19: ("Conv", 1, [32, 1, 1, None, 1, 1, False]),
    21: ("RepC3", 1, [32]),
    22: ("Conv", 1, [32, 3, 2]),
    24: ("RepC3", 1, [32]),
    25: ("Conv", 1, [32, 3, 2]),
    27: ("RepC3", 1, [32]),
    # nc, hidden dim, queries (300 as in rtdetr-l), points, heads, decoder layers, ffn dim
    28: ("RTDETRDecoder", 1, ["nc", 32, 300, 4, 4, 2, 64]),
}


def build_rtdetr(out_dir: Path, photos) -> dict[str, Any]:
    """Ultralytics RT-DETR from a shrunken copy of rtdetr-l.yaml."""
    import torch
    from ultralytics import RTDETR

    cfg = ultralytics_cfg("rt-detr/rtdetr-l.yaml")
    cfg["nc"] = len(CLASS_NAMES)
    layers = cfg["backbone"] + cfg["head"]
    for i, (module, repeats, args) in RTDETR_TINY_LAYERS.items():
        if layers[i][2] != module:  # a changed rtdetr-l.yaml must not be shrunk blindly
            raise SystemExit(f"rtdetr-l.yaml layer {i} is {layers[i][2]}, expected {module}")
        layers[i][1], layers[i][3] = repeats, args
    n_backbone = len(cfg["backbone"])
    cfg["backbone"], cfg["head"] = layers[:n_backbone], layers[n_backbone:]
    torch.manual_seed(SEED)
    model = RTDETR(write_yaml(cfg, "rtdetr-tiny.yaml"))
    model.model.names = dict(CLASS_NAMES)
    refit_rtdetr_head(model.model, ultralytics_batch(photos, stretch=True), seeded_generator())

    path = export_ultralytics(model, out_dir / "rtdetr.onnx")
    detections = ultralytics_predict(path, photos, rtdetr=True)
    check_counts("rtdetr", detections)
    record = yolo_record(
        onnx_facts(path),
        detections,
        photos,
        architecture="Ultralytics RT-DETR (rtdetr-l.yaml layers, shrunk), RTDETRDecoder head",
        yaml_changes=f"nc -> {len(CLASS_NAMES)}; per-layer (module, repeats, args): "
        + json.dumps({str(k): v for k, v in RTDETR_TINY_LAYERS.items()}),
        output_format={
            "output0": "[1, 300, 6] float32: top-300 (query, class) pairs over all 300 queries x nc",
            "columns": (
                "cx, cy, w, h normalised 0..1 to the (stretched) input, score = sigmoid(logit), "
                "class index as float"
            ),
            "order": "score descending; one query can appear once per class",
            "nms": "none (not in the graph, not in predict)",
            "predict": "xywh -> xyxy, keep score > conf (strict), first max_det, x*w0 and y*h0, no clip",
        },
        thresholds={"conf": CONF, "iou": None, "max_det": MAX_DET},
    )
    record["preprocess"] = RTDETR_PREPROCESS
    record["network_input"] = network_inputs(photos, stretch=True)
    record["framework_call"] = (
        f"RTDETR(file).predict(image_bgr, imgsz={IMGSZ}, conf={CONF}, max_det={MAX_DET}, verbose=False)"
    )
    return {"rtdetr": record}


# ---------------------------------------------------------------------------------------------
# torchvision: SSDlite320 MobileNetV3-Large
# ---------------------------------------------------------------------------------------------

SSD_WIDTH_MULT = 0.25
SSD_OUTPUTS = ["boxes", "scores", "labels"]  # the order SSD.postprocess_detections fills its dicts


def ssdlite_tiny(num_classes: int):
    """ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None) at width_mult 0.25.

    The builder forwards width_mult to the MobileNetV3 backbone only; its extra feature layers
    (512/256/256/128 channels) would stay 3/4 of the file. So this assembles the builder's own
    parts the way the builder does (torchvision 0.28, models/detection/ssdlite.py) and passes
    width_mult to SSDLiteFeatureExtractorMobileNet too, which has the parameter for this.
    """
    from functools import partial

    from torch import nn
    from torchvision.models.detection import _utils as det_utils
    from torchvision.models.detection import ssdlite
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.ssd import SSD
    from torchvision.models.mobilenetv3 import mobilenet_v3_large

    norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
    backbone = mobilenet_v3_large(
        weights=None, norm_layer=norm_layer, reduced_tail=True, width_mult=SSD_WIDTH_MULT
    )
    ssdlite._normal_init(backbone)
    features = backbone.features
    # As _mobilenet_extractor: C4 is the last strided block before the final layer.
    stages = [0] + [i for i, b in enumerate(features) if getattr(b, "_is_cn", False)]
    stages.append(len(features) - 1)
    extractor = ssdlite.SSDLiteFeatureExtractorMobileNet(
        features, stages[-2], norm_layer, width_mult=SSD_WIDTH_MULT
    )
    size = (IMGSZ, IMGSZ)
    anchors = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    channels = det_utils.retrieve_out_channels(extractor, size)
    head = ssdlite.SSDLiteHead(
        channels, anchors.num_anchors_per_location(), num_classes, norm_layer
    )
    return SSD(
        extractor,
        anchors,
        size,
        num_classes,
        head=head,
        score_thresh=CONF,  # builder default 0.001; the threshold is part of the exported graph
        nms_thresh=SSD_NMS,
        detections_per_img=MAX_DET,
        topk_candidates=SSD_TOPK,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )


def refit_ssd_head(model, images, gen) -> None:
    """BatchNorm from the photos, then the classification convs refitted.

    Each level's last conv has anchors x (1 + nc) output channels (channel = anchor * K + class,
    class 0 = background). Background gets logit 0 everywhere, so softmax scores behave like
    sigmoids of the class logits. With 6 anchors on 6 levels every class would have 36 rows, far
    too many firing ones, so per class two (level, anchor) rows on the three largest maps are
    active and the rest stay below the threshold.
    """
    import torch

    recalibrate_batchnorm(model, lambda: model(images))
    convs = [block[-1] for block in model.head.classification_head.module_list]
    with capture_inputs(convs) as seen:
        model(images)
    k = model.head.classification_head.num_columns  # 1 + nc
    n_anchors = model.anchor_generator.num_anchors_per_location()
    active_rows = {((c - 1) % 3, c % n_anchors[0], c) for c in range(1, k)} | {
        ((c + 1) % 3, (c + 3) % n_anchors[0], c) for c in range(1, k)
    }
    for level, conv in enumerate(convs):
        x = seen[level].flatten(2).transpose(1, 2)  # (B, H*W, C)
        rows = [(a, c) for a in range(n_anchors[level]) for c in range(k)]
        active = [(level, a, c) in active_rows for a, c in rows]
        weight, bias = fit_score_rows(x, active, gen)
        background = torch.tensor([c == 0 for _, c in rows])
        weight[background], bias[background] = 0.0, 0.0
        set_conv1x1(conv, weight, bias)


def ssd_rows(out: dict[str, Any]) -> list[list[float]]:
    rows = [
        [int(c), float(s), *map(float, b)]
        for b, s, c in zip(
            out["boxes"].tolist(), out["scores"].tolist(), out["labels"].tolist(), strict=True
        )
    ]
    return sort_detections(rows)


def _iou(a: list[float], b: list[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def compare(eager: dict[str, list], onnx_runs: dict[str, list]) -> dict[str, Any]:
    """How far torch eager is from ONNX Runtime: detections paired by label and best IoU."""
    box = score = 0.0
    only_eager, only_onnx = {}, {}
    for photo in eager:
        left = list(eager[photo])
        for det in onnx_runs[photo]:
            pairs = [(_iou(det[2:], e[2:]), i) for i, e in enumerate(left) if e[0] == det[0]]
            iou, i = max(pairs, default=(0.0, -1))
            if iou < 0.5:
                only_onnx.setdefault(photo, []).append(det)
                continue
            match = left.pop(i)
            score = max(score, abs(det[1] - match[1]))
            box = max(box, *(abs(x - y) for x, y in zip(det[2:], match[2:], strict=True)))
        if left:
            only_eager[photo] = left
    return {
        "max_abs_box_diff_px": box,
        "max_abs_score_diff": score,
        "only_in_onnxruntime": only_onnx,
        "only_in_torch_eager": only_eager,
        "cause": (
            "the graph's bilinear Resize in ONNX Runtime differs from torch's interpolate by up to "
            "~4e-5 (0..1 pixels), and random weights amplify it; on a 320x320 input (no resize) "
            "scores agree to ~5e-5"
        ),
    }


def build_ssdlite(out_dir: Path, photos) -> dict[str, Any]:
    """torchvision SSDlite320, exported by the TorchScript-based exporter with dynamic H and W."""
    import onnxruntime as ort
    import torch

    torch.manual_seed(SEED)
    model = ssdlite_tiny(num_classes=1 + len(CLASS_NAMES)).eval()
    images = [torch.from_numpy(rgb).permute(2, 0, 1).float() / 255 for rgb in photos.values()]
    refit_ssd_head(model, images, seeded_generator())

    path = out_dir / "ssdlite.onnx"
    # The dynamo exporter fails on torchvision detectors (pytorch/vision #9306, #9462).
    torch.onnx.export(
        model,
        (images[:1],),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["image"],
        output_names=SSD_OUTPUTS,
        dynamic_axes={
            "image": {1: "height", 2: "width"},
            "boxes": {0: "detections"},
            "scores": {0: "detections"},
            "labels": {0: "detections"},
        },
    )
    with torch.no_grad():
        eager = {name: ssd_rows(o) for name, o in zip(photos, model(images), strict=True)}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_runs = {}
    for name, image in zip(photos, images, strict=True):
        outs = session.run(SSD_OUTPUTS, {"image": image.numpy()})
        onnx_runs[name] = ssd_rows(
            {k: torch.from_numpy(v) for k, v in zip(SSD_OUTPUTS, outs, strict=True)}
        )
    check_counts("ssdlite", onnx_runs)
    check_counts("ssdlite (eager)", eager)
    return {
        "ssdlite": {
            **onnx_facts(path),
            "framework": "torchvision",
            "architecture": (
                f"ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, "
                f"num_classes={1 + len(CLASS_NAMES)}) assembled with width_mult={SSD_WIDTH_MULT} "
                "for the backbone and the extra layers (see ssdlite_tiny)"
            ),
            "export": "torch.onnx.export(model, ([image],), dynamo=False, opset_version=17), dynamic H, W",
            "class_names": {
                "0": "__background__",
                **{str(k + 1): v for k, v in CLASS_NAMES.items()},
            },
            "class_index_base": 1,
            "preprocess": {
                "input": "one image [3, H, W] float32, RGB, 0..1, any H and W (dynamic axes)",
                "in_graph": (
                    "normalise (x - 0.5) / 0.5, bilinear resize to 320x320 (stretch, "
                    "align_corners=False), boxes scaled back to the input's H and W"
                ),
                "resize": "stretch, inside the graph",
                "channels": "RGB",
                "scale": "1/255 (caller), then mean 0.5 / std 0.5 (graph)",
            },
            "output_format": {
                "boxes": "[D, 4] float32 x1, y1, x2, y2 in the input image's pixels, clipped",
                "scores": "[D] float32 softmax probability (background is class 0)",
                "labels": "[D] int64, 1-based (0 = background never appears)",
                "order": "score descending (batched NMS order)",
                "nms": "in the graph: per class top 300 with score > score_thresh, batched NMS 0.55",
            },
            "thresholds": {
                "score_thresh": CONF,
                "nms_thresh": SSD_NMS,
                "topk_candidates": SSD_TOPK,
                "detections_per_img": MAX_DET,
            },
            "framework_call": (
                "onnxruntime InferenceSession(file).run(None, {'image': rgb_float01_chw}) "
                "(the exported file run as torchvision specifies its input); "
                "detections_torch_eager is model([image]) before export"
            ),
            "lakesight_should_match": "detections (onnxruntime on the exported file)",
            "detections_format": "[label (1-based), score, x1, y1, x2, y2] in original image pixels",
            "detections": onnx_runs,
            "detections_torch_eager": eager,
            "eager_vs_onnxruntime": compare(eager, onnx_runs),
        }
    }


# ---------------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch
    import torchvision
    import ultralytics

    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "ultralytics": ultralytics.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/detectors"))
    parser.add_argument("--photos-dir", type=Path, default=None, help="scikit-image's data folder")
    args = parser.parse_args(argv)
    started = time.monotonic()
    out_dir = args.out.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    photos = load_photos(args.photos_dir or default_photos_dir())

    cwd = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="detector-fixtures-") as tmp:
        ultralytics_env(Path(tmp))  # before the first ultralytics import
        import torch

        torch.manual_seed(SEED)
        os.chdir(tmp)  # Ultralytics writes its exports next to the yaml, in the working dir
        try:
            models = {}
            models.update(build_yolo(out_dir, photos, version="v8"))
            models.update(build_yolo(out_dir, photos, version="11"))
            models.update(build_rtdetr(out_dir, photos))
            models.update(build_ssdlite(out_dir, photos))
        finally:
            os.chdir(cwd)

    expected = {
        "generated_by": "scripts/build_detector_fixtures.py",
        "versions": versions(),
        "seed": SEED,
        "photos": photo_records(photos),
        "models": models,
    }
    (out_dir / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    for name, m in models.items():
        counts = {p: len(d) for p, d in m["detections"].items()}
        print(f"{name:12s} {m['file']:18s} {m['bytes'] / 1e6:5.2f} MB  detections {counts}")
    print(f"done in {time.monotonic() - started:.0f} s -> {out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
