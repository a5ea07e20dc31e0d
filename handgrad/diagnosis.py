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
from handgrad.diagnosis_l2 import BIASES, diagnose_l2, penalty, regularised
from handgrad.diagnosis_second import diagnose_second
from handgrad.quantities import QUANTITIES
from handgrad.regularisation import L2, NO_L2

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
    want = c.spec.shapes()[c.quantity]
    if got.ndim == 0 and want:
        return f"wrong shape: {c.problem}; summed over every axis, not over the examples only"
    if got.size == int(np.prod(want)) and tuple(n for n in got.shape if n != 1) == tuple(
            n for n in want if n != 1):  # fmt: skip
        return (f"wrong shape: {c.problem}; an extra axis of length 1 (a sum with "
                "keepdims=True, or a row vector instead of a 1-d array)")  # fmt: skip
    if len(want) == 1 and got.shape == (c.spec.N,) and want[0] != c.spec.N:
        return (f"wrong shape: {c.problem}; summed over the wrong axis (over each example's "
                "entries, not over the examples)")  # fmt: skip
    if got.shape == want[::-1]:
        return f"wrong shape: {c.problem}; the transpose of the right result"
    return f"wrong shape: {c.problem}"


def _softmax_rows(g: NDArray[Any], case: Case, ref: Arrays) -> str:
    """Non-finite rows of the candidate's p, matched against the rows each softmax mistake
    would break, judged from the reference's scores; a cause only on an exact match."""
    bad = ~np.isfinite(g).all(axis=1)
    s2 = ref["s2"].astype(np.float64)
    top = s2.max(axis=1)
    info = np.finfo(np.dtype(case.spec.dtype))
    overflow, underflow = np.log(float(info.max)), -np.log(float(info.tiny))
    where = f"NaN or inf in {int(bad.sum())} row(s) of p where the reference is finite"
    # No maximum subtracted: exp overflows to inf (inf/inf), or every class underflows (0/0).
    unshifted = (top > overflow) | (top < -underflow)
    # The maximum of the whole matrix subtracted: every class of a row whose own maximum lies
    # that far below it underflows (0/0).
    global_max = top.max() - top > underflow
    if np.array_equal(bad, unshifted) and not np.array_equal(bad, global_max):
        return (f"{where}, exactly the rows whose largest score exceeds {overflow:.0f} (or "
                f"lies below −{underflow:.0f}) in {case.spec.dtype}: exp overflowed; subtract "
                "each row's maximum in the softmax")  # fmt: skip
    if np.array_equal(bad, global_max) and not np.array_equal(bad, unshifted):
        return (f"{where}, exactly the rows whose largest score lies more than "
                f"{underflow:.0f} below the largest of the batch: the maximum was subtracted "
                "over the whole matrix, not per row, and exp underflowed to 0 in every class")  # fmt: skip
    return ""


def _not_finite(q: str, g: NDArray[Any], case: Case, ref: Arrays, outputs: Arrays) -> str:
    """NaN or inf where the reference is finite. In p, the softmax's rows tell which
    mistake it is; elsewhere, a non-finite p upstream explains it, and a finite p with
    exact zeros where the true probability is positive explains a −log p of infinity.
    Without the candidate's p (CS231n-style code returns none), the reference's scores
    judge it (:func:`_from_scores`)."""
    if q == "p":
        return _softmax_rows(g, case, ref)
    p = outputs.get("p")
    if p is None or p.shape != ref["p"].shape:
        return _from_scores(q, g, case, ref, outputs)
    if not np.isfinite(p).all():
        return "its p is not finite (see p's failure): this follows from it"
    zeros = (p == 0) & (case.target_matrix() > 0)
    if zeros.any():
        s2 = ref["s2"].astype(np.float64)
        top = s2.max(axis=1, keepdims=True)
        logp = s2 - top - np.log(np.exp(s2 - top).sum(axis=1, keepdims=True))
        return (f"its p is exactly 0 at {int(zeros.sum())} element(s) with a positive target "
                f"(the true log p there is {float(logp[zeros].max()):.4g} or less): −log of "
                "an underflowed p; take log p as s2 − logsumexp(s2) rather than the log of "
                "the softmax")  # fmt: skip
    return ""


