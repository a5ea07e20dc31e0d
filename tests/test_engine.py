"""Tests of the engine itself: the batched references, the padding and the tolerance rule
(the case generator's are in ``test_cases.py``)."""

from __future__ import annotations

import dataclasses
import math
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import manual
from handgrad import batch as batch_module
from handgrad import cases, jacobian, oracles
from handgrad.batch import batch_of, bucket
from handgrad.compare import compare
from handgrad.engine import verify_batch, verify_case
from handgrad.plain import PLAIN, torch_plain
from handgrad.quantities import CASE_WISE, NAMES, PRODUCTS, QUANTITIES
from handgrad.regularisation import L2, NO_L2
from handgrad.tolerance import case_tolerances

S = cases.CaseSpec
MIXED = [
    S(5, 4, 10, 3, "float32", "labels", "mean", "random", 1),
    S(1, 1, 1, 1, "float32", "labels", "sum", "random", 2),
    S(7, 3, 2, 5, "float32", "soft", "mean", "kink", 3),
    S(64, 64, 64, 8, "float32", "unnormalised", "sum", "random", 4),
    S(12, 6, 8, 4, "float32", "labels", "sum", "large", 6),
    S(3, 60, 9, 7, "float32", "onehot", "mean", "tiny", 7),
]
"""Cases of one bucket, (64, 64, 64, 8), of very different true shapes."""


def _as(dtype: str) -> list[cases.CaseSpec]:
    return [dataclasses.replace(s, dtype=dtype) for s in MIXED]


L2S = (NO_L2, L2(0.1, "full"), L2(0.3, "half", biases=True))


