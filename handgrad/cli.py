"""The command line: ``python -m handgrad`` (or ``handgrad``) with two verbs.

    handgrad check --candidate my_backprop --case 'N=5,D=4,H=10,C=3,dtype=float32,...'
    handgrad run --candidate my_backprop --cases 2000 --seed 0 --report-dir reports

    handgrad merge shard-*/ --report-dir reports
    handgrad grade submissions/* --candidate cs231n.layers --report-dir grades

``check`` verifies one case and prints every comparison, then each failure in full; it is
the command every failure message gives for rerunning its case. ``run`` verifies random
and edge cases in batches, prints the first failures and writes the report. ``merge``
joins the reports of a run split with ``--shard i/n`` into the whole run's verify.json,
verify.md and verify.xml. ``grade`` runs ``run`` on each submission directory, in
processes of their own, and writes a summary (:mod:`handgrad.grade`). Each exits 0 when
everything passes, 1 on any mismatch, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from handgrad import grade, merge, messages, oracles, report
from handgrad.adapters.families import APIS
from handgrad.api import verify
from handgrad.candidate import load_candidate
from handgrad.cases import CaseSpec, make_case
from handgrad.engine import rerun_options, verify_case
from handgrad.scope import AXES, RELU_AT_ZERO, Scope


def _check(args: argparse.Namespace) -> int:
    scope = args.scope
    result = verify_case(args.module, make_case(args.case), scope.relu_at_zero, scope.l2)
    for (q, ref), ratio in result.ratios.items():
        print(f"{q:10} {ref:9} ratio {ratio:9.3g}  {'ok' if ratio <= 1 else 'FAIL'}")
    for note in dict.fromkeys([*args.module.notes, *result.notes]):
        print(f"note: {note}")
    if result.passed:
        return 0
    print()
    print(messages.summary([result], shown=None))
    return 1


def _run(args: argparse.Namespace) -> int:
    started = time.time()
    scope = args.scope
    outcome = verify(args.module, cases=args.cases, seed=args.seed, edge=not args.no_edge,
                     scope=scope, progress=True)  # fmt: skip
    text = messages.summary(outcome.results)
    print(scope.describe())
    print(outcome.tally.verdict_line())
    for note in dict.fromkeys([*args.module.notes, *outcome.tally.notes]):
        print(f"note: {note}")
    print(text or f"all {len(outcome.results)} cases passed")
    if args.report_dir is not None:
        failures = [{"test": "handgrad run", "message": text}] if text else []
        s = report.summary(outcome.tally, args.module.name, args.seed, args.cases, not text,
                           time.time() - started, failures, scope,
                           selection="handgrad run" + (" --no-edge" if args.no_edge else ""),
                           options=rerun_options(args.module, scope.relu_at_zero, scope.l2),
                           api=args.module.api, names=args.module.names,
                           notes=args.module.notes)  # fmt: skip
        for path in report.write(args.report_dir, s):
            print(f"report written to {path}")
    return 0 if not text else 1


def _grade(args: argparse.Namespace) -> int:
    missing = [d for d in args.submissions if not d.is_dir()]
    try:
        if missing:
            raise ValueError(f"{missing[0]}: not a directory")
        if args.cases == 0 and args.no_edge:
            raise ValueError("--cases 0 with --no-edge leaves no case to verify")
        args.report_dir = args.report_dir.resolve()
        writable(args.report_dir)
        options = {axis: getattr(args, axis, None) for axis in (*AXES, "relu_at_zero")}
        Scope.check_options(**options, l2=args.l2, l2_form=args.l2_form, l2_biases=args.l2_biases)
    except ValueError as exc:
        print(f"handgrad grade: {exc}", file=sys.stderr)
        return 2
    forwarded = [
        "--candidate",
        args.candidate,
        "--cases",
        str(args.cases),
        "--seed",
        str(args.seed),
    ]
    given = {"--api": args.api, "--timeout": args.timeout, "--relu-at-zero": args.relu_at_zero,
             "--l2": args.l2, "--l2-form": args.l2_form,
             **{f"--{axis}": getattr(args, axis) for axis in AXES}}  # fmt: skip
    forwarded += [x for option, value in given.items() if value for x in (option, f"{value}")]
    forwarded += [x for p in args.path for x in ("--path", str(Path(p).resolve()))]
    forwarded += ["--l2-biases"] * bool(args.l2_biases) + ["--no-edge"] * args.no_edge
    rows = grade.grade(args.submissions, forwarded, args.report_dir, args.jobs)
    print(grade.markdown(rows), end="")
    for path in grade.write(args.report_dir, rows):
        print(f"summary written to {path}")
    return 0 if all(r.verdict == "passed" for r in rows) else 1


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


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: "handgrad run: --cases: expected …", exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def _at_least(low: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected an integer of at least {low}, got {value}")
        return value

    return parse


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _positive(text: str) -> float:
    value = _number(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _case(text: str) -> CaseSpec:
    try:
        return CaseSpec.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--case: ")) from None


def _candidate_options(verb: argparse.ArgumentParser, required: bool = False) -> None:
    """What names the candidate and its declared conventions: every verb but merge."""
    verb.add_argument("--candidate", default=None if required else "manual", required=required,
                      help="a module with manual's API, module:function, or file.py[:name]; "
                      "with --api, module:Class names a family's class")  # fmt: skip
    verb.add_argument("--api", default="", choices=APIS, metavar="API",
                      help=f"how the candidate is called: {', '.join(APIS)} (default: "
                      "detected from the names its module defines)")  # fmt: skip
    verb.add_argument("--path", action="append", default=[], metavar="DIR",
                      help="put DIR first on sys.path to import the candidate (repeatable)")  # fmt: skip
    verb.add_argument("--timeout", type=_positive, default=None, metavar="S",
                      help="seconds a case's calls may take before it fails (default 60)")  # fmt: skip
    verb.add_argument("--relu-at-zero", default=None, choices=tuple(RELU_AT_ZERO),
                      help="ReLU's derivative at exactly 0: 0 (default), 1 or any")  # fmt: skip
    verb.add_argument("--l2", type=_number, default=None, metavar="R",
                      help="L2 regularisation strength the candidate adds (needs --l2-form)")  # fmt: skip
    verb.add_argument("--l2-form", default=None, choices=("full", "half"),
                      help="full: L + R·Σ‖W‖² (gradient 2R·W); half: L + ½R·Σ‖W‖² (R·W)")  # fmt: skip
    verb.add_argument("--l2-biases", action="store_true", default=None,
                      help="the biases are regularised too (never by default)")  # fmt: skip


def _run_options(verb: argparse.ArgumentParser) -> None:
    """What ``run`` and ``grade`` verify: how many cases, from which seed, in which scope."""
    verb.add_argument("--cases", type=_at_least(0), default=2000,
                      help="random cases (default 2000)")  # fmt: skip
    verb.add_argument("--seed", type=_at_least(0), default=0,
                      help="seed of every draw (default 0)")  # fmt: skip
    verb.add_argument("--no-edge", action="store_true", help="leave out the named edge cases")
    for axis, (_, values) in AXES.items():
        verb.add_argument(f"--{axis}", default=None,
                          help=f"declared scope: a comma list from {','.join(values)}")  # fmt: skip


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="handgrad", description=__doc__.split("\n\n")[0])
    verbs = top.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    check = verbs.add_parser("check", help="verify one case and print every comparison")
    _candidate_options(check)
    check.add_argument("--case", required=True, type=_case,
                       help="a case, as printed by a failure: 'N=5,D=4,H=10,C=3,...'")  # fmt: skip
    run = verbs.add_parser("run", help="verify random and edge cases, write the report")
    _candidate_options(run)
    _run_options(run)
    run.add_argument("--report-dir", type=Path, default=None, help="write verify.md/.json here")
    marks = verbs.add_parser("grade", help="verify one submission per directory, and summarise")
    marks.add_argument("submissions", nargs="+", type=Path, metavar="DIR",
                       help="a submission's directory: put first on --path, and the "
                       "working directory of its run (a relative file.py is found there)")  # fmt: skip
    _candidate_options(marks, required=True)  # manual in every directory would pass them all
    _run_options(marks)
    marks.add_argument("--jobs", type=_at_least(1), default=None,
                       help="submissions verified at once (default: one per core)")  # fmt: skip
    marks.add_argument("--report-dir", type=Path, default=Path("grades"),
                       help="each report in DIR/<submission>/, the summary in summary.md and "
                       "summary.csv (default: grades)")  # fmt: skip
    join = verbs.add_parser("merge", help="join the reports of --shard i/n runs into one")
    join.add_argument("reports", nargs="+", type=Path,
                      help="the shards' verify.json files, or directories holding them")  # fmt: skip
    join.add_argument("--report-dir", type=Path, default=Path("reports"),
                      help="write verify.md/.json/.xml here (default: reports)")  # fmt: skip
    return top


def writable(directory: Path) -> None:
    """A ValueError unless ``directory`` can be made and written: found before the run, not
    after it, so that no run's results are lost to a bad --report-dir."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".handgrad-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"--report-dir {directory}: cannot write there ({exc.strerror})") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.verb == "merge":
        return _merge(args)  # no candidate and no framework: only the reports
    if args.verb == "grade":
        return _grade(args)  # the submissions shared among a few gate processes
    try:
        if args.verb == "run" and args.report_dir is not None:
            args.report_dir = args.report_dir.resolve()  # where asked, whatever the cwd later
            writable(args.report_dir)
        options = {axis: getattr(args, axis, None) for axis in (*AXES, "relu_at_zero")}
        options |= {"l2": args.l2, "l2_form": args.l2_form, "l2_biases": args.l2_biases}
        Scope.check_options(**options)
        args.module = load_candidate(args.candidate, args.path, args.timeout, args.api)
        args.scope = Scope.of(args.module, **options)
    except ValueError as exc:
        # One line, not a traceback: the user's module failed to import or lacks the API,
        # or an option is wrong.
        print(f"handgrad {args.verb}: {exc}", file=sys.stderr)
        return 2
    oracles.configure()
    return _check(args) if args.verb == "check" else _run(args)