def _from_scores(q: str, g: NDArray[Any], case: Case, ref: Arrays, outputs: Arrays) -> str:
    """A non-finite loss or gradient of a candidate that gives no p, judged from the
    reference's s2: which rows a softmax without its row maximum (or with the whole
    matrix's) would break, and where the true p of a positive target is below the smallest
    normal number, so that −log p is ∞ if p underflows to 0. A cause only when exactly one
    mistake fits; for a quantity with one row per example, its non-finite rows must be
    exactly that mistake's rows. A +inf loss with finite gradients is −log of an
    underflowed p (an overflowing softmax would have made the gradients NaN too)."""
    s2 = ref["s2"].astype(np.float64)
    top = s2.max(axis=1)
    info = np.finfo(np.dtype(case.spec.dtype))
    overflow, underflow = np.log(float(info.max)), -np.log(float(info.tiny))
    unshifted = (top > overflow) | (top < -underflow)
    global_max = top.max() - top > underflow
    gradients_finite = all(np.isfinite(v).all() for k, v in outputs.items() if k.startswith("dL/"))
    if q == "loss" and gradients_finite:
        # A softmax that overflowed or underflowed would have broken the gradients too.
        if not np.isposinf(g).all():
            return ""
        logp = s2 - top[:, None] - np.log(np.exp(s2 - top[:, None]).sum(axis=1, keepdims=True))
        small = (logp < -underflow) & (case.target_matrix() > 0)
        if small.any():
            return (f"the loss is +inf, and the true p of {int(small.sum())} element(s) with a "
                    f"positive target is below the smallest normal {case.spec.dtype} (log p "
                    f"≤ {float(logp[small].max()):.4g}): −log of a p that underflowed to 0; "
                    "take log p as s2 − logsumexp(s2) rather than the log of the softmax")  # fmt: skip
        return ""
    rows = QUANTITIES[q].axes[:1] == ("N",)
    bad = ~np.isfinite(g).reshape(len(g), -1).all(axis=1) if rows else None
    if bad is not None:
        fits = {
            "unshifted": np.array_equal(bad, unshifted),
            "global": np.array_equal(bad, global_max),
        }
    else:
        fits = {"unshifted": bool(unshifted.any()), "global": bool(global_max.any())}
    if fits["unshifted"] and not fits["global"]:
        return (f"NaN or inf where the reference is finite, in a case whose scores exceed "
                f"{overflow:.0f} (or lie below −{underflow:.0f}) in {int(unshifted.sum())} "
                f"row(s), where exp overflows in {case.spec.dtype}: subtract each row's "
                "maximum in the softmax")  # fmt: skip
    if fits["global"] and fits["unshifted"] and bad is None:
        # Either mistake breaks rows of this case, and nothing row by row tells which; the
        # fix is the same.
        return (f"NaN or inf where the reference is finite: the softmax must subtract each "
                f"row's own maximum. Without any, exp overflows in {int(unshifted.sum())} "
                f"row(s) of this case in {case.spec.dtype}; with the whole matrix's, every "
                f"class of {int(global_max.sum())} row(s) underflows to 0")  # fmt: skip
    if fits["global"] and not fits["unshifted"]:
        return (f"NaN or inf where the reference is finite, in a case where "
                f"{int(global_max.sum())} row(s) have their largest score more than "
                f"{underflow:.0f} below the largest of the batch: the maximum was subtracted "
                "over the whole matrix, not per row, and exp underflowed to 0 in every class")  # fmt: skip
    return ""


