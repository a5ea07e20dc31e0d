"""Declared scope: the gate verifies what a candidate claims to support, and says so."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import handgrad
from handgrad import cases, cli, messages
from handgrad.candidate import load_candidate
from handgrad.cases import DTYPES, random_specs
from handgrad.engine import verify_many
from handgrad.scope import Scope

ROOT = Path(__file__).resolve().parent.parent
COURSEWORK = "tests.candidates.coursework_labels_mean"
SCOPES = [
    Scope(),
    Scope(targets=("labels",), reductions=("mean",)),
    Scope(dtypes=("float32",), targets=("soft", "unnormalised")),
    Scope(dtypes=("float64",), reductions=("sum",)),
]


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.as_options() or "full")
def test_every_source_of_cases_stays_inside_the_scope(scope: Scope) -> None:
    random = scope.random_specs(0, 400)
    edge = scope.edge_specs(0)
    one_dtype = scope.random_specs(1, 200, dtype=scope.dtypes[0])
    for specs in (random, edge, one_dtype):
        assert specs
        assert all(scope.contains(s) for s in specs)
    # ... and covers it: every declared value is drawn.
    for axis, field in (("dtypes", "dtype"), ("targets", "target"), ("reductions", "reduction")):
        assert {getattr(s, field) for s in random} == set(getattr(scope, axis))


def test_the_full_scope_draws_the_same_cases_as_no_scope() -> None:
    from handgrad.cases import edge_specs, random_specs

    assert Scope().random_specs(5, 300) == random_specs(5, 300)
    assert Scope().edge_specs(2) == edge_specs(2)


def test_bad_scope_options_name_the_option() -> None:
    with pytest.raises(ValueError, match=r"^--targets: expected a comma list from labels"):
        Scope.parse(targets="labels,hot")
    with pytest.raises(ValueError, match=r"^--dtypes: .* got nothing"):
        Scope.parse(dtypes=" , ")
    assert Scope.parse(reductions="sum,mean").reductions == ("mean", "sum")


def test_a_candidate_declares_its_scope_and_options_override_it() -> None:
    module = load_candidate(COURSEWORK)
    declared = Scope.of(module)
    assert declared == Scope(targets=("labels",), reductions=("mean",))
    assert Scope.of(module, targets="labels,onehot").targets == ("labels", "onehot")
    assert Scope.of(load_candidate("manual")).full


def test_the_statement_says_what_was_not_verified() -> None:
    text = Scope(targets=("labels",), reductions=("mean",)).describe()
    assert text.startswith("Verified: dtypes float32, float64; targets labels; reductions mean.")
    assert "Not verified (outside the declared scope): targets onehot, soft, unnormalised; " \
        "reductions sum." in text  # fmt: skip
    assert Scope().describe().startswith("Verified: the full contract")


def test_a_labels_only_candidate_passes_its_scope_and_fails_beyond_it() -> None:
    """Correct within its declared scope; verified against the full contract it fails, and
    the message names the option that declares the scope it supports."""
    inside = handgrad.verify(COURSEWORK, cases=200, seed=4)
    assert inside.passed, handgrad.summary(inside.results)
    assert inside.scope.targets == ("labels",)
    assert {r.spec.target for r in inside.results} == {"labels"}
    beyond = handgrad.verify(COURSEWORK, cases=200, seed=4, scope=Scope(targets=("labels",)))
    assert not beyond.passed
    text = messages.summary(beyond.results)
    assert "every failing case has reduction=sum, and every case with another reduction " \
        "passed" in text  # fmt: skip
    assert "--reductions mean" in text
    # Without its declared targets it fails (it indexes with float targets), and the message
    # names the option that declares labels only.
    full = Scope(targets=cases.TARGETS, reductions=("mean",))
    without = handgrad.verify(COURSEWORK, cases=200, seed=4, scope=full)
    assert not without.passed
    text = messages.summary(without.results)
    assert "every failing case has target=onehot or target=soft or target=unnormalised" in text
    assert "--targets labels" in text


def test_the_command_line_and_the_report_state_the_scope(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", "--candidate", COURSEWORK, "--cases", "40", "--report-dir", str(tmp_path)]
    assert cli.main(args) == 0
    assert "Not verified (outside the declared scope): targets onehot" in capsys.readouterr().out
    report = json.loads((tmp_path / "verify.json").read_text())
    assert report["scope"] == {"dtypes": list(DTYPES), "targets": ["labels"],
                               "reductions": ["mean"], "relu_at_zero": "0",
                               "l2": {"strength": 0.0, "form": "", "biases": False}}  # fmt: skip
    assert "Not verified" in "\n".join((tmp_path / "verify.md").read_text().splitlines()[:8])
    assert cli.main([*args, "--reductions", "mean,sum"]) == 1
    assert "--reductions mean" in capsys.readouterr().out
    assert cli.main([*args, "--targets", "labels,hot"]) == 2


def test_the_gate_under_pytest_respects_the_scope(tmp_path: Path) -> None:
    """The pytest options: the coursework candidate passes the gate's own tests with its
    declared scope (edge cases outside it are skipped as not verified), and the report
    says what was left out."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--cases", "40",
         "--candidate", COURSEWORK, "--report-dir", str(tmp_path), "-rs",
         str(ROOT / "tests" / "test_verify.py")],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:]
    assert "outside the declared scope; not verified" in run.stdout
    assert "Not verified (outside the declared scope)" in (tmp_path / "verify.md").read_text()


KINKS = [dataclasses.replace(s, kind="kink") for s in random_specs(9, 300)]
"""Random shapes, all with exact zeros in s1."""


@pytest.mark.parametrize(("name", "relu_at_zero", "passes"), [
    ("manual", "0", True), ("manual", "any", True), ("manual", "1", False),
    ("tests.candidates.mask_ge", "0", False), ("tests.candidates.mask_ge", "1", True),
    ("tests.candidates.mask_ge", "any", True),
])  # fmt: skip
def test_the_declared_relu_convention_is_what_is_verified(
    name: str, relu_at_zero: str, passes: bool
) -> None:
    """[s1 > 0] (manual) is the convention "0", [s1 ≥ 0] (mask_ge) the right derivative "1";
    "any" accepts both. Each passes exactly the conventions it satisfies, on 300 random
    cases with exact zeros in s1, and a mismatch says which convention was declared."""
    results = list(verify_many(load_candidate(name), KINKS, relu_at_zero))
    text = messages.summary(results)
    assert (not text) == passes, text[:3000]
    if name == "manual" and not passes:
        assert "the declared --relu-at-zero 1 wants dL/do1 there" in text
    if name.endswith("mask_ge") and not passes:
        assert "declare --relu-at-zero 1" in text


def test_the_relu_convention_is_declared_like_the_rest() -> None:
    assert Scope.parse(relu_at_zero="any").relu_at_zero == "any"
    with pytest.raises(ValueError, match=r"^--relu-at-zero: expected one of 0, 1, any"):
        Scope.parse(relu_at_zero="0.5")
    scope = Scope(relu_at_zero="1")
    assert scope.full
    assert scope.as_options() == "--relu-at-zero 1"
    assert "ReLU's derivative at exactly 0 taken as 1, the right derivative." in scope.describe()
