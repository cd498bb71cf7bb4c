"""``lola-arena``: the command line. It parses, calls one function, prints; no logic here.

Subcommands import their packages lazily, so ``lola-arena match`` runs without Ray.
Bad input: one line on stderr naming the field and the accepted values, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_BAD_INPUT = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"lola-arena: error: {message}\n")


def _add_match(sub):
    p = sub.add_parser("match", help="play one pairing for several seeds (batched), no Ray")
    p.add_argument("agent_a", help="e.g. lola, nl, tft, memory1:1,1,0,1,0")
    p.add_argument("agent_b")
    p.add_argument("--game", default="ipd", help="ipd, imp, stag_hunt, chicken (default ipd)")
    p.add_argument("--payoffs", help="4 (symmetric) or 8 comma-separated payoffs CC,CD,DC,DD")
    p.add_argument("--gamma", type=float, default=0.96)
    p.add_argument("--updates", type=int, default=200)
    p.add_argument("--seeds", type=int, default=20, help="number of seeds 0..N-1")
    p.add_argument("--lr", type=float, default=1.0, help="own step, both sides")
    p.add_argument("--lr-in", type=float, help="opponent step LA/LOLA/SOS assume (default --lr)")
    p.add_argument("--lookahead", type=int, default=1, help="k, the opponent's unrolled steps")
    p.add_argument("--eta", type=float, default=1.0, help="LOLA-Taylor shaping step")
    p.add_argument("--policy", default="tabular", help="tabular or mlp:HIDDEN")
    p.add_argument("--optimizer", default="sgd", help="sgd or adam")
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _add_sweep(sub):
    p = sub.add_parser("sweep", help="run a YAML sweep on Ray, store every match in Parquet")
    p.add_argument("file", help="sweep YAML, e.g. sweeps/configs/quick.yaml")
    p.add_argument("--out", help="output directory (default results/<sweep name>)")
    p.add_argument("--address", help="Ray cluster address (default: RAY_ADDRESS or embedded)")
    p.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip matches already stored (default on)",
    )
    p.add_argument("--device", help="cpu or cuda (overrides the sweep file)")
    p.add_argument("--task-size", type=int, help="matches per Ray task (overrides the file)")


def _add_summary(sub):
    p = sub.add_parser("summary", help="print ranking and payoff table of a sweep")
    p.add_argument("sweep_dir")


def _add_report(sub):
    p = sub.add_parser("report", help="write tables, figures and index.html for a sweep")
    p.add_argument("sweep_dir")
    p.add_argument("--out", help="report directory (default SWEEP_DIR/report)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lola-arena", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in (_add_match, _add_sweep, _add_summary, _add_report):
        add(sub)
    return parser


def _match(args) -> int:
    from tournament.run_match import match_summary, run_match_from_args

    summary = run_match_from_args(args)
    print(json.dumps(summary) if args.json else match_summary(summary))
    return 0


def _sweep(args) -> int:
    from sweeps.runner import run_sweep_from_args

    return run_sweep_from_args(args)


def _summary(args) -> int:
    from analysis.report import summary_from_args

    return summary_from_args(args)


def _report(args) -> int:
    from analysis.report import report_from_args

    return report_from_args(args)


COMMANDS = {"match": _match, "sweep": _sweep, "summary": _summary, "report": _report}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ValueError as error:
        print(f"lola-arena: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
