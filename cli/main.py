"""``lola-arena``: the command line, a thin face over the packages.

Each subcommand maps its arguments to typed functions of ``agents``, ``tournament``, ``sweeps``
or ``analysis`` and prints what they return; no package imports this module. Packages are
imported when a subcommand runs, so ``--help`` is quick and ``match`` runs without Ray.
Bad input: one line on stderr naming the field and the accepted values, exit code 2. Every
other fault is one line too, naming the cause and the way out, exit code 1; SIGINT, SIGTERM
and SIGHUP stop a command cleanly in one line, exit code 128 + the signal's number (130, 143,
129; the handlers are installed by ``cli.__main__.run`` before this module is imported); a
closed stdout (``| head``) ends it quietly, exit code 141, as SIGPIPE ends a Unix tool.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import importlib.metadata
import json
import os
import sys
from pathlib import Path

from agents.kinds import FIXED_KINDS, LEARNERS
from agents.options import OPTIONS
from sweeps.signals import deferred, interrupts, signal_of
from tournament.differentiable import DIFFERENTIABLE_GAMES
from tournament.games import GAMES

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
EXIT_BROKEN_PIPE = 128 + 13  # as a Unix tool killed by SIGPIPE
MEMORY_HINT = "use fewer seeds or agents, a smaller task_size or a smaller policy"
RESULTS = Path("results")
# The agent options that `match` takes as --flags (p comes with the agent's name).
MATCH_OPTIONS = tuple(option for option in OPTIONS if option.name != "p")

DESCRIPTION = """\
Iterated matrix games between learning-aware agents (LOLA, LOLA-Taylor, LookAhead, SOS),
naive gradient learners and fixed memory-one strategies: play one pairing, run a round-robin
sweep on Ray into Parquet, and summarise, report or query a sweep."""

EPILOG = """\
examples:
  lola-arena match lola-taylor lola-taylor --updates 200 --seeds 20
  lola-arena sweep sweeps/configs/quick.yaml --out results/quick
  lola-arena verify results/quick
  lola-arena summary results/quick
  lola-arena report results/quick
  lola-arena query results/quick "SELECT kind, avg(reward) FROM sides GROUP BY kind"

Run `lola-arena COMMAND --help` for a command's options."""

AGENT_HELP = (
    f"a learner ({', '.join(LEARNERS)}), a fixed strategy "
    f"({', '.join(kind.name for kind in FIXED_KINDS if not kind.form)}), "
    + " or ".join(kind.form for kind in FIXED_KINDS if kind.form)
)
GAME_HELP = (
    f"{', '.join(GAMES)}, the differentiable games {', '.join(DIFFERENTIABLE_GAMES)}, or coin "
    "(the Coin Game: nl-pg, lola-dice with --policy mlp:H, conv:C or gru:H, and the strategies "
    "random, greedy, own-coin, reciprocal)"
)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show (None, a flag)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


class _TopHelpFormatter(_HelpFormatter, argparse.RawDescriptionHelpFormatter):
    """The top-level help keeps the line breaks of its description and examples."""


class _Parser(argparse.ArgumentParser):
    """Usage errors are one line on stderr, exit code 2."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def _path(text: str) -> Path:
    """A path the user names for output: an empty or blank one would mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a file or folder, got {text!r}")
    return Path(text)


def _numbers(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"need comma-separated numbers, got {text!r}") from None


