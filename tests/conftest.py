"""Command-line options of the gate and the fixtures that carry them to the tests."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import pytest

from tests import harness
from tests.report import VerifyReport


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("handgrad", "handgrad verification gate")
    group.addoption(
        "--candidate",
        default="manual",
        help="importable module exposing manual's API (default: manual)",
    )
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
        "--slow",
        action="store_true",
        default=False,
        help="also run the slow statistical tests (nox -s verify passes this)",
    )
    group.addoption("--report-dir", default=None,
                    help="write verify.md and verify.json here")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(VerifyReport(config), "handgrad-report")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("slow"):
        return
    skip = pytest.mark.skip(reason="slow: run by `nox -s verify`, or pass --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@dataclass(frozen=True)
class Options:
    candidate: str
    seed: int
    cases: int


@pytest.fixture(scope="session")
def options(pytestconfig: pytest.Config) -> Options:
    cases = int(pytestconfig.getoption("cases"))
    if cases < 1:
        raise pytest.UsageError(f"--cases: expected at least 1, got {cases}")
    return Options(str(pytestconfig.getoption("candidate")),
                   int(pytestconfig.getoption("seed")), cases)  # fmt: skip


@pytest.fixture(scope="session")
def candidate(options: Options) -> ModuleType:
    try:
        return harness.load_candidate(options.candidate)
    except (ImportError, TypeError) as exc:
        raise pytest.UsageError(f"--candidate {options.candidate}: {exc}") from exc
