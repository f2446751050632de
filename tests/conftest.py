"""Shared fixtures: one private Ray cluster per test session, paths to real data."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FILINGSTORE_SHARED_DATA", REPO.parent / "shared" / "data"))
SEC_10K = SHARED_DATA / "sec" / "10-K"


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A private local Ray cluster with 2 pinned CPUs, started once per session."""
    import ray
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False,
                 _temp_dir=str(tmp_path_factory.mktemp("ray")), log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def sec_10k_dir() -> Path:
    if not SEC_10K.is_dir():
        pytest.skip(f"real 10-Ks not found at {SEC_10K} (set FILINGSTORE_SHARED_DATA to ../shared/data)")
    return SEC_10K
