"""The gate's second order: its tolerances are tight, a candidate's products are optional
and the report says which were verified, and the ReLU convention's limit is reported."""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import numpy as np
import pytest

import manual
from handgrad import cases, oracles, report
from handgrad.batch import batch_of, batches
from handgrad.cases import CaseSpec, make_case, moves_x
from handgrad.compare import compare
from handgrad.engine import verify_cases
from handgrad.plain import torch_plain
from handgrad.quantities import PRODUCTS, QUANTITIES, SECOND
from handgrad.tally import Tally
from handgrad.tolerance import case_tolerances

S = CaseSpec
SECOND_ORDER = [q for p in PRODUCTS for q in SECOND[p]]


FIRST_ORDER_API = ("Params", "forward", "backward", "cross_entropy", "softmax_jacobian")


def _module(name: str, exported: bool = True, **names: Any) -> types.ModuleType:
    """A candidate module: manual's first-order API plus the given names, listed in its
    ``__all__`` unless ``exported`` is False."""
    module = types.ModuleType(name)
    for k in FIRST_ORDER_API:
        setattr(module, k, getattr(manual, k))
    for k, v in names.items():
        setattr(module, k, v)
    module.__all__ = [*FIRST_ORDER_API, *(names if exported else ())]  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_second_order_tolerance_catches_small_relative_errors(dtype: str) -> None:
    """Tight enough: a relative error of 1e-3 (float32) or 1e-6 (float64) in any one
    tangent, R{·} or G{·} fails, on every random case of ordinary data where it is not
    identically zero (C > 1, as for the gradients).

    Two measured exceptions. L̇ is one number that cancels: κ Σ (σ⟨p, ṡ2⟩ − ⟨y, ṡ2⟩) has
    terms 10× larger than the result in the median case of this draw and 400× at most, and
    a correct implementation rounds at the size of its terms, so its error is planted
    relative to Σ|dL/ds2 ⊙ ṡ2|. And ṗ inherits p's uncertainty, as R{dL/ds2} = G{dL/ds2} =
    κσ ⊙ ṗ do: in float32, in 2 of these 148 cases (both with a dimension above 64; p's
    own tolerance reaches 4.7e-4 relative over these cases) their smallest relative
    tolerance is above 1e-3, at most 1.13e-3, so those three get 2e-3 in float32."""
    inherited = dict.fromkeys(("ṗ", "R{dL/ds2}", "G{dL/ds2}"), 2e-3)
    relative = inherited if dtype == "float32" else {}
    delta = 1e-3 if dtype == "float32" else 1e-6
    specs = [dataclasses.replace(s, dtype=dtype, kind="random")
             for s in cases.random_specs(11, 150) if s.C > 1]  # fmt: skip
    checked = 0
    for spec in specs:
        case = make_case(spec)
        ref = torch_plain(case)
        tol = case_tolerances(case, ref)
        for q in SECOND_ORDER:
            if not np.any(ref[q]):
                continue  # e.g. every s1 ≤ 0: the first layer's products are exactly 0
            value = ref[q].astype(np.float64)
            scale = np.abs(ref["dL/ds2"] * ref["ṡ2"]).sum() if q == "L̇" else np.abs(value)
            planted = relative.get(q, delta)
            wrong = np.asarray(value + planted * scale).astype(ref[q].dtype)
            c = compare(q, "torch", spec, wrong, ref[q], tol[q])
            assert not c.ok, f"{q} moved by {planted} of its scale passed at {spec}: {c}"
            checked += 1
    assert checked > 100 * len(SECOND_ORDER)


def test_the_references_agree_on_second_order_within_the_tolerance() -> None:
    """torch and JAX, two independent autodiff implementations, pass against each other
    on every second-order quantity of every edge and stress case (through the batched path
    the gate uses, which ``tests/test_engine.py`` proves equal to the plain one)."""
    worst = 0.0
    for _, batch in batches(cases.edge_specs(3)):
        torch_values = oracles.batched_values(batch, "torch")
        jax_values = oracles.batched_values(batch, "jax")
        for case, t, j in zip(batch.cases, torch_values, jax_values, strict=True):
            tol = case_tolerances(case, t)
            for q in SECOND_ORDER:
                c = compare(q, "jax", case.spec, t[q], j[q], tol[q])
                assert c.ok, c
                worst = max(worst, c.ratio)
    assert worst > 0  # the two do differ somewhere: the comparison is not vacuous


def test_half_of_the_cases_move_x_and_the_batch_pads_the_direction() -> None:
    specs = cases.edge_specs()
    moving = [moves_x(s) for s in specs]
    assert 0.3 < np.mean(moving) < 0.7
    f64 = [(s, m) for s, m in zip(specs, moving, strict=True) if s.dtype == "float64"]
    fixed = [make_case(s) for s, m in f64 if not m][:3]
    moved = [make_case(s) for s, m in f64 if m][:3]
    batch = batch_of(fixed + moved)
    for i, case in enumerate(batch.cases):
        x = batch.direction["x"][i]
        assert np.any(x) == moves_x(case.spec)
        assert not np.any(x[case.spec.N :])
        assert not np.any(x[:, case.spec.D :])


def _results(module: types.ModuleType, specs: list[CaseSpec], relu_at_zero: str = "0") -> Any:
    results = verify_cases(module, [make_case(s) for s in specs], relu_at_zero)
    tally = Tally()
    tally.add_all(results)
    return results, tally, report.second_order_statement(tally.second_order())


