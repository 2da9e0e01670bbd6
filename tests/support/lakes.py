"""A lake of its own for a module of tests: a fresh root and a copy of the shipped registry."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakesight.config import REPO_ROOT, Settings, load_settings


@contextlib.contextmanager
def scratch_lake(base: Path) -> Iterator[tuple[Settings, Path, pytest.MonkeyPatch]]:
    """(settings, registry, env) with LAKESIGHT_ROOT and LAKESIGHT_MODEL_REGISTRY under
    ``base`` for the block: promotions write to the copy, never to the repository's
    registry, and subprocesses started in the block see the same lake."""
    registry = shipped_registry_copy(base / "registry")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LAKESIGHT_ROOT", (base / "lake").as_uri())
        env.setenv("LAKESIGHT_MODEL_REGISTRY", registry.as_uri())
        yield load_settings(), registry, env


# Models the pipelines train on a lake's own data and promote into the registry (ignored
# by git, never shipped): a developer's demo may have left one in the repository's.
PER_LAKE_MODELS = ("listing_recs",)


def shipped_registry_copy(target: Path) -> Path:
    """A copy of the repository's registry at ``target``, as it ships."""
    shutil.copytree(REPO_ROOT / "models" / "registry", target,
                    ignore=lambda folder, names: [n for n in names if n in PER_LAKE_MODELS
                                                  and Path(folder).name == "registry"])  # fmt: skip
    return target


def partition_table(settings: Settings, dataset, dt: str):
    """A committed partition of ``dataset`` as pandas, read as a consumer reads it."""
    import pyarrow.dataset as ds

    from lakesight.lake import uri_path

    return (
        ds.dataset(uri_path(dataset.partition(settings, dt)), format="parquet")
        .to_table()
        .to_pandas()
    )
