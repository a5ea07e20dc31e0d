"""The gate's power: deliberately wrong candidates are rejected, correct variants pass.

Each candidate runs through ``harness.verify_case``, the function behind every test of
``--candidate``. The specs cover what the mistakes need in order to show: N = 1, exact
zeros in s1, large scores, unnormalised targets, N past a blocking size of 256, and the
(64, 32, 16, 10) shape where a 1e-3 (float32) or 1e-6 (float64) scale error must show.
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from tests import harness
from tests.candidates import CORRECT, WRONG

S = harness.CaseSpec
SPECS = (
    S(5, 4, 10, 3, "float32", "labels", "mean", "random", 0),
    S(5, 4, 10, 3, "float64", "onehot", "sum", "random", 1),
    S(1, 7, 9, 5, "float32", "labels", "mean", "random", 2),
    S(1, 7, 9, 5, "float64", "soft", "sum", "random", 3),
    S(33, 17, 25, 7, "float64", "onehot", "sum", "kink", 4),
    S(33, 17, 25, 7, "float32", "labels", "mean", "kink", 5),
    S(33, 17, 25, 7, "float32", "labels", "mean", "large", 6),
    S(33, 17, 25, 7, "float64", "soft", "mean", "large", 7),
    S(6, 5, 8, 4, "float64", "unnormalised", "mean", "random", 8),
    S(300, 20, 40, 10, "float32", "soft", "mean", "random", 9),
    S(64, 32, 16, 10, "float32", "labels", "mean", "random", 10),
    S(64, 32, 16, 10, "float64", "labels", "mean", "random", 11),
)


@cache
def cases_and_refs() -> list[tuple[harness.Case, dict[str, harness.Arrays]]]:
    cases = [harness.make_case(s) for s in SPECS]
    jax = harness.jax_outputs(cases)
    return [
        (c, {"torch": harness.torch_outputs(c), "jax": j}) for c, j in zip(cases, jax, strict=True)
    ]


def run_gate(name: str) -> tuple[list[harness.Comparison], list[str], list[str]]:
    """(failed comparisons, their full messages, contract errors) over every spec."""
    module = harness.load_candidate(f"tests.candidates.{name}")
    failures: list[harness.Comparison] = []
    messages: list[str] = []
    errors: list[str] = []
    for case, refs in cases_and_refs():
        try:
            result = harness.verify_case(module, case, refs)
        except harness.CandidateError as exc:
            errors.append(str(exc))
            continue
        failures += result.failures
        messages += [harness.describe(c, result) for c in result.failures]
    return failures, messages, errors


def test_catalog_is_large_enough() -> None:
    assert len(WRONG) >= 15
    assert len(CORRECT) >= 6


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_candidate_is_rejected(name: str) -> None:
    quantities, cause = WRONG[name]
    failures, messages, errors = run_gate(name)
    assert failures or errors, f"{name} passed the gate"
    named = {c.quantity for c in failures} | {q for q in quantities for e in errors if q in e}
    assert named & set(quantities), f"{name}: failed in {named}, expected one of {quantities}"
    if cause is not None:
        text = "\n".join(messages + errors)
        assert cause in text, f"{name}: no diagnosis mentioning {cause!r} in:\n{text[:3000]}"


@pytest.mark.parametrize("name", CORRECT)
def test_correct_variant_passes(name: str) -> None:
    failures, messages, errors = run_gate(name)
    assert not errors, errors
    assert not failures, "\n".join(messages[:3])


def test_message_names_everything_a_student_needs() -> None:
    _, messages, _ = run_gate("no_relu_mask")
    text = messages[0]
    for part in ("dL/", "tests.candidates.no_relu_mask vs ", "float32", "(N, D, H, C) = (5, 4, 10, 3)",
                 "seed=0", "worst at [", "tolerance =", "error/tolerance =", "likely cause: ",
                 "is the odd one out",
        "finite differences (float64, no framework) give", ("reproduce: python -m tests.harness --candidate "
                 "tests.candidates.no_relu_mask --case 'N=5,D=4,H=10,C=3,dtype=float32")):  # fmt: skip
        assert part in text, f"{part!r} missing from:\n{text}"


def test_reproduce_command_reproduces() -> None:
    spec = str(SPECS[0])
    assert harness.main(["--candidate", "tests.candidates.sign_error", "--case", spec]) == 1
    assert harness.main(["--candidate", "manual", "--case", spec]) == 0


def test_gate_exit_status_through_pytest(tmp_path: Path) -> None:
    """The real command line: a wrong candidate makes pytest exit non-zero and the report
    says FAIL; the default candidate passes the same selection, on two workers."""
    root = Path(__file__).resolve().parent.parent
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cases", "16",
            str(root / "tests" / "test_verify.py"), "-k", "chunk0", "-x"]  # fmt: skip
    bad = subprocess.run([*args, "--candidate", "tests.candidates.forgot_mean",
                          "--report-dir", str(tmp_path)], cwd=root, capture_output=True,
                         text=True, check=False)  # fmt: skip
    assert bad.returncode == 1, bad.stdout[-2000:]
    assert "dL/ds2" in bad.stdout
    assert "**FAIL**" in (tmp_path / "verify.md").read_text()
    # The passing run goes through two xdist workers: the tallies must still reach the
    # report, and must stay out of the JUnit XML.
    out = tmp_path / "good"
    good = subprocess.run([*args, "--candidate", "manual", "-n", "2", "--report-dir", str(out),
                           f"--junitxml={out / 'verify.xml'}"], cwd=root, capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert good.returncode == 0, good.stdout[-2000:]
    assert "**PASS**" in (out / "verify.md").read_text()
    assert "| dL/dw1 | torch | float32 |" in (out / "verify.md").read_text()
    assert "<property" not in (out / "verify.xml").read_text()


def test_a_module_without_the_api_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"--candidate tests.candidates._compose: missing Params"):
        harness.load_candidate("tests.candidates._compose")
    with pytest.raises(ImportError):
        harness.load_candidate("tests.candidates.no_such_module")


def test_a_candidate_that_raises_is_rejected_with_the_step() -> None:
    """A crash is a rejection that says which call failed, not an error of the gate."""
    case, refs = cases_and_refs()[6]  # |s2| in the thousands: exp overflows
    assert case.spec.kind == "large"
    module = harness.load_candidate("tests.candidates.softmax_no_max")
    with pytest.raises(harness.CandidateError, match=r"softmax_no_max\.softmax_jacobian raised"):
        harness.verify_case(module, case, refs)
