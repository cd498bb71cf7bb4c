"""A sweep on a real Ray cluster: ``ray start --head`` on a free port, the sweep driver in a
subprocess with ``--address``, results equal to the run on the session's embedded Ray.

The head runs with ``--block`` in its own process group and its own temp dir; teardown signals
that group only, so no other Ray on the machine is touched (``ray stop`` would stop them all).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from sweeps import schema
from sweeps.config import parse_sweep
from sweeps.runner import run_sweep

ROOT = Path(__file__).resolve().parent.parent
RAY = Path(sys.executable).with_name("ray")

SWEEP = {
    "name": "cluster",
    "updates": 15,
    "record_every": 5,
    "seeds": 2,
    "task_size": 6,
    "agents": [{"kind": "lola-taylor"}, {"kind": "nl", "lr": [0.5, 1.0]}, {"kind": "wsls"}],
}
COLUMNS = schema.RESULT_COLUMNS


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head():
    """A local Ray head started with ``ray start --head``; yields its address."""
    port = _free_port()
    temp_dir = tempfile.mkdtemp(prefix="lola-ray-")  # short: Ray's socket paths are limited
    head = subprocess.Popen(
        [RAY, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
         "--include-dashboard=false", f"--temp-dir={temp_dir}", "--block"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    started = threading.Event()

    def watch():
        for line in head.stdout:
            if "Ray runtime started" in line:
                started.set()

    threading.Thread(target=watch, daemon=True).start()
    try:
        assert started.wait(timeout=90), "ray start --head did not come up"
        yield f"127.0.0.1:{port}"
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.slow
def test_sweep_on_a_cluster_equals_the_embedded_run(ray_head, ray_session, tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SWEEP))
    # The cluster uses Ray's token authentication; an explicit address needs it switched on.
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["RAY_AUTH_MODE"] = "token"
    command = [sys.executable, "-m", "cli", "sweep", str(path), "--out",
               str(tmp_path / "cluster"), "--address", ray_head]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "sweep: 20 matches (0 already stored), ok 20" in done.stdout

    run_sweep(parse_sweep(SWEEP), tmp_path / "embedded")
    cluster = pd.read_parquet(tmp_path / "cluster" / "matches").sort_values("match_id")
    embedded = pd.read_parquet(tmp_path / "embedded" / "matches").sort_values("match_id")
    assert len(cluster) == 20 and list(cluster["match_id"]) == list(embedded["match_id"])
    np.testing.assert_allclose(cluster[COLUMNS], embedded[COLUMNS], rtol=0, atol=1e-12)
    curves = [
        pd.read_parquet(tmp_path / d / "curves").sort_values(["match_id", "update"])
        for d in ("cluster", "embedded")
    ]
    np.testing.assert_allclose(curves[0][COLUMNS], curves[1][COLUMNS], rtol=0, atol=1e-12)
