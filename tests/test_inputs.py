"""Every input is bounded and checked before anything is planned or written: sweep files (size,
alias expansion, duplicate keys, booleans, documented limits) and ``lola-arena match``, which
validates with the sweep schema's functions."""

from __future__ import annotations

import tracemalloc

import pytest
import yaml

import cli.main as cli
from sweeps import config, yamlfile
from sweeps.config import count_pairings, load_sweep, parse_match, parse_sweep
from sweeps.plan import plan_matches
from sweeps.yamlfile import MAX_BYTES, parse_yaml

GOOD = {"name": "t", "updates": 5, "seeds": 2, "agents": [{"kind": "nl"}, {"kind": "tft"}]}

# 342 bytes that expand to 9^9 strings: yaml.safe_load builds it as shared references in
# kilobytes, and then anything that walks it (an error message's repr) needs gigabytes.
ALIAS_BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(
            f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "name: bomb",
        "agents: *i",
    ]
)


def run_cli(argv):
    try:
        return cli.main(argv)
    except SystemExit as exit_info:  # argparse's own errors
        return exit_info.code


def sweep_cli(tmp_path, content: str, capsys) -> tuple[int, str]:
    """Run ``lola-arena sweep`` on ``content``; the exit code and stderr."""
    path = tmp_path / "s.yaml"
    path.write_text(content)
    code = run_cli(["sweep", str(path), "--out", str(tmp_path / "out")])
    return code, capsys.readouterr().err


def assert_one_line_bad_input(code: int, err: str, expected: str, tmp_path) -> None:
    assert code == cli.EXIT_BAD_INPUT, err
    assert err.count("\n") == 1 and err.startswith("lola-arena: error: "), err
    assert expected in err, err
    assert len(err) < 400
    assert not (tmp_path / "out").exists()


