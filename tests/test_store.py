"""The store (sweeps/store.py): resume clean-up, and the directory lock: one writer at a time, a
dead run's lock never blocks, a run on a locked directory is refused in one line and writes
nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from fault_tools import fork_server, hold_lock

import cli.main as cli
from sweeps import schema, store

ROOT = Path(__file__).resolve().parent.parent
SWEEP = {"name": "locked", "updates": 2, "seeds": 1, "agents": [{"kind": "nl"}, {"kind": "tft"}]}


def test_resume_cleanup_removes_orphan_curves_temp_files_and_failed_tasks(tmp_path):
    def matches(status):
        columns = {f.name: [None] for f in schema.MATCHES_SCHEMA}
        columns.update(match_id=["m"], status=[status])
        return pa.Table.from_pydict(columns, schema=schema.MATCHES_SCHEMA)

    curves = schema.CURVES_SCHEMA.empty_table()
    store.write_task(tmp_path, "ipd", "done", matches("ok"), curves)
    store.write_task(tmp_path, "ipd", "failed", matches("failed"), curves)
    store.write_task(tmp_path, "ipd", "cut", matches("ok"), curves)
    (tmp_path / "matches" / "game=ipd" / "part-cut.parquet").unlink()  # killed between writes
    (tmp_path / "curves" / "game=ipd" / ".part-x.parquet.tmp").write_text("partial")
    store.prepare_resume(tmp_path)
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == [
        "curves/game=ipd/part-done.parquet",
        "matches/game=ipd/part-done.parquet",
    ]


def test_lock_refuses_a_live_run_and_a_dead_runs_lock_file_does_not_block(tmp_path):
    with (
        store.DirLock(tmp_path),
        pytest.raises(store.SweepDirLocked, match="being written by another run"),
    ):
        store.DirLock(tmp_path).__enter__()
    dead = os.fork()
    if dead == 0:  # takes the lock and dies holding it
        store.DirLock(tmp_path).__enter__()
        os._exit(0)
    os.waitpid(dead, 0)
    assert (tmp_path / store.LOCK_NAME).exists()
    with store.DirLock(tmp_path):
        pass


@pytest.mark.slow
@pytest.mark.faults
def test_runs_started_together_never_hold_the_lock_at_once(tmp_path):
    """Eight processes at the same instant, 10 rounds, over a .lock left by a dead run (the
    pid-file lock had two holders in 4 of 30 such rounds)."""
    out = tmp_path / "out"
    out.mkdir()
    context = fork_server()
    for round_ in range(10):
        (out / store.LOCK_NAME).write_text("999999")  # as the pid-file lock of a killed run
        log = tmp_path / f"held-{round_}.log"
        start_at = time.time() + 0.3
        children = [
            context.Process(target=hold_lock, args=(str(out), start_at, 0.05, str(log)))
            for _ in range(8)
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(30)
        held = sorted(tuple(map(float, line.split()[1:])) for line in log.read_text().splitlines())
        assert held  # somebody got it
        for (_, left), (entered, _) in zip(held, held[1:], strict=False):
            assert left <= entered  # one holder at a time


@pytest.mark.faults
def test_a_locked_directory_is_refused_in_one_line_writes_nothing_and_frees_when_its_holder_dies(
    tmp_path, capsys
):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\nfrom sweeps import store\n"
            f"with store.DirLock(Path({str(out)!r})):\n    print('held', flush=True)\n"
            "    time.sleep(60)\n",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(yaml.safe_dump(SWEEP))
    capsys.readouterr()
    code = cli.main(["sweep", str(sweep), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "is being written by another run" in err
    assert not (out / "matches").exists()
    holder.kill()
    holder.wait()
    with store.DirLock(out):
        pass
