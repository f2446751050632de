"""Submit a job to a Ray cluster through its Jobs API and wait for it.

`ray job submit --address http://HEAD:8265 --working-dir . -- python -m jobs.X …`
does the same from a shell; this module is the Python side, used by
`jobs.run_pipeline --address …` so a whole chain of steps runs as one cluster
job, and by the tests against a private local head.

Why it looks like this:
- The entrypoint is a shell command run by the job's driver on the head node;
  `RAY_ADDRESS` is set there, so `jobs.ray_session.init_ray` attaches to the
  cluster instead of starting a private one.
- `working_dir` uploads the repository (Ray skips `.gitignore`d paths such as
  `.venv`) and `pip` installs the project on every node that runs the job;
  on a cluster whose image already has filingstore installed, pass neither.
- Waiting polls the status and streams new log text, so a long run shows
  progress; a failed or stopped job raises with the tail of its logs.
"""
from __future__ import annotations

import os
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


class JobFailedError(RuntimeError):
    """A submitted job ended in FAILED or STOPPED."""


@dataclass
class Submission:
    address: str                            # http://HEAD:8265 (the dashboard / Jobs API)
    entrypoint: Sequence[str]               # argv of the command to run on the cluster
    working_dir: str | None = None          # folder uploaded as the job's cwd (the repo)
    pip: Sequence[str] = ()                 # requirements installed for the job on each node
    env_vars: dict[str, str] = field(default_factory=dict)
    submission_id: str | None = None
    entrypoint_num_cpus: float | None = None

    def runtime_env(self) -> dict[str, Any]:
        env: dict[str, Any] = {}
        if self.working_dir:
            env["working_dir"] = self.working_dir
        if self.pip:
            env["pip"] = list(self.pip)
        if self.env_vars:
            env["env_vars"] = dict(self.env_vars)
        return env

    def command(self) -> str:
        return shlex.join(self.entrypoint)


def _client(address: str):
    from ray.job_submission import JobSubmissionClient
    try:
        return JobSubmissionClient(address)
    except Exception as e:  # connection refused, wrong port, auth: say which address
        raise ConnectionError(
            f"cannot reach the Ray Jobs API at {address}: {e}. Is the head running with the dashboard "
            f"(`ray start --head --dashboard-host 0.0.0.0`) and is the port (default 8265) reachable? "
            f"A cluster with token auth needs RAY_AUTH_MODE=token and the token in this environment") from e


def submit(sub: Submission, agent_wait_s: float = 120.0) -> str:
    """Submit and return the submission id (the job runs on; see `wait`).

    A freshly started head answers the Jobs API before its job agent is up
    ("No available agent to submit job"): that answer is retried for up to
    `agent_wait_s` seconds; every other error is raised at once.
    """
    client = _client(sub.address)
    kwargs: dict[str, Any] = dict(entrypoint=sub.command(), runtime_env=sub.runtime_env() or None)
    if sub.submission_id:
        kwargs["submission_id"] = sub.submission_id
    if sub.entrypoint_num_cpus is not None:
        kwargs["entrypoint_num_cpus"] = sub.entrypoint_num_cpus
    deadline = time.monotonic() + agent_wait_s
    while True:
        try:
            return client.submit_job(**kwargs)
        except RuntimeError as e:
            if "No available agent" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(2.0)


def wait(address: str, submission_id: str, timeout_s: float | None = None, poll_s: float = 1.0,
         stream=sys.stdout) -> str:
    """Wait until the job ends, copying its new log text to `stream`; return its final status.

    Raises JobFailedError (with the log tail) if it FAILED or was STOPPED, and
    TimeoutError if it is still running after `timeout_s`.
    """
    client = _client(address)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    shown = 0
    while True:
        status = str(client.get_job_status(submission_id)).split(".")[-1]
        logs = client.get_job_logs(submission_id)
        if stream is not None and len(logs) > shown:
            stream.write(logs[shown:])
            stream.flush()
        shown = max(shown, len(logs))
        if status in TERMINAL:
            if status != "SUCCEEDED":
                info = client.get_job_info(submission_id)
                raise JobFailedError(f"job {submission_id} {status}: {info.message}\n--- last log lines ---\n"
                                     + "\n".join(logs.splitlines()[-40:]))
            return status
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job {submission_id} still {status} after {timeout_s:g} s; "
                               f"it keeps running on the cluster: `ray job stop {submission_id}` stops it")
        time.sleep(poll_s)


def run(sub: Submission, timeout_s: float | None = None, stream=sys.stdout) -> str:
    """Submit and wait; return the submission id."""
    job_id = submit(sub)
    if stream is not None:
        stream.write(f"submitted {job_id} to {sub.address}: {sub.command()}\n")
    wait(sub.address, job_id, timeout_s=timeout_s, stream=stream)
    return job_id


def default_env_vars() -> dict[str, str]:
    """Environment the cluster job should inherit from this shell (paths to shared data)."""
    keep = ("FILINGSTORE_SHARED_DATA", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    return {k: os.environ[k] for k in keep if k in os.environ}
