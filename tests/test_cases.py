"""Tests of the case generator: its kinds, targets and specs, and the random specs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from handgrad import cases
from handgrad.plain import torch_plain

S = cases.CaseSpec


def test_case_kinds_have_their_properties() -> None:
    def plain(kind: str, dtype: str) -> dict[str, Any]:
        return torch_plain(cases.make_case(S(33, 17, 25, 7, dtype, kind=kind)))

    assert (plain("kink", "float64")["s1"] == 0).sum() >= 25
    assert np.abs(plain("large", "float32")["s2"]).max() > 1000
    assert plain("tiny", "float64")["p"].min() < 1e-30


def test_targets_have_their_forms() -> None:
    def y(target: str) -> Any:
        return cases.make_case(S(20, 3, 4, 6, "float32", target)).y

    assert y("labels").dtype.kind == "i"
    assert set(np.unique(y("onehot"))) == {0.0, 1.0}
    np.testing.assert_allclose(y("soft").sum(axis=1), 1, rtol=1e-6)
    assert np.all(np.abs(y("unnormalised").sum(axis=1) - 1) > 1e-3)


def test_case_spec_round_trips_and_rejects_bad_fields() -> None:
    spec = S(3, 4, 5, 6, "float32", "soft", "sum", "tiny", 99)
    assert S.parse(str(spec)) == spec
    with pytest.raises(ValueError, match="unknown fields"):
        S.parse("N=1,D=1,H=1,C=1,colour=red")
    with pytest.raises(ValueError, match="dtype"):
        S(1, 1, 1, 1, "float16")
    with pytest.raises(ValueError, match="N: expected an integer of at least 1"):
        S(0, 1, 1, 1)


def test_random_specs_are_deterministic_and_span_the_space() -> None:
    a, b = cases.random_specs(3, 400), cases.random_specs(3, 400)
    assert a == b
    assert a != cases.random_specs(4, 400)
    assert {s.dtype for s in a} == set(cases.DTYPES)
    assert {s.target for s in a} == set(cases.TARGETS)
    assert {s.kind for s in a} == set(cases.KINDS)
    assert max(max(s.N, s.D, s.H, s.C) for s in a) > 64
    assert min(min(s.N, s.D, s.H, s.C) for s in a) == 1
