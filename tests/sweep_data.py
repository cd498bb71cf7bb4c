"""Small valid sweep files (as mappings): one and variations of it for the sweep-file and planning
tests, and a short quick.yaml-like round robin for the runner and fault tests."""

from __future__ import annotations

GOOD = {
    "name": "t",
    "updates": 5,
    "seeds": 2,
    "agents": [{"kind": "lola", "lr": [0.5, 1.0]}, {"kind": "nl"}, {"kind": "tft"}],
}

DROP = object()  # a value of ``sweep`` that leaves the key out


def sweep(**changes) -> dict:
    """:data:`GOOD` with ``changes`` applied (keys whose value is :data:`DROP` removed)."""
    raw = {**GOOD, **changes}
    return {k: v for k, v in raw.items() if v is not DROP}


# A quick.yaml-like round robin, short: 6 variants -> 21 pairings x 2 seeds = 42 matches.
ROUND_ROBIN = {
    "updates": 20,
    "record_every": 5,
    "seeds": 2,
    "agents": [
        {"kind": "lola", "lr": [0.5, 1.0]},
        {"kind": "nl"},
        {"kind": "tft"},
        {"kind": "alld"},
        {"kind": "allc"},
    ],
}
ROUND_ROBIN_MATCHES = 21 * 2
