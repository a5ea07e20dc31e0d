"""The command line: ``python -m handgrad`` (or ``handgrad``) with two verbs.

    handgrad check --candidate my_backprop --case 'N=5,D=4,H=10,C=3,dtype=float32,...'
    handgrad run --candidate my_backprop --cases 2000 --seed 0 --report-dir reports

    handgrad merge shard-*/ --report-dir reports

``check`` verifies one case and prints every comparison, then each failure in full; it is
the command every failure message gives for rerunning its case. ``run`` verifies random
and edge cases in batches, prints the first failures and writes the report. ``merge``
joins the reports of a run split with ``--shard i/n`` into the whole run's verify.json,
verify.md and verify.xml. Each exits 0 when everything passes, 1 on any mismatch, 2 on a
usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from handgrad import merge, messages, oracles, report
from handgrad.api import verify
from handgrad.candidate import load_candidate
from handgrad.cases import CaseSpec, make_case
from handgrad.engine import verify_case
from handgrad.scope import AXES, RELU_AT_ZERO, Scope


def _check(args: argparse.Namespace) -> int:
    relu = Scope.of(args.module, relu_at_zero=args.relu_at_zero).relu_at_zero
    result = verify_case(args.module, make_case(args.case), relu)
    for (q, ref), ratio in result.ratios.items():
        print(f"{q:10} {ref:9} ratio {ratio:9.3g}  {'ok' if ratio <= 1 else 'FAIL'}")
    if result.passed:
        return 0
    print()
    print(messages.summary([result], shown=None))
    return 1


def _run(args: argparse.Namespace) -> int:
    started = time.time()
    scope = args.scope
    outcome = verify(args.module, cases=args.cases, seed=args.seed, edge=not args.no_edge,
                     scope=scope)  # fmt: skip
    text = messages.summary(outcome.results)
    print(scope.describe())
    print(text or f"all {len(outcome.results)} cases passed")
    if args.report_dir is not None:
        failures = [{"test": "handgrad run", "message": text}] if text else []
        s = report.summary(outcome.tally, args.candidate, args.seed, args.cases, not text,
                           time.time() - started, failures, scope,
                           selection="handgrad run" + (" --no-edge" if args.no_edge else ""))  # fmt: skip
        for path in report.write(args.report_dir, s):
            print(f"report written to {path}")
    return 0 if not text else 1


def _merge(args: argparse.Namespace) -> int:
    try:
        s = merge.merge(merge.load(args.reports))
    except ValueError as exc:
        print(f"handgrad merge: {exc}", file=sys.stderr)
        return 2
    paths = report.write(args.report_dir, s)
    paths.append(args.report_dir / "verify.xml")
    paths[-1].write_text(report.junit(s))
    verdict = "passed" if s["passed"] else "FAILED"
    print(f"{len(s['shards'])} shards, {s['cases']} cases: {verdict}")
    for path in paths:
        print(f"report written to {path}")
    return 0 if s["passed"] else 1


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="handgrad", description=__doc__.split("\n\n")[0])
    verbs = top.add_subparsers(dest="verb", required=True)
    check = verbs.add_parser("check", help="verify one case and print every comparison")
    check.add_argument("--candidate", default="manual", help="module exposing manual's API")
    check.add_argument("--case", required=True, type=CaseSpec.parse,
                       help="a case, as printed by a failure: 'N=5,D=4,H=10,C=3,...'")  # fmt: skip
    relu = {"default": None, "choices": tuple(RELU_AT_ZERO),
            "help": "ReLU's derivative at exactly 0: 0 (default), 1 or any"}  # fmt: skip
    check.add_argument("--relu-at-zero", **relu)  # type: ignore[arg-type]
    run = verbs.add_parser("run", help="verify random and edge cases, write the report")
    run.add_argument("--relu-at-zero", **relu)  # type: ignore[arg-type]
    run.add_argument("--candidate", default="manual", help="module exposing manual's API")
    run.add_argument("--cases", type=int, default=2000, help="random cases (default 2000)")
    run.add_argument("--seed", type=int, default=0, help="seed of every draw (default 0)")
    run.add_argument("--no-edge", action="store_true", help="leave out the named edge cases")
    run.add_argument("--report-dir", type=Path, default=None, help="write verify.md/.json here")
    for axis, (_, values) in AXES.items():
        run.add_argument(f"--{axis}", default=None,
                         help=f"declared scope: a comma list from {','.join(values)}")  # fmt: skip
    join = verbs.add_parser("merge", help="join the reports of --shard i/n runs into one")
    join.add_argument("reports", nargs="+", type=Path,
                      help="the shards' verify.json files, or directories holding them")  # fmt: skip
    join.add_argument("--report-dir", type=Path, default=Path("reports"),
                      help="write verify.md/.json/.xml here (default: reports)")  # fmt: skip
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.verb == "merge":
        return _merge(args)  # no candidate and no framework: only the reports
    try:
        args.module = load_candidate(args.candidate)
        if args.verb == "run":
            options = {axis: getattr(args, axis) for axis in (*AXES, "relu_at_zero")}
            args.scope = Scope.of(args.module, **options)
    except (ImportError, TypeError, ValueError) as exc:
        # A message, not a traceback: the user's module failed to import or lacks the API.
        print(f"handgrad {args.verb}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    oracles.configure()
    return _check(args) if args.verb == "check" else _run(args)
