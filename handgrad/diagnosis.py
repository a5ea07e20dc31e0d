"""The likely cause of a failed comparison, from the pattern of its error.

Each pattern is tested against the reference's own values: a candidate whose dL/dx equals
dL/do1·w1ᵀ has left out the ReLU mask, one that equals −reference has a sign error. A
cause is named only when the alternative formula accounts for every element; otherwise
the answer is "" and the message names none.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.cases import Case
from handgrad.compare import Comparison

Arrays = dict[str, NDArray[Any]]


def _explained(got: NDArray[Any], alt: NDArray[Any], tol: NDArray[Any], eps: float) -> bool:
    """Whether the alternative ``alt`` accounts for ``got`` elementwise.

    ``tol`` is the tolerance of the true value, which is too tight where ``alt`` differs
    from it most, so a round-off allowance of 1000·ε relative to ``alt``'s scale is added.
    """
    if got.shape != alt.shape or not alt.size:
        return False
    return bool(np.all(np.abs(got - alt) <= tol + 1000 * eps * np.abs(alt).max()))


def _contract(c: Comparison) -> str:
    if c.problem.startswith("dtype"):
        return f"wrong dtype: {c.problem}; a float64 constant or cast promoted the result"
    return (f"wrong shape: {c.problem}; a transposed product (e.g. np.outer or x·dsᵀ) or a "
            "sum over the wrong axis")  # fmt: skip


def _not_finite(g: NDArray[Any], case: Case, ref: Arrays) -> str:
    N = case.spec.N
    rows = ~np.isfinite(g.reshape(g.shape[0], -1)).all(axis=1) if g.ndim else None
    big = np.abs(ref["s2"]).max(axis=1) if rows is not None and rows.shape[0] == N else None
    where = ""
    if big is not None and rows is not None:
        where = f" in {int(rows.sum())} row(s) whose largest |s2| is ≥ {big[rows].min():.3g}"
    return (f"NaN or inf where the reference is finite{where}: overflow, e.g. softmax "
            "without subtracting the row maximum")  # fmt: skip


def _relu(q: str, g: NDArray[Any], want: NDArray[Any], case: Case, ref: Arrays,
          tol: NDArray[Any], eps: float) -> str:  # fmt: skip
    s1 = ref["s1"]
    if q == "dL/ds1":
        bad = ~(np.abs(g - want) <= tol)
        if bad.any() and np.all(s1[bad] == 0):
            return "mismatches only where s1 = 0 exactly, the ReLU kink: use [s1 > 0], not ≥"
        if bad.any() and np.all(s1[bad] <= 0):
            return "mismatches only where s1 ≤ 0: the ReLU mask [s1 > 0] is missing or wrong"
    if q in ("dL/dx", "dL/dw1", "dL/db1"):
        do1 = ref["dL/do1"].astype(np.float64)
        x, w1 = case.x.astype(np.float64), case.w1.astype(np.float64)
        for label, ds1 in (("missing", do1), ("taken as [s1 ≥ 0]", np.where(s1 >= 0, do1, 0))):
            alt = {"dL/dx": ds1 @ w1.T, "dL/dw1": x.T @ ds1, "dL/db1": ds1.sum(axis=0)}[q]
            if _explained(g, alt, tol, eps):
                return f"{q} matches the formula with the ReLU mask {label}"
    return ""


def _formula(q: str, g: NDArray[Any], want: NDArray[Any], case: Case, ref: Arrays,
             tol: NDArray[Any], eps: float) -> str:  # fmt: skip
    N = case.spec.N
    if q == "dL/dw2":
        alt = ref["s1"].T.astype(np.float64) @ ref["dL/ds2"].astype(np.float64)
        if _explained(g, alt, tol, eps):
            return "dL/dw2 matches s1ᵀ·dL/ds2: the product needs o1 = ReLU(s1), not s1"
    if q == "dL/ds2" and not case.labels:
        p, y = ref["p"].astype(np.float64), case.y.astype(np.float64)
        alt = (p - y) / (N if case.spec.reduction == "mean" else 1)
        if _explained(g, alt, tol, eps):
            return ("candidate = p − y, which holds only when every row of y sums to 1; "
                    "in general dL/ds2 = p·Σ_c y_c − y")  # fmt: skip
    if q == "dp/ds2":
        C = g.shape[-1]
        bad = ~(np.abs(g - want) <= tol)
        on_diag = np.broadcast_to(np.eye(C, dtype=bool), bad.shape)
        if bad.any() and np.all(on_diag[bad]):
            return "mismatches only on the diagonal: the diag(p) term, p_j (1 − p_j) at c = j"
        if bad.any() and not np.any(on_diag[bad]):
            return "mismatches only off the diagonal: the −p_c p_j term for c ≠ j"
    return ""


def diagnose(c: Comparison, got: NDArray[Any], case: Case, ref: Arrays, tol: NDArray[Any]) -> str:
    """The likely cause of the failed comparison ``c`` ("" if no pattern fits)."""
    if c.problem:
        return _contract(c)
    q, N = c.quantity, case.spec.N
    want = ref[q].astype(np.float64)
    g = got.astype(np.float64)
    if not np.isfinite(g).all():
        return _not_finite(g, case, ref)
    eps = float(np.finfo(np.dtype(case.spec.dtype)).eps)
    if np.any(want) and _explained(g, -want, tol, eps):
        return "candidate ≈ −reference: a sign error (p − y flipped to y − p?)"
    if N > 1 and np.any(want):
        if _explained(g, N * want, N * tol, eps):
            return "candidate ≈ N × reference: the 1/N of reduction='mean' is missing"
        if _explained(g, want / N, tol, eps):
            return "candidate ≈ reference / N: the 1/N of reduction='mean' is applied twice"
    cause = _relu(q, g, want, case, ref, tol, eps) or _formula(q, g, want, case, ref, tol, eps)
    if cause:
        return cause
    if np.any(want):
        scale = float(np.vdot(g, want) / np.vdot(want, want))
        if abs(scale - 1) > 10 * eps and _explained(g, scale * want, tol, eps):
            return f"candidate ≈ {scale:.7g} × reference: a uniform scale error of {scale - 1:.2g}"
    if g.ndim >= 1 and g.shape[0] == N and N > 1 and q != "loss":
        bad_rows = ~(np.abs(g - want) <= tol).reshape(N, -1).all(axis=1)
        big = np.abs(ref["s2"]).max(axis=1)
        # exp overflows past ~88 in float32 and ~709 in float64; 50 leaves room for sums.
        if bad_rows.any() and big[bad_rows].min() > max(50.0, big[~bad_rows].max(initial=0)):
            return "mismatches only in rows with the largest scores: an unstable softmax"
    return ""
