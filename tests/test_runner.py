"""Sweeps end to end on the session's Ray: stored tables, agreement with the engine, determinism,
failure isolation, resume after a killed driver."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import yaml
from sweep_data import ROUND_ROBIN, ROUND_ROBIN_MATCHES

import cli.main as cli
from agents.spec import AgentSpec
from sweeps import runner, schema, store
from sweeps.config import parse_sweep
from sweeps.plan import plan_matches, plan_tasks
from sweeps.runner import run_sweep
from sweeps.schema import match_tables
from tournament.games import get_game
from tournament.match import play_matches
from tournament.recorder import MatchResults

ROOT = Path(__file__).resolve().parent.parent

SMALL = {**ROUND_ROBIN, "name": "small", "task_size": 8}
N_SMALL = ROUND_ROBIN_MATCHES


def _sorted(df: pd.DataFrame, *keys) -> pd.DataFrame:
    df = df.assign(game=df["game"].astype(str))
    return df.sort_values(list(keys)).reset_index(drop=True)


def _tables(out: Path):
    matches = _sorted(pd.read_parquet(out / "matches"), "match_id")
    curves = _sorted(pd.read_parquet(out / "curves"), "match_id", "update")
    return matches, curves


RESULT_COLUMNS = schema.RESULT_COLUMNS


@pytest.fixture(scope="module")
def small_run(ray_session, tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    summary = run_sweep(parse_sweep(SMALL), out)
    return out, summary


def test_sweep_stores_every_planned_match_and_its_curve(small_run):
    out, summary = small_run
    assert (summary.planned, summary.ok, summary.failed, summary.skipped) == (
        N_SMALL,
        N_SMALL,
        0,
        0,
    )
    matches, curves = _tables(out)
    planned = {m.match_id for m in plan_matches(parse_sweep(SMALL))}
    assert len(matches) == N_SMALL and set(matches["match_id"]) == planned
    assert (matches["status"] == "ok").all() and matches["error"].isna().all()
    assert set(matches["game"]) == {"ipd"} and (out / "matches" / "game=ipd").is_dir()
    # update 0, every 5, and the final one
    assert len(curves) == N_SMALL * 5
    assert sorted(curves["update"].unique()) == [0, 5, 10, 15, 20]
    final = curves[curves["update"] == 20].set_index("match_id").loc[matches["match_id"]]
    np.testing.assert_array_equal(final["reward_a"].to_numpy(), matches["reward_a"].to_numpy())
    assert yaml.safe_load((out / "sweep.yaml").read_text())["seeds"] == [0, 1]
    with store.DirLock(out):  # released
        pass


# The stored columns and their Arrow types, written out here rather than taken from
# sweeps.schema: what readers of the dataset (analysis/, DuckDB, Polars) rely on.
P_COOP_TYPES = {
    f"p_coop_{side}_{s}": "double" for side in "ab" for s in ("start", "cc", "cd", "dc", "dd")
}
COIN_TYPES = {
    "own_coin_share_a": "double", "own_coin_share_b": "double",
    "pickups_a": "double", "pickups_b": "double", "total_reward": "double",
}  # fmt: skip


def per_side(types: dict[str, str]) -> dict[str, str]:
    """Each ``name: type`` as the columns ``name_a`` and ``name_b`` of that type."""
    return {f"{name}_{side}": arrow_type for name, arrow_type in types.items() for side in "ab"}


MATCHES_TYPES = {
    "sweep": "string", "match_id": "string", "gamma": "double",
    "agent_a": "string", "agent_b": "string", "kind_a": "string", "kind_b": "string",
    **per_side({
        "lr": "double", "lr_in": "double", "lookahead": "int64", "eta": "double",
        "gamma_co": "double", "order": "int64", "beta_in": "double", "beta_out": "double",
        "inner_steps": "int64", "outer_steps": "int64", "lss_lambda": "double",
        "episodes": "int64", "steps": "int64", "baseline": "string", "opponent_model": "bool",
        "init": "double", "alpha": "double", "alpha_decay": "double", "epsilon": "double",
        "delta": "double", "delta_decay": "double", "delta_win": "double",
        "delta_win_decay": "double", "policy": "string", "optimizer": "string",
    }),
    "seed": "int64", "updates": "int64", "reward_a": "double", "reward_b": "double",
    **P_COOP_TYPES,
    "params_a": "list<element: double>", "params_b": "list<element: double>",
    "sampled_reward_a": "double", "sampled_reward_b": "double",
    **COIN_TYPES,
    "status": "string", "error": "string", "elapsed_s": "double", "version": "string",
}  # fmt: skip
CURVES_TYPES = {
    "match_id": "string", "update": "int64", "reward_a": "double", "reward_b": "double",
    **P_COOP_TYPES, "params_a": "list<element: double>", "params_b": "list<element: double>",
    "sampled_reward_a": "double", "sampled_reward_b": "double", **COIN_TYPES,
}  # fmt: skip


@pytest.mark.parametrize("table, types", [("matches", MATCHES_TYPES), ("curves", CURVES_TYPES)])
def test_stored_files_have_the_documented_columns_and_types(small_run, table, types):
    out, _ = small_run
    files = sorted((out / table / "game=ipd").glob("*.parquet"))
    assert files
    for path in files:
        assert {f.name: str(f.type) for f in pq.read_schema(path)} == types, path.name


def test_stored_options_are_set_for_learners_and_empty_for_fixed_strategies(small_run):
    out, _ = small_run
    matches = ds.dataset(out / "matches", partitioning="hive").to_table()
    tft = matches.filter(ds.field("kind_a") == "tft").to_pandas()
    assert tft["lr_a"].isna().all() and tft["policy_a"].isna().all()
    assert tft["lookahead_a"].isna().all()
    lola = matches.filter(ds.field("agent_a") == "lola(lr=0.5,lr_in=0.5,k=1)").to_pandas()
    assert (lola["lr_a"] == 0.5).all() and (lola["lr_in_a"] == 0.5).all()
    assert (lola["lookahead_a"] == 1).all() and (lola["policy_a"] == "tabular").all()
    assert (matches.column("version").to_pylist()[0]) == __import__("importlib").metadata.version(
        "lola-arena"
    )


def test_stored_options_are_null_where_the_kind_does_not_read_them():
    config = parse_sweep(
        {
            "name": "options",
            "seeds": 1,
            "agents": [
                {"kind": "la", "lookahead": 2},
                {"kind": "lola-taylor", "eta": 0.5},
                {"kind": "sos", "lr_in": 2.0},
                {"kind": "nl"},
                {"kind": "tft"},
            ],
        }
    )
    (task,) = plan_tasks(plan_matches(config), task_size=100, game=config.game_obj())
    settings = {"sweep": "options", "gamma": 0.96, "updates": 1}
    table = schema.failed_matches_table(task, settings, "not run").to_pandas()
    stored = {}
    for side in "ab":
        for row in table.to_dict("records"):
            options = {o: row[f"{o}_{side}"] for o in ("lr", "lr_in", "lookahead", "eta")}
            stored[row[f"kind_{side}"]] = {k: v for k, v in options.items() if pd.notna(v)}
    assert stored == {
        "la": {"lr": 1.0, "lr_in": 1.0, "lookahead": 2},
        "lola-taylor": {"lr": 1.0, "eta": 0.5},
        "sos": {"lr": 1.0, "lr_in": 2.0},
        "nl": {"lr": 1.0},
        "tft": {},
    }
    assert table.loc[table["kind_a"] == "tft", "policy_a"].isna().all()


@pytest.mark.parametrize("kind, options", [("lola", {"lr": 1.0}), ("nl", {})])
def test_self_play_rows_equal_the_engine_run_directly(small_run, kind, options):
    out, _ = small_run
    label = AgentSpec(kind, **options).label()
    rows = pd.read_parquet(
        out / "matches", filters=[("agent_a", "==", label), ("agent_b", "==", label)]
    ).sort_values("seed")
    assert list(rows["seed"]) == [0, 1]
    spec = AgentSpec(kind, **options)
    direct = play_matches(get_game("ipd"), [spec] * 2, [spec] * 2, [0, 1], 20, record_every=5)
    np.testing.assert_allclose(rows["reward_a"], direct.reward_a[:, -1], rtol=0, atol=1e-12)
    np.testing.assert_allclose(rows["reward_b"], direct.reward_b[:, -1], rtol=0, atol=1e-12)
    for i, state in enumerate(schema.STATES):
        np.testing.assert_allclose(
            rows[f"p_coop_a_{state}"], direct.p_coop_a[:, -1, i], rtol=0, atol=1e-12
        )


def test_known_fixed_pairings_have_their_closed_form_values(small_run):
    out, _ = small_run
    rows = pd.read_parquet(out / "matches", filters=[("kind_a", "in", ["alld", "allc"])])
    rows = rows[rows["kind_b"].isin(["alld", "allc"])].set_index(["agent_a", "agent_b"])
    # ipd payoffs: CC -1, CD -3, DC 0, DD -2
    assert rows.loc[("allc", "allc"), "reward_a"].tolist() == pytest.approx([-1.0, -1.0])
    assert rows.loc[("alld", "alld"), "reward_b"].tolist() == pytest.approx([-2.0, -2.0])
    mixed = rows[rows.index.get_level_values(0) != rows.index.get_level_values(1)]
    assert len(mixed) == 2
    for _, row in mixed.iterrows():
        assert sorted(row[["reward_a", "reward_b"]]) == pytest.approx([-3.0, 0.0])


def test_pyarrow_filters_read_the_partitioned_dataset(small_run):
    out, _ = small_run
    dataset = ds.dataset(out / "curves", partitioning="hive")
    ids = pd.read_parquet(out / "matches", filters=[("kind_a", "==", "nl"), ("kind_b", "==", "nl")])
    table = dataset.to_table(
        filter=(ds.field("game") == "ipd") & ds.field("match_id").isin(ids["match_id"].tolist())
    )
    assert table.num_rows == len(ids) * 5 == 10


def test_same_sweep_twice_gives_identical_tables(ray_session, small_run, tmp_path):
    out, _ = small_run
    run_sweep(parse_sweep(SMALL), tmp_path)
    for first, second in zip(_tables(out), _tables(tmp_path), strict=True):
        pd.testing.assert_frame_equal(
            first.drop(columns=["elapsed_s"], errors="ignore"),
            second.drop(columns=["elapsed_s"], errors="ignore"),
        )


def test_other_task_size_and_agent_order_give_same_ids_and_results(
    ray_session, small_run, tmp_path
):
    """Same match ids and bit-for-bit the same results: the engine's arithmetic per match does
    not depend on the batch it shares."""
    out, _ = small_run
    shuffled = {**SMALL, "task_size": 3, "agents": list(reversed(SMALL["agents"]))}
    run_sweep(parse_sweep(shuffled), tmp_path)
    (m1, c1), (m2, c2) = _tables(out), _tables(tmp_path)
    assert list(m1["match_id"]) == list(m2["match_id"])
    for column in ("agent_a", "agent_b", "seed", "status"):
        assert list(m1[column]) == list(m2[column])
    np.testing.assert_array_equal(m1[RESULT_COLUMNS], m2[RESULT_COLUMNS])
    np.testing.assert_array_equal(c1[RESULT_COLUMNS], c2[RESULT_COLUMNS])
    assert len(list((tmp_path / "matches" / "game=ipd").glob("*.parquet"))) > len(
        list((out / "matches" / "game=ipd").glob("*.parquet"))
    )


def test_a_cuda_sweep_asks_ray_for_a_share_of_a_gpu_per_task(ray_session, tmp_path, monkeypatch):
    """No CUDA needed: the session's Ray declares one GPU; each task of a ``device: cuda``
    sweep must hold ``GPU_SHARE`` of it (read inside the task, which then plays on the CPU), and
    all the matches are stored."""
    import torch

    assert ray_session.cluster_resources().get("GPU") == 1  # tests/conftest.py declares it
    assert 0 < runner.GPU_SHARE < 1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the driver's check

    def on_a_gpu_share(task, settings, faults, state=None, share=runner.GPU_SHARE):
        import ray

        from sweeps.task import play_task

        assigned = ray.get_runtime_context().get_assigned_resources()
        if assigned.get("GPU") != share:
            raise RuntimeError(f"assigned {assigned}")
        return play_task(task, {**settings, "device": "cpu"}, faults, state)

    monkeypatch.setattr(runner, "play_task", on_a_gpu_share)
    summary = run_sweep(parse_sweep({**SMALL, "name": "gpu", "device": "cuda"}), tmp_path)
    errors = set(pd.read_parquet(tmp_path / "matches")["error"].dropna())
    assert (summary.ok, summary.failed) == (N_SMALL, 0), errors


def test_forced_failure_is_recorded_others_stored_and_rerun_completes(
    ray_session, tmp_path, monkeypatch, capsys
):
    config = parse_sweep(SMALL)
    target = plan_matches(config)[0]
    task = next(
        t for t in plan_tasks(plan_matches(config), 8, config.game_obj()) if target in t.matches
    )
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    faults = runner.TaskFaults(fail=frozenset({target.match_id}))
    faulty = functools.partial(run_sweep, faults=faults)
    monkeypatch.setattr(runner, "run_sweep", faulty)
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 1
    assert f"failed {len(task.matches)}" in capsys.readouterr().out
    matches = pd.read_parquet(tmp_path / "o" / "matches")
    failed = matches[matches["status"] == "failed"]
    assert set(failed["match_id"]) == {m.match_id for m in task.matches}
    assert failed["reward_a"].isna().all()
    assert failed["error"].str.contains(f"forced failure of match {target.match_id}").all()
    assert (matches["status"] == "ok").sum() == N_SMALL - len(task.matches)
    curves = pd.read_parquet(tmp_path / "o" / "curves")
    assert not set(curves["match_id"]) & set(failed["match_id"])

    monkeypatch.setattr(runner, "run_sweep", run_sweep)
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "o")]) == 0
    assert f"({N_SMALL - len(task.matches)} already stored)" in capsys.readouterr().out
    matches = pd.read_parquet(tmp_path / "o" / "matches")
    assert len(matches) == N_SMALL == matches["match_id"].nunique()
    assert (matches["status"] == "ok").all()
    assert len(pd.read_parquet(tmp_path / "o" / "curves")) == N_SMALL * 5


def test_diverged_match_is_stored_with_status_diverged_and_nan_results():
    config = parse_sweep({**SMALL, "seeds": 2})
    task = plan_tasks(plan_matches(config), 2, config.game_obj())[0]
    nan = np.nan
    results = MatchResults(
        updates=np.array([0, 5]),
        reward_a=np.array([[-1.5, -1.2], [-1.5, nan]]),
        reward_b=np.array([[-1.5, -1.1], [-1.5, nan]]),
        p_coop_a=np.full((2, 2, 5), 0.5),
        p_coop_b=np.full((2, 2, 5), 0.5),
        diverged_at=np.array([-1, 3]),
        elapsed_s=1.0,
    )
    settings = {"sweep": "s", "gamma": 0.96, "updates": 5}
    matches, curves = match_tables(task, settings, results)
    assert matches.column("status").to_pylist() == ["ok", "diverged"]
    assert matches.column("reward_a").to_pylist()[0] == -1.2
    assert np.isnan(matches.column("reward_a").to_pylist()[1])
    assert matches.column("elapsed_s").to_pylist() == [0.5, 0.5]
    assert curves.num_rows == 4 and curves.column("update").to_pylist() == [0, 5, 0, 5]


def test_rerun_skips_stored_matches_and_no_resume_refuses_a_used_dir(
    ray_session, small_run, capsys
):
    out, _ = small_run
    path = out.parent / "small.yaml"
    path.write_text(yaml.safe_dump(SMALL))
    before = sorted(p.name for p in (out / "matches" / "game=ipd").iterdir())
    assert cli.main(["sweep", str(path), "--out", str(out)]) == 0
    assert f"({N_SMALL} already stored)" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "matches" / "game=ipd").iterdir()) == before
    assert cli.main(["sweep", str(path), "--out", str(out), "--no-resume"]) == 2
    assert "already holds results" in capsys.readouterr().err


def test_rerun_with_another_sweep_on_the_same_dir_is_refused(small_run, tmp_path, capsys):
    out, _ = small_run
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "updates": 21, "task_size": 2}))
    assert cli.main(["sweep", str(path), "--out", str(out)]) == 2
    assert "holds another sweep (updates differs: 20 stored, 21 now)" in capsys.readouterr().err


def test_more_seeds_on_a_finished_sweep_append_their_matches(ray_session, tmp_path):
    out = tmp_path / "o"
    one = {**SMALL, "seeds": [0]}
    first = run_sweep(parse_sweep(one), out)
    assert (first.planned, first.skipped) == (N_SMALL // 2, 0)
    ids = set(pd.read_parquet(out / "matches")["match_id"])
    second = run_sweep(parse_sweep({**SMALL, "seeds": [0, 1]}), out)
    assert (second.planned, second.skipped, second.ok) == (N_SMALL, N_SMALL // 2, N_SMALL // 2)
    matches = pd.read_parquet(out / "matches")
    assert len(matches) == N_SMALL and ids < set(matches["match_id"])
    assert sorted(matches["seed"].unique()) == [0, 1]
    # a later run over one seed keeps both in sweep.yaml
    run_sweep(parse_sweep(one), out)
    assert yaml.safe_load((out / "sweep.yaml").read_text())["seeds"] == [0, 1]
    record = yaml.safe_load((out / schema.PROVENANCE).read_text())
    assert record["game"] == {
        "name": "ipd",
        "payoffs_row": [-1.0, -3.0, 0.0, -2.0],
        "payoffs_col": [-1.0, 0.0, -3.0, -2.0],
    }
    assert [run["matches"] for run in record["runs"]] == [N_SMALL // 2, N_SMALL // 2, 0]
    last = record["runs"][-1]
    assert last["finished"] >= last["started"] and last["wall_s"] > 0
    assert last["lola_arena"] == __import__("importlib").metadata.version("lola-arena")
    assert last["torch"] and last["python"] and last["cpus"] >= 1 and last["hostname"]


@pytest.mark.slow
def test_sweep_killed_mid_run_and_rerun_equals_an_uninterrupted_run(
    ray_session, small_run, tmp_path
):
    """The driver (connected to the session's Ray) is SIGKILLed after its first stored task."""
    out, _ = small_run
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "task_size": 4}))
    resumed = tmp_path / "o"
    env = {
        **os.environ,
        "RAY_ADDRESS": ray_session.get_runtime_context().gcs_address,
        "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token"),
        "LOLA_ARENA_TASK_DELAY_S": "0.5",
    }
    command = [sys.executable, "-m", "cli", "sweep", str(path), "--out", str(resumed)]
    driver = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(resumed.glob("matches/game=ipd/*.parquet")):
        assert driver.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    stored = pd.read_parquet(resumed / "matches")
    assert 0 < len(stored) < N_SMALL
    assert (resumed / store.LOCK_NAME).exists()  # left by the killed driver, unlocked

    rerun = run_sweep(parse_sweep({**SMALL, "task_size": 4}), resumed)
    assert rerun.skipped == len(stored) and rerun.ok == N_SMALL - len(stored)
    (m1, c1), (m2, c2) = _tables(out), _tables(resumed)
    assert list(m2["match_id"]) == list(m1["match_id"]) and m2["match_id"].is_unique
    assert len(c2) == len(c1) and not c2.duplicated(["match_id", "update"]).any()
    np.testing.assert_array_equal(m1[RESULT_COLUMNS], m2[RESULT_COLUMNS])
    np.testing.assert_array_equal(c1[RESULT_COLUMNS], c2[RESULT_COLUMNS])


@pytest.mark.slow
def test_a_local_sweep_prints_nothing_from_ray(tmp_path):
    """An embedded Ray keeps token authentication on without its WARNING; stderr holds only
    the progress bar, stdout the summary line."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**SMALL, "seeds": 1}))
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_AUTH_MODE", "RAY_ADDRESS")}
    command = [sys.executable, "-m", "cli", "sweep", str(path), "--out", str(tmp_path / "o")]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sweep: 21 matches")
    lines = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert all(line.startswith(f"{SMALL['name']}:") for line in lines), done.stderr
