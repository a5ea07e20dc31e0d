"""Partial contracts: a candidate gives what it gives, and the gate verifies exactly that.

The smallest contract people publish is CS231n's: the loss and the four parameter
gradients, for integer labels and a mean, often with L2 regularisation
(``tests/candidates/cs231n_style.py``, plain functions named as ``module:function``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import handgrad
from handgrad import cli, merge, messages, report
from handgrad.candidate import LoadError, load_candidate
from handgrad.cases import CaseSpec, make_case
from handgrad.engine import verify_case, verify_many
from handgrad.quantities import NAMES
from handgrad.regularisation import L2
from handgrad.scope import Scope

CS231N = "tests.candidates.cs231n_style"
GIVEN = ["loss", "dL/dw2", "dL/db2", "dL/dw1", "dL/db1"]
S = CaseSpec


def _run(name: str, cases: int = 150, **options: object) -> handgrad.Outcome:
    loaded = load_candidate(name)
    return handgrad.verify(loaded, cases=cases, seed=4, scope=Scope.of(loaded, **options))


@pytest.mark.parametrize(("function", "form"), [("full", "full"), ("half", "half")])
def test_the_smallest_contract_passes_with_l2_in_its_own_form(function: str, form: str) -> None:
    """Loss and four parameter gradients, labels and mean only, L2 of 0.1 in the form it
    implements: every case passes, and exactly those five quantities are verified."""
    outcome = _run(f"{CS231N}:{function}", l2=0.1, l2_form=form)
    assert outcome.passed, messages.summary(outcome.results)
    assert outcome.tally.quantities()["verified"] == [q for q in NAMES if q in GIVEN]
    assert outcome.tally.verdict_line().startswith(f"{len(GIVEN)} of {len(NAMES)} quantities")
    assert {s for r in outcome.results for s in [r.spec.target, r.spec.reduction]} == {
        "labels", "mean"}  # fmt: skip


def test_the_smallest_contract_without_its_mask_is_named_from_dw1() -> None:
    """No dL/ds1 to point at: the mask is named from dL/dw1 alone."""
    outcome = _run(f"{CS231N}:no_mask", l2=0.1, l2_form="full")
    assert not outcome.passed
    first = next(c for _, c in messages.rank(outcome.results) if c is not None)
    causes = {c.quantity: c.cause for r in outcome.results for c in r.failures}
    assert "dL/dw1 matches the formula with the ReLU mask missing" in causes["dL/dw1"], causes
    assert first.quantity in ("dL/dw1", "dL/db1")


def test_the_other_l2_form_declared_names_the_option() -> None:
    outcome = _run(f"{CS231N}:full", l2=0.1, l2_form="half")
    assert not outcome.passed
    causes = {c.cause for r in outcome.results for c in r.failures}
    assert any("declare --l2-form full" in c for c in causes), causes


def test_a_softmax_without_its_maximum_is_named_from_the_loss_and_gradients() -> None:
    """No p to look at: the reference's scores say which rows overflow, and every failing
    case's first message names the missing row maximum."""
    outcome = _run(f"{CS231N}:no_max")
    failing = [r for r in outcome.results if not r.passed]
    # Scores past exp's range: |s2| in the thousands, and float32 rows spread by ~100.
    assert {r.spec.kind for r in failing} == {"large", "tiny"}
    for r in failing:
        first = messages.rank([r])[0][1]
        assert first is not None
        assert first.quantity == "loss"
        assert re.search(r"subtract each row's (own )?maximum", first.cause), first.cause


def test_l2_without_its_form_or_for_a_function_without_l2_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^--l2 needs --l2-form full or half"):
        Scope.parse(l2=0.1)
    loaded = load_candidate(f"{CS231N}:no_l2")
    with pytest.raises(LoadError, match=r"^--l2: .*no_l2 cannot be verified with L2"):
        Scope.of(loaded, l2=0.1, l2_form="full")
    with pytest.raises(
        LoadError, match=r"manual.backward, manual.jvp, manual.hvp, manual.ggn_vp take"
    ):
        Scope.of(load_candidate("manual"), l2=0.1, l2_form="half")
    assert Scope.of(loaded).l2 == L2()


