"""The installable project ships every package folder of the fixed top-level layout."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parent.parent


def package_folders() -> dict[str, Path]:
    """Import name -> folder of every package under the folders pyproject maps."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {}
    for name, folder in config["package-dir"].items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            relative = init.parent.relative_to(root)
            if "registry" in relative.parts or "__pycache__" in relative.parts:
                continue
            dotted = ".".join((name, *relative.parts)) if relative.parts else name
            found[dotted] = init.parent
    return found


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(
        tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    missing = sorted(set(package_folders()) - listed)
    assert not missing, (
        f"package folders missing from pyproject.toml [tool.setuptools] packages: {missing}"
    )
    assert "lakesight.models.detection" in listed  # the walk really found the nested families


def test_no_listed_package_lacks_its_folder():
    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert sorted(set(listed) - set(package_folders())) == []