def test_an_alias_bomb_fails_fast_in_bounded_memory(tmp_path, capsys):
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    with pytest.raises(ValueError):  # imports done before measuring
        load_sweep(path)
    tracemalloc.start()
    with pytest.raises(ValueError, match="more than 100,000 values once aliases are expanded"):
        load_sweep(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 5e6
    code, err = sweep_cli(tmp_path, ALIAS_BOMB, capsys)
    assert_one_line_bad_input(code, err, "sweep file: more than 100,000 values", tmp_path)


def test_a_small_alias_is_still_accepted():
    text = "name: t\nbase: &b {kind: nl, lr: [0.5, 1]}\n"
    raw = parse_yaml(text, "sweep file")
    assert parse_sweep({"name": "t", "agents": [raw["base"]]}).matches == 3 * 5


@pytest.mark.parametrize(
    "content, expected",
    [
        ("name: t\nname: u\nagents: [{kind: nl}]\n", "duplicate key 'name' at line 2"),
        ("name: t\nagents: [{kind: nl, lr: 1, lr: 2}]\n", "duplicate key 'lr' at line 2"),
        ("name: t\nagents: &a [*a]\n", "a recursive alias at line 2"),
        ("[" * 5000, "nested deeper than 32 levels"),
        ("name: t\nseeds: 1" + "0" * 5000 + "\n", "an integer of more than 4300 digits"),
        ("x" * (MAX_BYTES + 1), "larger than 1,048,576 bytes"),
    ],
    ids=["duplicate top-level key", "duplicate agent key", "recursive", "deep", "long int", "big"],
)
def test_malformed_yaml_is_one_line_naming_the_cause(tmp_path, capsys, content, expected):
    code, err = sweep_cli(tmp_path, content, capsys)
    assert_one_line_bad_input(code, err, expected, tmp_path)


def _agents(*entries):
    return yaml.safe_dump({**GOOD, "agents": list(entries)})


@pytest.mark.parametrize(
    "content, expected",
    [
        (
            _agents({"kind": "memory1", "p": [True, False, True, False, True]}),
            "agents[0].p: must be probabilities (numbers in [0, 1]), got [True, False",
        ),
        (_agents({"kind": "random", "p": True}), "agents[0].p: must be probabilities"),
        (_agents({"kind": "nl", "lr": True}), "agents[0].lr: must be finite and > 0, got True"),
        (yaml.safe_dump({**GOOD, "gamma": True}), "gamma: must be a number in (0, 1), got True"),
        (yaml.safe_dump({**GOOD, "seeds": True}), "seeds: must be a count"),
        (yaml.safe_dump({**GOOD, "updates": True}), "updates: must be an integer in"),
        (
            yaml.safe_dump({**GOOD, "payoffs": [True, 0, 0, 0]}),
            "payoffs: must be a list of 4 or 8 finite numbers",
        ),
        (
            _agents({"kind": "lola", "lookahead": 1_000_000_000}),
            "agents[0].lookahead: must be an integer in [1, 20], got 1,000,000,000",
        ),
        (_agents({"kind": "hola", "order": 50}), "agents[0].order: must be an integer in [1, 5]"),
        (_agents({"kind": "q", "epsilon": 1.5}), "agents[0].epsilon: must be finite and in [0, 1]"),
        (_agents({"kind": "phc", "delta": -0.1}), "agents[0].delta: must be finite and in (0, 1]"),
        (
            _agents({"kind": "wolf-phc", "alpha": 0}),
            "agents[0].alpha: must be finite and in (0, 1]",
        ),
        (
            _agents({"kind": "q", "delta": 0.1}),
            "agents[0].delta: q does not read delta; accepted: name, kind, steps, alpha",
        ),
        (
            _agents({"kind": "q", "steps": 10}, {"kind": "phc", "steps": 20}),
            "agents: the online learners of a sweep play episodes of one length; q has steps 10",
        ),
        (
            _agents({"kind": "nl", "policy": "mlp:10000000000"}),
            "agents[0].policy: mlp:HIDDEN takes at most 1,024 hidden units",
        ),
        (yaml.safe_dump({**GOOD, "seeds": 10_000_000}), "seeds: must be a count in [1, 100,000]"),
        ("name: t\nseeds: [1.0e+30]\nagents: [{kind: nl}]\n", "seeds: must be a count"),
        ("name: t\nseeds: [1e30]\nagents: [{kind: nl}]\n", "got 1e+30"),
        (
            yaml.safe_dump({**GOOD, "seeds": [10**30]}),
            "distinct integers in [0, 2^62), got 1000000000000000000000000000000",
        ),
        (yaml.safe_dump({**GOOD, "name": "n" * 300}), "name: at most 100 characters, got 300"),
        (yaml.safe_dump({**GOOD, "name": "a\x00b"}), "name: names the output folder"),
        (
            _agents(
                {"kind": "nl", "lr": [0.01 * i for i in range(1, 101)], "optimizer": ["sgd"]},
                {
                    "kind": "lola",
                    "lr": [0.1, 0.2],
                    "lr_in": [0.01 * i for i in range(1, 101)],
                    "lookahead": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                },
            ),
            "agents[1]: 2,000 variants (10 x 2 x 100, 100 before this entry); at most 1,000",
        ),
        (
            _agents(
                {
                    "kind": "lola",
                    "lr": list(range(1, 101)),
                    "lr_in": list(range(1, 101)),
                    "policy": [f"mlp:{h}" for h in range(1, 101)],
                }
            ),
            "agents[0]: 1,000,000 variants (100 x 100 x 100); at most 1,000 per sweep",
        ),
        (
            yaml.safe_dump(
                {**GOOD, "seeds": 100_000, "agents": [{"kind": "nl", "lr": list(range(1, 21))}]}
            ),
            "agents: 21,000,000 matches planned (pairings x seeds); at most 1,000,000",
        ),
        (
            yaml.safe_dump({**GOOD, "seeds": 10_000, "updates": 1_000_000}),
            "updates: 1,000,000 updates x 30,000 matches",
        ),
        (
            yaml.safe_dump({**GOOD, "seeds": 10_000, "updates": 100_000, "record_every": 1}),
            "record_every: 1 records about 3,000,060,000 curve points; at most 100,000,000",
        ),
        (
            yaml.safe_dump({**GOOD, "task_size": 10**9}),
            "task_size: must be an integer in [1, 65,536]",
        ),
    ],
)
def test_out_of_bounds_input_is_refused_before_anything_is_written(
    tmp_path, capsys, content, expected
):
    code, err = sweep_cli(tmp_path, content, capsys)
    assert_one_line_bad_input(code, err, expected, tmp_path)


def test_a_sweep_of_no_match_is_refused():
    with pytest.raises(ValueError, match="agents: the pairing plays no match"):
        parse_sweep({**GOOD, "agents": [{"kind": "nl"}], "self_play": False})


def test_a_long_name_is_refused_before_its_default_output_folder_is_made(tmp_path, capsys):
    """Without --out the folder is results/NAME: a 300-character name was Errno 36."""
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**GOOD, "name": "n" * 300}))
    assert run_cli(["sweep", str(path)]) == 2
    assert "name: at most 100 characters" in capsys.readouterr().err