def _function_module(tmp_path: Path, name: str, body: str) -> str:
    (tmp_path / f"{name}.py").write_text(
        "import numpy as np\nimport manual\n\n"
        "def f(x, y, params, reduction='mean'):\n"
        "    loss, fwd, g = manual.loss_and_gradients(x, y, manual.Params(**params), reduction)\n"
        f"{body}\n"
    )
    return f"{tmp_path / name}.py:f"


def test_an_unknown_key_is_a_contract_failure_that_lists_the_accepted_ones(tmp_path: Path) -> None:
    name = _function_module(tmp_path, "typo", "    return {'loss': loss, 'dw1': g.w1}")
    result = verify_case(load_candidate(name), make_case(S(3, 4, 5, 2)))
    assert not result.passed
    assert "returned unknown quantity name(s) 'dw1'; accepted: s1, o1, s2, p, loss" in result.error


def test_a_python_float_loss_takes_the_case_dtype(tmp_path: Path) -> None:
    name = _function_module(tmp_path, "floaty",
                            "    return {'loss': float(loss), 'dL/dw1': g.w1}")  # fmt: skip
    result = verify_case(load_candidate(name), make_case(S(3, 4, 5, 2, "float32")))
    assert result.passed, messages.summary([result])
    assert ("loss", "torch") in result.ratios


def test_a_numpy_float64_loss_of_float32_inputs_is_still_caught(tmp_path: Path) -> None:
    name = _function_module(tmp_path, "promoted",
                            "    return {'loss': np.float64(loss), 'dL/dw1': g.w1}")  # fmt: skip
    result = verify_case(load_candidate(name), make_case(S(3, 4, 5, 2, "float32")))
    assert next(c.problem for c in result.failures if c.quantity == "loss").startswith("dtype")


def test_a_candidate_without_a_gradient_is_a_contract_failure(tmp_path: Path) -> None:
    name = _function_module(tmp_path, "lossonly", "    return {'loss': loss}")
    result = verify_case(load_candidate(name), make_case(S(3, 4, 5, 2)))
    assert "returned no gradient" in result.error


def test_an_invariant_applies_only_where_both_sides_are_given(tmp_path: Path) -> None:
    """dL/db1 = Σ dL/ds1 is checked when both are given, not when only dL/db1 is."""
    alone = _function_module(tmp_path, "bias_alone", "    return {'dL/db1': g.b1}")
    both = _function_module(tmp_path, "bias_both", "    return {'dL/db1': g.b1, 'dL/ds1': g.s1}")
    case = make_case(S(3, 4, 5, 2))
    assert ("dL/db1", "invariant") not in verify_case(load_candidate(alone), case).ratios
    assert ("dL/db1", "invariant") in verify_case(load_candidate(both), case).ratios


def test_a_quantity_given_in_some_cases_only_fails_where_it_is_absent(tmp_path: Path) -> None:
    name = _function_module(tmp_path, "sometimes", (
        "    out = {'dL/dw1': g.w1}\n"
        "    if x.shape[0] > 3:\n"
        "        out['dL/dx'] = g.x\n"
        "    return out"))  # fmt: skip
    specs = [S(3, 4, 5, 2), S(5, 4, 5, 2)]
    results = {r.spec.N: r for r in verify_many(load_candidate(name), specs)}
    assert results[5].passed
    assert [c.problem for c in results[3].failures if c.quantity == "dL/dx"] == [
        "not returned in this case, though it was in others of its batch"] * 2  # fmt: skip


