"""The gate's power: deliberately wrong candidates are rejected, correct variants pass.

Each candidate runs through ``handgrad.engine.verify_cases``, the batched path behind every
test of ``--candidate``. The specs cover what the mistakes need in order to show: N = 1,
exact zeros in s1, large scores, unnormalised targets, N past a blocking size of 256, and
the (64, 32, 16, 10) shape where a 1e-3 (float32) or 1e-6 (float64) scale error must show.
"""

from __future__ import annotations

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from handgrad import cli, messages
from handgrad.candidate import Candidate, LoadError, load_candidate
from handgrad.cases import CaseSpec, make_case
from handgrad.compare import Comparison
from handgrad.engine import CaseResult, verify_cases, verify_many
from handgrad.scope import Scope
from tests.candidates import CORRECT, WRONG

S = CaseSpec
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
def load(name: str) -> Candidate:
    """Catalog entry ``name``, loaded once per test process (each load starts a worker)."""
    return load_candidate(f"tests.candidates.{name}")


@cache
def run_gate(name: str) -> tuple[list[CaseResult], list[Comparison], str]:
    """(results, failed comparisons, every message) over every spec."""
    module = load(name)
    declared = Scope.of(module)  # its conventions (ReLU at 0, L2); every target and reduction
    results = verify_cases(module, [make_case(s) for s in SPECS], declared.relu_at_zero,
                           declared.l2)  # fmt: skip
    ranked = messages.rank(results)
    text = "\n".join(messages.describe(c, r) for r, c in ranked)
    return results, [c for _, c in ranked if c is not None], text


def test_catalog_is_large_enough() -> None:
    assert len(WRONG) >= 30
    assert len(CORRECT) >= 8


def modified_inputs(error: str) -> set[str]:
    """The inputs a "modified its input(s) x, fwd.p (...)" error names, as x and p."""
    if "modified its input(s) " not in error:
        return set()
    listed = error.split("modified its input(s) ", 1)[1].split(" (", 1)[0]
    return {name.removeprefix("fwd.") for name in listed.split(", ")}


@pytest.mark.parametrize("name", sorted(WRONG))
def test_wrong_candidate_is_rejected(name: str) -> None:
    """Rejected, in the right quantity, and with the right cause: the cause is looked for in
    the diagnoses and contract errors only, not in the whole message (whose case line
    holds words like "dtype" and "kink" whatever the diagnosis says)."""
    quantities, cause = WRONG[name]
    results, failures, text = run_gate(name)
    errors = [r.error for r in results if r.error]
    assert failures or errors, f"{name} passed the gate"
    named = {c.quantity for c in failures} | {q for e in errors for q in modified_inputs(e)}
    named |= {m.group(1) for e in errors if (m := re.search(r"\.(\w+) raised ", e))}
    assert named & set(quantities), f"{name}: failed in {named}, expected one of {quantities}"
    if cause is not None:
        causes = [c.cause for c in failures] + errors
        assert any(cause in c for c in causes), f"{name}: no cause with {cause!r}:\n{text[:3000]}"


@pytest.mark.parametrize("name", CORRECT)
def test_correct_variant_passes(name: str) -> None:
    results, _, _ = run_gate(name)
    failure = messages.summary(results)
    assert not failure, failure


def test_message_names_everything_a_student_needs() -> None:
    results, _, _ = run_gate("no_relu_mask")
    text = messages.summary(results)
    for part in ("dL/ds1 mismatch", "tests.candidates.no_relu_mask vs torch", "float32",
                 "(N, D, H, C) = (1, 7, 9, 5)", "seed=2", "worst at [", "tolerance =",
                 "error/tolerance =", "likely cause: ", "is the odd one out",
                 "finite differences (float64, no framework) give",
                 ("reproduce: python -m handgrad check --candidate tests.candidates.no_relu_mask "
                  "--case 'N=1,D=7,H=9,C=5,dtype=float32")):  # fmt: skip
        assert part in text, f"{part!r} missing from:\n{text}"


