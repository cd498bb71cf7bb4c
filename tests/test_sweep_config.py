"""Sweep files, planning and the directory lock: no Ray needed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

import cli.main as cli
from sweeps import schema, store
from sweeps.config import load_sweep, parse_sweep
from sweeps.plan import auto_task_size, engine_group, plan_matches, plan_tasks

CONFIGS = Path(__file__).resolve().parent.parent / "sweeps" / "configs"

GOOD = {
    "name": "t",
    "updates": 5,
    "seeds": 2,
    "agents": [{"kind": "lola", "lr": [0.5, 1.0]}, {"kind": "nl"}, {"kind": "tft"}],
}


def _with(**changes):
    raw = {**GOOD, **changes}
    return {k: v for k, v in raw.items() if v is not _DROP}


_DROP = object()

# (what is wrong, file content, text the one-line error must contain)
BAD_FILES = [
    ("unknown top-level key", _with(lerning_rate=1), "lerning_rate: unknown key; accepted: name"),
    ("unknown agent key", _with(agents=[{"kind": "nl", "foo": 1}]), "agents[0].foo: unknown key"),
    (
        "wrong type",
        _with(updates="many"),
        "updates: must be an integer in [1, 1,000,000], got 'many'",
    ),
    ("empty agents", _with(agents=[]), "agents: must be a non-empty list"),
    ("empty swept list", _with(agents=[{"kind": "nl", "lr": []}]), "agents[0].lr: an empty list"),
    (
        "negative lr",
        _with(agents=[{"kind": "nl"}, {"kind": "nl", "name": "x", "lr": -0.1}]),
        "agents[1].lr: must be finite and > 0, got -0.1",
    ),
    ("gamma outside (0, 1)", _with(gamma=1.0), "gamma: must be a number in (0, 1), got 1.0"),
    ("unknown game", _with(game="poker"), "game: unknown 'poker'; accepted: ipd, imp"),
    ("unknown agent kind", _with(agents=[{"kind": "lolaa"}]), "agents[0].kind: unknown 'lolaa'"),
    ("bad pairing", _with(pairing="swiss"), "pairing: unknown 'swiss'; accepted: round_robin, vs"),
    (
        "vs names unknown agent",
        _with(pairing="vs", vs=[["nl", "sos"]]),
        "vs[0]: unknown agent 'sos'",
    ),
    ("bad seeds", _with(seeds="x"), "seeds: must be a count in [1, 100,000] or a list of at"),
    ("repeated seeds", _with(seeds=[1, 1]), "seeds: must be distinct"),
    ("record_every < 1", _with(record_every=0), "record_every: must be an integer >= 1, got 0"),
    ("missing name", _with(name=_DROP), "name: must be a non-empty string"),
    (
        "learning option on a fixed strategy",
        _with(agents=[{"kind": "tft", "lr": 1}]),
        "agents[0].lr: tft is a fixed strategy",
    ),
    (
        "option the kind does not read",
        _with(agents=[{"kind": "nl", "eta": [1, 2]}]),
        "agents[0].eta: nl does not read eta; accepted: name, kind, lr, policy, optimizer",
    ),
    (
        "duplicate variant",
        _with(agents=[{"kind": "nl", "lr": [1, 1.0]}]),
        "agents[0]: variant 'nl(lr=1)'",
    ),
    (
        "bad policy",
        _with(agents=[{"kind": "nl", "policy": "cnn"}]),
        "agents[0].policy: unknown 'cnn'",
    ),
    ("bad payoffs", _with(payoffs=[1, 2, 3]), "payoffs: needs 4 values"),
    (
        "extort2 outside a dilemma",
        _with(game="stag_hunt", agents=[{"kind": "extort2"}]),
        "agents[0].kind: extort2: needs a prisoner's dilemma",
    ),
    ("non-mapping YAML", "- just\n- a list\n", "sweep file: must be a mapping"),
    ("YAML syntax error", "name: [unclosed\n", "sweep file: invalid YAML at line"),
]


@pytest.mark.parametrize(
    "content, expected", [b[1:] for b in BAD_FILES], ids=[b[0] for b in BAD_FILES]
)
def test_bad_sweep_file_is_one_line_error_exit_2_and_writes_nothing(
    tmp_path, capsys, content, expected
):
    path = tmp_path / "sweep.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content))
    out = tmp_path / "out"
    code = cli.main(["sweep", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_BAD_INPUT
    assert err.count("\n") == 1 and err.startswith("lola-arena: error: ")
    assert expected in err
    assert not out.exists()


def test_missing_sweep_file_is_an_error(tmp_path, capsys):
    assert cli.main(["sweep", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "sweep file: cannot read" in capsys.readouterr().err


def test_bad_task_size_override_is_an_error(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    assert cli.main(["sweep", str(path), "--out", str(tmp_path / "o"), "--task-size", "0"]) == 2
    assert "task_size: must be an integer in [1, 65,536] or auto, got 0" in capsys.readouterr().err


def test_agent_entry_expands_into_the_product_of_its_swept_options():
    config = parse_sweep(
        _with(agents=[{"kind": "lola", "lr": [0.5, 1], "lookahead": [1, 2, 3]}, {"kind": "alld"}])
    )
    labels = [v.label for v in config.variants]
    assert len(labels) == 7
    assert "lola(lr=0.5,lr_in=0.5,k=3)" in labels and "alld" in labels


def test_memory1_p_is_a_single_value_unless_a_list_of_lists():
    one = parse_sweep(_with(agents=[{"kind": "memory1", "p": [1, 1, 0, 1, 0]}]))
    two = parse_sweep(_with(agents=[{"kind": "memory1", "p": [[1, 1, 0, 1, 0], [0, 1, 0, 1, 0]]}]))
    assert [v.label for v in one.variants] == ["memory1:1,1,0,1,0"]
    assert len(two.variants) == 2


def test_random_takes_one_probability_as_a_number():
    config = parse_sweep(_with(agents=[{"kind": "random", "p": [0.2, 0.7]}, {"kind": "nl"}]))
    assert [v.label for v in config.variants] == ["random:0.2", "random:0.7", "nl(lr=1)"]


def test_resume_cleanup_removes_orphan_curves_temp_files_and_failed_tasks(tmp_path):
    import pyarrow as pa

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


def test_defaults_are_filled_and_seeds_made_explicit():
    config = parse_sweep(GOOD)
    resolved = config.resolved()
    assert resolved["seeds"] == [0, 1] and resolved["gamma"] == 0.96 and resolved["game"] == "ipd"
    assert parse_sweep(yaml.safe_load(yaml.safe_dump(resolved))) == config


def test_round_robin_pairs_every_variant_once_with_self_play():
    config = parse_sweep(GOOD)  # 4 variants
    assert len(plan_matches(config)) == (4 * 5 // 2) * 2
    no_self = parse_sweep(_with(self_play=False))
    assert len(plan_matches(no_self)) == (4 * 3 // 2) * 2


def test_round_robin_in_an_asymmetric_game_plays_both_orders():
    config = parse_sweep(_with(game="imp", self_play=False))
    pairs = {(m.a.label, m.b.label) for m in plan_matches(config)}
    assert len(pairs) == 4 * 3
    assert ("nl(lr=1)", "tft") in pairs and ("tft", "nl(lr=1)") in pairs


def test_vs_pairing_plays_the_named_entries_only():
    config = parse_sweep(_with(pairing="vs", vs=[["lola", "nl"], ["nl", "nl"]]))
    pairs = sorted({(m.a.label, m.b.label) for m in plan_matches(config)})
    assert pairs == [
        ("lola(lr=0.5,lr_in=0.5,k=1)", "nl(lr=1)"),
        ("lola(lr=1,lr_in=1,k=1)", "nl(lr=1)"),
        ("nl(lr=1)", "nl(lr=1)"),
    ]


def test_match_ids_do_not_depend_on_agent_order_or_number_format():
    a = parse_sweep(GOOD)
    b = parse_sweep(
        _with(agents=[{"kind": "tft"}, {"kind": "nl", "lr": 1.0}, {"kind": "lola", "lr": [1, 0.5]}])
    )
    ids_a = {m.match_id: (m.a.label, m.b.label, m.seed) for m in plan_matches(a)}
    ids_b = {m.match_id: (m.a.label, m.b.label, m.seed) for m in plan_matches(b)}
    assert ids_a == ids_b and len(ids_a) == 20


def test_match_ids_change_with_what_changes_results():
    base = {m.match_id for m in plan_matches(parse_sweep(GOOD))}
    for change in (dict(gamma=0.9), dict(updates=6), dict(game="stag_hunt"), dict(dtype="float32")):
        assert base.isdisjoint(m.match_id for m in plan_matches(parse_sweep(_with(**change))))


def test_tasks_share_an_engine_call_respect_task_size_and_cover_the_plan():
    config = parse_sweep(
        _with(
            seeds=5,
            agents=[
                *GOOD["agents"],
                {"kind": "nl", "name": "nl-mlp", "policy": "mlp:4", "lr": 0.5},
            ],
        ),
    )
    matches = plan_matches(config)
    tasks = plan_tasks(matches, task_size=3, game=config.game_obj())
    assert sorted(m.match_id for t in tasks for m in t.matches) == sorted(
        m.match_id for m in matches
    )
    for task in tasks:
        assert 1 <= len(task.matches) <= 3
        assert len({engine_group(m, config.game_obj()) for m in task.matches}) == 1
    # Every tabular pairing, whatever the kinds, shares one closed-form group; a module policy
    # groups by both sides' structure.
    big = plan_tasks(matches, 10_000, config.game_obj())
    tabular = [t for t in big if engine_group(t.matches[0], config.game_obj()) == ("closed_form",)]
    assert len(tabular) == 1
    assert {m.a.spec.kind for m in tabular[0].matches} == {"lola", "nl", "tft"}
    assert len(big) == 1 + len(
        {engine_group(m, config.game_obj()) for m in matches} - {("closed_form",)}
    )


def test_auto_task_size_gives_each_worker_large_tasks():
    assert auto_task_size(14_060, workers=2) == 7030  # grand: one task per worker
    assert auto_task_size(100, workers=2) == 256  # small sweeps: one task
    assert auto_task_size(10**6, workers=8) == 16_384


@pytest.mark.parametrize(
    "name",
    [
        "quick",
        "lola_paper",
        "lola_paper_imp",
        "grand",
        "sos_paper",
        "sos_paper_tandem",
        "sos_paper_mp",
        "dice_paper",
        "lola_tournament",
        "lola_tournament_imp",
    ],
)
def test_example_sweep_files_validate_and_plan(name):
    config = load_sweep(CONFIGS / f"{name}.yaml")
    matches = plan_matches(config)
    assert len(matches) == len({m.match_id for m in matches}) > 0


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
