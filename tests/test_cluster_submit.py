"""A job submitted through the Ray Jobs API of a private local head writes the store.

The head is started here with `ray start --head --block` in its own process
group and stopped by signalling that group only, so no other Ray instance on
the machine is touched.
"""
from __future__ import annotations

import contextlib
import io
import os
import signal
import socket
import subprocess
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from etl.sample_corpus import write_corpus
from featurestore import Store
from jobs.submission import JobFailedError, Submission, run

pytestmark = pytest.mark.ray

RAY_BIN = Path(sys.executable).with_name("ray")
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory):
    """A private Ray head with the Jobs API on a free port; yields its http address."""
    # Short path: Ray's Unix sockets live under the temp dir (107-byte limit).
    tmp = Path(tempfile.mkdtemp(prefix="fsray", dir="/tmp"))
    gcs_port, dash_port = _free_port(), _free_port()
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    log = open(tmp / "head.log", "wb")
    proc = subprocess.Popen(
        [str(RAY_BIN), "start", "--head", "--block", f"--port={gcs_port}", "--num-cpus=1",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={dash_port}",
         f"--temp-dir={tmp / 'ray'}", "--disable-usage-stats",
         # Every per-node service on its own free port: the session's local
         # cluster (other tests) already holds the defaults, e.g. the agent's 52365.
         f"--dashboard-agent-listen-port={_free_port()}", f"--dashboard-agent-grpc-port={_free_port()}",
         f"--runtime-env-agent-port={_free_port()}", f"--metrics-export-port={_free_port()}",
         f"--ray-client-server-port={_free_port()}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    address = f"http://127.0.0.1:{dash_port}"
    try:
        from ray.job_submission import JobSubmissionClient
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"ray start exited with {proc.returncode}: {(tmp / 'head.log').read_text()[-2000:]}")
            with contextlib.suppress(Exception):
                JobSubmissionClient(address).list_jobs()
                break
            if time.monotonic() > deadline:
                pytest.fail(f"the Jobs API at {address} did not come up: {(tmp / 'head.log').read_text()[-2000:]}")
            time.sleep(1)
        yield address
    finally:
        # Only the process group this fixture started.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def test_submitted_ingest_job_fills_the_store(ray_head, tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, n_companies=1, n_years=1, seed=3)
    store_dir = tmp_path / "store"
    out = io.StringIO()
    run(Submission(address=ray_head,
                   entrypoint=[sys.executable, "-m", "jobs.ingest", "--input", str(corpus),
                               "--store", str(store_dir), "--no-progress"],
                   env_vars={"RAY_AUTH_MODE": "disabled"}),
        timeout_s=240, stream=out)
    store = Store(store_dir)
    assert store.count("filings") == 1
    assert store.count("chunks") > 10
    assert store.count("rejects") == 0
    # The job attached to the head (RAY_ADDRESS set by the Jobs API), not a private cluster.
    assert "ingested" in out.getvalue().lower() or "filings" in out.getvalue().lower()


def test_pipeline_runner_submits_its_chain_to_the_cluster(ray_head, tmp_path, monkeypatch):
    from jobs import run_pipeline
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    out = tmp_path / "pipe"
    rc = run_pipeline.main(["--address", ray_head, "--job-python", sys.executable, "--working-dir", str(REPO),
                            "--out", str(out), "--companies", "2", "--steps", "corpus", "ingest",
                            "--no-progress"])
    assert rc == 0
    store = Store(out / "store")
    # 2 companies x 2 10-Ks, the sample Companies House accounts and crawled sites
    assert store.sql("SELECT count(*) AS n FROM filings WHERE source = 'sec'")["n"][0].as_py() == 4
    assert store.sql("SELECT count(*) AS n FROM filings WHERE source = 'website'")["n"][0].as_py() >= 1


def test_a_failing_job_raises_with_its_log(ray_head, tmp_path):
    with pytest.raises(JobFailedError, match="FAILED(.|\n)*No module named"):
        run(Submission(address=ray_head,
                       entrypoint=[sys.executable, "-m", "jobs.query_missing_module"],
                       env_vars={"RAY_AUTH_MODE": "disabled"}),
            timeout_s=120, stream=None)
