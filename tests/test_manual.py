"""manual's own contract: dtypes, no mutation, stability, and clear errors on bad input.

Values are proven against the references by test_verify.py; these check what a reference
cannot: the errors manual raises, and behaviour at extremes.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import manual
from handgrad import cases
from manual.network import softmax


def arrays(
    dtype: Any = np.float64, N: int = 4, D: int = 3, H: int = 5, C: int = 2
) -> dict[str, Any]:
    """A small case's inputs (integer labels), from the gate's own generator."""
    return cases.make_case(cases.CaseSpec(N, D, H, C, np.dtype(dtype).name)).inputs()


def run(a: dict[str, Any], reduction: str = "mean") -> tuple[Any, Any, Any, Any]:
    params = manual.Params(w1=a["w1"], b1=a["b1"], w2=a["w2"], b2=a["b2"])
    fwd = manual.forward(a["x"], params)
    loss = manual.cross_entropy(fwd.s2, a["y"], reduction=reduction)
    grads = manual.backward(a["x"], a["y"], params, fwd, reduction=reduction)
    return fwd, loss, grads, manual.softmax_jacobian(fwd.p)


def run_fused(a: dict[str, Any], reduction: str = "mean") -> tuple[Any, Any, Any, Any]:
    """``run`` through ``loss_and_gradients``, the one-call path the benchmarks time."""
    params = manual.Params(w1=a["w1"], b1=a["b1"], w2=a["w2"], b2=a["b2"])
    loss, fwd, grads = manual.loss_and_gradients(a["x"], a["y"], params, reduction=reduction)
    return fwd, loss, grads, manual.softmax_jacobian(fwd.p)


RUNS = {"separate": run, "fused": run_fused}


@pytest.mark.parametrize("spec", cases.edge_specs() + cases.random_specs(seed=7, n=200), ids=str)
def test_fused_path_is_the_separate_path_bit_for_bit(spec: cases.CaseSpec) -> None:
    """loss_and_gradients is not verified against the references on its own: it is held
    to exactly the results of forward, cross_entropy and backward, which are."""
    case = cases.make_case(spec)
    a = case.inputs()
    want = run(a, spec.reduction)
    got = run_fused(a, spec.reduction)
    assert got[1].dtype == want[1].dtype
    assert got[1].tobytes() == want[1].tobytes(), "loss"
    for name in ("s1", "o1", "s2", "p"):
        np.testing.assert_array_equal(getattr(got[0], name), getattr(want[0], name), name)
    for field in dataclasses.fields(want[2]):
        g, w = getattr(got[2], field.name), getattr(want[2], field.name)
        assert g.dtype == w.dtype, field.name
        np.testing.assert_array_equal(g, w, f"dL/d{field.name}", strict=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_in_is_dtype_out_and_inputs_untouched(dtype: Any) -> None:
    a = arrays(dtype)
    before = {k: v.copy() for k, v in a.items()}
    fwd, loss, grads, jac = run(a)
    for k, v in before.items():
        np.testing.assert_array_equal(a[k], v, err_msg=k)
    assert np.asarray(loss).dtype == dtype
    assert jac.dtype == dtype
    for name in ("s1", "o1", "s2", "p"):
        assert getattr(fwd, name).dtype == dtype
    for name, like in (("x", "x"), ("w1", "w1"), ("b1", "b1"), ("w2", "w2"), ("b2", "b2")):
        g = getattr(grads, name)
        assert g.shape == a[like].shape, name
        assert g.dtype == dtype, name


def test_relu_gradient_is_zero_at_exactly_zero() -> None:
    a = arrays()
    a["x"][0] = 0.0
    a["b1"][:] = 0.0
    fwd, _, grads, _ = run(a)
    assert np.all(fwd.s1[0] == 0)
    assert np.all(fwd.o1[0] == 0)
    assert np.all(grads.s1[0] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scale", [1e3, 1e30])
def test_extreme_scores_stay_finite(dtype: Any, scale: float) -> None:
    """|s2| up to 1e30: exp never overflows, log never sees 0, no warning is raised."""
    s2 = (np.array([[1.0, -1.0, 0.5], [-2.0, 3.0, 0.0]]) * scale).astype(dtype)
    y = np.array([1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = manual.cross_entropy(s2, y, reduction="sum")
        p = softmax(s2)
    assert np.isfinite(loss)
    assert loss > 0
    assert np.all(np.isfinite(p))
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=1e-6)
    # The loss of a wrong-class row is its margin: s2[max] − s2[y], exactly in float64.
    if dtype == np.float64 and scale == 1e3:
        np.testing.assert_allclose(loss, (1000 - (-1000)) + (3000 - (-2000)), rtol=1e-12)


def test_unnormalised_targets_use_the_general_formula() -> None:
    """dL/ds2 = p·Σy − y: a target row scaled by 2 doubles the gradient of that row."""
    a = arrays()
    params = manual.Params(w1=a["w1"], b1=a["b1"], w2=a["w2"], b2=a["b2"])
    fwd = manual.forward(a["x"], params)
    y = np.eye(2)[a["y"]]
    g1 = manual.backward(a["x"], y, params, fwd, "sum").s2
    g2 = manual.backward(a["x"], 2 * y, params, fwd, "sum").s2
    np.testing.assert_allclose(g2, 2 * g1, rtol=1e-14)
    assert not np.allclose(g2, fwd.p - 2 * y)


def _set(key: str, value: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], None]:
    def mutate(a: dict[str, Any]) -> None:
        a[key] = value(a)

    return mutate


BAD_INPUTS = {
    "x 1-D": (_set("x", lambda a: a["x"][0]), ValueError, r"^x: expected 2 dimension"),
    "x wrong D": (_set("x", lambda a: a["x"][:, :2]), ValueError, r"^x: .*D, the number of rows of w1"),
    "x list": (_set("x", lambda a: a["x"].tolist()), TypeError, r"^x: expected a numpy.ndarray"),
    "x integer": (_set("x", lambda a: a["x"].astype(int)), TypeError, r"^x: expected dtype float32"),
    "x float16": (_set("x", lambda a: a["x"].astype(np.float16)), TypeError, r"^x: expected dtype"),
    "x NaN": (_set("x", lambda a: np.where(a["x"] > 0, np.nan, a["x"])), ValueError, r"^x: contains NaN"),
    "x N=0": (_set("x", lambda a: a["x"][:0]), ValueError, r"^x: N must be at least 1"),
    "x float32, params float64": (_set("x", lambda a: a["x"].astype(np.float32)), TypeError,
                                  r"^w1: dtype float64 does not match the dtype of x"),
    "w1 3-D": (_set("w1", lambda a: a["w1"][None]), ValueError, r"^w1: expected 2 dimension"),
    "w1 inf": (_set("w1", lambda a: a["w1"] * np.inf), ValueError, r"^w1: contains NaN or inf"),
    "b1 wrong H": (_set("b1", lambda a: a["b1"][:-1]), ValueError, r"^b1: .*H"),
    "b1 as a row": (_set("b1", lambda a: a["b1"][None, :]), ValueError, r"^b1: expected 1 dimension"),
    "b1 float32": (_set("b1", lambda a: a["b1"].astype(np.float32)), TypeError,
                   r"^b1: dtype float32 does not match the dtype of w1"),
    "w2 wrong H": (_set("w2", lambda a: a["w2"][:-1]), ValueError, r"^w1: .*H, the number of rows of w2"),
    "b2 wrong C": (_set("b2", lambda a: a["b2"][:1]), ValueError, r"^b2: .*C"),
    "y out of range": (_set("y", lambda a: a["y"] + 5), ValueError, r"^y: labels must lie in \[0, C\)"),
    "y negative": (_set("y", lambda a: a["y"] - 3), ValueError, r"^y: labels must lie in"),
    "y float labels": (_set("y", lambda a: a["y"].astype(np.float64)), TypeError, r"^y: a 1-D y holds class labels"),
    "y wrong N": (_set("y", lambda a: a["y"][:-1]), ValueError, r"^y: .*N, the number of rows of x"),
    "y 2-D labels": (_set("y", lambda a: a["y"][:, None]), ValueError, r"^y: integer labels must have shape"),
    "y wrong C": (_set("y", lambda _: np.ones((4, 3))), ValueError, r"^y: .*C, the number of classes"),
    "y float32 targets": (_set("y", lambda _: np.ones((4, 2), np.float32)), TypeError,
                          r"^y: dtype float32 does not match"),
    "y NaN targets": (_set("y", lambda _: np.full((4, 2), np.nan)), ValueError, r"^y: contains NaN"),
    "y bool": (_set("y", lambda a: a["y"] > 0), TypeError, r"^y: expected integer labels or float"),
    "reduction": (_set("reduction", lambda _: "avg"), ValueError, r"^reduction: expected 'mean' or 'sum'"),
}  # fmt: skip


@pytest.mark.parametrize("path", RUNS)
@pytest.mark.parametrize("case", BAD_INPUTS, ids=str)
def test_bad_input_names_the_argument(case: str, path: str) -> None:
    mutate, error, message = BAD_INPUTS[case]
    a = arrays()
    a["reduction"] = "mean"
    mutate(a)
    with pytest.raises(error, match=message):
        RUNS[path](a, a["reduction"])


def test_backward_checks_params_and_fwd() -> None:
    a = arrays()
    params = manual.Params(w1=a["w1"], b1=a["b1"], w2=a["w2"], b2=a["b2"])
    fwd = manual.forward(a["x"], params)
    with pytest.raises(TypeError, match=r"^params: expected manual.Params"):
        manual.forward(a["x"], {"w1": a["w1"]})  # type: ignore[arg-type]
    wrong = manual.Forward(s1=fwd.s1[:-1], o1=fwd.o1, s2=fwd.s2, p=fwd.p)
    with pytest.raises(ValueError, match=r"^fwd.s1: expected a float64 array of shape \(4, 5\)"):
        manual.backward(a["x"], a["y"], params, wrong)
    with pytest.raises(ValueError, match=r"^p: expected 2 dimension"):
        manual.softmax_jacobian(fwd.p[0])