SPECS = [S(5, 4, 10, 3, "float64", "soft", "sum", "random", 1),
         S(6, 5, 8, 4, "float32", "unnormalised", "mean", "random", 2)]  # fmt: skip


def test_a_candidate_without_second_order_is_reported_as_not_verified() -> None:
    results, tally, statement = _results(_module("first_only"), SPECS)
    assert all(r.passed for r in results)
    assert all(r.unverified == PRODUCTS for r in results)
    assert not any(q in SECOND_ORDER for q, _, _ in tally.rows)
    assert statement == ("Second order **not verified**: jvp, hvp, ggn_vp (the candidate does "
                         "not provide them).")  # fmt: skip


def test_each_product_is_optional() -> None:
    results, tally, statement = _results(_module("jvp_only", jvp=manual.jvp), SPECS)
    assert all(r.passed for r in results)
    verified = {q for q, _, _ in tally.rows if QUANTITIES[q].product}
    assert verified == set(SECOND["jvp"])
    assert statement.startswith("Second order verified: jvp, along one direction per case")
    assert "**not verified**: hvp, ggn_vp" in statement
    _, tally, statement = _results(manual, SPECS)
    assert {q for q, ref, _ in tally.rows if ref == "jax"} >= set(SECOND_ORDER)
    assert "not verified" not in statement


@pytest.mark.parametrize("product", ["hvp", "ggn_vp"])
def test_hvp_or_ggn_vp_without_jvp_is_verified(product: str) -> None:
    """The references compute the tangents anyway (the R{·} and G{·} bounds read them), but
    only the candidate's own product is compared and reported."""
    module = _module(f"{product}_only", **{product: getattr(manual, product)})
    results, tally, statement = _results(module, SPECS)
    assert all(r.passed for r in results), [r.failures for r in results]
    verified = {q for q, _, _ in tally.rows if QUANTITIES[q].product}
    assert verified == set(SECOND[product])
    assert statement.startswith(f"Second order verified: {product}, along one direction")


def test_a_function_the_candidate_only_imports_is_not_a_product() -> None:
    """``from jax import jvp`` in a first-order candidate: not its product, not called."""

    def jvp(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("called as a product")

    jvp.__module__ = "jax"
    results, _, statement = _results(_module("imports_jvp", exported=False, jvp=jvp), SPECS)
    assert all(r.passed for r in results)
    assert "**not verified**: jvp, hvp, ggn_vp" in statement


def test_a_product_that_raises_is_named_and_the_rest_still_compared() -> None:
    def hvp(*_args: Any, **_kwargs: Any) -> Any:
        raise ValueError("not implemented")

    module = _module("broken_hvp", jvp=manual.jvp, hvp=hvp, ggn_vp=manual.ggn_vp)
    results, _, _ = _results(module, SPECS[:1])
    (result,) = results
    assert "broken_hvp.hvp raised ValueError: not implemented" in result.error
    assert ("dL/dw1", "torch") in result.ratios
    assert ("ṗ", "jax") in result.ratios
    assert ("G{dL/dw1}", "jax") in result.ratios  # the product after the one that raised
    assert not any(q.startswith("R{") for q, _ in result.ratios)


def test_a_product_that_writes_into_the_direction_or_breaks_a_shape_fails() -> None:
    def writes(x: Any, y: Any, params: Any, v: Any, dx: Any = None, reduction: str = "mean") -> Any:
        out = manual.hvp(x, y, params, v, dx=dx, reduction=reduction)
        v.w1[0, 0] += 1
        return out

    (result,), _, _ = _results(_module("writes_v", hvp=writes), SPECS[:1])
    assert "writes_v modified its input(s) v.w1" in result.error

    def transposed(*args: Any, **kwargs: Any) -> Any:
        out = manual.ggn_vp(*args, **kwargs)
        return dataclasses.replace(out, w1=out.w1.T.copy())

    (result,), _, _ = _results(_module("transposed_gv", ggn_vp=transposed), SPECS[:1])
    (failure,) = [c for c in result.failures if c.quantity == "G{dL/dw1}"][:1]
    assert failure.problem.startswith("shape (10, 4), expected (4, 10)")
    assert "the transpose of the right result" in failure.cause


def test_exact_zeros_under_another_convention_are_reported_not_compared() -> None:
    """Under --relu-at-zero 1 the references' second order is not the candidate's at exact
    zeros of s1: those cases are counted and reported as unverified in second order, and
    the cases without exact zeros are verified as usual."""
    kink = S(9, 5, 6, 3, "float64", "labels", "mean", "kink", 0)
    plain = S(9, 5, 6, 3, "float64", "labels", "mean", "random", 0)
    results, tally, statement = _results(manual, [kink, plain], relu_at_zero="1")
    by_kind = {r.spec.kind: r for r in results}
    assert by_kind["kink"].kink_skipped
    assert not by_kind["random"].kink_skipped
    assert not any(QUANTITIES[q].product for q, _ in by_kind["kink"].ratios)
    assert ("R{dL/dw1}", "torch") in by_kind["random"].ratios
    assert tally.kink_skipped == 1
    assert "1 case(s) with exact zeros in s1 were not verified in second order" in statement
    # Under the default convention the same kink case is verified in second order.
    results, tally, _ = _results(manual, [kink])
    assert results[0].passed
    assert not results[0].kink_skipped
    assert ("R{dL/ds1}", "jax") in results[0].ratios
