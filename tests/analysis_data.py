"""A small made-up sweep in the stored schema, for exact checks of analysis/.

Seven agents (four LOLA variants over lr x lookahead, a naive learner, TFT, ALLD), a round
robin with self-play, three seeds. Side order within a pairing alternates with the seed, one
match diverged. Rewards and policies are invented but consistent: rewards lie in the IPD range
[-3, 0], fixed strategies hold their exact P(C | state).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
import zlib
from itertools import combinations_with_replacement
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from PIL import Image

from sweeps import schema

STATES = schema.STATES
SEEDS = (0, 1, 2)
UPDATES = 20
CURVE_UPDATES = (0, 5, 10, 15, 20)

# label: (kind, lr, lookahead, final P(C | start, cc, cd, dc, dd), base reward level)
AGENTS = {
    "lola(lr=0.5,lr_in=0.5,k=1)": ("lola", 0.5, 1, (0.9, 0.95, 0.05, 0.95, 0.05), -1.2),
    "lola(lr=1,lr_in=1,k=1)": ("lola", 1.0, 1, (0.9, 0.97, 0.03, 0.93, 0.04), -1.1),
    "lola(lr=0.5,lr_in=0.5,k=2)": ("lola", 0.5, 2, (0.8, 0.9, 0.2, 0.8, 0.1), -1.3),
    "lola(lr=1,lr_in=1,k=2)": ("lola", 1.0, 2, (0.85, 0.92, 0.08, 0.91, 0.06), -1.15),
    "nl(lr=1)": ("nl", 1.0, 1, (0.1, 0.1, 0.05, 0.1, 0.02), -1.9),
    "tft": ("tft", None, None, (1.0, 1.0, 0.0, 1.0, 0.0), -1.5),
    "alld": ("alld", None, None, (0.0, 0.0, 0.0, 0.0, 0.0), -1.7),
}
DIVERGED = ("nl(lr=1)", "alld", 2)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Every figure of a report whose sweep has curves and LOLA agents over an lr x lookahead grid.
FIGURES = (
    "payoff_heatmap",
    "ranking",
    "cooperation_by_state",
    "learning_curves",
    "hyperparameters",
    "reward_distribution",
    "ecosystem",
)


def _reward(me: str, other: str, seed: int) -> float:
    """An invented final per-step reward of ``me`` against ``other`` in one seed."""
    rng = np.random.default_rng(zlib.crc32(f"{me}|{other}|{seed}".encode()))
    base = AGENTS[me][4] + 0.3 * (AGENTS[me][4] - AGENTS[other][4])
    return float(np.clip(base + rng.normal(0, 0.05), -3.0, 0.0))


def _side(label: str, side: str, reward: float, p_coop) -> dict:
    kind, lr, lookahead, _, _ = AGENTS[label]
    learner = lr is not None
    row = {
        f"agent_{side}": label,
        f"kind_{side}": kind,
        f"lr_{side}": lr,
        f"lr_in_{side}": lr,
        f"eta_{side}": 1.0 if learner else None,
        f"lookahead_{side}": lookahead,
        f"policy_{side}": "tabular" if learner else None,
        f"optimizer_{side}": "sgd" if learner else None,
        f"reward_{side}": reward,
    }
    row.update({f"p_coop_{side}_{s}": p for s, p in zip(STATES, p_coop, strict=True)})
    return row


def match_rows() -> list[dict]:
    """The rows of the made-up ``matches`` table."""
    rows = []
    labels = list(AGENTS)
    for seed in SEEDS:
        for x, y in combinations_with_replacement(labels, 2):
            a, b = (y, x) if (labels.index(x) + labels.index(y) + seed) % 2 else (x, y)
            diverged = {a, b} == set(DIVERGED[:2]) and seed == DIVERGED[2]
            nan5 = (float("nan"),) * 5
            row = {
                "sweep": "synthetic",
                "match_id": f"{a}|{b}|{seed}",
                "game": "ipd",
                "gamma": 0.96,
                "seed": seed,
                "updates": UPDATES,
                "status": "diverged" if diverged else "ok",
                "error": "non-finite parameters at update 7" if diverged else None,
                "elapsed_s": 0.01,
                "version": "0.1.0",
            }
            reward_a = float("nan") if diverged else _reward(a, b, seed)
            reward_b = float("nan") if diverged else _reward(b, a, seed)
            row.update(_side(a, "a", reward_a, nan5 if diverged else AGENTS[a][3]))
            row.update(_side(b, "b", reward_b, nan5 if diverged else AGENTS[b][3]))
            rows.append(row)
    return rows


# The schema ``lola-arena sweep`` writes, with the partition column ``game`` as a column.
MATCH_SCHEMA = schema.MATCHES_SCHEMA.append(schema.GAME)
CURVE_SCHEMA = schema.CURVES_SCHEMA.append(schema.GAME)


def curve_rows(matches: list[dict]) -> list[dict]:
    """Curves that move linearly from a common start to each match's final values."""
    rows = []
    for match in matches:
        for update in CURVE_UPDATES:
            w = update / UPDATES
            row = {"match_id": match["match_id"], "game": match["game"], "update": update}
            for side in "ab":
                row[f"reward_{side}"] = (1 - w) * -1.5 + w * match[f"reward_{side}"]
                for s in STATES:
                    row[f"p_coop_{side}_{s}"] = (1 - w) * 0.5 + w * match[f"p_coop_{side}_{s}"]
            rows.append(row)
    return rows


def write_synthetic_sweep(sweep_dir: Path) -> list[dict]:
    """Write matches/, curves/ (hive-partitioned by game) and sweep.yaml; return the rows."""
    sweep_dir = Path(sweep_dir)
    matches = match_rows()
    pq.write_to_dataset(
        pa.Table.from_pylist(matches, schema=MATCH_SCHEMA), sweep_dir / "matches", ["game"]
    )
    pq.write_to_dataset(
        pa.Table.from_pylist(curve_rows(matches), schema=CURVE_SCHEMA),
        sweep_dir / "curves",
        ["game"],
    )
    config = {
        "name": "synthetic",
        "game": "ipd",
        "gamma": 0.96,
        "updates": UPDATES,
        "seeds": len(SEEDS),
        "agents": list(AGENTS),
    }
    (sweep_dir / "sweep.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return matches


def assert_valid_figure(paths):
    """A PNG that PIL reads and an SVG that parses as XML, both non-trivial."""
    png, svg = paths
    data = png.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    with Image.open(png) as image:
        assert image.size[0] > 100 and image.size[1] > 100
        image.verify()
    assert ET.parse(svg).getroot().tag.endswith("svg")
