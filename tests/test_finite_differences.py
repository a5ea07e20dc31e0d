"""Finite differences, a framework-free third opinion, agree with torch and JAX."""

from __future__ import annotations

import numpy as np
import pytest

from handgrad import cases
from handgrad.finite_differences import RTOL, agree, finite_differences
from handgrad.plain import PLAIN, torch_plain
from handgrad.quantities import QUANTITIES

S = cases.CaseSpec
SMALL = [
    S(3, 4, 5, 3, "float64", target, reduction, kind, seed)
    for seed, (target, reduction, kind) in enumerate(
        [("labels", "mean", "random"), ("onehot", "sum", "random"), ("soft", "mean", "kink"),
         ("unnormalised", "sum", "random"), ("labels", "sum", "tiny"), ("soft", "mean", "random"),
         ("labels", "mean", "kink")]
    )
] + [S(1, 1, 1, 2, "float64"), S(2, 3, 1, 1, "float64", "soft", "sum")]  # fmt: skip


@pytest.mark.parametrize("spec", SMALL, ids=str)
def test_finite_differences_agree_with_both_frameworks(spec: cases.CaseSpec) -> None:
    case = cases.make_case(spec)
    fd = finite_differences(case)
    covered = [q for q, quantity in QUANTITIES.items() if quantity.finite_differences]
    assert set(fd.grads) == set(covered)
    for name, plain in PLAIN.items():
        ref = plain(case)
        for q in covered:
            rel = agree(fd.grads[q], ref[q], fd.skipped.get(q))
            assert rel <= RTOL, f"{q}: FD and {name} differ by {rel:.2g} of the scale"


def test_steps_that_cross_the_kink_are_not_taken_centrally() -> None:
    """With exact zeros in s1, elements of dL/ds1 at the kink cannot be differenced centrally:
    they are done one-sidedly or skipped, and counted."""
    case = cases.make_case(S(3, 4, 5, 3, "float64", kind="kink", seed=2))
    fd = finite_differences(case)
    at_kink = int((torch_plain(case)["s1"] == 0).sum())
    assert at_kink > 0
    assert int(fd.one_sided["dL/ds1"].sum() + fd.skipped["dL/ds1"].sum()) >= at_kink


def test_finite_differences_catch_a_wrong_gradient() -> None:
    case = cases.make_case(S(3, 4, 5, 3, "float64", seed=5))
    fd = finite_differences(case)
    ref = torch_plain(case)
    assert agree(fd.grads["dL/dw1"], ref["dL/dw1"] * 1.001) > RTOL
    assert agree(fd.grads["dL/dx"], -ref["dL/dx"]) > RTOL
    assert np.any(fd.grads["dp/ds2"])
