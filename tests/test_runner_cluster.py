"""A sweep on a real Ray cluster: ``ray start --head`` on a free port (and worker nodes), the
sweep driver in a subprocess with ``--address``, results equal to the run on the session's
embedded Ray; a head or the last worker node killed mid-run ends the driver in one line, and
the rerun resumes.

Each node runs with ``--block`` in its own process group and the test's own temp dir; teardown
signals those groups only, so no other Ray on the machine is touched (``ray stop`` would stop
them all).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fault_tools import cli_with_faults

from sweeps import runner, schema, store
from sweeps.config import parse_sweep
from sweeps.runner import run_sweep
from sweeps.verify import verify

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


class Nodes:
    """Ray nodes started with ``ray start ... --block``, each in its own process group, so that
    a test kills exactly them; all share one temp dir (Ray's socket paths are limited)."""

    def __init__(self):
        self.temp_dir = tempfile.mkdtemp(prefix="lola-ray-")
        self.nodes: list[subprocess.Popen] = []

    def head(self, cpus: int) -> str:
        """A new head on a free port with ``cpus`` CPUs; its address."""
        port = _free_port()
        self._start(["--head", f"--port={port}", f"--num-cpus={cpus}",
                     "--include-dashboard=false", f"--temp-dir={self.temp_dir}"])  # fmt: skip
        return f"127.0.0.1:{port}"

    def worker(self, address: str, cpus: int) -> subprocess.Popen:
        return self._start([f"--address={address}", f"--num-cpus={cpus}"])

    def _start(self, args: list[str]) -> subprocess.Popen:
        env = {**os.environ, "RAY_AUTH_MODE": "token"}
        env.pop("RAY_ADDRESS", None)
        node = subprocess.Popen(
            [RAY, "start", "--node-ip-address=127.0.0.1", *args, "--block"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        self.nodes.append(node)
        started = threading.Event()

        def watch():
            for line in node.stdout:
                if "Ray runtime started" in line:
                    started.set()

        threading.Thread(target=watch, daemon=True).start()
        assert started.wait(timeout=90), f"ray start {' '.join(args)} did not come up"
        return node

    def kill(self, node: subprocess.Popen, signum=signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(node.pid, signum)
        try:
            node.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()

    def close(self) -> None:
        for node in self.nodes:
            self.kill(node, signal.SIGTERM)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


@pytest.fixture
def nodes():
    started = Nodes()
    try:
        yield started
    finally:
        started.close()


@pytest.fixture
def ray_head(nodes):
    """A local Ray head started with ``ray start --head``; yields its address."""
    return nodes.head(cpus=2)


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


def start_driver(sweep_file: Path, out: Path, address: str) -> subprocess.Popen:
    """The sweep's driver on the cluster, each task held 1 s so that a node dies mid-run."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="token")
    command = [*cli_with_faults(1.0), "sweep", str(sweep_file), "--out", str(out),
               "--address", address, "--task-size", "2"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)


def wait_for_a_part(driver: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + 180
    while not list(out.glob("matches/game=ipd/part-*.parquet")):
        assert driver.poll() is None, driver.stderr.read()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.1)


def last_line(err: str) -> str:
    assert "Traceback" not in err, err[-3000:]
    return [line for line in err.replace("\r", "\n").splitlines() if line.strip()][-1]


def rerun_equals_the_embedded_run(sweep_file, out, address, tmp_path, stored: int) -> None:
    rerun = start_driver(sweep_file, out, address)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-3000:]
    run_sweep(parse_sweep(SWEEP), tmp_path / "embedded")
    resumed = pd.read_parquet(out / "matches").sort_values("match_id")
    embedded = pd.read_parquet(tmp_path / "embedded" / "matches").sort_values("match_id")
    assert list(resumed["match_id"]) == list(embedded["match_id"]) and len(resumed) == 20
    np.testing.assert_array_equal(resumed[COLUMNS], embedded[COLUMNS])
    assert 0 < stored < 20 and verify(out).ok


@pytest.mark.slow
def test_a_killed_head_is_one_line_and_a_rerun_on_a_new_cluster_resumes(
    nodes, ray_session, tmp_path
):
    """Ray alone waits 60 s and ends the driver with its own message (or an OSError without
    its cause); the health check says what happened within HEAD_TIMEOUT_S + HEALTH_EVERY_S."""
    sweep_file, out = tmp_path / "s.yaml", tmp_path / "out"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    address = nodes.head(cpus=2)
    driver = start_driver(sweep_file, out, address)
    wait_for_a_part(driver, out)
    nodes.kill(nodes.nodes[0])
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 1, err[-3000:]
    stored = len(store.stored_match_ids(out))
    assert last_line(err) == (
        f"lola-arena: error: cluster: the Ray head at {address!r} stopped answering (killed, "
        f"or its machine or network is down); restart the cluster, then rerun the same command "
        f"to resume; {stored} of 20 matches stored"
    )
    rerun_equals_the_embedded_run(sweep_file, out, nodes.head(cpus=2), tmp_path, stored)


@pytest.mark.slow
def test_no_node_with_cpus_left_is_one_line_and_a_new_node_resumes(nodes, ray_session, tmp_path):
    """A head without CPUs and one worker node, killed mid-run: Ray alone waits without end."""
    sweep_file, out = tmp_path / "s.yaml", tmp_path / "out"
    sweep_file.write_text(yaml.safe_dump(SWEEP))
    address = nodes.head(cpus=0)
    worker = nodes.worker(address, cpus=2)
    driver = start_driver(sweep_file, out, address)
    wait_for_a_part(driver, out)
    nodes.kill(worker)
    _, err = driver.communicate(timeout=240)
    assert driver.returncode == 1, err[-3000:]
    stored = len(store.stored_match_ids(out))
    assert last_line(err) == (
        f"lola-arena: error: cluster: no Ray node with a CPU has been in the cluster for "
        f"{runner.NO_WORKER_S:g} s (the last one left or died); start one (`ray start --address "
        f"{address}`), then rerun the same command to resume; {stored} of 20 matches stored"
    )
    nodes.worker(address, cpus=2)
    rerun_equals_the_embedded_run(sweep_file, out, address, tmp_path, stored)
