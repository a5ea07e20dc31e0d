"""Tests of the harness itself: the padded JAX path, the tolerance rule, the case generator."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from references import QUANTITIES
from tests import harness

S = harness.CaseSpec


@pytest.mark.parametrize(
    "spec",
    [S(5, 4, 10, 3, "float32", "labels", "mean", "random", 1),
     S(1, 1, 1, 1, "float64", "labels", "sum", "random", 2),
     S(7, 3, 2, 5, "float64", "soft", "mean", "kink", 3),
     S(64, 64, 64, 64, "float32", "unnormalised", "sum", "random", 4),
     S(65, 9, 70, 3, "float64", "onehot", "mean", "tiny", 5),
     S(12, 6, 8, 4, "float32", "labels", "sum", "large", 6)],
    ids=str,
)  # fmt: skip
def test_padded_batched_jax_equals_plain_jax(spec: harness.CaseSpec) -> None:
    """The padded, vmapped, sum-reduced program gives the plain reference's values on the true
    slice, alone and inside a batch of other cases, within the gate's tolerances."""
    case = harness.make_case(spec)
    plain = harness.jax_outputs_plain(case)
    others = [harness.make_case(dataclasses.replace(spec, seed=spec.seed + k)) for k in (1, 2)]
    alone = harness.jax_outputs([case])[0]
    batched = harness.jax_outputs([others[0], case, others[1]])[1]
    tol = harness.tolerances(case, plain)
    for q in QUANTITIES:
        for got in (alone, batched):
            c = harness.compare(q, "plain jax", spec, got[q], plain[q], tol[q])
            assert c.ok, f"{q}: {c}"
        np.testing.assert_array_equal(alone[q], batched[q], err_msg=q)


def test_references_agree_with_each_other() -> None:
    """Two independent correct implementations (torch and JAX) stay within the tolerance:
    the rule is loose enough for a correct implementation."""
    worst = 0.0
    for spec in harness.random_specs(7, 200):
        case = harness.make_case(spec)
        torch_out, jax_out = harness.torch_outputs(case), harness.jax_outputs([case])[0]
        tol = harness.tolerances(case, torch_out)
        for q in QUANTITIES:
            c = harness.compare(q, "jax", spec, torch_out[q], jax_out[q], tol[q])
            assert c.ok, f"{q}: {c}"
            worst = max(worst, c.ratio)
    assert worst > 0  # the comparison saw real round-off, not identical arrays


@pytest.mark.parametrize("dtype", harness.DTYPES)
def test_tolerance_catches_small_relative_errors(dtype: str) -> None:
    """Tight enough: a relative error of 1e-3 (float32) or 1e-6 (float64) in any one
    gradient fails, on every random case whose gradients are not identically zero.

    C = 1 is left out (p = 1, so every gradient is exactly 0 and no scale can show), and
    so are the stress kinds, whose round-off is genuinely larger than 1e-3 (|s2| ≈ 3000
    in float32 leaves p uncertain to ~3e-4)."""
    delta = 1e-3 if dtype == "float32" else 1e-6
    specs = [dataclasses.replace(s, dtype=dtype, kind="random")
             for s in harness.random_specs(11, 150) if s.C > 1]  # fmt: skip
    for spec in specs:
        case = harness.make_case(spec)
        ref = harness.torch_outputs(case)
        tol = harness.tolerances(case, ref)
        for q in harness.GRADIENTS:
            if not np.any(ref[q]):
                continue  # e.g. every s1 ≤ 0: the first-layer gradients are exactly 0
            wrong = (ref[q] * ref[q].dtype.type(1 + delta)).astype(ref[q].dtype)
            c = harness.compare(q, "torch", spec, wrong, ref[q], tol[q])
            assert not c.ok, f"{q} scaled by 1 + {delta} passed at {spec}: {c}"


def test_mask_flip_at_exact_zero_is_never_tolerated() -> None:
    """Exact zeros of s1 carry zero tolerance for dL/ds1: [s1 ≥ 0] must fail there."""
    case = harness.make_case(S(9, 5, 6, 3, "float32", "labels", "mean", "kink", 0))
    ref = harness.torch_outputs(case)
    tol = harness.tolerances(case, ref)
    at_zero = ref["s1"] == 0
    assert at_zero.any()
    assert np.all(tol["dL/ds1"][at_zero] < 1e-30)


def test_case_kinds_have_their_properties() -> None:
    kink = harness.torch_outputs(harness.make_case(S(33, 17, 25, 7, "float64", kind="kink")))
    assert (kink["s1"] == 0).sum() >= 25
    large = harness.torch_outputs(harness.make_case(S(33, 17, 25, 7, "float32", kind="large")))
    assert np.abs(large["s2"]).max() > 1000
    tiny = harness.torch_outputs(harness.make_case(S(33, 17, 25, 7, "float64", kind="tiny")))
    assert tiny["p"].min() < 1e-30


def test_targets_have_their_forms() -> None:
    def y(target: str) -> np.ndarray:
        return harness.make_case(S(20, 3, 4, 6, "float32", target)).y

    assert y("labels").dtype.kind == "i"
    assert set(np.unique(y("onehot"))) == {0.0, 1.0}
    np.testing.assert_allclose(y("soft").sum(axis=1), 1, rtol=1e-6)
    assert np.all(np.abs(y("unnormalised").sum(axis=1) - 1) > 1e-3)


def test_case_spec_round_trips_and_rejects_unknown_fields() -> None:
    spec = S(3, 4, 5, 6, "float32", "soft", "sum", "tiny", 99)
    assert S.parse(str(spec)) == spec
    with pytest.raises(ValueError, match="unknown fields"):
        S.parse("N=1,D=1,H=1,C=1,colour=red")
    with pytest.raises(ValueError, match="dtype"):
        harness.make_case(S(1, 1, 1, 1, "float16"))


def test_random_specs_are_deterministic_and_span_the_space() -> None:
    a, b = harness.random_specs(3, 400), harness.random_specs(3, 400)
    assert a == b
    assert a != harness.random_specs(4, 400)
    assert {s.dtype for s in a} == set(harness.DTYPES)
    assert {s.target for s in a} == set(harness.TARGETS)
    assert {s.kind for s in a} == set(harness.KINDS)
    assert max(max(s.N, s.D, s.H, s.C) for s in a) > 64
    assert min(min(s.N, s.D, s.H, s.C) for s in a) == 1