def test_a_file_whose_stem_is_not_an_identifier_and_path(tmp_path: Path) -> None:
    """``--candidate path/9_28_full_code.py:f`` imports as it is, and ``--path`` lets it
    import its sibling module."""
    helpers = tmp_path / "lib"
    helpers.mkdir()
    (helpers / "mylayers.py").write_text("import manual\nPARAMS = manual.Params\n")
    (tmp_path / "9_28_full_code.py").write_text(
        "import manual\nfrom mylayers import PARAMS\n\n"
        "def f(x, y, params, reduction='mean'):\n"
        "    loss, fwd, g = manual.loss_and_gradients(x, y, PARAMS(**params), reduction)\n"
        "    return {'loss': loss, 'dL/dw1': g.w1, 'dL/dx': g.x}\n"
    )
    name = f"{tmp_path / '9_28_full_code.py'}:f"
    with pytest.raises(LoadError, match=r"cannot import 'mylayers'"):
        load_candidate(name)
    loaded = load_candidate(name, (str(helpers),))
    result = verify_case(loaded, make_case(S(3, 4, 5, 2)))
    assert result.passed
    assert f"--path {helpers}" in messages.reproduce_command(result)


def test_the_report_lists_what_was_verified_and_every_failure(tmp_path: Path) -> None:
    """verify.json: the quantities verified and not, and every failing case × quantity
    with its cause as data; merge keeps both."""
    out = tmp_path / "one"
    code = cli.main(["run", "--candidate", f"{CS231N}:no_mask", "--cases", "30", "--no-edge",
                     "--l2", "0.1", "--l2-form", "full", "--report-dir", str(out)])  # fmt: skip
    assert code == 1
    data = json.loads((out / "verify.json").read_text())
    assert data["quantities"]["verified"] == [q for q in NAMES if q in GIVEN]
    assert "dL/dx" in data["quantities"]["not_verified"]
    assert data["verdict"].startswith("5 of 35 quantities verified; not verified (not provided)")
    failing = data["failing"]
    assert len({(f["case"], f["quantity"]) for f in failing}) == len(failing)
    assert {f["quantity"] for f in failing} >= {"dL/dw1"}
    assert any(f["cause"] and "ReLU mask missing" in f["cause"] for f in failing)
    assert data["scope"]["l2"] == {"strength": 0.1, "form": "full", "biases": False}
    markdown = (out / "verify.md").read_text()
    assert "5 of 35 quantities verified" in markdown
    assert "L2 regularisation R = 0.1, form full" in markdown
    # One "shard" merged alone is the run itself.
    shutil.copytree(out, tmp_path / "shard")
    merged = merge.merge(merge.load([tmp_path / "shard"]))
    assert merged["quantities"] == data["quantities"]
    assert merged["failing"] == data["failing"]
    assert report.markdown(merged).count("5 of 35 quantities verified") == 1


MODULE_L2 = """
import dataclasses
import numpy as np
import manual
from manual import Params, forward, softmax_jacobian

def cross_entropy(s2, y, reduction="mean", l2=0.0{params}):
    loss = manual.cross_entropy(s2, y, reduction)
    {penalty}

def backward(x, y, params, fwd, reduction="mean", l2=0.0):
    g = manual.backward(x, y, params, fwd, reduction)
    return dataclasses.replace(g, w1=g.w1 + 2 * l2 * params.w1, w2=g.w2 + 2 * l2 * params.w2)
"""


def test_a_module_takes_l2_in_backward_and_in_a_loss_that_is_given_the_params(
    tmp_path: Path,
) -> None:
    """A loss of s2 alone cannot hold a penalty on the weights: it is verified under --l2
    only when cross_entropy also takes params=, and is otherwise reported not verified."""
    with_params = MODULE_L2.format(
        params=", params=None",
        penalty="return loss + l2 * (np.sum(params.w1**2) + np.sum(params.w2**2))")  # fmt: skip
    without = MODULE_L2.format(params="", penalty="return loss")
    (tmp_path / "loss_with_params.py").write_text(with_params)
    (tmp_path / "loss_without_params.py").write_text(without)
    l2 = L2(0.1, "full")
    specs = [S(3, 4, 5, 2), S(6, 2, 3, 4, "float32", "soft", "sum")]
    for name, loss_verified in (("loss_with_params", True), ("loss_without_params", False)):
        loaded = load_candidate(name, (str(tmp_path),))
        results = list(verify_many(loaded, specs, l2=l2))
        assert all(r.passed for r in results), messages.summary(results)
        assert (("loss", "torch") in results[0].ratios) is loss_verified
        assert ("dL/dw1", "torch") in results[0].ratios


