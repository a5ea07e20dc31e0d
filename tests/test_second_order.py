"""manual's second-order products (jvp, hvp, ggn_vp): their contract, and their values
against both frameworks and a third opinion, float64 finite differences along the
direction, on small cases of every target form and reduction, with and without exact
zeros in s1.

The stress kinds "large" and "tiny" are left out here: along a direction their |ṡ2|
reaches 70 to 3,500, and the differences' truncation error then exceeds RTOL (measured:
9.5e-6 of the scale for ṗ in a "tiny" case, 2e-4 for R{dL/do1} in a "large" one).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import manual
from handgrad import cases
from handgrad.finite_differences import RTOL, agree, directional
from references import jax_ref, torch_ref

S = cases.CaseSpec
SMALL = [
    S(3, 4, 5, 3, "float64", target, reduction, kind, seed)
    for seed, (target, reduction, kind) in enumerate(
        [("labels", "mean", "random"), ("onehot", "sum", "random"), ("soft", "mean", "kink"),
         ("unnormalised", "sum", "random"), ("labels", "sum", "kink"), ("soft", "mean", "random"),
         ("unnormalised", "mean", "random"), ("onehot", "mean", "kink")]
    )
] + [S(1, 1, 1, 2, "float64"), S(2, 3, 1, 1, "float64", "soft", "sum")]  # fmt: skip
FIELDS = ("s2", "o1", "s1", "x", "w1", "b1", "w2", "b2")
PRODUCTS = {"hvp": manual.hvp, "ggn": manual.ggn_vp}


def params(a: dict[str, Any]) -> manual.Params:
    return manual.Params(a["w1"], a["b1"], a["w2"], a["b2"])


def manual_products(case: cases.Case, v: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """manual's three products, keyed like the references."""
    args = (case.x, case.y, params(case.inputs()), params(v), v["x"], case.spec.reduction)
    tangents = manual.jvp(*args)
    out = {"jvp": {k: getattr(tangents, k) for k in ("s1", "o1", "s2", "p", "loss")}}
    for name, product in PRODUCTS.items():
        result = product(*args)
        out[name] = {f"dL/d{f}": getattr(result, f) for f in FIELDS}
    return out


def reference_products(module: Any, convert: Callable[[Any], Any], case: cases.Case,
                       v: dict[str, Any]) -> dict[str, dict[str, Any]]:  # fmt: skip
    """A framework's three products; a direction without ẋ moves x by zeros."""
    primals = tuple(convert(getattr(case, k)) for k in jax_ref.PARAMS)
    dx = v["x"] if v["x"] is not None else np.zeros_like(case.x)
    tangents = tuple(convert(dx if k == "x" else v[k]) for k in jax_ref.PARAMS)
    y, reduction = convert(case.y), case.spec.reduction
    return {name: {k: np.asarray(a) for k, a in product(primals, tangents, y, reduction).items()}
            for name, product in (("jvp", module.jvp), ("hvp", module.hvp),
                                  ("ggn", module.ggn_vp))}  # fmt: skip


def jax_array(a: Any) -> Any:
    import jax.numpy as jnp

    return jnp.asarray(a)


def torch_tensor(a: Any) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(a))


REFERENCES = {"jax": (jax_ref, jax_array), "torch": (torch_ref, torch_tensor)}


def along_the_kinks(case: cases.Case, v: dict[str, Any]) -> dict[str, Any]:
    """``v`` changed so that s1 stays exactly 0 where it is: neither the zero rows of x,
    nor b1 where it is 0, nor the zero columns of w1 move (the "kink" kind makes its zeros
    from zero rows of x with zero entries of b1, and a zero column of w1 with a zero bias).
    Everything else still moves, x included if it did."""
    dx = None if v["x"] is None else np.where((case.x == 0).all(axis=1)[:, None], 0, v["x"])
    return {**v, "x": dx, "b1": np.where(case.b1 == 0, 0, v["b1"]),
            "w1": np.where((case.w1 == 0).all(axis=0), 0, v["w1"])}  # fmt: skip


@pytest.mark.parametrize("with_x", [True, False], ids=["x moves", "x fixed"])
@pytest.mark.parametrize("spec", SMALL, ids=str)
def test_manual_and_both_frameworks_agree_with_finite_differences(
    spec: cases.CaseSpec, with_x: bool
) -> None:  # fmt: skip
    case = cases.make_case(spec)
    v = cases.make_direction(case, with_x)
    fd = directional(case, v)
    if fd.kind == "skipped":  # the step crosses kinks both ways: move along them instead
        assert spec.kind == "kink"
        v = along_the_kinks(case, v)
        fd = directional(case, v)
        assert fd.kind == "central"
    opinions = {"manual": manual_products(case, v)}
    for name, (module, convert) in REFERENCES.items():
        opinions[name] = reference_products(module, convert, case, v)
    for who, products in opinions.items():
        for product in ("jvp", "hvp", "ggn"):
            want = getattr(fd, product)
            assert set(products[product]) == set(want), (who, product)
            for key, value in products[product].items():
                skipped = fd.skipped.get(key) if product == "ggn" else None
                rel = agree(want[key], np.asarray(value), skipped)
                assert rel <= RTOL, f"{who} {product} {key}: {rel:.2g} of the scale ({fd.kind})"


