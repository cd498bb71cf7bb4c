"""The recorder (tournament/recorder.py): every measure of a snapshot becomes the curve of the
same name, absent measures stay None, and a match is NaN from the update it diverged at."""

import numpy as np
import torch

from tournament.recorder import CURVES, MatchResults, Recorder, Snapshot


def snapshot(reward_a: list[float], sampled: bool) -> Snapshot:
    n = len(reward_a)
    reward = torch.tensor(reward_a, dtype=torch.float64)
    p = torch.full((n, 5), 0.5, dtype=torch.float64)
    extra = (reward + 1, reward + 2) if sampled else (None, None)
    return Snapshot(reward, -reward, p, p, None, None, *extra)


def test_each_measure_is_the_curve_of_its_name_and_divergence_hides_later_records():
    recorder = Recorder(2, torch.device("cpu"))
    recorder.record(0, snapshot([1.0, 2.0], sampled=True))
    recorder.mark(torch.tensor([False, True]), 3)  # match 1's update 3 went non-finite
    recorder.record(5, snapshot([3.0, 4.0], sampled=True))
    recorder.record(10, snapshot([float("nan"), 6.0], sampled=True))  # match 0: NaN reward
    results = recorder.results(elapsed_s=1.5)
    assert set(CURVES) < {f for f in MatchResults.__dataclass_fields__}
    assert results.updates.tolist() == [0, 5, 10] and results.elapsed_s == 1.5
    assert results.diverged_at.tolist() == [10, 3] and results.status == ["diverged", "diverged"]
    np.testing.assert_array_equal(results.reward_a, [[1.0, 3.0, np.nan], [2.0, np.nan, np.nan]])
    np.testing.assert_array_equal(results.reward_b, -results.reward_a)
    np.testing.assert_array_equal(results.sampled_reward_a, results.reward_a + 1)
    np.testing.assert_array_equal(results.sampled_reward_b, results.reward_a + 2)
    assert results.p_coop_a.shape == (2, 3, 5) and np.isnan(results.p_coop_a[1, 1:]).all()
    assert results.params_a is None and results.params_b is None


def test_measures_an_engine_does_not_produce_stay_none():
    recorder = Recorder(1, torch.device("cpu"))
    recorder.record(0, snapshot([1.0], sampled=False))
    results = recorder.results(elapsed_s=0.0)
    assert results.sampled_reward_a is None and results.status == ["ok"]
