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
    "ranking",
    "payoff_matrix",
    "payoff_difference",
    "cooperation",
    "learning_curves",
    "policy_curves",
    "hyperparameters",
    "ecosystem",
)
MAX_PIXELS = 3000
IPD = {
    "name": "ipd",
    "payoffs_row": [-1.0, -3.0, 0.0, -2.0],
    "payoffs_col": [-1.0, 0.0, -3.0, -2.0],
}
IMP = {"name": "imp", "payoffs_row": [1.0, -1.0, -1.0, 1.0], "payoffs_col": [-1.0, 1.0, 1.0, -1.0]}


def _reward(me: str, other: str, seed: int) -> float:
    """An invented final per-step reward of ``me`` against ``other`` in one seed."""
    rng = np.random.default_rng(zlib.crc32(f"{me}|{other}|{seed}".encode()))
    base = AGENTS[me][4] + 0.3 * (AGENTS[me][4] - AGENTS[other][4])
    return float(np.clip(base + rng.normal(0, 0.05), -3.0, 0.0))


def _side(label: str, side: str, reward: float, p_coop) -> dict:
    kind, lr, lookahead, _, _ = AGENTS[label]
    learner = lr is not None
    unrolls = kind == "lola"  # options a kind does not read are stored as null
    row = {
        f"agent_{side}": label,
        f"kind_{side}": kind,
        f"lr_{side}": lr,
        f"lr_in_{side}": lr if unrolls else None,
        f"eta_{side}": None,
        f"lookahead_{side}": lookahead if unrolls else None,
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


# An agent of a swept kind whose every match diverged (a learning rate far too large).
GONE = "lola(lr=1,lr_in=1,k=2)"


def all_diverged_rows(agent: str = GONE) -> list[dict]:
    """The made-up matches with every match of ``agent`` diverged (NaN rewards and policies)."""
    rows = match_rows()
    for row in rows:
        if agent in (row["agent_a"], row["agent_b"]):
            row.update(status="diverged", error="non-finite parameters at update 3")
            for column in row:
                if column.startswith(("reward_", "p_coop_")):
                    row[column] = float("nan")
    return rows


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


def write_parts(sweep_dir: Path, table: str, rows: pa.Table) -> None:
    """``rows`` as ``table/game=<game>/part-0.parquet``, named as the store names its parts (a
    matches part and its curves part share the name)."""
    pq.write_to_dataset(
        rows, Path(sweep_dir) / table, ["game"], basename_template="part-{i}.parquet"
    )


def write_provenance(sweep_dir: Path, game: dict) -> None:
    """A provenance.yaml as ``lola-arena sweep`` writes it: the game and one run."""
    Path(sweep_dir).mkdir(parents=True, exist_ok=True)
    run = {"started": "2025-01-01T00:00:00+00:00", "finished": "2025-01-01T00:01:00+00:00"}
    run.update(wall_s=60.0, matches=0, lola_arena="0.1.0", python="3.11", git_commit="abc123")
    (Path(sweep_dir) / schema.PROVENANCE).write_text(
        yaml.safe_dump({"game": game, "runs": [run]}, sort_keys=False)
    )


def write_synthetic_sweep(
    sweep_dir: Path, game: dict | None = IPD, rows: list[dict] | None = None
) -> list[dict]:
    """Write matches/, curves/ (hive-partitioned by game), sweep.yaml and (unless ``game`` is
    None) provenance.yaml of ``rows`` (default :func:`match_rows`); return the match rows."""
    sweep_dir = Path(sweep_dir)
    matches = match_rows() if rows is None else rows
    if game is not None:
        for row in matches:
            row["game"] = game["name"]
        write_provenance(sweep_dir, game)
    write_parts(sweep_dir, "matches", pa.Table.from_pylist(matches, schema=MATCH_SCHEMA))
    write_parts(sweep_dir, "curves", pa.Table.from_pylist(curve_rows(matches), schema=CURVE_SCHEMA))
    config = {
        "name": "synthetic",
        "game": matches[0]["game"],
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


def large_agents(n: int) -> list[tuple[str, str, dict]]:
    """``n`` agents (label, kind, stored options): learners of five kinds over option grids,
    then memory-one strategies, about a third of them fixed."""
    learners = []
    for lr in (0.1, 0.3, 1.0, 3.0, 10.0):
        for k in (1, 2, 3, 4):
            for kind in ("lola", "la"):
                options = {"lr": lr, "lr_in": lr, "lookahead": k}
                learners.append((f"{kind}(lr={lr:g},k={k})", kind, options))
        learners.append((f"nl(lr={lr:g})", "nl", {"lr": lr}))
        for eta in (0.5, 1.0, 2.0):
            learners.append(
                (f"lola-taylor(lr={lr:g},eta={eta:g})", "lola-taylor", {"lr": lr, "eta": eta})
            )
        learners.append((f"sos(lr={lr:g})", "sos", {"lr": lr, "lr_in": lr}))
    n_learners = min(len(learners), 2 * n // 3)
    agents = learners[:n_learners]
    rng = np.random.default_rng(0)
    for i in range(n - n_learners):
        p = np.round(rng.uniform(size=5), 2)
        agents.append((f"memory1:{','.join(f'{x:g}' for x in p)}#{i}", "memory1", {}))
    return agents


def write_large_sweep(sweep_dir: Path, n_agents: int, seeds: int = 2, updates=(0, 10, 20)):
    """A round robin with self-play of ``n_agents`` (:func:`large_agents`) in the stored schema,
    built column by column: random but bounded rewards and policies, an IPD provenance."""
    sweep_dir = Path(sweep_dir)
    agents = large_agents(n_agents)
    a, b = np.triu_indices(len(agents))
    a, b = np.tile(a, seeds), np.tile(b, seeds)
    seed = np.repeat(np.arange(seeds), len(a) // seeds)
    n = len(a)
    rng = np.random.default_rng(1)
    level = rng.uniform(-2.5, -1.0, size=len(agents))
    columns = {
        "sweep": np.full(n, "large"),
        "match_id": np.array([f"m{i}" for i in range(n)]),
        "gamma": np.full(n, 0.96),
    }
    for side, index in (("a", a), ("b", b)):
        columns[f"agent_{side}"] = np.array([agents[i][0] for i in index])
        columns[f"kind_{side}"] = np.array([agents[i][1] for i in index])
        for option in schema.STORED_OPTION_NAMES:
            columns[f"{option}_{side}"] = [agents[i][2].get(option) for i in index]
        columns[f"policy_{side}"] = ["tabular" if agents[i][2] else None for i in index]
        columns[f"optimizer_{side}"] = ["sgd" if agents[i][2] else None for i in index]
    columns.update(seed=seed, updates=np.full(n, updates[-1]))
    columns.update(dict.fromkeys(schema.SAMPLED_COLUMNS, [None] * n))  # no sampled learner
    columns.update(dict.fromkeys(schema.COIN_COLUMNS, [None] * n))  # not the Coin Game
    reward = {s: np.clip(level[i] + rng.normal(0, 0.1, n), -3, 0) for s, i in (("a", a), ("b", b))}
    p_coop = {s: rng.uniform(size=(n, 5)) for s in "ab"}
    for side in "ab":
        columns[f"reward_{side}"] = reward[side]
    for side in "ab":
        for j, state in enumerate(STATES):
            columns[f"p_coop_{side}_{state}"] = p_coop[side][:, j]
    columns.update(dict.fromkeys(schema.PARAMS_COLUMNS, [None] * n))  # an iterated game
    columns.update(
        status=np.full(n, "ok"),
        error=[None] * n,
        elapsed_s=np.full(n, 0.01),
        version=np.full(n, "0.1.0"),
    )
    columns["game"] = np.full(n, "ipd")
    matches = pa.Table.from_pydict(columns, schema=MATCH_SCHEMA)
    write_parts(sweep_dir, "matches", matches)
    records = len(updates)
    curves = {"match_id": np.repeat(columns["match_id"], records), "update": np.tile(updates, n)}
    curves.update(dict.fromkeys(schema.SAMPLED_COLUMNS, [None] * (n * records)))
    curves.update(dict.fromkeys(schema.COIN_COLUMNS, [None] * (n * records)))
    w = np.tile(np.asarray(updates) / updates[-1], n)
    for side in "ab":
        curves[f"reward_{side}"] = (1 - w) * -1.5 + w * np.repeat(reward[side], records)
    for side in "ab":
        for j, state in enumerate(STATES):
            curves[f"p_coop_{side}_{state}"] = (1 - w) * 0.5 + w * np.repeat(
                p_coop[side][:, j], records
            )
    curves.update(dict.fromkeys(schema.PARAMS_COLUMNS, [None] * (n * records)))
    curves["game"] = np.full(n * records, "ipd")
    write_parts(sweep_dir, "curves", pa.Table.from_pydict(curves, schema=CURVE_SCHEMA))
    config = {"name": "large", "game": "ipd", "seeds": seeds, "agents": len(agents)}
    (sweep_dir / "sweep.yaml").write_text(yaml.safe_dump(config))
    write_provenance(sweep_dir, IPD)
    return agents
