"""Sweep files (sweeps/config.py): one-line errors naming the field, the expansion of swept
options, defaults, the shipped sweep files. No Ray needed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sweep_data import DROP, GOOD, sweep

import cli.main as cli
from sweeps.config import load_sweep, parse_sweep
from sweeps.plan import plan_matches

CONFIGS = Path(__file__).resolve().parent.parent / "sweeps" / "configs"


# (what is wrong, file content, text the one-line error must contain)
BAD_FILES = [
    ("unknown top-level key", sweep(lerning_rate=1), "lerning_rate: unknown key; accepted: name"),
    ("unknown agent key", sweep(agents=[{"kind": "nl", "foo": 1}]), "agents[0].foo: unknown key"),
    (
        "wrong type",
        sweep(updates="many"),
        "updates: must be an integer in [1, 1,000,000], got 'many'",
    ),
    ("empty agents", sweep(agents=[]), "agents: must be a non-empty list"),
    ("empty swept list", sweep(agents=[{"kind": "nl", "lr": []}]), "agents[0].lr: an empty list"),
    (
        "negative lr",
        sweep(agents=[{"kind": "nl"}, {"kind": "nl", "name": "x", "lr": -0.1}]),
        "agents[1].lr: must be finite and > 0, got -0.1",
    ),
    ("gamma outside (0, 1)", sweep(gamma=1.0), "gamma: must be a number in (0, 1), got 1.0"),
    ("unknown game", sweep(game="poker"), "game: unknown 'poker'; accepted: ipd, imp"),
    ("unknown agent kind", sweep(agents=[{"kind": "lolaa"}]), "agents[0].kind: unknown 'lolaa'"),
    ("bad pairing", sweep(pairing="swiss"), "pairing: unknown 'swiss'; accepted: round_robin, vs"),
    (
        "vs names unknown agent",
        sweep(pairing="vs", vs=[["nl", "sos"]]),
        "vs[0]: unknown agent 'sos'",
    ),
    ("bad seeds", sweep(seeds="x"), "seeds: must be a count in [1, 100,000] or a list of at"),
    ("repeated seeds", sweep(seeds=[1, 1]), "seeds: must be distinct"),
    ("record_every < 1", sweep(record_every=0), "record_every: must be an integer >= 1, got 0"),
    ("missing name", sweep(name=DROP), "name: must be a non-empty string"),
    (
        "learning option on a fixed strategy",
        sweep(agents=[{"kind": "tft", "lr": 1}]),
        "agents[0].lr: tft is a fixed strategy",
    ),
    (
        "option the kind does not read",
        sweep(agents=[{"kind": "nl", "eta": [1, 2]}]),
        "agents[0].eta: nl does not read eta; accepted: name, kind, lr, init, policy, optimizer",
    ),
    (
        "duplicate variant",
        sweep(agents=[{"kind": "nl", "lr": [1, 1.0]}]),
        "agents[0]: variant 'nl(lr=1)'",
    ),
    (
        "bad policy",
        sweep(agents=[{"kind": "nl", "policy": "cnn"}]),
        "agents[0].policy: unknown 'cnn'",
    ),
    ("bad payoffs", sweep(payoffs=[1, 2, 3]), "payoffs: needs 4 values"),
    (
        "extort2 outside a dilemma",
        sweep(game="stag_hunt", agents=[{"kind": "extort2"}]),
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
        sweep(agents=[{"kind": "lola", "lr": [0.5, 1], "lookahead": [1, 2, 3]}, {"kind": "alld"}])
    )
    labels = [v.label for v in config.variants]
    assert len(labels) == 7
    assert "lola(lr=0.5,lr_in=0.5,k=3)" in labels and "alld" in labels


def test_memory1_p_is_a_single_value_unless_a_list_of_lists():
    one = parse_sweep(sweep(agents=[{"kind": "memory1", "p": [1, 1, 0, 1, 0]}]))
    two = parse_sweep(sweep(agents=[{"kind": "memory1", "p": [[1, 1, 0, 1, 0], [0, 1, 0, 1, 0]]}]))
    assert [v.label for v in one.variants] == ["memory1:1,1,0,1,0"]
    assert len(two.variants) == 2


def test_random_takes_one_probability_as_a_number():
    config = parse_sweep(sweep(agents=[{"kind": "random", "p": [0.2, 0.7]}, {"kind": "nl"}]))
    assert [v.label for v in config.variants] == ["random:0.2", "random:0.7", "nl(lr=1)"]


def test_defaults_are_filled_and_seeds_made_explicit():
    config = parse_sweep(GOOD)
    resolved = config.resolved()
    assert resolved["seeds"] == [0, 1] and resolved["gamma"] == 0.96 and resolved["game"] == "ipd"
    assert parse_sweep(yaml.safe_load(yaml.safe_dump(resolved))) == config


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
