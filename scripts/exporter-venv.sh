#!/usr/bin/env bash
# Create the exporter venv that scripts/build_detector_fixtures.py runs in.
#
#   scripts/exporter-venv.sh [PATH]        (default: var/exporter-venv)
#
# It holds torch 2.13.0 and torchvision 0.28.0 as the package index builds them (CUDA builds that
# import and run on a CPU-only machine), Ultralytics, onnx and onnxruntime: about 3 GB, about
# 3 minutes. It ignores the project's pip setup on purpose (PIP_FIND_LINKS and the pip config with
# the constraints file): that setup prefers the local torch 2.13.0+cpu wheel, with which the
# index's torchvision fails to import (see STACK-NOTES, "Packages that ship real data or real
# models"). Idempotent: a venv this script finished is left alone; a broken or partial one is
# completed. Prints nothing when there is nothing to do.
set -euo pipefail

VENV="${1:-var/exporter-venv}"
PYTHON="${PYTHON:-python3}"
# Pinned to the versions the committed fixtures were built with (expected.json, "versions").
PACKAGES=(torch==2.13.0 torchvision==0.28.0 ultralytics==8.4.190 onnx==1.23.2 onnxruntime==1.32.0)
STAMP="$VENV/.exporter-venv-done"

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "${PACKAGES[*]}" ]]; then
  exit 0
fi

echo "exporter-venv: installing ${PACKAGES[*]} into $VENV (about 3 GB, a few minutes) ..." >&2
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null \
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PACKAGES[@]}"

# The trap this venv exists to avoid shows only at run time ("operator torchvision::nms does not
# exist"), so run torchvision's NMS once before calling the venv done. Ultralytics stays offline
# and writes its settings file to a temporary directory, not to ~/.config.
settings="$(mktemp -d)"
trap 'rm -rf "$settings"' EXIT
env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null YOLO_OFFLINE=1 YOLO_AUTOINSTALL=false \
  YOLO_CONFIG_DIR="$settings" "$VENV/bin/python" -c '
import onnx, onnxruntime, torch, torchvision, ultralytics
boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]])
assert torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0]
' >/dev/null
printf '%s\n' "${PACKAGES[*]}" >"$STAMP"
echo "exporter-venv: ready ($VENV)" >&2
