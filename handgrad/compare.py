"""Comparison: each candidate quantity against each reference, and against itself.

One rule everywhere: an element's ratio is |got − want| / tolerance, computed in float64;
an exact match is 0 (even where the tolerance is 0), a NaN is ∞, and a quantity passes when
its worst ratio is at most 1. :func:`worst_ratios` applies it to a padded batch at once and
ignores the padding; :func:`compare` applies it to one case's arrays and records the
details a failure message needs. Both give the same worst ratio.

The invariants need no reference: dL/ds1 is exactly 0 wherever s1 ≤ 0; the bias gradients
are the column sums of dL/ds1 and dL/ds2; rows of dL/ds2 sum to 0 for targets that sum to
1; the softmax Jacobian is symmetric with rows summing to 0. The last four hold exactly in
real arithmetic, but a correct candidate may compute each side in its own order of
operations: their tolerance is the gate's own tolerance of every quantity involved (what a
correct implementation may differ by from the exact value) plus ρ times the rounding of the
one sum the check itself does. No check may demand an order of operations.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.batch import Batch
from handgrad.bounds import SAFETY
from handgrad.cases import CaseSpec
from handgrad.regularisation import L2

Arrays = dict[str, NDArray[Any]]
INVARIANT = "invariant"
"""The reference name of a check of the candidate against itself."""


@dataclass
class Comparison:
    """One quantity of one case against one reference (or an invariant)."""

    quantity: str
    reference: str
    spec: CaseSpec
    ratio: float  # worst |got − want| / tolerance; inf for a shape, dtype or NaN mismatch
    mismatches: int = 0
    size: int = 0
    index: tuple[int, ...] = ()
    got: float = math.nan
    want: float = math.nan
    error: float = math.nan
    tol: float = math.nan
    problem: str = ""  # a contract breach (shape, dtype) found before values were compared
    cause: str = ""  # the likely cause, when the error has a recognisable pattern

    @property
    def ok(self) -> bool:
        return self.ratio <= 1.0


def ratios(got: NDArray[Any], want: NDArray[Any], tol: NDArray[Any]) -> tuple[Any, Any]:
    """(|got − want|, |got − want| / tol) elementwise, in float64, with 0/0 = 0 and NaN → ∞."""
    err = np.asarray(np.abs(np.asarray(got, dtype=np.float64) - want))
    ratio = _divide(err.copy(), tol)
    ratio[np.isnan(ratio)] = math.inf
    return err, ratio


def _divide(err: NDArray[np.float64], tol: NDArray[Any]) -> NDArray[np.float64]:
    """err / tol in place, leaving exact matches (err = 0) at 0 even where tol = 0."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        np.divide(err, tol, out=err, where=err != 0)
    return err


def contract_problem(got: NDArray[Any], shape: tuple[int, ...], dtype: np.dtype[Any]) -> str:
    """ "" if ``got`` has the shape and dtype the contract demands, else what is wrong."""
    if got.shape != shape:
        return f"shape {got.shape}, expected {shape}"
    if got.dtype != dtype:
        return f"dtype {got.dtype}, expected {dtype}"
    return ""


def compare(quantity: str, reference: str, spec: CaseSpec, got: NDArray[Any],
            want: NDArray[Any], tol: NDArray[Any]) -> Comparison:  # fmt: skip
    """One case's ``got`` against ``want``, with the worst element's details."""
    problem = contract_problem(got, want.shape, want.dtype)
    if problem:
        return Comparison(quantity, reference, spec, ratio=math.inf, problem=problem)
    err, ratio = ratios(got, want, tol)
    if not ratio.size:
        return Comparison(quantity, reference, spec, ratio=0.0)
    flat = int(np.argmax(ratio))
    index = tuple(int(i) for i in np.unravel_index(flat, ratio.shape))
    return Comparison(
        quantity, reference, spec, ratio=float(ratio.reshape(-1)[flat]),
        mismatches=int((ratio > 1).sum()), size=int(ratio.size), index=index,
        got=float(got[index]), want=float(want[index]), error=float(err[index]),
        tol=float(tol[index]),
    )  # fmt: skip


def worst_ratios(got: NDArray[Any], want: NDArray[Any] | None,
                 tol: NDArray[Any]) -> NDArray[np.float64]:  # fmt: skip
    """Each case's (or row's) worst ratio in a padded batch, by the rule of ``ratios`` in
    fewer passes: the tolerance is ∞ in the padding (:mod:`handgrad.tolerance`) and every
    padded value is finite, so padding gives 0 and cannot hide a case's worst element.

    ``want=None`` compares with 0 (the invariants).
    """
    err = _error(got, want)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ratio = np.divide(err, tol, out=err)
    out: NDArray[np.float64] = ratio.reshape(len(ratio), -1).max(axis=1, initial=0.0)
    # max propagates NaN: a NaN of the candidate's, or 0/0 at an exact match where a
    # tolerance is 0. Only those cases are divided again, with the exact matches masked.
    for i in np.flatnonzero(np.isnan(out)):
        again = _divide(_error(got[i : i + 1], None if want is None else want[i : i + 1]),
                        tol[i : i + 1])  # fmt: skip
        out[i] = again.max(initial=0.0)
    out[np.isnan(out)] = math.inf  # a NaN anywhere in the case
    return out


