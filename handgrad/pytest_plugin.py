"""The gate's pytest plugin: its options, its fixtures, and the report it writes.

Registered through the ``pytest11`` entry point, so any test suite with handgrad installed
gets ``--candidate``, ``--seed``, ``--cases``, ``--shard`` and ``--report-dir``, the ``candidate`` and
``handgrad_options`` fixtures, and the ``handgrad_record`` fixture that adds a test's
results to the run's report. Tallies travel from pytest-xdist workers to the controller as
user properties, and only the controller writes the report. Nothing here acts on a test
that does not use these fixtures: the frameworks are configured when ``candidate`` is first
requested, not when pytest starts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from handgrad import oracles, report
from handgrad.adapters.families import APIS
from handgrad.candidate import SCOPE_ATTRIBUTE as ATTRIBUTE
from handgrad.candidate import Candidate, load_candidate
from handgrad.engine import CaseResult, rerun_options
from handgrad.scope import AXES, L2_KEYS, RELU_AT_ZERO, Scope
from handgrad.shard import Shard
from handgrad.tally import Tally

PROPERTY = "handgrad"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("handgrad", "handgrad verification gate")
    group.addoption(
        "--candidate",
        default="manual",
        help="a module with manual's API, module:function, or file.py[:name] (default: manual)",
    )
    group.addoption("--api", default="", choices=APIS, metavar="API",
                    help=f"how the candidate is called: {', '.join(APIS)} (default: detected "
                    "from the names its module defines)")  # fmt: skip
    group.addoption("--candidate-timeout", type=float, default=None, metavar="S",
                    help="seconds a case's calls may take before it fails (default 60; "
                    "handgrad run calls it --timeout)")  # fmt: skip
    group.addoption("--path", action="append", default=[], metavar="DIR",
                    help="put DIR first on sys.path to import the candidate (repeatable)")  # fmt: skip
    group.addoption(
        "--seed",
        type=int,
        default=0,
        help="seed of every random draw; a failure prints the case's own seed",
    )
    group.addoption(
        "--cases",
        type=int,
        default=2000,
        help="number of random shape cases in the bulk run (default: 2000)",
    )
    group.addoption(
        "--shard",
        default="1/1",
        help="verify only the i-th of n disjoint slices of every list of cases, as i/n "
        "(default 1/1: all); handgrad merge joins the shards' reports",
    )
    group.addoption("--report-dir", default=None,
                    help="write verify.md and verify.json here")  # fmt: skip
    for axis, (_, values) in AXES.items():
        group.addoption(f"--{axis}", default=None,
                        help=f"declared scope: a comma list from {','.join(values)} "
                        f"(default: the candidate's {ATTRIBUTE}, else all)")  # fmt: skip
    group.addoption("--relu-at-zero", default=None, choices=tuple(RELU_AT_ZERO),
                    help="ReLU's derivative at exactly 0: 0 (as torch and JAX; default), 1 "
                    "(the right derivative) or any (any value in [0, 1])")  # fmt: skip
    group.addoption("--l2", type=float, default=None, metavar="R",
                    help="L2 regularisation strength the candidate adds (needs --l2-form)")  # fmt: skip
    group.addoption("--l2-form", default=None, choices=("full", "half"),
                    help="full: L + R·Σ‖W‖² (gradient 2R·W); half: L + ½R·Σ‖W‖² (R·W)")  # fmt: skip
    group.addoption("--l2-biases", action="store_true", default=None,
                    help="the biases are regularised too (never by default)")  # fmt: skip


SCOPE_OPTIONS = (*AXES, "relu_at_zero", *L2_KEYS)
LOADED = pytest.StashKey[Candidate]()
"""The candidate loaded (in its worker) when the options were checked, if they named it."""


@dataclass(frozen=True)
class Options:
    candidate: str
    seed: int
    cases: int
    scope: dict[str, Any]
    """The scope options as given (None: not given)."""
    shard: Shard
    path: tuple[str, ...] = ()
    timeout: float | None = None
    api: str = ""


def pytest_configure(config: pytest.Config) -> None:
    """Check the gate's options before any test runs (a bad one is a UsageError then, not
    a failure of every test), and register the report writer."""
    options = _options(config)
    try:
        Scope.check_options(**options.scope)
    except (TypeError, ValueError) as exc:
        raise pytest.UsageError(str(exc)) from exc
    for directory in options.path:
        if not Path(directory).is_dir():
            raise pytest.UsageError(f"--path {directory}: not a directory")
    if _asked_for(config):
        # The user named a candidate or its conventions: one that cannot be imported, or
        # cannot take them, stops the run here, before any test.
        try:
            loaded = load_candidate(options.candidate, options.path, options.timeout,
                                    options.api)  # fmt: skip
            Scope.of(loaded, **options.scope)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from exc
        config.stash[LOADED] = loaded  # the fixture and the report take this one
    config.pluginmanager.register(VerifyReport(config, options.shard), "handgrad-report")


def _asked_for(config: pytest.Config) -> bool:
    """Whether the command line names the candidate or any of its options (a test suite
    that merely has handgrad installed names none, and is left alone)."""
    given = ("--candidate", "--path", "--api", "--l2", "--l2-form", "--l2-biases", "--relu-at-zero",
             "--candidate-timeout", *(f"--{axis}" for axis in AXES))  # fmt: skip
    return any(a.split("=", 1)[0] in given for a in config.invocation_params.args)


def _options(config: pytest.Config) -> Options:
    cases = int(config.getoption("cases"))
    if cases < 1:
        raise pytest.UsageError(f"--cases: expected at least 1, got {cases}")
    timeout = config.getoption("candidate_timeout")
    if timeout is not None and not 0 < timeout < float("inf"):
        raise pytest.UsageError(f"--candidate-timeout: expected a positive number, got {timeout}")
    scope = {axis: config.getoption(axis) for axis in SCOPE_OPTIONS}
    return Options(str(config.getoption("candidate")), int(config.getoption("seed")), cases,
                   scope, _shard(config), tuple(config.getoption("path")),
                   config.getoption("candidate_timeout"), str(config.getoption("api")))  # fmt: skip


@pytest.fixture(scope="session")
def handgrad_options(pytestconfig: pytest.Config) -> Options:
    return _options(pytestconfig)


def _shard(config: pytest.Config) -> Shard:
    try:
        return Shard.parse(str(config.getoption("shard")))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc


@pytest.fixture(scope="session")
def candidate(handgrad_options: Options, pytestconfig: pytest.Config) -> Candidate:
    """The candidate under test; the references' frameworks are configured here."""
    try:
        loaded = pytestconfig.stash.get(LOADED, None) or load_candidate(
            handgrad_options.candidate, handgrad_options.path, handgrad_options.timeout,
            handgrad_options.api)  # fmt: skip
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc
    oracles.configure()
    return loaded