def _add_match(sub) -> None:
    p = sub.add_parser(
        "match",
        help="play one pairing for several seeds at once (no Ray needed)",
        description="Play agent_a against agent_b once per seed, batched, and print each "
        "seed's final reward per step and the mean final P(C | state) of both sides.",
    )
    p.add_argument("agent_a", help=AGENT_HELP)
    p.add_argument("agent_b", help="the other agent, named as agent_a")
    p.add_argument(
        "--game",
        default="ipd",
        help=GAME_HELP,
    )
    p.add_argument("--grid-size", type=int, help="coin only: the torus's side, 2 to 32 (default 3)")
    p.add_argument(
        "--payoffs",
        type=_numbers,
        help="4 (symmetric) or 8 (row's, then column's) payoffs CC,CD,DC,DD; replaces the game's",
    )
    p.add_argument("--gamma", type=float, default=0.96, help="discount factor, in (0, 1)")
    p.add_argument("--updates", type=int, default=200, help="learning steps per match")
    p.add_argument("--seeds", type=_positive_int, default=20, help="play seeds 0 .. N-1")
    for option in MATCH_OPTIONS:  # None: not given, so an option no side reads is refused
        flag = "--" + option.name.replace("_", "-")
        hidden = option.default is None or option.default is False  # as _HelpFormatter does
        shown = "" if hidden else f" (default: {option.default})"
        p.add_argument(flag, type=option.type, help=option.help + shown)
    p.add_argument("--dtype", default="float64", help="float32 or float64")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")


def _add_sweep(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a sweep file on Ray and store every match in Parquet",
        description="Run every match of a sweep file (YAML) as Ray tasks and store the matches "
        "and learning curves as Parquet datasets. A rerun on the same directory skips the "
        "matches already stored. Exit code 1 when some matches failed.",
    )
    p.add_argument("file", help="sweep file, e.g. sweeps/configs/quick.yaml")
    p.add_argument("--out", type=_path, help=f"output directory (default: {RESULTS}/NAME)")
    p.add_argument(
        "--address", help="Ray cluster to connect to (default: RAY_ADDRESS, or a local Ray)"
    )
    p.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip the matches already stored in --out; --no-resume refuses a used directory",
    )
    p.add_argument("--device", help="cpu or cuda (default: the sweep file's)")
    p.add_argument("--task-size", type=int, help="matches per Ray task (default: the sweep file's)")


def _add_reader(
    sub, name: str, help: str, description: str, several: bool = True
) -> argparse.ArgumentParser:
    """A command that reads several sweep directories (its first arguments: ``sweep_dirs``), or
    exactly one (``sweep_dir``)."""
    p = sub.add_parser(name, help=help, description=description)
    if several:
        p.add_argument("sweep_dirs", nargs="+", metavar="SWEEP_DIR", help="output of a sweep")
    else:
        p.add_argument("sweep_dir", metavar="SWEEP_DIR", help="output of a sweep")
    return p


def _add_summary(sub) -> None:
    p = _add_reader(
        sub,
        "summary",
        "print the ranking and payoff matrix of a sweep",
        "Print the ranking (mean reward over opponents, 95% CI over seeds, 95% bootstrap "
        "interval of the rank), the payoff matrix (per kind beyond 8 agents) and the share of "
        "diverged and failed matches, 100 columns wide.",
    )
    p.add_argument("--top", type=_positive_int, default=20, help="agents in the ranking")
    p.add_argument(
        "--all",
        action="store_true",
        dest="full",
        help="every agent and the full payoff matrix, however wide",
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="several sweeps side by side (each agent's score and rank in each) instead of pooled",
    )


def _add_report(sub) -> None:
    p = _add_reader(
        sub,
        "report",
        "write the tables, figures and HTML page of a sweep",
        "Write tables (CSV, Markdown), figures (PNG, SVG), index.html and report.md for one "
        "sweep, or for several sweeps of the same game together.",
    )
    p.add_argument(
        "--out",
        type=_path,
        help="report directory (default: SWEEP_DIR/report; required for several sweeps)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a progress bar on stderr",
    )


