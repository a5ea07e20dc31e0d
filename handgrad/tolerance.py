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
from handgrad.regularisation import L2, NO_L2

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
        tol = m.resolve(name) + tiny * floor  # a new array: the bound itself is shared
        tol *= SAFETY
        np.copyto(tol, np.inf, where=~batch.mask(name))
        out[name] = tol
    return out, m


def jacobian_tolerance(p: NDArray[Any], e_p: NDArray[Any], eps: float, tiny: float,
                       xp: Any = np) -> NDArray[Any]:  # fmt: skip
    """ρ·(bound + tiny) of dp/ds2 for rows of p and of its bound (any leading axes), in the
    array namespace ``xp`` (NumPy, or jax.numpy in the Jacobian stage's program)."""
    out: NDArray[Any] = jacobian_bound(p, e_p, eps, SAFETY, xp) + SAFETY * tiny
    return out


def case_tolerances(case: Case, ref: Arrays, l2: L2 = NO_L2) -> Arrays:
    """Every tolerance of one case, unpadded: a batch of one case in its own shape."""
    spec = case.spec
    batch = batch_of([case], (spec.N, spec.D, spec.H, spec.C))
    padded = {k: np.asarray(v)[None] for k, v in ref.items() if k in CASE_WISE}
    tol, m = tolerances(batch, padded)
    add_l2(tol, m, padded, l2)
    info = np.finfo(batch.dtype)
    out = {k: v[0] for k, v in tol.items()}
    for name in ROW_WISE:  # the softmax Jacobian, the one row-wise quantity
        out[name] = jacobian_tolerance(m.ref["p"][0], m.resolve("p")[0], float(info.eps),
                                       float(info.tiny))  # fmt: skip
    return out


def add_l2(tol: Arrays, m: Magnitudes, ref: Arrays, l2: L2) -> None:
    """Widen, in place, the tolerances of what the L2 penalty λ·Σ‖W‖² changes by its own
    rounding: each penalised gradient gains 2λ·w (the product rounds, and so does the sum
    with the data gradient), the loss gains a sum of k squares (ε·√k of it, plus λ's own
    rounding and the final sum), and the products gain 2λ·ẇ (R{·}, G{·}) and 2λ·⟨w, ẇ⟩ (L̇)."""
    if not l2:
        return
    factor = SAFETY * 2 * m.eps  # both sides round
    lam = l2.coefficient
    weights = {"dL/dw1": m.w1, "dL/dw2": m.w2}
    moved = {"dL/dw1": m.v.get("w1"), "dL/dw2": m.v.get("w2")}
    if l2.biases:
        weights |= {"dL/db1": m.b1[:, 0, :], "dL/db2": m.b2[:, 0, :]}
        if m.v:
            moved |= {"dL/db1": m.v["b1"][:, 0, :], "dL/db2": m.v["b2"][:, 0, :]}
    value = np.zeros(len(m.n))
    slope = np.zeros(len(m.n))
    count = np.zeros(len(m.n))
    for q, w in weights.items():
        axes = tuple(range(1, w.ndim))
        tol[q] = tol[q] + factor * (3 * 2 * lam * w + np.abs(ref[q].astype(np.float64)))
        value += lam * (w**2).sum(axis=axes)
        count += (w != 0).sum(axis=axes)
        v = moved.get(q)
        if v is None:
            continue
        slope += 2 * lam * (w * v).sum(axis=axes)
        for product in ("R", "G"):
            name = f"{product}{{{q}}}"
            if name in tol:
                tol[name] = tol[name] + factor * (3 * 2 * lam * v + np.abs(ref[name]))
    rounding = np.sqrt(np.maximum(count, 1)) + 2
    tol["loss"] = tol["loss"] + factor * (rounding * value + np.abs(ref["loss"]))
    if "L̇" in tol:
        tol["L̇"] = tol["L̇"] + factor * (rounding * slope + np.abs(ref["L̇"]))