def _relu(q: str, g: NDArray[Any], want: NDArray[Any], case: Case, ref: Arrays,
          tol: NDArray[Any], eps: float, relu_at_zero: str) -> str:  # fmt: skip
    s1 = ref["s1"]
    if q == "dL/ds1":
        bad = ~(np.abs(g - want) <= tol)
        if bad.any() and np.all(s1[bad] == 0):
            if relu_at_zero == "1":
                return ("mismatches only where s1 = 0 exactly, the ReLU kink: the declared "
                        "--relu-at-zero 1 wants dL/do1 there (the right derivative, [s1 ≥ 0])")  # fmt: skip
            return ("mismatches only where s1 = 0 exactly, the ReLU kink: use [s1 > 0], not ≥; "
                    "or, if the right derivative is your convention, declare --relu-at-zero 1")  # fmt: skip
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
    if q == "dL/ds2" and not case.labels:
        p = ref["p"].astype(np.float64)
        collapsed = np.eye(p.shape[1])[case.y.argmax(axis=1)]
        alt = (p - collapsed) / (N if case.spec.reduction == "mean" else 1)
        if _explained(g, alt, want, tol, eps):
            return ("candidate = p − onehot(argmax y): the targets were collapsed to their "
                    "largest class; use the target rows themselves")  # fmt: skip
    if q == "p":
        bad = ~(np.abs(g - want) <= tol)
        low = g[bad].min() if bad.any() else 0.0
        if bad.any() and np.all((g[bad] == low) & (want[bad] < low)):
            return (f"p is clipped from below at {low:.3g}: it must be the softmax itself; a "
                    "clip before the log changes p and every gradient after it")  # fmt: skip
    if q == "dL/do1":
        alt = np.where(ref["s1"] > 0, want, 0.0)
        if _explained(g, alt, want, tol, eps):
            return ("dL/do1 equals dL/ds1, dL/do1 ⊙ [s1 > 0]: the ReLU mask was applied to "
                    "dL/do1 in place")  # fmt: skip
    if q == "dp/ds2":
        C = g.shape[-1]
        bad = ~(np.abs(g - want) <= tol)
        on_diag = np.broadcast_to(np.eye(C, dtype=bool), bad.shape)
        if bad.any() and np.all(on_diag[bad]):
            return "mismatches only on the diagonal: the diag(p) term, p_j (1 − p_j) at c = j"
        if bad.any() and not np.any(on_diag[bad]):
            return "mismatches only off the diagonal: the −p_c p_j term for c ≠ j"
    return ""


def _loss_formulas(g: NDArray[Any], want: NDArray[Any], case: Case, ref: Arrays,
                   tol: NDArray[Any], eps: float) -> list[str]:  # fmt: skip
    """Every known wrong loss formula that accounts for the candidate's loss. It is one
    number: more than one may fit it, and then none is named."""
    N = case.spec.N
    s2 = ref["s2"].astype(np.float64)
    top = s2.max(axis=1, keepdims=True)
    p = np.exp(s2 - top)
    p /= p.sum(axis=1, keepdims=True)
    targets = case.target_matrix()
    scale = 1 / N if case.spec.reduction == "mean" else 1.0
    found = []
    for added in (1e-7, 1e-8, 1e-9, 1e-10, 1e-12, 1e-15):
        alt = np.asarray(-(targets * np.log(p + added)).sum() * scale)
        if _explained(g, alt, want, tol, eps):
            found.append(f"the loss matches −Σ y·log(p + {added:g}): a constant inside the log "
                         "shifts it; take log p as s2 − logsumexp(s2) instead")  # fmt: skip
        # The nnfs book's clip(p, 1e-7, 1 − 1e-7), and its kin.
        alt = np.asarray(-(targets * np.log(np.clip(p, added, 1 - added))).sum() * scale)
        if _explained(g, alt, want, tol, eps):
            found.append(f"the loss matches −Σ y·log(clip(p, {added:g}, 1 − {added:g})): p is "
                         "clipped before the log, which changes the loss wherever a p falls "
                         "outside; take log p as s2 − logsumexp(s2) instead")  # fmt: skip
    return found


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