def _add_query(sub) -> None:
    p = _add_reader(
        sub,
        "query",
        "run SQL (DuckDB) over sweeps: tables matches, curves, sides",
        "Run one SQL statement with DuckDB over the Parquet files of one or several sweeps. "
        "Tables: matches (one row per match), curves (per match and recorded update), sides "
        "(one row per agent per match: match_id, side, agent, kind, opponent, opponent_kind, "
        "seed, reward, opponent_reward, p_coop_*, options). Prints the result, or writes it "
        "with --csv or --parquet.",
    )
    p.add_argument(
        "sql", metavar="SQL", help='e.g. "SELECT kind, avg(reward) FROM sides GROUP BY kind"'
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--csv", type=_path, metavar="FILE", help="write the result as CSV")
    out.add_argument("--parquet", type=_path, metavar="FILE", help="write the result as Parquet")
    p.add_argument("--rows", type=_positive_int, default=40, help="rows printed at most")


def _add_verify(sub) -> None:
    p = _add_reader(
        sub,
        "verify",
        "check every file of a sweep directory; --repair removes damaged parts",
        "Check a sweep directory: sweep.yaml, every part file readable with the declared "
        "schema, each match's curve, no match stored twice, the stored matches against the "
        "plan. Exit code 1 when a file is damaged. --repair removes damaged parts (and "
        "temporary files), so that rerunning the sweep runs exactly their matches.",
        several=False,
    )
    p.add_argument(
        "--repair", action="store_true", help="remove damaged parts so a resume reruns them"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lola-arena",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=_TopHelpFormatter,
    )
    version = importlib.metadata.version("lola-arena")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    for add in (_add_match, _add_sweep, _add_verify, _add_summary, _add_report, _add_query):
        add(sub)
    for command in sub.choices.values():
        command.formatter_class = _HelpFormatter
    return parser


def _match(args) -> int:
    from sweeps.config import parse_match
    from tournament.run_match import format_match, run_match

    match = parse_match(
        args.agent_a,
        args.agent_b,
        {option.name: getattr(args, option.name) for option in MATCH_OPTIONS},
        game=args.game,
        payoffs=args.payoffs,
        grid_size=args.grid_size,
        gamma=args.gamma,
        updates=args.updates,
        seeds=args.seeds,
        dtype=args.dtype,
        device=args.device,
    )
    summary = run_match(
        match.spec_a,
        match.spec_b,
        match.game,
        match.seeds,
        updates=match.updates,
        gamma=match.gamma,
        dtype=match.dtype,
        device=match.device,
        progress=True,
    )
    print(json.dumps(summary) if args.json else format_match(summary))
    return EXIT_OK


def _sweep(args) -> int:
    from sweeps.config import load_sweep
    from sweeps.runner import run_sweep

    config = load_sweep(args.file).with_overrides(device=args.device, task_size=args.task_size)
    out = args.out or RESULTS / config.name
    ray_start = getattr(args, "ray_start", None)  # see _run
    summary = run_sweep(config, out, address=args.address, resume=args.resume, ray_start=ray_start)
    print(summary)
    return EXIT_OK if summary.failed == 0 else EXIT_FAILED


def _verify(args) -> int:
    from sweeps.verify import verify

    report = verify(args.sweep_dir, repair=args.repair)
    print("\n".join(report.lines()))
    return EXIT_OK if report.ok else EXIT_FAILED


def _summary(args) -> int:
    from analysis.load import check_sweep_dirs
    from analysis.report import compare_text, summary_text

    check_sweep_dirs(args.sweep_dirs)
    text = compare_text if args.compare else summary_text
    print(text(args.sweep_dirs, top=args.top, full=args.full))
    return EXIT_OK


def _report(args) -> int:
    from analysis.load import check_sweep_dirs
    from analysis.report import write_report

    check_sweep_dirs(args.sweep_dirs)
    print(f"report: {write_report(args.sweep_dirs, args.out, progress=args.progress)}")
    return EXIT_OK


def _query(args) -> int:
    from analysis.load import check_sweep_dirs
    from analysis.query import query

    check_sweep_dirs(args.sweep_dirs)
    out, format = (args.csv, "csv") if args.csv else (args.parquet, "parquet")
    if out is None:
        format = None
    result = query(args.sweep_dirs, args.sql, out, format)
    if isinstance(result, Path):
        print(f"query: {result}")
    else:
        print(result.to_string(index=False, max_rows=args.rows, max_colwidth=40))
    return EXIT_OK


# The module each command runs, imported before it with interrupts held back (see
# sweeps.signals.deferred: torch's and numpy's imports swallow an interrupt raised inside).
MODULES = {
    "match": "tournament.run_match",
    "sweep": "sweeps.runner",
    "verify": "sweeps.verify",
    "summary": "analysis.report",
    "report": "analysis.report",
    "query": "analysis.query",
}
COMMANDS = {
    "match": _match,
    "sweep": _sweep,
    "verify": _verify,
    "summary": _summary,
    "report": _report,
    "query": _query,
}


# errno values that name a path the user chose (exit 2); other OS errors are faults (exit 1)
_CHOSEN_PATH_ERRORS = {
    errno.EROFS: "choose another path",
    errno.EACCES: "choose another path",
    errno.EPERM: "choose another path",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "check the path",
    errno.EISDIR: "check the path",
    errno.ENAMETOOLONG: "choose a shorter path",
}
_OUT_OF_MEMORY = ("out of memory", "can't allocate memory", "not enough memory", "bad_alloc")


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _error(message: str, code: int) -> int:
    print(f"lola-arena: error: {_one_line(message)}", file=sys.stderr)
    return code


def _run(command: str, args, fresh_process: bool = False) -> int:
    """Run a command; every fault ends in one line on stderr and its exit code (set
    LOLA_ARENA_TRACEBACK=1 to see the traceback of an unexpected one). In a fresh process,
    ``sweep`` starts a local Ray while it imports the engine and reads the sweep file (a bad
    file: its line, then that Ray stopped)."""
    ray_start = None
    try:
        with deferred():
            if command == "sweep" and fresh_process:
                from sweeps.local_ray import EarlyStart

                ray_start = args.ray_start = EarlyStart.start(args.address)
            importlib.import_module(MODULES[command])
        return COMMANDS[command](args)
    except KeyboardInterrupt as error:
        signum = signal_of(error)
        print(f"lola-arena: {_one_line(str(error) or 'interrupted')}", file=sys.stderr)
        return 128 + signum
    except ValueError as error:  # bad input, named by its field
        return _error(str(error), EXIT_BAD_INPUT)
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush
        return EXIT_BROKEN_PIPE
    except MemoryError:
        return _error(f"out of memory; {MEMORY_HINT}", EXIT_FAILED)
    except OSError as error:
        cause = error.strerror or type(error).__name__
        where = f" ({error.filename})" if error.filename else ""
        if error.errno in _CHOSEN_PATH_ERRORS:
            return _error(f"{cause}{where}; {_CHOSEN_PATH_ERRORS[error.errno]}", EXIT_BAD_INPUT)
        hint = "free space and rerun" if error.errno == errno.ENOSPC else "fix it and rerun"
        return _error(f"{cause}{where}; {hint}", EXIT_FAILED)
    except Exception as error:
        from sweeps.store import StoreError  # here, not on top: --help stays without pyarrow

        if os.environ.get("LOLA_ARENA_TRACEBACK"):
            raise
        text = _one_line(str(error) or type(error).__name__)
        if isinstance(error, StoreError):  # one line with the way out
            return _error(text, EXIT_FAILED)
        if isinstance(error, RuntimeError) and any(m in text.lower() for m in _OUT_OF_MEMORY):
            return _error(f"out of memory ({text}); {MEMORY_HINT}", EXIT_FAILED)
        if type(error).__name__ == "ClusterLost":  # sweeps.runner: one line with the way out
            return _error(text, EXIT_FAILED)
        if type(error).__module__.startswith("yaml"):  # a damaged YAML file of a sweep
            return _error(f"damaged YAML ({text}); restore the file", EXIT_FAILED)
        return _error(
            f"{type(error).__name__}: {text} (LOLA_ARENA_TRACEBACK=1 shows where)", EXIT_FAILED
        )
    finally:
        if ray_start is not None:
            ray_start.stop()


def main(argv: list[str] | None = None, fresh_process: bool = False) -> int:
    """Run ``lola-arena`` with ``argv`` (default: the process's arguments); the exit code.
    ``fresh_process``: this process runs this one command, then exits (the ``lola-arena``
    command), so a sweep may start Ray before it needs it (:func:`_run`)."""
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv:
        parser.print_help()
        return EXIT_BAD_INPUT
    args = parser.parse_args(argv)
    with interrupts():
        return _run(args.command, args, fresh_process)


if __name__ == "__main__":
    sys.exit(main())
