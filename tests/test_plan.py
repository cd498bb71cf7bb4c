"""Planning (sweeps/plan.py): pairings, match ids that change with exactly what changes
results, tasks that share one engine call. No Ray needed."""

from __future__ import annotations

from sweep_data import GOOD, sweep

from sweeps.config import parse_sweep
from sweeps.plan import auto_task_size, engine_group, plan_matches, plan_tasks


def test_round_robin_pairs_every_variant_once_with_self_play():
    config = parse_sweep(GOOD)  # 4 variants
    assert len(plan_matches(config)) == (4 * 5 // 2) * 2
    no_self = parse_sweep(sweep(self_play=False))
    assert len(plan_matches(no_self)) == (4 * 3 // 2) * 2


def test_round_robin_in_an_asymmetric_game_plays_both_orders():
    config = parse_sweep(sweep(game="imp", self_play=False))
    pairs = {(m.a.label, m.b.label) for m in plan_matches(config)}
    assert len(pairs) == 4 * 3
    assert ("nl(lr=1)", "tft") in pairs and ("tft", "nl(lr=1)") in pairs


def test_vs_pairing_plays_the_named_entries_only():
    config = parse_sweep(sweep(pairing="vs", vs=[["lola", "nl"], ["nl", "nl"]]))
    pairs = sorted({(m.a.label, m.b.label) for m in plan_matches(config)})
    assert pairs == [
        ("lola(lr=0.5,lr_in=0.5,k=1)", "nl(lr=1)"),
        ("lola(lr=1,lr_in=1,k=1)", "nl(lr=1)"),
        ("nl(lr=1)", "nl(lr=1)"),
    ]


def test_match_ids_do_not_depend_on_agent_order_or_number_format():
    a = parse_sweep(GOOD)
    b = parse_sweep(
        sweep(agents=[{"kind": "tft"}, {"kind": "nl", "lr": 1.0}, {"kind": "lola", "lr": [1, 0.5]}])
    )
    ids_a = {m.match_id: (m.a.label, m.b.label, m.seed) for m in plan_matches(a)}
    ids_b = {m.match_id: (m.a.label, m.b.label, m.seed) for m in plan_matches(b)}
    assert ids_a == ids_b and len(ids_a) == 20


def test_match_ids_change_with_what_changes_results():
    base = {m.match_id for m in plan_matches(parse_sweep(GOOD))}
    for change in (dict(gamma=0.9), dict(updates=6), dict(game="stag_hunt"), dict(dtype="float32")):
        assert base.isdisjoint(m.match_id for m in plan_matches(parse_sweep(sweep(**change))))


def test_tasks_share_an_engine_call_respect_task_size_and_cover_the_plan():
    config = parse_sweep(
        sweep(
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


def test_matches_with_online_learners_of_any_kinds_share_one_group():
    """The online engine batches any mix of online kinds and opponents (tests/test_online.py
    checks the bits against each pairing alone): one task for the whole round robin."""
    agents = [{"kind": k, "steps": 20} for k in ("q", "phc", "wolf-phc")]
    config = parse_sweep(sweep(seeds=2, agents=[*agents, {"kind": "nl"}, {"kind": "tft"}]))
    game = config.game_obj()
    groups = {}
    for task in plan_tasks(plan_matches(config), 10_000, game):
        kinds = {frozenset((m.a.spec.kind, m.b.spec.kind)) for m in task.matches}
        groups[engine_group(task.matches[0], game)] = kinds
    assert set(groups) == {("closed_form",), ("online", 20)}
    assert len(groups[("online", 20)]) == 3 + 3 + 3 * 2  # each other, self-play, nl and tft
    assert groups[("closed_form",)] == {frozenset(p) for p in (["nl"], ["tft"], ["nl", "tft"])}


def test_auto_task_size_gives_each_worker_large_tasks():
    assert auto_task_size(14_060, workers=2) == 7030  # grand: one task per worker
    assert auto_task_size(100, workers=2) == 256  # small sweeps: one task
    assert auto_task_size(10**6, workers=8) == 16_384
