"""A million-match sweep is planned and submitted in bounded memory, a bounded window at a time
(the engine is replaced by a stand-in Ray: nothing is played)."""

from __future__ import annotations

import sys
import tracemalloc

import pytest
from fault_tools import InlineRay

from sweeps import runner
from sweeps.config import parse_sweep
from sweeps.plan import plan_matches


class CountingRay(InlineRay):
    """:class:`InlineRay` that plays nothing (each task 'fails' at once) and records how many
    tasks were in flight."""

    def __init__(self, workers: int):
        super().__init__(workers)
        self.max_in_flight = 0

    def wait(self, handles, num_returns, timeout=None):
        self.max_in_flight = max(self.max_in_flight, len(self.pending))
        return super().wait(handles, num_returns, timeout)

    def get(self, handle):
        self.pending.pop(handle)
        self.played += 1
        raise self.exceptions.RayError(RuntimeError("not played"))


@pytest.mark.slow
def test_a_million_match_sweep_submits_a_bounded_window_in_bounded_memory(monkeypatch, tmp_path):
    lrs = [round(0.01 * i, 2) for i in range(1, 101)]  # 100 variants: 5,050 pairings
    config = parse_sweep(
        {"name": "huge", "updates": 10, "seeds": 198, "agents": [{"kind": "nl", "lr": lrs}]}
    )
    fake = CountingRay(workers=4)
    monkeypatch.setitem(sys.modules, "ray", fake)
    stored = []
    monkeypatch.setattr(
        runner,
        "_store_task",
        lambda out, game, task, matches, curves, s: stored.append(len(task.matches)),
    )
    tracemalloc.start()
    todo = plan_matches(config)
    planned = tracemalloc.get_traced_memory()[0]
    summary = runner.SweepSummary(tmp_path, planned=len(todo), skipped=0)
    runner._run_tasks(config, tmp_path, todo, None, summary)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    assert len(todo) == 999_900 and sum(stored) == len(todo)
    assert fake.max_in_flight <= runner.WINDOW_PER_WORKER * fake.workers
    assert fake.played == len(stored) > fake.max_in_flight  # it really was a window
    assert planned < 400e6  # about 200 bytes per planned match
    assert peak - planned < 100e6  # submitting adds tasks and a window, not results