def test_finite_differences_see_a_wrong_product() -> None:
    """The check above can fail: a dropped bilinear term and a missing Σy are caught."""
    case = cases.make_case(S(3, 4, 5, 3, "float64", "unnormalised", "mean", seed=4))
    v = cases.make_direction(case)
    fd = directional(case, v)
    assert fd.kind == "central"
    ours = manual_products(case, v)
    assert agree(fd.hvp["dL/dw2"], ours["ggn"]["dL/dw2"]) > RTOL  # Gv is not Hv
    sums = case.y.sum(axis=1, keepdims=True)
    assert agree(fd.hvp["dL/ds2"], ours["hvp"]["dL/ds2"] / sums) > RTOL


def test_gv_equals_hv_where_the_bilinear_terms_vanish() -> None:
    """Along b2 alone every term Gv drops is a product with zero (ẇ1, ẇ2, ẋ and ȯ1 = 0),
    so the two products are equal bit for bit. Along w2 alone only g2·ẇ2ᵀ survives: they
    agree at dL/dw2 (ȯ1 = 0 there) and differ at dL/do1 and below."""
    case = cases.make_case(S(5, 4, 6, 3, "float32", "soft", "mean", seed=3))
    v = cases.make_direction(case, with_x=False)
    zeros = {k: np.zeros_like(getattr(case, k)) for k in ("w1", "b1", "w2")}
    only_b2 = manual.Params(zeros["w1"], zeros["b1"], zeros["w2"], v["b2"])
    args = (case.x, case.y, params(case.inputs()))
    hv, gv = manual.hvp(*args, only_b2), manual.ggn_vp(*args, only_b2)
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(hv, f), getattr(gv, f), f, strict=True)
    only_w2 = manual.Params(zeros["w1"], zeros["b1"], v["w2"], np.zeros_like(v["b2"]))
    hv, gv = manual.hvp(*args, only_w2), manual.ggn_vp(*args, only_w2)
    np.testing.assert_array_equal(hv.w2, gv.w2, strict=True)
    assert not np.array_equal(hv.o1, gv.o1)
    assert not np.array_equal(hv.w1, gv.w1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_in_is_dtype_out_and_inputs_untouched(dtype: str) -> None:
    case = cases.make_case(S(4, 3, 5, 2, dtype, "soft", seed=1))
    v = cases.make_direction(case)
    before = {
        k: a.copy() for k, a in {**case.inputs(), **{f"v{k}": a for k, a in v.items()}}.items()
    }
    products = manual_products(case, v)
    for name, a in {**case.inputs(), **{f"v{k}": a for k, a in v.items()}}.items():
        np.testing.assert_array_equal(a, before[name], name)
    for values in products.values():
        for key, value in values.items():
            assert np.asarray(value).dtype == np.dtype(dtype), key
    assert products["hvp"]["dL/dw1"].shape == case.w1.shape


def test_bad_directions_are_refused_by_name() -> None:
    case = cases.make_case(S(4, 3, 5, 2, "float64"))
    v = cases.make_direction(case)
    p = params(case.inputs())
    good = params(v)
    with pytest.raises(TypeError, match=r"v: expected manual.Params \(the direction\)"):
        manual.hvp(case.x, case.y, p, v)  # type: ignore[arg-type]
    short = manual.Params(v["w1"][:2], v["b1"], v["w2"], v["b2"])
    with pytest.raises(ValueError, match=r"v\.w1: expected a float64 array of shape \(3, 5\)"):
        manual.jvp(case.x, case.y, p, short)
    wide = manual.Params(*(a.astype(np.float32) for a in (v["w1"], v["b1"], v["w2"], v["b2"])))
    with pytest.raises(ValueError, match=r"v\.w1: expected a float64 array"):
        manual.ggn_vp(case.x, case.y, p, wide)
    with pytest.raises(ValueError, match=r"dx: expected a float64 array of shape \(4, 3\)"):
        manual.hvp(case.x, case.y, p, good, dx=v["x"][:, :2])
    with pytest.raises(ValueError, match="dx: contains NaN or inf"):
        manual.hvp(case.x, case.y, p, good, dx=np.full_like(v["x"], np.nan))
    with pytest.raises(ValueError, match="reduction: expected 'mean' or 'sum'"):
        manual.hvp(case.x, case.y, p, good, reduction="avg")
