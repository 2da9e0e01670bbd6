"""MovieLens-100k, the real interactions every recommender here is measured on.

The ``recbole`` wheel ships it (``recbole/dataset_example/ml-100k``). :func:`fetch_ml100k`
downloads that wheel from the package index (``pip download --no-deps``, nothing
installed), checks the files against the digests below and extracts them into
``var/datasets/ml-100k``. The MovieLens licence forbids redistribution: the files are
fetched on each machine and never committed (``var/`` is ignored).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pandas as pd

from lakesight.config import REPO_ROOT, ConfigError

RECBOLE_WHEEL = "recbole==1.2.1"
WHEEL_FOLDER = "recbole/dataset_example/ml-100k"
# sha256 of the files in that wheel: another download must give the same data.
FILES = {
    "ml-100k.inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
    "ml-100k.item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
    "ml-100k.user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
}
DEFAULT_DIR = REPO_ROOT / "var" / "datasets" / "ml-100k"


def fetch_ml100k(directory: Path = DEFAULT_DIR) -> Path:
    """The folder holding the ml-100k files, downloaded and checked the first time."""
    if all(_digest(directory / name) == digest for name, digest in FILES.items()):
        return directory
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--quiet", "--dest", scratch, RECBOLE_WHEEL]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wheels = list(Path(scratch).glob("recbole-*.whl"))
        if done.returncode != 0 or not wheels:
            last = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise ConfigError(f"MovieLens-100k: pip download {RECBOLE_WHEEL} failed ({last})")
        directory.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            for name, digest in FILES.items():
                data = wheel.read(f"{WHEEL_FOLDER}/{name}")
                if hashlib.sha256(data).hexdigest() != digest:
                    raise ConfigError(
                        f"MovieLens-100k: {name} in {wheels[0].name} is not the expected file"
                    )
                partial = directory / f".{name}.partial"
                partial.write_bytes(data)
                partial.replace(directory / name)  # a reader never sees half a file
    return directory


def read_ml100k(directory: Path = DEFAULT_DIR) -> pd.DataFrame:
    """Every rating as an implicit interaction (He et al. treat each as a 1): ``user``,
    ``item``, ``ts`` (seconds), in the file's order."""
    inter = pd.read_csv(directory / "ml-100k.inter", sep="\t")
    return pd.DataFrame(
        {
            "user": inter["user_id:token"].astype(str),
            "item": inter["item_id:token"].astype(str),
            "ts": inter["timestamp:float"].astype("int64"),
        }
    )


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None
