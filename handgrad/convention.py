"""ReLU's derivative at exactly s1 = 0: a declared convention, applied to the references.

torch and JAX take it as 0, as ``[s1 > 0]`` does. A candidate may declare "1" (the right
derivative, ``[s1 ≥ 0]``) or "any" (any value in [0, 1] at each exact zero, independently),
both valid subgradients. The convention changes dL/ds1 only where s1 is exactly 0, by
Δ = dL/do1 there, and through it dL/dx = dL/ds1·w1ᵀ, dL/dw1 = xᵀ·dL/ds1 and dL/db1 =
Σ_n dL/ds1. So the engine moves each reference's values by that amount, computed from the
reference's own dL/do1 ("1": all of it; "any": half, the middle of the interval), and
widens the tolerance by the other half ("any"), by the tolerance of dL/do1 itself (the
moved amount is only known that well), and by the rounding of the moved terms.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.batch import Batch
from handgrad.bounds import SAFETY

Arrays = dict[str, NDArray[Any]]


def _through(delta: NDArray[Any], x: NDArray[Any], w1: NDArray[Any]) -> Arrays:
    """Δ in dL/ds1 (B×N×H) carried into each moved quantity."""
    return {"dL/ds1": delta, "dL/dx": delta @ np.swapaxes(w1, 1, 2),
            "dL/dw1": np.swapaxes(x, 1, 2) @ delta, "dL/db1": delta.sum(axis=1)}  # fmt: skip


def apply(batch: Batch, refs: dict[str, Arrays], tol: Arrays, relu_at_zero: str) -> None:
    """Move the references' dL/ds1, dL/dx, dL/dw1 and dL/db1 (in place) to the declared
    convention, and widen their tolerances; nothing to do for "0" or without exact zeros."""
    if relu_at_zero == "0":
        return
    first = next(iter(refs.values()))
    zero = (first["s1"] == 0) & batch.mask("s1")
    if not zero.any():
        return
    inputs = batch.inputs(0.0)
    x, w1 = inputs["x"].astype(np.float64), inputs["w1"].astype(np.float64)
    share = 1.0 if relu_at_zero == "1" else 0.5
    for ref in refs.values():
        delta = np.where(zero, ref["dL/do1"].astype(np.float64), 0.0)
        for q, move in _through(delta, x, w1).items():
            ref[q] = (ref[q].astype(np.float64) + share * move).astype(ref[q].dtype)
    eps = float(np.finfo(batch.dtype).eps)
    size = {"dL/ds1": 1, "dL/dx": batch.size("H"), "dL/dw1": batch.size("N"),
            "dL/db1": batch.size("N")}  # fmt: skip
    magnitude = np.where(zero, np.abs(first["dL/do1"].astype(np.float64)), 0.0)
    # The moved value is dL/do1, which a correct candidate gets only within its tolerance.
    uncertain = np.where(zero, tol["dL/do1"], 0.0)
    spreads = _through(magnitude, np.abs(x), np.abs(w1))
    for q, carried in _through(uncertain, np.abs(x), np.abs(w1)).items():
        spread = spreads[q]
        k = np.asarray(size[q], dtype=np.float64).reshape((-1,) + (1,) * (spread.ndim - 1))
        extra = SAFETY * 2 * eps * (np.sqrt(k) + 1) * spread + share * carried
        if relu_at_zero == "any":
            extra += 0.5 * spread
        tol[q] = tol[q] + extra


def second_order_unverified(batch: Batch, refs: dict[str, Arrays], relu_at_zero: str,
                            products: tuple[str, ...]) -> NDArray[np.bool_]:  # fmt: skip
    """Which cases' second-order products the gate cannot verify: under a declared
    convention other than "0", those with an exact zero in s1. There the convention moves
    ȯ1, R{dL/ds1} and G{dL/ds1}, and through them every tangent and product downstream,
    and the references' second order knows only [s1 > 0]; such cases are reported as not
    verified in second order, never compared against the wrong value."""
    if relu_at_zero == "0" or not products:
        return np.zeros(len(batch), dtype=bool)
    first = next(iter(refs.values()))
    zero = (first["s1"] == 0) & batch.mask("s1")
    out: NDArray[np.bool_] = zero.reshape(len(batch), -1).any(axis=1)
    return out