@pytest.fixture(scope="session")
def handgrad_scope(candidate: Candidate, handgrad_options: Options) -> Scope:
    """What to verify: the candidate's declared scope, overridden by the options."""
    try:
        return Scope.of(candidate, **handgrad_options.scope)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc


@pytest.fixture
def handgrad_record(
    request: pytest.FixtureRequest,
) -> Iterable[Callable[[Iterable[CaseResult]], None]]:
    """Call it with results to count them in the report; written when the test ends, even
    if it fails."""
    tally = Tally()
    yield tally.add_all
    # Not record_property: that also writes JUnit properties, which xunit2 forbids.
    request.node.user_properties.append((PROPERTY, json.dumps(tally.as_data())))


class VerifyReport:
    def _scope(self) -> tuple[Scope | None, str, Candidate | None]:
        """The run's scope, the options of its rerun commands and the candidate, for the
        report (None, "" and None if the candidate cannot be loaded)."""
        try:
            options = _options(self.config)
            loaded = self.config.stash.get(LOADED, None) or load_candidate(
                options.candidate, options.path, options.timeout, options.api)  # fmt: skip
            scope = Scope.of(loaded, **options.scope)
        except (ValueError, pytest.UsageError):
            return None, "", None
        return scope, rerun_options(loaded, scope.relu_at_zero, scope.l2), loaded

    def _selection(self) -> str:
        """Which tests ran, as pytest's -m and -k: shards of one run must agree on it."""
        chosen = (("-m", self.config.option.markexpr), ("-k", self.config.option.keyword))
        return " ".join(f"{flag} {value!r}" for flag, value in chosen if value)

    def __init__(self, config: pytest.Config, shard: Shard) -> None:
        self.config = config
        self.shard = shard
        self.tally = Tally()
        self.failures: list[dict[str, str]] = []
        self.started = time.time()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == PROPERTY:
                self.tally.merge(json.loads(str(value)))
        # Taken out before the JUnit writer sees them, but only where the report ends: an
        # xdist worker must still send them to the controller.
        if not hasattr(self.config, "workerinput"):
            report.user_properties = [p for p in report.user_properties if p[0] != PROPERTY]
        if report.failed:  # a failed test, or an error in its setup or teardown
            crash = getattr(report.longrepr, "reprcrash", None)
            message = str(getattr(crash, "message", report.longreprtext))
            if report.when != "call":
                message = f"error in {report.when}: {message}"
            # One entry per test: a failed call and an error in its teardown are one failure.
            same = [f for f in self.failures if f["test"] == report.nodeid]
            if same:
                same[0]["message"] += f"\n{message}"
            else:
                self.failures.append({"test": report.nodeid, "message": message})

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int) -> None:
        tr = terminalreporter
        if self.tally.rows:
            tr.section("handgrad: worst error/tolerance per quantity × reference × dtype")
            tr.write_line(f"{'quantity':10} {'reference':9} {'dtype':8} {'cases':>7} "
                          f"{'failed':>6} {'worst ratio':>11}  status")  # fmt: skip
            for r in self.tally.as_dicts():
                tr.write_line(f"{r['quantity']:10} {r['reference']:9} {r['dtype']:8} "
                              f"{r['cases']:7d} {r['failed']:6d} {r['worst_ratio']:11.3g}  "
                              f"{r['status']}")  # fmt: skip
        directory = self.config.getoption("report_dir")
        # Written even when no case was verified (a fixture that raised): the report says so.
        if directory and not hasattr(self.config, "workerinput"):
            opt = self.config.getoption
            scope, options, loaded = self._scope()
            s = report.summary(self.tally, str(opt("candidate")), int(opt("seed")),
                               int(opt("cases")), int(exitstatus) == 0,
                               time.time() - self.started, self.failures,
                               scope, [str(self.shard)], self._selection(),
                               options=options, api=loaded.api if loaded else "",
                               names=loaded.names if loaded else (),
                               notes=loaded.notes if loaded else ())  # fmt: skip
            paths = report.write(Path(directory), s)
            tr.write_line(f"report written to {' and '.join(map(str, paths))}")
