"""The closed-form engine's fused path (:mod:`tournament.fused`): the same bits as eager, and a
failed compile falls back to eager with one line."""

import logging

import numpy as np
import pytest
import torch

from agents.rules import RULES
from agents.spec import AgentSpec
from tournament import fused
from tournament.engines import closed_form
from tournament.games import GAMES
from tournament.match import play_matches

IPD = GAMES["ipd"]
FIELDS = ("p_coop_a", "p_coop_b", "reward_a", "reward_b")


def play(mode: str, monkeypatch, specs_a, specs_b, seeds, updates=60):
    monkeypatch.setenv("LOLA_ARENA_COMPILE", mode)
    return play_matches(IPD, specs_a, specs_b, seeds, updates, record_every=20, dtype="float32")


@pytest.mark.slow
def test_fused_rules_give_eager_bits_at_every_batch_position(monkeypatch):
    """NL and LOLA (k = 1 and 2 in one group: every variant of the unroll's graphs) against
    each other and a fixed strategy, 37 matches: copies of one match sit in the vectorised body
    and the scalar tail of the compiled loops. Compiled (``always``) and eager (``never``) agree
    bit for bit, and so do the copies; a match alone (B = 1, its own compile) too."""
    kinds = [AgentSpec("nl"), AgentSpec("lola", lookahead=1), AgentSpec("lola", lookahead=2)]
    n, copies = 37, range(27, 37)  # the last 10: one match, copied
    specs_a = [kinds[i % 3] if i < 27 else kinds[2] for i in range(n)]
    specs_b = [(kinds[(i // 3) % 3] if i % 4 else AgentSpec("tft")) for i in range(27)]
    specs_b += [kinds[0]] * len(copies)
    seeds = [100 + i if i < 27 else 3 for i in range(n)]
    runs = {m: play(m, monkeypatch, specs_a, specs_b, seeds) for m in ("always", "never")}
    assert not fused._failed and closed_form.FUSED["lola"].compiled is not None
    for field in FIELDS:
        assert np.array_equal(getattr(runs["always"], field), getattr(runs["never"], field))
    for field in FIELDS:
        values = getattr(runs["always"], field)[list(copies)]
        assert (values == values[:1]).all()
    i = 10
    alone = play("always", monkeypatch, [specs_a[i]], [specs_b[i]], [seeds[i]])
    assert np.array_equal(alone.p_coop_a[0], runs["never"].p_coop_a[i])
    # Not vacuous: the matches learn, differently.
    assert len(np.unique(runs["never"].p_coop_a[:, -1].round(5))) > 10


def test_a_failed_compile_falls_back_to_eager_with_one_line(monkeypatch, caplog, capsys):
    """No C++ compiler (simulated: the compiled function raises inductor's error): one warning
    line, no traceback, and the run's numbers are eager's."""

    def no_compiler(fn, **kw):
        def fails(*args):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\n(details)")

        return fails

    spec = AgentSpec("lola", lookahead=1)
    eager = play("never", monkeypatch, [spec] * 3, [spec] * 3, [1, 2, 3], updates=5)
    monkeypatch.setattr(fused, "_failed", [])
    monkeypatch.setattr(closed_form, "FUSED", fused.fused_rules(RULES))
    monkeypatch.setattr(torch, "compile", no_compiler)
    with caplog.at_level(logging.WARNING, logger="tournament.fused"):
        results = play("always", monkeypatch, [spec] * 3, [spec] * 3, [1, 2, 3], updates=5)
    assert [r.getMessage() for r in caplog.records] == [
        "torch.compile failed (InvalidCxxCompiler: No working C++ compiler found); "
        "the closed-form engine runs eager"
    ]
    assert "Traceback" not in capsys.readouterr().err
    for field in FIELDS:
        assert np.array_equal(getattr(results, field), getattr(eager, field))
    assert not fused.pays("lola", 10**6)  # off for the rest of the process


def test_compile_mode_is_checked(monkeypatch):
    monkeypatch.setenv("LOLA_ARENA_COMPILE", "sometimes")
    with pytest.raises(ValueError, match="LOLA_ARENA_COMPILE: must be one of auto, always, never"):
        fused.pays("nl", 10)


def test_auto_compiles_only_long_runs_of_large_groups_of_fused_kinds(monkeypatch):
    monkeypatch.setenv("LOLA_ARENA_COMPILE", "auto")
    monkeypatch.setattr(fused, "_failed", [])
    assert fused.pays("lola", fused.MIN_SIDE_UPDATES)
    assert not fused.pays("lola", fused.MIN_SIDE_UPDATES - 1)
    assert not fused.pays("hola", 10**12)
