"""Per-element tolerances for a whole padded batch: one NumPy pass per quantity.

tolerance = ρ·(rounding-error bound + tiny·flush-to-zero floor), each half declared per
quantity in the registry (:mod:`handgrad.quantities`) with its formula in
:mod:`handgrad.bounds`. The bounds need magnitudes, not exact values, so either
reference's values serve both.

Padding never leaks into a bound: every input and reference value is zeroed outside its
case before the formulas see it, and every bound is zeroed there after.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.batch import Batch, batch_of
from handgrad.bounds import SAFETY, Magnitudes, jacobian_bound
from handgrad.cases import Case
from handgrad.quantities import CASE_WISE, INPUT_AXES, QUANTITIES, ROW_WISE

Arrays = dict[str, NDArray[Any]]
USED = (
    "s1",
    "o1",
    "s2",
    "p",
    "dL/ds2",
    "dL/do1",
    "dL/ds1",
    "ṡ1",
    "ȯ1",
    "ṡ2",
    "ṗ",
    "R{dL/ds2}",
    "R{dL/do1}",
    "R{dL/ds1}",
    "G{dL/ds2}",
    "G{dL/do1}",
    "G{dL/ds1}",
)
"""The reference values the bounds read (the rest would be converted for nothing)."""


def magnitudes(batch: Batch, ref: Arrays) -> Magnitudes:
    """The bounds' inputs for ``batch``, in float64, zero in the padding."""
    inputs = batch.inputs(0.0)
    a = {k: np.abs(v.astype(np.float64)) for k, v in inputs.items() if k != "y"}
    masked = {
        k: np.where(batch.mask(k), np.asarray(v, dtype=np.float64), 0.0)
        for k, v in ref.items()
        if k in USED
    }

    def size(axis: str) -> NDArray[Any]:
        return batch.size(axis).astype(np.float64)[:, None, None]

    return Magnitudes(
        eps=float(np.finfo(batch.dtype).eps),
        x=a["x"], w1=a["w1"], b1=a["b1"][:, None, :], w2=a["w2"], b2=a["b2"][:, None, :],
        y=inputs["y"].astype(np.float64), ref=masked,
        n=size("N"), d=size("D"), h=size("H"), c=size("C"),
        scale=np.where(batch.mean, 1.0 / batch.size("N"), 1.0)[:, None, None],
        classes=batch.mask_of(INPUT_AXES["b2"])[:, None, :],
        formulas={name: q.bound for name, q in QUANTITIES.items()},
        mask=batch.mask,
        v=_direction(batch) if any(QUANTITIES[k].product for k in ref) else {},
    )  # fmt: skip


def _direction(batch: Batch) -> Arrays:
    """|direction| in float64, biases as rows like the inputs'."""
    out = {k: np.abs(v.astype(np.float64)) for k, v in batch.direction.items()}
    out["b1"], out["b2"] = out["b1"][:, None, :], out["b2"][:, None, :]
    return out


def tolerances(batch: Batch, ref: Arrays) -> tuple[Arrays, Magnitudes]:
    """ρ·(bound + tiny·floor) for every case-wise quantity in ``ref`` (the first-order ones
    and those of the second-order products it holds), padded with ∞: whatever the padding
    holds, it is within tolerance, so it never counts as a mismatch. Also the magnitudes,
    whose p and bound of p the row-wise Jacobian stage needs."""
    m = magnitudes(batch, ref)
    tiny = float(np.finfo(batch.dtype).tiny)
    out: Arrays = {}
    for name in (n for n in CASE_WISE if n in ref):
        q = QUANTITIES[name]
        floor = q.floor(m).reshape((len(batch),) + (1,) * len(q.axes))
        tol = m.resolve(name).copy()
        tol += tiny * floor
        tol *= SAFETY
        tol[~batch.mask(name)] = np.inf
        out[name] = tol
    return out, m


def jacobian_tolerance(p: NDArray[Any], e_p: NDArray[Any], eps: float, tiny: float) -> NDArray[Any]:
    """ρ·(bound + tiny) of dp/ds2 for rows of p and of its bound (any leading axes)."""
    tol = jacobian_bound(p, e_p, eps, SAFETY)
    tol += SAFETY * tiny
    return tol


def case_tolerances(case: Case, ref: Arrays) -> Arrays:
    """Every tolerance of one case, unpadded: a batch of one case in its own shape."""
    spec = case.spec
    batch = batch_of([case], (spec.N, spec.D, spec.H, spec.C))
    tol, m = tolerances(batch, {k: np.asarray(v)[None] for k, v in ref.items() if k in CASE_WISE})
    info = np.finfo(batch.dtype)
    out = {k: v[0] for k, v in tol.items()}
    for name in ROW_WISE:  # the softmax Jacobian, the one row-wise quantity
        out[name] = jacobian_tolerance(m.ref["p"][0], m.resolve("p")[0], float(info.eps),
                                       float(info.tiny))  # fmt: skip
    return out