def test_failures_are_ranked_smallest_case_and_upstream_first() -> None:
    """no_relu_mask is wrong in dL/ds1 and everything below it: the first message is about
    dL/ds1 (the root) in the smallest failing case, not about a downstream gradient, and it
    names the downstream failures as such."""
    results, _, _ = run_gate("no_relu_mask")
    ranked = messages.rank(results)
    first_result, first = ranked[0]
    assert first is not None
    assert first.quantity == "dL/ds1"
    assert first_result.spec.size == min(r.spec.size for r in results if not r.passed)
    assert ("also failing in this case, downstream of dL/ds1 in the derivation: dL/dx, "
            "dL/dw1, dL/db1") in messages.describe(first, first_result)  # fmt: skip
    # A wrong forward pass (softmax without the maximum) leads with p, not with the loss
    # that the registry used to list first.
    results, _, _ = run_gate("softmax_no_max")
    firsts = [c for _, c in messages.rank(results) if c is not None]
    assert firsts[0].quantity == "p"


def test_reproduce_command_reproduces(capsys: pytest.CaptureFixture[str]) -> None:
    spec = str(SPECS[0])
    assert cli.main(["check", "--candidate", "tests.candidates.sign_error", "--case", spec]) == 1
    assert "likely cause: candidate ≈ −reference: a sign error" in capsys.readouterr().out
    assert cli.main(["check", "--candidate", "manual", "--case", spec]) == 0


def test_the_command_line_refuses_a_module_without_the_api(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = str(SPECS[0])
    assert cli.main(["check", "--candidate", "tests.candidates._compose", "--case", spec]) == 2
    err = capsys.readouterr().err
    assert err.startswith("handgrad check: --candidate tests.candidates._compose: missing Params")
    assert err.count("\n") == 1, err  # one line, no traceback


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
    with pytest.raises(LoadError, match=r"--candidate tests.candidates._compose: missing Params"):
        load_candidate("tests.candidates._compose")
    with pytest.raises(LoadError, match=r"cannot import 'tests.candidates.no_such_module'"):
        load_candidate("tests.candidates.no_such_module")


def test_a_candidate_that_raises_is_rejected_with_the_step() -> None:
    """A crash is a rejection that says which call failed, not an error of the gate."""
    results, _, text = run_gate("softmax_no_max")
    large = [r for r in results if r.spec.kind == "large" and r.spec.dtype == "float32"]
    assert large
    assert large[0].error
    assert "softmax_no_max.softmax_jacobian raised" in large[0].error
    assert "contract broken: tests.candidates.softmax_no_max.softmax_jacobian raised" in text
    # What it returned before raising is still compared: its p is NaN from overflow.
    p = [c for c in large[0].failures if c.quantity == "p"]
    assert p
    assert "exp overflowed; subtract each row's maximum" in p[0].cause
    assert ("dp/ds2", "torch") not in large[
        0
    ].ratios  # never returned: neither compared nor counted


def test_the_first_message_names_the_right_cause_or_none() -> None:
    """Cause accuracy over the catalog, judged on the first message a user reads: every
    entry with an expected cause gets it there, and an entry without a recognisable pattern
    gets no cause at all. A wrong cause would be worse than none."""
    verdicts: dict[str, list[str]] = {"right": [], "empty": [], "wrong": []}
    for name, (_, cause) in sorted(WRONG.items()):
        results, _, _ = run_gate(name)
        result, first = messages.rank(results)[0]
        said = result.error if first is None else first.cause
        if cause is None:
            verdicts["empty" if not said else "wrong"].append(name)
        else:
            verdicts["right" if cause in said else "empty" if not said else "wrong"].append(name)
    expected_none = [n for n, (_, cause) in WRONG.items() if cause is None]
    assert verdicts["wrong"] == []
    assert sorted(verdicts["empty"]) == sorted(expected_none)
    assert len(verdicts["right"]) == len(WRONG) - len(expected_none)


SCOPES = (
    {"targets": "labels", "reductions": "mean"},
    {"dtypes": "float32", "targets": "soft,unnormalised"},
    {"dtypes": "float64", "reductions": "sum"},
    {"relu_at_zero": "any"},
)


@pytest.mark.parametrize(
    "options", SCOPES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
@pytest.mark.parametrize("name", CORRECT)
def test_correct_variant_passes_under_every_scope(name: str, options: dict[str, str]) -> None:
    """Declaring a narrower scope or a looser ReLU convention never fails a correct
    implementation: 40 random cases and every edge case inside each scope (with the
    candidate's own declared L2, if any)."""
    module = load(name)
    scope = Scope.of(module, **options)
    specs = scope.random_specs(30, 40) + scope.edge_specs(30)
    failure = messages.summary(list(verify_many(module, specs, scope.relu_at_zero, scope.l2)))
    assert not failure, failure