def test_a_seed_at_the_limit_plays():
    spec = parse_sweep({**GOOD, "seeds": [config.MAX_SEED]})
    assert [m.seed for m in plan_matches(spec)] == [config.MAX_SEED] * 3
    assert run_cli(["match", "nl", "tft", "--seeds", "1", "--updates", "2"]) == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--payoffs", "nan,0,0,0"], "payoffs: must be a list of 4 or 8 finite numbers, got [nan"),
        (["--payoffs", "inf,0,0,0"], "payoffs: must be a list of 4 or 8 finite numbers"),
        (["--gamma", "nan"], "gamma: must be a number in (0, 1), got nan"),
        (["--seeds", "1000000000"], "seeds: must be a count in [1, 100,000]"),
        (["--updates", "0"], "updates: must be an integer in [1, 1,000,000], got 0"),
        (["--updates", "1000000", "--seeds", "20000"], "updates: 1,000,000 updates x 20,000"),
        (["--policy", "mlp:10000000000"], "agent_a.policy: mlp:HIDDEN takes at most 1,024"),
        (["--lookahead", "1000000000"], "agent_a.lookahead: must be an integer in [1, 20]"),
        (["--lr", "inf"], "agent_a.lr: must be finite and > 0, got inf"),
        (["--epsilon", "0.1"], "agent_a.epsilon: lola does not read epsilon; accepted: name"),
        (["--delta-win", "0.1"], "agent_a.delta_win: lola does not read delta_win"),
    ],
)
def test_match_validates_like_the_sweep_schema(argv, message, capsys):
    assert run_cli(["match", "lola", "tft", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--epsilon", "2"], "agent_a.epsilon: must be finite and in [0, 1], got 2.0"),
        (["--alpha", "-1"], "agent_a.alpha: must be finite and in (0, 1], got -1.0"),
        (["--alpha-decay", "-1"], "agent_a.alpha_decay: must be finite and >= 0, got -1.0"),
    ],
)
def test_match_refuses_an_online_learners_option_out_of_its_bounds(argv, message, capsys):
    assert run_cli(["match", "q", "tft", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_match_and_sweep_share_one_validation():
    """The same values give the same specs; the same bad value the same message."""
    match = parse_match(
        "lola",
        "memory1:1,1,0,1,0",
        {"lr": 0.5, "lookahead": 2, "policy": "tabular", "lr_in": None},
        game="ipd",
        payoffs=None,
        gamma=0.9,
        updates=10,
        seeds=3,
        dtype="float64",
        device="cpu",
    )
    sweep = parse_sweep(
        {
            "name": "t",
            "gamma": 0.9,
            "updates": 10,
            "seeds": 3,
            "agents": [
                {"kind": "lola", "lr": 0.5, "lookahead": 2, "policy": "tabular"},
                {"kind": "memory1", "p": [1, 1, 0, 1, 0]},
            ],
        }
    )
    assert (match.spec_a, match.spec_b) == tuple(v.spec for v in sweep.variants)
    assert match.seeds == sweep.seeds
    # An option neither side reads is refused (the sweep refuses it for the entry).
    with pytest.raises(ValueError, match="agent_a.eta: lola does not read eta"):
        parse_match("lola", "memory1:1,1,0,1,0", {"eta": 3.0}, updates=5)
    for bad in ({"payoffs": [float("nan")] * 4}, {"gamma": 2.0}, {"seeds": 0}):
        with pytest.raises(ValueError) as from_match:
            parse_match("nl", "nl", {}, **{**{"updates": 5}, **bad})
        with pytest.raises(ValueError) as from_sweep:
            parse_sweep({**GOOD, **bad})
        assert str(from_match.value) == str(from_sweep.value)


@pytest.mark.parametrize(
    "changes",
    [
        {"game": "imp", "agents": [{"kind": "nl", "lr": [1, 2]}, {"kind": "tft"}]},
        {"self_play": False, "agents": [{"kind": "nl", "lr": [1, 2, 3]}, {"kind": "alld"}]},
        {
            "pairing": "vs",
            "vs": [["a", "b"], ["a", "b"], ["b", "b"]],
            "agents": [{"kind": "nl", "name": "a", "lr": [1, 2]}, {"kind": "sos", "name": "b"}],
        },
    ],
)
def test_the_counted_matches_are_the_planned_matches(changes):
    sweep = parse_sweep({**GOOD, **changes})
    assert sweep.matches == len(plan_matches(sweep))
    symmetric = sweep.game_obj().symmetric
    assert (
        count_pairings(sweep.variants, sweep.pairing, sweep.self_play, sweep.vs, symmetric)
        * len(sweep.seeds)
        == sweep.matches
    )


def test_a_valid_file_loads(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(GOOD))
    assert load_sweep(path).matches == 3 * 2


# --- numbers as YAML 1.2 and Python write them --------------------------------------------

SPELLINGS = {"1e-3": 1e-3, "1E3": 1e3, "1.0e+308": 1e308, ".5": 0.5, "-.5": -0.5, "+2.5E-1": 0.25}


@pytest.mark.parametrize("text, value", SPELLINGS.items())
def test_every_float_spelling_is_a_number_in_every_numeric_option(text, value):
    """lr, lr_in, eta, gamma_co (agents), gamma, payoffs and p, spelt as YAML 1.2 or Python
    writes numbers: the value is the float Python reads, or the option's own bound refuses it."""
    positive, probability = abs(value), min(abs(value), 1.0)
    for key in ("lr", "lr_in", "eta", "gamma_co"):
        kind = {"eta": "lola-taylor", "gamma_co": "co"}.get(key, "lola")
        number = text.lstrip("-+") if value < 0 else text
        sweep = load_text(f"name: t\nagents: [{{kind: {kind}, {key}: {number}}}, {{kind: tft}}]\n")
        assert getattr(sweep.variants[0].spec, key) == positive, key
    if 0 < value < 1:
        assert load_text(f"name: t\ngamma: {text}\nagents: [{{kind: nl}}]\n").gamma == value
    payoffs = load_text(f"name: t\npayoffs: [{text}, -3, 0, -2]\nagents: [{{kind: nl}}]\n")
    assert payoffs.payoffs == [value, -3.0, 0.0, -2.0]
    if probability == value:
        p = load_text(f"name: t\nagents: [{{kind: memory1, p: [{text}, 1, 0, 1, 0]}}]\n")
        assert p.variants[0].spec.p == (value, 1.0, 0.0, 1.0, 0.0)


def test_negative_zero_and_infinity_reach_the_options_bounds(tmp_path, capsys):
    assert parse_yaml("x: -0.0", "f")["x"] == 0.0 and str(parse_yaml("x: -0.0", "f")["x"]) == "-0.0"
    for text, message in (
        ("-0.0", "agents[0].lr: must be finite and > 0, got -0.0"),
        ("inf", "agents[0].lr: must be finite and > 0, got 'inf'"),  # a string in YAML
        (".inf", "agents[0].lr: must be finite and > 0, got inf"),
        ("1e309", "agents[0].lr: must be finite and > 0, got inf"),
    ):
        code, err = sweep_cli(tmp_path, f"name: t\nagents: [{{kind: nl, lr: {text}}}]\n", capsys)
        assert_one_line_bad_input(code, err, message, tmp_path)
    code, err = sweep_cli(tmp_path, "name: t\ngamma: 1e0\nagents: [{kind: nl}]\n", capsys)
    assert_one_line_bad_input(code, err, "gamma: must be a number in (0, 1), got 1.0", tmp_path)


def test_integers_stay_integers_and_a_stored_sweep_reads_back_equal(tmp_path):
    raw = parse_yaml("a: 1\nb: 0x10\nc: 1_000\nd: 1e3\ne: '1e3'", "f")
    assert raw == {"a": 1, "b": 16, "c": 1000, "d": 1000.0, "e": "1e3"}
    assert isinstance(raw["d"], float)
    content = {"name": "1e3", "lr": 1e-3, "texts": ["1e-3", ".5", "-0.0", "1E3"]}
    assert parse_yaml(yamlfile.dump_yaml(content), "f") == content


def load_text(text: str):
    return config.parse_sweep(parse_yaml(text, "sweep file"))


# --- match: options that no side reads --------------------------------------------------


def test_match_refuses_an_option_that_neither_side_reads(capsys):
    argv = ["match", "nl", "tft", "--eta", "7", "--lookahead", "3", "--opponent-model", "true"]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert err == (
        "lola-arena: error: agent_a.lookahead: nl does not read lookahead; accepted: name, kind, "
        "lr, init, policy, optimizer\n"
    )
    for option, value in (("--eta", "7"), ("--opponent-model", "true"), ("--episodes", "3")):
        assert run_cli(["match", "nl", "tft", option, value]) == 2
        assert f"does not read {option[2:].replace('-', '_')}" in capsys.readouterr().err


def test_match_and_sweep_refuse_an_unread_option_with_one_message():
    """From both sides: the sweep entry {kind: nl, eta: 7} and `match nl tft --eta 7`."""
    with pytest.raises(ValueError) as from_sweep:
        parse_sweep({**GOOD, "agents": [{"kind": "nl", "eta": 7.0}, {"kind": "tft"}]})
    with pytest.raises(ValueError) as from_match:
        parse_match("nl", "tft", {"eta": 7.0}, updates=5)
    assert str(from_sweep.value).removeprefix("agents[0]") == str(from_match.value).removeprefix(
        "agent_a"
    )
    # read by one side: that side takes it, the other plays without it
    match = parse_match("lola-taylor", "nl", {"eta": 7.0, "lr": 0.5}, updates=5)
    assert (match.spec_a.eta, match.spec_a.lr, match.spec_b.lr) == (7.0, 0.5, 0.5)
    assert parse_match("nl", "tft", {"eta": None}, updates=5).spec_a.kind == "nl"


# --- output paths ---------------------------------------------------------------------------


@pytest.mark.parametrize("out", ["", " ", "\t"])
@pytest.mark.parametrize("command", ["sweep", "report", "query-csv", "query-parquet"])
def test_an_empty_or_blank_output_path_is_refused(out, command, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(GOOD))
    argv = {
        "sweep": ["sweep", "s.yaml", "--out", out],
        "report": ["report", "results/t", "--out", out],
        "query-csv": ["query", "results/t", "SELECT 1", "--csv", out],
        "query-parquet": ["query", "results/t", "SELECT 1", "--parquet", out],
    }[command]
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"must name a file or folder, got {out!r}" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.yaml"]


# --- memory, estimated before anything runs ----------------------------------------------


def test_a_sweep_whose_rollouts_exceed_the_memory_is_one_line_with_estimate_and_limit(
    tmp_path, capsys
):
    """The issue's sweep tried to allocate 149 GiB, retried 3 times and exited 1."""
    content = "name: t\nagents: [{kind: nl}, {kind: lola-dice, episodes: 100000, steps: 100000}]\n"
    code, err = sweep_cli(tmp_path, content, capsys)
    limit = config._bytes(config.machine_memory())
    expected = (
        "agents[1].episodes: lola-dice(lr=1,lr_in=1,k=1,E=100000,T=100000) needs about 3.6 TiB "
        f"(100,000 episodes x 100,000 steps x 100 B x 2 rollouts x 2 sides); this machine has "
        f"{limit}: fewer episodes or steps"
    )
    assert_one_line_bad_input(code, err, expected, tmp_path)
    argv = ["match", "lola-dice", "nl", "--episodes", "100000", "--steps", "100000"]
    assert run_cli(argv) == 2
    assert "needs about 72.8 TiB" in capsys.readouterr().err  # x 20 seeds in one engine call


@pytest.mark.parametrize("kind, rollouts", [("lola-dice", 3 + 1), ("nl-pg", 1)])
def test_the_memory_bound_is_the_estimate_of_one_engine_call(kind, rollouts, monkeypatch):
    """episodes x steps x 100 B x rollouts x 2 sides x matches per call, against the limit:
    accepted at the limit, refused one step beyond."""
    options = {"episodes": 10, "steps": 20, **({"lookahead": 3} if kind == "lola-dice" else {})}
    estimate = 10 * 20 * config.BYTES_PER_STEP * rollouts * 2 * 7  # 7 matches per call
    monkeypatch.setattr(config, "machine_memory", lambda: estimate)
    agents = [{"kind": kind, **options}, {"kind": "tft"}]
    assert parse_sweep({**GOOD, "task_size": 7, "agents": agents}).matches == 3 * 2
    assert parse_match(kind, "tft", options, seeds=7).seeds == list(range(7))
    longer = [{**agents[0], "steps": 21}, agents[1]]
    with pytest.raises(ValueError, match=r"^agents\[0\]\.episodes: .* this machine has"):
        parse_sweep({**GOOD, "task_size": 7, "agents": longer})
    with pytest.raises(ValueError, match=r"^agent_a\.episodes: .* or fewer seeds$"):
        parse_match(kind, "tft", {**options, "steps": 21}, seeds=7)
    # exact learners and fixed strategies hold no rollouts
    assert parse_sweep({**GOOD, "task_size": 7}).matches == 3 * 2
