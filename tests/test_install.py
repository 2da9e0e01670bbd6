"""The project builds without a setuptools warning, and its wheel ships the model registry.

pip prints every warning its build backend raises, even with ``-q``, so a warning here is a
wall of text in ``make setup``. Both builds call setuptools' own hooks, the ones pip calls
(``build_wheel``; ``build_editable`` in strict mode, as the Makefile installs), on a copy of
the project: offline (the venv's setuptools, no build isolation), and never touching the
checkout's ``build/``, where the installed link tree lives.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent
# What the build reads: pyproject's package folders, and the readme it names.
SOURCES = ("pyproject.toml", "README.md", "tasks", "models", "plugins/lakesight_airflow")
CALLER_SETTINGS = ("PYTHONWARNINGS", "PYTHONDONTWRITEBYTECODE")

# Runs one hook the way pip's in-process runner does: warnings recorded under the default
# filters, and the UserWarning subclasses (all of setuptools') are the ones pip prints.
HOOK = """
import json, sys, warnings
from setuptools import build_meta

hook, out, report = sys.argv[1:]
with warnings.catch_warnings(record=True) as caught:
    if hook == "build_wheel":
        name = build_meta.build_wheel(out)
    else:
        name = build_meta.build_editable(out, {"editable_mode": "strict"})
shown = [w for w in caught if issubclass(w.category, UserWarning)]
with open(report, "w") as f:
    json.dump({"wheel": name, "warnings": [
        {"category": f"{w.category.__module__}.{w.category.__qualname__}", "message": str(w.message)}
        for w in shown]}, f)
"""


def project_files() -> list[str]:
    """The files a commit ships under SOURCES: tracked, plus new ones git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *SOURCES],
        cwd=REPO, capture_output=True, check=True,
    ).stdout.decode()  # fmt: skip
    return sorted(p for p in listed.split("\0") if p and (REPO / p).is_file())


@pytest.fixture(scope="module")
def files() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs the git checkout: the shipped files are the ones git tracks")
    return project_files()


@pytest.fixture(scope="module")
def project(files, tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("project")
    for relative in files:
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, copy / relative)
    return copy


def build(project: Path, hook: str, tmp_path: Path) -> tuple[Path, list[dict], str]:
    """(the wheel, the warnings pip would print, the build's log) of one hook."""
    out, report = tmp_path / "dist", tmp_path / "report.json"
    out.mkdir()
    # Without the caller's warning filters, and with byte-compiling on: under
    # PYTHONDONTWRITEBYTECODE build_py logs "warning: byte-compiling is disabled".
    env = {k: v for k, v in os.environ.items() if k not in CALLER_SETTINGS}
    done = subprocess.run(
        [sys.executable, "-c", HOOK, hook, str(out), str(report)],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"{hook} failed:\n{log[-4000:]}"
    result = json.loads(report.read_text())
    return out / result["wheel"], result["warnings"], log


def setuptools_log_warnings(log: str) -> list[str]:
    """Lines setuptools logs as warnings ("warning: ...", "Package would be ignored")."""
    return [
        line.strip()
        for line in log.splitlines()
        if line.strip().lower().startswith("warning:") or "would be ignored" in line
    ]


def test_the_wheel_builds_without_a_setuptools_warning_and_ships_the_registry(
    project, files, tmp_path
):
    wheel, warned, log = build(project, "build_wheel", tmp_path)
    assert warned == [], "the wheel build warns:\n" + "\n\n".join(w["message"] for w in warned)
    logged = setuptools_log_warnings(log)
    assert logged == [], "setuptools logs warnings:\n" + "\n".join(logged)

    shipped = set(zipfile.ZipFile(wheel).namelist())
    # models/registry/NAME/VERSION/FILE ships as lakesight/models/registry/NAME/VERSION/FILE.
    registry = {
        "lakesight/" + p
        for p in files
        if p.startswith("models/registry/") and len(Path(p).parts) == 5
    }
    assert any(p.endswith(".onnx") for p in registry), "no model found in models/registry"
    missing = sorted(registry - shipped)
    assert not missing, (
        f"registry files missing from the wheel (add their pattern to "
        f"[tool.setuptools.package-data] in pyproject.toml): {missing}"
    )
    assert "lakesight/stage.py" in shipped
    assert "lakesight_airflow/explorer/plugin.py" in shipped


def test_the_strict_editable_build_is_quiet_and_links_the_sources(project, tmp_path):
    wheel, warned, log = build(project, "build_editable", tmp_path)
    # setuptools' note that it made the link tree (InformationOnly): the Makefile mutes it.
    noise = [w for w in warned if not w["category"].endswith(".InformationOnly")]
    assert noise == [], "the editable build warns:\n" + "\n\n".join(w["message"] for w in noise)
    logged = setuptools_log_warnings(log)
    assert logged == [], "setuptools logs warnings:\n" + "\n".join(logged)

    # A .pth with a plain folder, which Pyright, mypy and jedi read, not an import hook.
    with zipfile.ZipFile(wheel) as zipped:
        (pth,) = [n for n in zipped.namelist() if n.endswith(".pth")]
        entries = zipped.read(pth).decode().split()
    assert not any(e.startswith("import") for e in entries), entries
    (tree,) = (Path(e) if Path(e).is_absolute() else project / e for e in entries)
    assert tree.parent == project / "build"
    for module, source in (
        ("lakesight/stage.py", "tasks/stage.py"),
        ("lakesight/models/runtime.py", "models/runtime.py"),
        ("lakesight_airflow/explorer/plugin.py", "plugins/lakesight_airflow/explorer/plugin.py"),
    ):
        assert (tree / module).samefile(project / source), module
