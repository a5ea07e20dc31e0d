"""The likely cause of a failed comparison, from the pattern of its error.

Each pattern is tested against the reference's own values: a candidate whose dL/dx equals
dL/do1·w1ᵀ has left out the ReLU mask, one that equals −reference has a sign error. A
cause is named only when the alternative formula accounts for every element *and* differs
from the correct value (in a case with no zeros in s1, "the mask taken as ≥" is the correct
formula, so it cannot explain anything); otherwise the answer is "" and the message names
none: a wrong cause is worse than none.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.cases import Case
from handgrad.compare import Comparison
from handgrad.quantities import QUANTITIES

Arrays = dict[str, NDArray[Any]]


def _explained(got: NDArray[Any], alt: NDArray[Any], want: NDArray[Any], tol: NDArray[Any],
               eps: float) -> bool:  # fmt: skip
    """Whether the alternative ``alt`` accounts for ``got`` elementwise, where ``alt`` is
    not itself the correct value ``want``.

    ``tol`` is the tolerance of the true value, which is too tight where ``alt`` differs
    from it most, so a round-off allowance of 1000·ε relative to ``alt``'s scale is added.
    """
    if got.shape != alt.shape or not alt.size or np.all(np.abs(alt - want) <= tol):
        return False
    return bool(np.all(np.abs(got - alt) <= tol + 1000 * eps * np.abs(alt).max()))


def _contract(c: Comparison, got: NDArray[Any]) -> str:
    if c.problem.startswith("dtype"):
        if got.dtype == np.float64 and c.spec.dtype == "float32":
            return f"wrong dtype: {c.problem}; a float64 constant or cast promoted the result"
        return f"wrong dtype: {c.problem}; the result must keep the inputs' dtype"
    return (f"wrong shape: {c.problem}; a transposed product (e.g. np.outer or x·dsᵀ) or a "
            "sum over the wrong axis")  # fmt: skip


def _by_row(q: str) -> bool:
    """Whether the quantity's first axis is N, one row per example."""
    return QUANTITIES[q].axes[:1] == ("N",)


def _not_finite(q: str, g: NDArray[Any], case: Case, ref: Arrays) -> str:
    """NaN or inf where the reference is finite: overflow if those rows' scores can
    overflow exp in this dtype, −log of an underflowed probability if their p can
    underflow to 0, and no guess otherwise."""
    bad = ~np.isfinite(g.reshape(g.shape[0], -1)).all(axis=1) if _by_row(q) else None
    s2, p = np.abs(ref["s2"]), ref["p"]
    rows = bad if bad is not None else np.ones(s2.shape[0], dtype=bool)
    where = f" in {int(rows.sum())} row(s)" if bad is not None else ""
    info = np.finfo(np.dtype(case.spec.dtype))
    biggest = float(s2[rows].max())
    if biggest > np.log(float(info.max)):
        return (f"NaN or inf where the reference is finite{where}, whose largest |s2| is "
                f"{biggest:.3g}: exp overflows past {np.log(float(info.max)):.0f} in "
                f"{case.spec.dtype}; subtract the row maximum in the softmax")  # fmt: skip
    if float(p[rows].min()) < float(info.tiny):
        return (f"NaN or inf where the reference is finite{where}, where some probabilities "
                f"are below {float(info.tiny):.2g}: −log of an underflowed p; take log p as "
                "s2 − logsumexp(s2) rather than the log of the softmax")  # fmt: skip
    return ""


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
            if _explained(g, alt, want, tol, eps):
                return f"{q} matches the formula with the ReLU mask {label}"
    return ""


def _formula(q: str, g: NDArray[Any], want: NDArray[Any], case: Case, ref: Arrays,
             tol: NDArray[Any], eps: float) -> str:  # fmt: skip
    N = case.spec.N
    if q == "dL/dw2":
        alt = ref["s1"].T.astype(np.float64) @ ref["dL/ds2"].astype(np.float64)
        if _explained(g, alt, want, tol, eps):
            return "dL/dw2 matches s1ᵀ·dL/ds2: the product needs o1 = ReLU(s1), not s1"
    if q == "dL/ds2" and not case.labels:
        p, y = ref["p"].astype(np.float64), case.y.astype(np.float64)
        alt = (p - y) / (N if case.spec.reduction == "mean" else 1)
        if _explained(g, alt, want, tol, eps):
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


def _scale_of_n(q: str, g: NDArray[Any], want: NDArray[Any], case: Case, tol: NDArray[Any],
                eps: float) -> str:  # fmt: skip
    """The 1/N of reduction="mean": missing, applied twice, or applied under "sum"."""
    N = case.spec.N
    if N == 1 or not QUANTITIES[q].mean_scaled:
        return ""
    if case.spec.reduction == "mean":
        if _explained(g, N * want, want, N * tol, eps):
            return "candidate ≈ N × reference: the 1/N of reduction='mean' is missing"
        if _explained(g, want / N, want, tol, eps):
            return "candidate ≈ reference / N: the 1/N of reduction='mean' is applied twice"
    elif _explained(g, want / N, want, tol, eps):
        return "candidate ≈ reference / N: it divides by N although reduction='sum'"
    return ""


def diagnose(c: Comparison, got: NDArray[Any], case: Case, ref: Arrays, tol: NDArray[Any]) -> str:
    """The likely cause of the failed comparison ``c`` ("" if no pattern fits)."""
    if c.problem:
        return _contract(c, got)
    q, N = c.quantity, case.spec.N
    want = ref[q].astype(np.float64)
    g = got.astype(np.float64)
    if not np.isfinite(g).all():
        return _not_finite(q, g, case, ref)
    eps = float(np.finfo(np.dtype(case.spec.dtype)).eps)
    if _explained(g, -want, want, tol, eps):
        return "candidate ≈ −reference: a sign error (p − y flipped to y − p?)"
    cause = (_scale_of_n(q, g, want, case, tol, eps) or _relu(q, g, want, case, ref, tol, eps)
             or _formula(q, g, want, case, ref, tol, eps))  # fmt: skip
    if cause:
        return cause
    if want.size > 1 and np.any(want):  # any wrong scalar is "a scale" of the right one
        scale = float(np.vdot(g, want) / np.vdot(want, want))
        if abs(scale - 1) > 10 * eps and _explained(g, scale * want, want, tol, eps):
            return f"candidate ≈ {scale:.7g} × reference: a uniform scale error of {scale - 1:.2g}"
    if _by_row(q) and N > 1:
        bad_rows = ~(np.abs(g - want) <= tol).reshape(N, -1).all(axis=1)
        big = np.abs(ref["s2"]).max(axis=1)
        # exp overflows past ~88 in float32 and ~709 in float64; 50 leaves room for sums.
        if bad_rows.any() and big[bad_rows].min() > max(50.0, big[~bad_rows].max(initial=0)):
            return "mismatches only in rows with the largest scores: an unstable softmax"
    return ""
