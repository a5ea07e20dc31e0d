"""The verify report: one row per quantity × reference × dtype, as a table, Markdown and JSON.

Tests attach their tallies with ``record_property("handgrad", rows)``; user properties
travel from pytest-xdist workers to the controller, which aggregates and writes.
"""

from __future__ import annotations

import json
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Tally

PROPERTY = "handgrad"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def markdown(summary: dict[str, Any]) -> str:
    lines = [
        "# handgrad verify report",
        "",
        (
            f"candidate `{summary['candidate']}`, seed {summary['seed']}, "
            f"{summary['random_cases']} random cases + edge cases; "
            f"**{'PASS' if summary['passed'] else 'FAIL'}**"
        ),
        "",
        (
            "ratio = worst |candidate − reference| / tolerance over all cases (≤ 1 passes); "
            "rerun a worst case with `python -m tests.harness --case '<worst case>'`"
        ),
        "",
        "| quantity | reference | dtype | cases | failed | worst ratio | status | worst case |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for r in summary["rows"]:
        lines.append(
            f"| {r['quantity']} | {r['reference']} | {r['dtype']} | {r['cases']} | "
            f"{r['failed']} | {r['worst_ratio']:.3g} | {r['status']} | `{r['worst_case']}` |"
        )
    if summary["failures"]:
        lines += ["", "## Failures", ""]
        for f in summary["failures"]:
            lines += [f"### `{f['test']}`", "", "```", f["message"], "```", ""]
    env = summary["environment"]
    lines += ["", "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items())]
    return "\n".join(lines) + "\n"


class VerifyReport:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.tally = Tally()
        self.failures: list[dict[str, str]] = []
        self.started = time.time()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == PROPERTY:
                self.tally.merge(json.loads(str(value)))
        # Taken out before the JUnit writer sees them (the xunit2 schema has no per-test
        # properties; the tallies belong in verify.json), but only where the report ends:
        # an xdist worker must still send them to the controller.
        if not hasattr(self.config, "workerinput"):
            report.user_properties = [p for p in report.user_properties if p[0] != PROPERTY]
        if report.failed and report.when == "call":
            crash = getattr(report.longrepr, "reprcrash", None)
            message = str(getattr(crash, "message", report.longreprtext))
            self.failures.append({"test": report.nodeid, "message": message})

    def summary(self, exitstatus: int) -> dict[str, Any]:
        rows = self.tally.as_dicts()
        opt = self.config.getoption
        return {
            "candidate": opt("candidate"),
            "seed": opt("seed"),
            "random_cases": opt("cases"),
            "passed": exitstatus == 0 and all(r["status"] == "PASS" for r in rows),
            "seconds": round(time.time() - self.started, 1),
            "rows": rows,
            "failures": self.failures,
            "environment": {
                "python": platform.python_version(),
                "numpy": _version("numpy"),
                "torch": _version("torch"),
                "jax": _version("jax"),
                "machine": platform.machine(),
            },
        }

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int) -> None:
        if not self.tally.rows:
            return
        tr = terminalreporter
        tr.section("handgrad: worst error/tolerance per quantity × reference × dtype")
        tr.write_line(f"{'quantity':8} {'reference':9} {'dtype':8} {'cases':>7} "
                      f"{'failed':>6} {'worst ratio':>11}  status")  # fmt: skip
        for r in self.tally.as_dicts():
            tr.write_line(f"{r['quantity']:8} {r['reference']:9} {r['dtype']:8} {r['cases']:7d} "
                          f"{r['failed']:6d} {r['worst_ratio']:11.3g}  {r['status']}")  # fmt: skip
        directory = self.config.getoption("report_dir")
        if directory and not hasattr(self.config, "workerinput"):
            out = Path(directory)
            out.mkdir(parents=True, exist_ok=True)
            summary = self.summary(int(exitstatus))
            (out / "verify.json").write_text(json.dumps(summary, indent=2) + "\n")
            (out / "verify.md").write_text(markdown(summary))
            tr.write_line(f"report written to {out / 'verify.md'} and {out / 'verify.json'}")


def record(node: pytest.Item, tally: Tally) -> None:
    """Attach a test's tally to its report. (Not ``record_property``: that fixture also
    writes JUnit properties, which the xunit2 schema forbids.)"""
    node.user_properties.append((PROPERTY, json.dumps(tally.as_dicts())))