def _error(got: NDArray[Any], want: NDArray[Any] | None) -> NDArray[np.float64]:
    """|got − want| in float64 (|got| for ``want`` None)."""
    if want is None:
        out: NDArray[np.float64] = np.abs(got, dtype=np.float64)
        return out
    err: NDArray[np.float64] = np.subtract(got, want, dtype=np.float64)
    np.abs(err, out=err)
    return err


# --- invariants ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invariant:
    """A property of the candidate's own values: ``value`` must be 0 within ``tol``."""

    quantity: str
    axes: str
    rule: str
    uses: tuple[str, ...]
    """The candidate's quantities it reads: a case that broke the contract in one skips it."""
    check: Callable[
        [Batch, Arrays, Arrays, str, L2], tuple[NDArray[Any], NDArray[Any], NDArray[np.bool_]]
    ]
    """(value, tolerance, which cases it applies to) for a padded batch of candidate values,
    the batch's tolerances against the references, and the declared conventions (ReLU at
    0, L2)."""


def _eps_tiny(batch: Batch) -> tuple[float, float]:
    info = np.finfo(batch.dtype)
    return float(info.eps), float(info.tiny)


def _sum_rounding(batch: Batch, axis: str) -> NDArray[Any]:
    """(ε·√k + ε) per case, for a sum of k = the case's size along ``axis``."""
    eps, _ = _eps_tiny(batch)
    out: NDArray[Any] = eps * np.sqrt(batch.size(axis).astype(np.float64)) + eps
    return out


def _all(batch: Batch) -> NDArray[np.bool_]:
    return np.ones(len(batch), dtype=bool)


def _within(batch: Batch, tol: Arrays, name: str) -> NDArray[Any]:
    """A quantity's tolerance with 0 (not ∞) in the padding, for summing."""
    out: NDArray[Any] = np.where(batch.mask(name), tol[name], 0.0)
    return out


def _masked_at_kink(
    batch: Batch, g: Arrays, tol: Arrays, relu_at_zero: str, l2: L2
) -> tuple[Any, Any, Any]:
    _ = tol, l2  # exact: [s1 > 0] is 0 at s1 ≤ 0 in any order of operations
    # At exactly 0 a declared convention other than "0" allows dL/do1 there, or part of it.
    masked = g["s1"] <= 0 if relu_at_zero == "0" else g["s1"] < 0
    value = np.where(masked, g["dL/ds1"], 0.0)
    return value, np.zeros_like(value), _all(batch)


def _column_sums(
    bias: str, ds: str
) -> Callable[[Batch, Arrays, Arrays, str, L2], tuple[Any, Any, Any]]:
    def check(batch: Batch, g: Arrays, tol: Arrays, relu_at_zero: str,
              l2: L2) -> tuple[Any, Any, Any]:  # fmt: skip
        _ = relu_at_zero
        eps, tiny = _eps_tiny(batch)
        value = g[bias] - g[ds].sum(axis=1)
        bound = _sum_rounding(batch, "N")[:, None] * np.abs(g[ds]).sum(axis=1) + tiny
        if l2.biases:  # a regularised bias's gradient is the column sum plus 2λ·b
            term = 2 * l2.coefficient * batch.inputs(0.0)[bias.removeprefix("dL/d")]
            value = value - term
            bound = bound + 3 * eps * np.abs(term)
        allowed = tol[bias] + _within(batch, tol, ds).sum(axis=1)
        return value, SAFETY * bound + allowed, _all(batch)

    return check


def _rows_sum_to_zero(batch: Batch, g: Arrays, tol: Arrays, relu_at_zero: str,
                      l2: L2) -> tuple[Any, Any, Any]:  # fmt: skip
    _ = relu_at_zero, l2
    _, tiny = _eps_tiny(batch)
    y = batch.inputs(0.0)["y"].astype(np.float64)
    normalised = np.array([c.spec.target in ("labels", "onehot", "soft") for c in batch.cases])
    scale = np.where(batch.mean, 1.0 / batch.size("N"), 1.0)[:, None]
    sums = np.abs(g["dL/ds2"]).sum(axis=2) + scale * np.abs(y).sum(axis=2)
    bound = _sum_rounding(batch, "C")[:, None] * sums + tiny
    allowed = _within(batch, tol, "dL/ds2").sum(axis=2)
    return g["dL/ds2"].sum(axis=2), SAFETY * bound + allowed, normalised


INVARIANTS = (
    Invariant("dL/ds1", "NH", "dL/ds1 must be exactly 0 wherever s1 ≤ 0 (s1 < 0 under a "
              "declared --relu-at-zero 1 or any)", ("s1", "dL/ds1"),
              _masked_at_kink),
    Invariant("dL/db1", "H", "dL/db1 must equal the column sums of the candidate's own dL/ds1 "
              "(plus the L2 term 2λ·b1 under --l2-biases)",
              ("dL/db1", "dL/ds1"), _column_sums("dL/db1", "dL/ds1")),
    Invariant("dL/db2", "C", "dL/db2 must equal the column sums of the candidate's own dL/ds2 "
              "(plus the L2 term 2λ·b2 under --l2-biases)",
              ("dL/db2", "dL/ds2"), _column_sums("dL/db2", "dL/ds2")),
    Invariant("dL/ds2", "N", "rows of dL/ds2 must sum to 0 when every target row sums to 1",
              ("dL/ds2",), _rows_sum_to_zero),
)  # fmt: skip
"""The softmax Jacobian's invariants (symmetric, rows summing to 0) run with its rows, in
:mod:`handgrad.jacobian`."""
