"""A small valid sweep file (as a mapping) and variations of it, for the sweep-file and planning
tests."""

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