@pytest.mark.parametrize("l2", L2S, ids=lambda l2: l2.as_options() or "no-l2")
@pytest.mark.parametrize("reference", ["torch", "jax"])
@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_batched_references_equal_the_plain_ones(
    reference: str, dtype: str, l2: L2, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The padded, vmapped, sum-reduced program and the stacked Jacobian rows give, on each
    case's true slice, the values of the plain oracle called on that case alone, with
    integer labels as labels: within the gate's tolerance, in every quantity. Under L2, the
    batched path adds the penalty's own autodiff terms to the data term, and the plain
    path differentiates the regularised loss itself: they agree too.

    In torch groups of four and sub-batches of two (``_assert_split_twice``), JAX's values
    are cut from the whole batch's program, torch's from each trimmed group's."""
    _split_small(monkeypatch)
    specs = _as(dtype)
    assert len({bucket(s) for s in specs}) == 1
    batch = batch_of([cases.make_case(s) for s in specs])
    _assert_split_twice(batch, monkeypatch)
    batched = oracles.batched_values(batch, reference, l2)
    for case, got in zip(batch.cases, batched, strict=True):
        _assert_plain(case, got, reference, l2)


def _split_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's groups of four cases, and sub-batches of two within them."""
    monkeypatch.setattr(oracles, "TORCH_SUB_BATCH", 4)
    monkeypatch.setattr(batch_module, "SUB_BATCH", 2)


def _assert_split_twice(batch: batch_module.Batch,
                        monkeypatch: pytest.MonkeyPatch) -> list[oracles.Part]:  # fmt: skip
    """``references``' parts of ``batch``, whose torch values it cut twice: from two groups,
    one trimmed, to a sub-batch trimmed further (so no test passes on untrimmed arrays)."""
    ran: list[batch_module.Dims] = []
    torch_batch = oracles.BATCHED["torch"]

    def recording(group: batch_module.Batch, *args: Any) -> Any:
        ran.append(group.dims)
        return torch_batch(group, *args)

    monkeypatch.setitem(oracles.BATCHED, "torch", recording)
    parts = oracles.references(batch)
    assert len(ran) == 2
    trimmed = [dims for dims in ran if dims != batch.dims]
    assert trimmed
    assert any(sub.dims != dims and all(np.less_equal(sub.dims, dims))
               for _, sub, _ in parts for dims in trimmed)  # fmt: skip
    assert sorted(int(i) for idx, _, _ in parts for i in idx) == list(range(len(batch)))
    return parts


def _assert_plain(case: cases.Case, got: dict[str, Any], reference: str, l2: L2) -> None:
    """Every quantity of ``got`` is the plain oracle's on ``case`` within the tolerance."""
    plain = PLAIN[reference](case, l2)
    tol = case_tolerances(case, plain, l2)
    for q in NAMES:
        c = compare(q, f"plain {reference}", case.spec, got[q], plain[q], tol[q])
        assert c.ok, f"{q} of {case.spec}: {c}"


@pytest.mark.parametrize("reference", ["torch", "jax"])
@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_a_single_case_equals_the_plain_references(reference: str, dtype: str) -> None:
    """A case verified alone (``verify_case``'s, Hypothesis's) is not filled up to its
    bucket's batch size: JAX runs a program of its own for it (B = 1), which XLA may fuse,
    and so round, otherwise. Its values are the plain oracle's within the tolerance too,
    with and without L2, at the bucket's largest case and a narrow one."""
    for spec in (_as(dtype)[3], _as(dtype)[5]):
        for l2 in (NO_L2, L2S[2]):
            batch = batch_of([cases.make_case(spec)], alone=True)
            _assert_plain(batch.cases[0], oracles.batched_values(batch, reference, l2)[0],
                          reference, l2)  # fmt: skip


@pytest.mark.parametrize("reference", ["torch", "jax"])
def test_a_batch_gives_each_case_its_own_values(reference: str) -> None:
    """A case's values do not depend on which other cases share its padded arrays (the same
    bucket beside one other case and among five others: vmap and the row stacking keep
    cases apart). A trimmed sub-batch, and a single case, run programs of their own, whose
    products may round otherwise: the tests above bound those."""
    specs = _as("float64")
    dims = bucket(specs[0])
    pair = batch_of([cases.make_case(specs[2]), cases.make_case(specs[0])], dims)
    together = batch_of([cases.make_case(s) for s in specs], dims)
    run, rows = oracles.BATCHED[reference], oracles.JACOBIAN[reference]
    two, six = run(pair, PRODUCTS), run(together, PRODUCTS)
    for q in CASE_WISE:
        axes = QUANTITIES[q].axes
        got, want = pair.unpad(two[q], 0, axes), together.unpad(six[q], 2, axes)
        np.testing.assert_array_equal(got, want, err_msg=q)
    start, stop = together.row_offsets[2:4]
    np.testing.assert_array_equal(rows(pair.rows(two["s2"]))[: pair.row_offsets[1]],
                                  rows(together.rows(six["s2"]))[start:stop])  # fmt: skip


class Planted(ModuleType):
    """manual, except that one quantity of one case (the one whose x is ``target``) is
    changed at one element."""

    def __init__(self, quantity: str, index: tuple[int, ...], value: float) -> None:
        super().__init__("planted")
        self.Params, self.cross_entropy = manual.Params, manual.cross_entropy
        self.quantity, self.index, self.value = quantity, index, value
        self.target: Any = None  # the victim's x, which identifies its case
        self.rows = -1  # the victim's N, which identifies its p

    def _hit(self, x: Any) -> bool:
        return bool(self.target is not None and np.array_equal(x, self.target))

    def forward(self, x: Any, params: Any) -> Any:
        fwd = manual.forward(x, params)
        if self.quantity == "s1" and self._hit(x):
            fwd.s1[self.index] = self.value
        return fwd

    def backward(self, x: Any, y: Any, params: Any, fwd: Any, reduction: str = "mean") -> Any:
        g = manual.backward(x, y, params, fwd, reduction)
        if self.quantity == "dL/dw1" and self._hit(x):
            g.w1[self.index] = self.value
        return g

    def softmax_jacobian(self, p: Any) -> Any:
        jac = manual.softmax_jacobian(p)
        if self.quantity == "dp/ds2" and self.target is not None and jac.shape[0] == self.rows:
            jac[self.index] = self.value
        return jac


PLANTS = [("dL/dw1", (2, 1), 1e3), ("s1", (6, 1), math.nan), ("dp/ds2", (2, 4, 3), 0.5)]


@pytest.mark.parametrize(("quantity", "index", "value"), PLANTS)
@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("sub_batch", [2, batch_module.SUB_BATCH])
def test_a_planted_mismatch_is_found_in_its_case_at_its_element(
    quantity: str, index: tuple[int, ...], value: float, dtype: str, sub_batch: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """One wrong element in one case of a padded batch: exactly that case fails, in that
    quantity, with that element as its worst; the padding hides nothing and adds nothing.
    With ``sub_batch`` 2, torch's groups hold four cases, the victim lies in a trimmed
    sub-batch beside another case, and the Jacobian's blocks are cut to 4 rows, so that
    the victim's 7 rows (rows 6 to 12 of the batch's stack) span three of them."""
    batch = batch_of([cases.make_case(s) for s in _as(dtype)])
    if sub_batch == 2:
        _split_small(monkeypatch)
        monkeypatch.setattr(jacobian, "BLOCK_ELEMENTS", 4 * 8 * 8)  # C = 8: 4 rows a block
        [victims] = [sub for idx, sub, _ in _assert_split_twice(batch, monkeypatch) if 2 in idx]
        assert len(victims) == 2
        assert victims.dims != batch.dims
    victim = batch.cases[2]  # (7, 3, 2, 5): every planted index lies inside its slice
    module = Planted(quantity, index, value)
    module.target, module.rows = victim.x, victim.spec.N
    results = verify_batch(module, batch)
    assert [r.passed for r in results] == [i != 2 for i in range(len(batch))]
    _assert_planted(results[2], quantity, index, value)


def _assert_planted(result: Any, quantity: str, index: tuple[int, ...], value: float) -> None:
    failures = [c for c in result.failures if c.reference in ("torch", "jax")]
    assert {c.quantity for c in failures} == {quantity}, result.failures
    for c in failures:
        assert c.index == index
        assert c.mismatches == 1
        assert math.isnan(c.got) if math.isnan(value) else c.got == np.float32(value)


def test_sub_batches_partition_the_batch_and_keep_like_shapes_together() -> None:
    """``partition`` deals every case to exactly one group of ``size`` (one group smaller
    at most), and a batch made of two shapes, shuffled (apart in N, D and H, or in H
    alone), falls into groups of one shape each: each group's padding is then none."""
    rng = np.random.default_rng(0)
    dims = rng.integers(1, 65, size=(61, 4))
    groups = batch_module.partition(dims, 8)
    assert sorted(np.concatenate(groups).tolist()) == list(range(61))
    assert sorted(len(g) for g in groups) == [5] + [8] * 7
    for small, large in (([1, 2, 3, 1], [64, 60, 50, 8]), ([5, 5, 1, 5], [5, 5, 64, 5])):
        two = np.array([small] * 8 + [large] * 8)[rng.permutation(16)]
        for group in batch_module.partition(two, 8):
            assert len(np.unique(two[group], axis=0)) == 1, two[group]


@pytest.mark.parametrize(("quantity", "index", "value"), PLANTS)
@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_a_planted_mismatch_is_found_in_a_case_verified_alone(
    quantity: str, index: tuple[int, ...], value: float, dtype: str
) -> None:
    """A case verified alone runs programs shaped for it (JAX for one case, a Jacobian
    block of 64 rows): they find the planted element too, and only it."""
    victim = cases.make_case(_as(dtype)[2])
    module = Planted(quantity, index, value)
    module.target, module.rows = victim.x, victim.spec.N
    _assert_planted(verify_case(module, victim), quantity, index, value)


class WrongDtypeP(ModuleType):
    """manual, but p comes back in float64 for float32 input, while its Jacobian comes
    back right (cast to float32)."""

    def __init__(self) -> None:
        super().__init__("wrong_dtype_p")
        self.Params, self.cross_entropy = manual.Params, manual.cross_entropy

    def forward(self, x: Any, params: Any) -> Any:
        fwd = manual.forward(x, params)
        return dataclasses.replace(fwd, p=fwd.p.astype(np.float64))

    def backward(self, x: Any, y: Any, params: Any, fwd: Any, reduction: str = "mean") -> Any:
        return manual.backward(x, y, params, dataclasses.replace(fwd, p=fwd.p.astype(x.dtype)),
                               reduction)  # fmt: skip

    def softmax_jacobian(self, p: Any) -> Any:
        return manual.softmax_jacobian(p).astype(np.float32)


def test_a_broken_p_is_reported_as_p_alone_and_does_not_stop_the_batch() -> None:
    """A contract breach in p alone: p fails with its dtype named, and nothing else does
    (the Jacobian is still compared, and passes); nothing crashes."""
    batch = batch_of([cases.make_case(s) for s in _as("float32")])
    results = verify_batch(WrongDtypeP(), batch)
    for r in results:
        assert {c.quantity for c in r.failures} == {"p"}
        assert "wrong dtype: dtype float64, expected float32" in r.failures[0].cause
        assert r.ratios[("dp/ds2", "torch")] <= 1


def test_the_references_agree_with_each_other() -> None:
    """Two independent correct implementations (torch and JAX) stay within the tolerance:
    the rule is loose enough for a correct implementation."""
    worst = 0.0
    specs = cases.random_specs(7, 200)
    for dtype in cases.DTYPES:
        group = [s for s in specs if s.dtype == dtype]
        for b in {bucket(s) for s in group}:
            batch = batch_of([cases.make_case(s) for s in group if bucket(s) == b])
            torch_values = oracles.batched_values(batch, "torch")
            jax_values = oracles.batched_values(batch, "jax")
            for case, t, j in zip(batch.cases, torch_values, jax_values, strict=True):
                tol = case_tolerances(case, t)
                for q in NAMES:
                    c = compare(q, "jax", case.spec, t[q], j[q], tol[q])
                    assert c.ok, f"{q}: {c}"
                    worst = max(worst, c.ratio)
    assert worst > 0  # the comparison saw real round-off, not identical arrays


GRADIENTS = [q for q in CASE_WISE if q.startswith("dL/")]


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_tolerance_catches_small_relative_errors(dtype: str) -> None:
    """Tight enough: a relative error of 1e-3 (float32) or 1e-6 (float64) in any one
    gradient fails, on every random case whose gradients are not identically zero.

    C = 1 is left out (p = 1, so every gradient is exactly 0 and no scale can show), and
    so are the stress kinds, whose round-off is genuinely larger than 1e-3 (|s2| ≈ 3000
    in float32 leaves p uncertain to ~3e-4)."""
    delta = 1e-3 if dtype == "float32" else 1e-6
    specs = [dataclasses.replace(s, dtype=dtype, kind="random")
             for s in cases.random_specs(11, 150) if s.C > 1]  # fmt: skip
    for spec in specs:
        case = cases.make_case(spec)
        ref = torch_plain(case)
        tol = case_tolerances(case, ref)
        for q in GRADIENTS:
            if not np.any(ref[q]):
                continue  # e.g. every s1 ≤ 0: the first-layer gradients are exactly 0
            wrong = (ref[q] * ref[q].dtype.type(1 + delta)).astype(ref[q].dtype)
            c = compare(q, "torch", spec, wrong, ref[q], tol[q])
            assert not c.ok, f"{q} scaled by 1 + {delta} passed at {spec}: {c}"


def test_mask_flip_at_exact_zero_is_never_tolerated() -> None:
    """Exact zeros of s1 carry no tolerance beyond the flush floor: [s1 ≥ 0] must fail."""
    case = cases.make_case(S(9, 5, 6, 3, "float32", "labels", "mean", "kink", 0))
    ref = torch_plain(case)
    tol = case_tolerances(case, ref)
    at_zero = ref["s1"] == 0
    assert at_zero.any()
    assert np.all(tol["dL/ds1"][at_zero] < 1e-30)


def test_an_unknown_quantity_is_an_error() -> None:
    from handgrad import quantities

    with pytest.raises(KeyError, match="unknown quantity 'dL/dw3'"):
        quantities.get("dL/dw3")
    with pytest.raises(KeyError, match="unregistered"):
        quantities.check_keys("reference", [*CASE_WISE, "dL/dw3"])


def test_the_registry_is_in_data_flow_order() -> None:
    """Every quantity comes after all it reads, so that the earliest failure of a case is
    its upstream-most one (the root cause, not a symptom)."""
    from handgrad import quantities

    for name, q in quantities.QUANTITIES.items():
        assert all(quantities.ORDER[a] < quantities.ORDER[name] for a in q.after), name
    assert quantities.downstream("dL/do1") == ["dL/ds1", "dL/dx", "dL/dw1", "dL/db1", "R{dL/dx}",
                                               "R{dL/dw1}"]  # fmt: skip
    assert "dL/dw2" not in quantities.downstream("dL/do1")
