"""The gate as a package: what ``pip install`` gives, used the way a newcomer would."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import handgrad
from handgrad import cli

ROOT = Path(__file__).resolve().parent.parent


def test_verify_passes_manual_and_fails_a_wrong_candidate() -> None:
    good = handgrad.verify("manual", cases=24, seed=3, edge=False)
    assert good.passed
    assert len(good.results) == 24
    assert good.tally.passed
    bad = handgrad.verify("tests.candidates.sign_error", cases=24, seed=3, edge=False)
    assert not bad.passed
    assert "likely cause: candidate ≈ −reference: a sign error" in handgrad.summary(bad.results)


def test_verify_refuses_to_verify_nothing() -> None:
    with pytest.raises(ValueError, match="cases: expected at least 1 case"):
        handgrad.verify("manual", cases=0, edge=False)


def test_the_run_verb_writes_the_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "--cases", "16", "--no-edge", "--report-dir", str(tmp_path)]
    assert cli.main([*args, "--candidate", "manual"]) == 0
    assert "all 16 cases passed" in capsys.readouterr().out
    report = json.loads((tmp_path / "verify.json").read_text())
    assert report["passed"]
    assert cli.main([*args, "--candidate", "tests.candidates.forgot_mean"]) == 1
    out = capsys.readouterr().out
    assert "the 1/N of reduction='mean' is missing" in out
    assert "**FAIL**" in (tmp_path / "verify.md").read_text()


def _pytest_in(directory: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """pytest on ``directory``'s test_mine.py, in a fresh process, reports in reports/."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options,
         "--report-dir", str(directory / "reports"), "test_mine.py"],
        cwd=directory, capture_output=True, text=True, check=False,
    )  # fmt: skip


def test_the_plugin_is_registered_for_any_test_suite(tmp_path: Path) -> None:
    """Outside this repository (no pyproject, no conftest): the entry point alone gives a
    test the gate's options and fixtures."""
    (tmp_path / "test_mine.py").write_text(
        "from handgrad import cases, engine\n\n"
        "def test_my_backprop(candidate, handgrad_options, handgrad_record):\n"
        "    specs = cases.random_specs(handgrad_options.seed, handgrad_options.cases)\n"
        "    results = list(engine.verify_many(candidate, specs))\n"
        "    handgrad_record(results)\n"
        "    assert all(r.passed for r in results)\n"
    )
    run = _pytest_in(tmp_path, "--candidate", "manual", "--cases", "8")
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "| dL/dw1 | torch |" in (tmp_path / "reports" / "verify.md").read_text()


def test_an_error_before_any_case_still_writes_the_report(tmp_path: Path) -> None:
    """A fixture that raises before any case is verified: the report is still written,
    says that no case was verified, and lists the error with its test."""
    (tmp_path / "test_mine.py").write_text(
        "import pytest\n\n"
        "@pytest.fixture\n"
        "def broken(candidate):\n"
        "    raise RuntimeError('the fixture broke')\n\n"
        "def test_my_backprop(broken, handgrad_record):\n"
        "    pass\n"
    )
    run = _pytest_in(tmp_path)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    data = json.loads((tmp_path / "reports" / "verify.json").read_text())
    assert data["cases"] == 0
    assert not data["passed"]
    (failure,) = data["failures"]
    assert failure["test"] == "test_mine.py::test_my_backprop"
    assert failure["message"].startswith("error in setup: ")
    assert "the fixture broke" in failure["message"]
    assert "no case was verified" in (tmp_path / "reports" / "verify.md").read_text()


def test_the_wheel_ships_the_gate(tmp_path: Path) -> None:
    """The wheel holds handgrad with manual and references, its command line and its
    pytest plugin."""
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = tmp_path.glob("handgrad-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("handgrad/engine.py", "handgrad/pytest_plugin.py", "handgrad/cli.py",
                   "manual/network.py", "references/torch_ref.py"):  # fmt: skip
        assert module in names
    assert not [n for n in names if n.startswith("tests/")]
    (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "handgrad = handgrad.cli:main" in text
    assert "handgrad = handgrad.pytest_plugin" in text


def test_the_report_shows_the_failure_pattern(tmp_path: Path) -> None:
    """p − y for every target form fails only on unnormalised targets: the report breaks
    the failures down and says so in one line."""
    args = ["run", "--candidate", "tests.candidates.p_minus_y_always", "--cases", "60",
            "--no-edge", "--report-dir", str(tmp_path)]  # fmt: skip
    assert cli.main(args) == 1
    report = json.loads((tmp_path / "verify.json").read_text())
    failing = report["pattern"]["target"]["unnormalised"][1]
    assert failing > 0
    assert (
        report["only_when"] == f"every one of the {failing} failing cases has target = unnormalised"
    )
    text = (tmp_path / "verify.md").read_text()
    assert "## Failure pattern" in text
    assert (
        f"| target | unnormalised | {report['pattern']['target']['unnormalised'][0]} | {failing} |"
        in text
    )