BAD_OPTIONS = [
    (["run", "--cases", "-5"], "--cases: expected an integer of at least 0, got -5"),
    (["check", "--case", "N=0,D=2,H=3,C=2"], "--case: N: expected an integer of at least 1"),
    (["check", "--case", "N=two,D=2,H=3,C=2"], "--case: N: expected an integer, got 'two'"),
    (["run", "--l2", "0.1"], "--l2 needs --l2-form full or half"),
    (["run", "--l2", "-1", "--l2-form", "full"], "--l2: expected a finite number of at least 0"),
    (["run", "--l2-biases"], "--l2-biases: needs --l2 R with R > 0"),
    (["run", "--timeout", "0"], "--timeout: expected a positive number, got '0'"),
    (["run", "--path", "/no/such/dir"], "--path /no/such/dir: not a directory"),
    (["run", "--candidate", "manual:nothing"], "--candidate manual:nothing: manual defines no"),
    (["run", "--candidate", "manual:__doc__"], "__doc__ is a str, not a function"),
    (["run", "--candidate", "no_such_module_here"], "cannot import 'no_such_module_here'"),
    (
        [
            "run",
            "--candidate",
            "tests.candidates.cs231n_style:no_l2",
            "--l2",
            "0.1",
            "--l2-form",
            "full",
        ],
        "no_l2 cannot be verified with L2 regularisation",
    ),
    (["run", "--report-dir", "/proc/handgrad-cannot-write"], "--report-dir /proc/handgrad-cannot"),
]


@pytest.mark.parametrize(("argv", "expected"), BAD_OPTIONS,
                         ids=lambda v: " ".join(v) if isinstance(v, list) else None)  # fmt: skip
def test_a_bad_option_fails_before_any_case_with_one_line_and_exit_2(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        raise SystemExit(cli.main(argv))
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert expected in captured.err, captured.err
    assert captured.err.count("\n") == 1, captured.err  # one line, no traceback
    assert "report written" not in captured.out


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--candidate", "no_such_module_here"], "cannot import 'no_such_module_here'"),
        (["--l2", "0.1"], "--l2 needs --l2-form"),
        (["--cases", "0"], "--cases: expected at least 1"),
    ],
    ids=["import", "l2-form", "cases"],
)
def test_in_pytest_a_bad_option_is_a_usage_error_before_any_test(extra: list[str],
                                                                 expected: str) -> None:  # fmt: skip
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                           str(root / "tests" / "test_verify.py"), "-k", "chunk0", *extra],
                          cwd=root, capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout[-2000:]
    assert expected in done.stderr
    assert "passed" not in done.stdout


def test_under_l2_the_finite_differences_and_the_mean_diagnosis_count_the_penalty(
    tmp_path: Path,
) -> None:
    """A candidate that forgets the 1/N of "mean" but adds the penalty right is named for
    the 1/N (its data term is N × the reference's), and the finite differences of the
    regularised loss agree with the references."""
    (tmp_path / "forgot_mean_l2.py").write_text(
        "import manual\n\n"
        "def f(x, y, params, reduction='mean', l2=0.0):\n"
        "    _, _, g = manual.loss_and_gradients(x, y, manual.Params(**params), 'sum')\n"
        "    return {'dL/dw1': g.w1 + 2 * l2 * params['w1']}\n"
    )
    l2 = L2(0.5, "full")
    spec = S(4, 3, 5, 2, "float64", "labels", "mean", "random", 3)
    result = verify_case(load_candidate("forgot_mean_l2:f", (str(tmp_path),)), make_case(spec),
                         l2=l2)  # fmt: skip
    failure = next(c for c in result.failures if c.reference == "torch")
    assert "the 1/N of reduction='mean' is missing" in failure.cause
    opinion = messages.fd_opinion(spec, "dL/dw1", failure.index, l2)
    assert opinion is not None
    fd = float(opinion.split(" give ")[1].split()[0])
    assert abs(fd - failure.want) <= 1e-6 * max(1.0, abs(failure.want))
