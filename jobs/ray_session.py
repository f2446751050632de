"""Connect to Ray the same way in every job.

Under `ray job submit` (or with RAY_ADDRESS set) the job attaches to that
cluster; otherwise it starts a private local cluster, never attaching to some
other cluster that happens to run on the machine.
"""
from __future__ import annotations

import os

import ray

# Nested users (the pipeline runner calls one job after another in one
# process): only the outermost init_ray's matching shutdown_ray shuts down, and
# only a session this module started (not a caller's, e.g. a test fixture's).
_depth = 0
_owned = False


def init_ray(num_cpus: int | None = None) -> None:
    global _depth, _owned
    _depth += 1
    if ray.is_initialized():
        return
    _owned = True
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    if os.environ.get("RAY_ADDRESS"):
        ray.init(log_to_driver=True)
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=True)
    # Ray Data's own progress bars are per operator; keep them, but quiet the
    # per-batch execution summaries.
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = True
    ctx.print_on_execution_start = False


def shutdown_ray() -> None:
    global _depth, _owned
    _depth = max(0, _depth - 1)
    if _depth == 0 and _owned:
        _owned = False
        if ray.is_initialized() and not os.environ.get("RAY_ADDRESS"):
            ray.shutdown()