def _l2(q: str, case: Case, ref: Arrays, outputs: Arrays, l2: L2, tols: Arrays) -> str:
    """:func:`handgrad.diagnosis_l2.diagnose_l2`, with the rule of :func:`_explained` for
    every quantity the case has a tolerance for."""
    eps = float(np.finfo(np.dtype(case.spec.dtype)).eps)

    def explains(name: str, alt: NDArray[Any]) -> bool:
        if name not in outputs or name not in tols:
            return False
        got, want = outputs[name].astype(np.float64), ref[name].astype(np.float64)
        return _explained(got, alt, want, tols[name], eps)

    def passes(name: str) -> bool:
        if name not in outputs or name not in tols or outputs[name].shape != ref[name].shape:
            return False
        err = np.abs(outputs[name].astype(np.float64) - ref[name].astype(np.float64))
        return bool(np.all(err <= tols[name]))

    return diagnose_l2(q, case, ref, l2, outputs, explains, passes)


def _loss(g: NDArray[Any], want: NDArray[Any], case: Case, ref: Arrays, tol: NDArray[Any],
          eps: float) -> str:  # fmt: skip
    """The loss's cause, only when exactly one pattern accounts for it: a single number can
    match a sign error, a 1/N and a wrong formula at once, and then naming one would be a
    guess."""
    found = ["candidate ≈ −reference: a sign error"] if _explained(g, -want, want, tol, eps) else []
    found += [c] if (c := _scale_of_n("loss", g, want, case, tol, eps)) else []
    found += _loss_formulas(g, want, case, ref, tol, eps)
    return found[0] if len(found) == 1 else ""


def diagnose(c: Comparison, got: NDArray[Any], case: Case, ref: Arrays, tol: NDArray[Any],
             outputs: Arrays, relu_at_zero: str = "0", l2: L2 = NO_L2,
             tols: Arrays | None = None) -> str:  # fmt: skip
    """The likely cause of the failed comparison ``c`` ("" if no pattern fits); ``outputs``
    holds every quantity the candidate returned, and ``tols`` every tolerance of the case,
    for patterns that span quantities. Under a declared L2 penalty ``l2``, the penalty's
    own mistakes come first, then the other patterns are matched on the data term."""
    if c.problem:
        return _contract(c, got)
    q = c.quantity
    want = ref[q].astype(np.float64)
    g = got.astype(np.float64)
    second = bool(QUANTITIES[q].product)
    if l2 and q in (*regularised(l2), *BIASES) and np.isfinite(g).all():
        cause = _l2(q, case, ref, outputs, l2, tols or {q: tol})
        if cause:
            return cause
        pen = penalty(case, l2.coefficient, l2.names)[q]
        g, want = g - pen, want - pen
    if not np.isfinite(g).all():
        if second:  # the R-pass takes no log: only a broken p upstream explains it
            p = outputs.get("p")
            broken = p is not None and not np.isfinite(p).all()
            return "its p is not finite (see p's failure): this follows from it" if broken else ""
        return _not_finite(q, g, case, ref, outputs)
    eps = float(np.finfo(np.dtype(case.spec.dtype)).eps)
    if q == "loss":
        return _loss(g, want, case, ref, tol, eps)
    if _explained(g, -want, want, tol, eps):
        hint = "" if second else " (p − y flipped to y − p?)"
        return f"candidate ≈ −reference: a sign error{hint}"
    cause = _scale_of_n(q, g, want, case, tol, eps)
    if not cause and second:
        cause = diagnose_second(q, g, case, ref, outputs,
                                lambda got, alt: _explained(got, alt, want, tol, eps), eps)  # fmt: skip
    elif not cause:
        cause = (_relu(q, g, want, case, ref, tol, eps, relu_at_zero)
                 or _formula(q, g, want, case, ref, tol, eps))  # fmt: skip
    if cause:
        return cause
    if want.size > 1 and np.any(want):  # any wrong scalar is "a scale" of the right one
        scale = float(np.vdot(g, want) / np.vdot(want, want))
        if abs(scale - 1) > 10 * eps and _explained(g, scale * want, want, tol, eps):
            return f"candidate ≈ {scale:.7g} × reference: a uniform scale error of {scale - 1:.2g}"
    return ""
