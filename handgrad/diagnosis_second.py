"""The likely cause of a second-order mismatch: the mistakes people make in forward mode,
in Hv's R-pass and in Gv, each recognised by recomputing the quantity the wrong way.

Every alternative is built in float64 from the reference's own first-order values and the
case's direction (the formulas of ``docs/second-order.md``, with one term changed), and a
cause is named only when it accounts for every element and differs from the right value
(:func:`handgrad.diagnosis._explained`, passed in as ``explained``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.cases import Case, case_direction

F64 = NDArray[np.float64]
Explained = Callable[[F64, F64], bool]

GV_FOR_HV = ("hvp returns Gv: every R{·} matches the Gauss-Newton product, which drops the "
             "bilinear terms dL/ds2·ẇ2ᵀ, ȯ1ᵀ·dL/ds2, dL/ds1·ẇ1ᵀ and ẋᵀ·dL/ds1; Hv keeps "
             "them")  # fmt: skip


def passes(case: Case, ref: dict[str, NDArray[Any]]) -> dict[str, F64]:
    """The tangents, R-pass and Gv pass in float64, keyed like the registry, from the
    reference's s1, o1, p, dL/ds2 and dL/ds1 and the case's direction."""
    d = case_direction(case)
    f = {k: np.asarray(v, dtype=np.float64) for k, v in ref.items()}
    x, w1, w2 = (getattr(case, k).astype(np.float64) for k in ("x", "w1", "w2"))
    v = {k: np.zeros_like(x) if a is None else a.astype(np.float64) for k, a in d.items()}
    mask = f["s1"] > 0
    ds1 = v["x"] @ w1 + x @ v["w1"] + v["b1"]
    do1 = mask * ds1
    ds2 = do1 @ w2 + f["o1"] @ v["w2"] + v["b2"]
    p, g2, gs1 = f["p"], f["dL/ds2"], f["dL/ds1"]
    dp = p * (ds2 - (p * ds2).sum(axis=1, keepdims=True))
    kappa = 1 / case.spec.N if case.spec.reduction == "mean" else 1.0
    sigma = case.target_matrix().sum(axis=1, keepdims=True)
    r2 = kappa * sigma * dp
    go1 = r2 @ w2.T
    g_s1 = mask * go1
    ro1 = go1 + g2 @ v["w2"].T
    rs1 = mask * ro1
    out = {"ṡ1": ds1, "ȯ1": do1, "ṡ2": ds2, "ṗ": dp, "R{dL/ds2}": r2, "R{dL/do1}": ro1, "R{dL/ds1}": rs1,
           "R{dL/dw2}": do1.T @ g2 + f["o1"].T @ r2, "R{dL/dx}": rs1 @ w1.T + gs1 @ v["w1"].T,
           "R{dL/dw1}": x.T @ rs1 + v["x"].T @ gs1, "R{dL/db1}": rs1.sum(axis=0),
           "G{dL/ds2}": r2, "G{dL/do1}": go1, "G{dL/ds1}": g_s1, "G{dL/dw2}": f["o1"].T @ r2,
           "G{dL/dx}": g_s1 @ w1.T, "G{dL/dw1}": x.T @ g_s1, "G{dL/db1}": g_s1.sum(axis=0)}  # fmt: skip
    # The same, each with one term wrong (keys starting with "without").
    y = case.target_matrix()
    out |= {"without inner": p * ds2, "without inner, R{dL/ds2}": kappa * sigma * p * ds2,
            "without σ, R{dL/ds2}": kappa * dp,
            "without σ, L̇": np.asarray(kappa * ((p * ds2).sum() - (y * ds2).sum())),
            "without, R{dL/do1}": go1, "without, R{dL/dw2}": f["o1"].T @ r2,
            "without, R{dL/dx}": rs1 @ w1.T, "without, R{dL/dw1}": x.T @ rs1}  # fmt: skip
    return out


def _gv_everywhere(outputs: dict[str, NDArray[Any]], alt: dict[str, F64], eps: float) -> bool:
    """Whether the candidate's R{·} below dL/ds2 all equal Gv's values: Gv returned as Hv,
    not one term forgotten (the caller has already found the failing one to differ from
    Hv's value)."""
    names = ("R{dL/do1}", "R{dL/dw2}", "R{dL/dx}", "R{dL/dw1}", "R{dL/db1}")
    for name in names:
        got, gv = outputs.get(name), alt[name.replace("R", "G", 1)]
        if got is None or got.shape != gv.shape:
            return False
        scale = float(np.abs(gv).max(initial=0.0))
        if not np.all(np.abs(got.astype(np.float64) - gv) <= 1000 * eps * scale):
            return False
    return True


def diagnose_second(q: str, g: F64, case: Case, ref: dict[str, NDArray[Any]],
                    outputs: dict[str, NDArray[Any]], explained: Explained,
                    eps: float) -> str:  # fmt: skip
    """The cause of a mismatch in second-order quantity ``q`` ("" if no pattern fits);
    ``explained(got, alt)`` is the diagnosis's test that ``alt`` accounts for ``got``."""
    alt = passes(case, ref)
    if q == "ȯ1" and explained(g, alt["ṡ1"]):
        return "ȯ1 matches ṡ1: the ReLU mask [s1 > 0] is missing from the tangent"
    if q == "ṗ" and explained(g, alt["without inner"]):
        return ("ṗ matches p ⊙ ṡ2: the −p ⊙ ⟨p, ṡ2⟩ term of J(p)·ṡ2 is missing "
                "(J = diag(p) − p pᵀ)")  # fmt: skip
    if q in ("R{dL/ds2}", "G{dL/ds2}"):
        if explained(g, alt["without inner, R{dL/ds2}"]):
            return (f"{q} matches κσ ⊙ p ⊙ ṡ2: ṗ lacks the −p ⊙ ⟨p, ṡ2⟩ term of the softmax "
                    "Jacobian's product")  # fmt: skip
        if explained(g, alt["without σ, R{dL/ds2}"]):
            return (f"{q} matches κ·ṗ without σ = Σ_c y_c: for targets that do not sum to 1 "
                    "the loss's Hessian in s2 is κσ (diag(p) − p pᵀ)")  # fmt: skip
    if q == "L̇" and explained(g, alt["without σ, L̇"]):
        return "L̇ matches κ Σ (⟨p, ṡ2⟩ − ⟨y, ṡ2⟩): the factor σ = Σ_c y_c is missing"
    if q in ("R{dL/ds1}", "G{dL/ds1}"):
        unmasked = alt[q.replace("ds1", "do1")]
        if explained(g, unmasked):
            return f"{q} matches {q.replace('ds1', 'do1')}: the ReLU mask [s1 > 0] is missing"
    if q.startswith("R{") and q != "R{dL/ds2}":
        return _dropped_term(q, g, alt, outputs, explained, eps)
    return ""


def _dropped_term(q: str, g: F64, alt: dict[str, F64], outputs: dict[str, NDArray[Any]],
                  explained: Explained, eps: float) -> str:  # fmt: skip
    """An R{·} below dL/ds2 that equals Gv's value, or lacks one bilinear term."""
    gv = alt.get(q.replace("R", "G", 1))
    if gv is not None and explained(g, gv) and _gv_everywhere(outputs, alt, eps):
        return GV_FOR_HV
    terms = {"R{dL/do1}": "dL/ds2·ẇ2ᵀ", "R{dL/dw2}": "ȯ1ᵀ·dL/ds2", "R{dL/dx}": "dL/ds1·ẇ1ᵀ",
             "R{dL/dw1}": "ẋᵀ·dL/ds1"}  # fmt: skip
    if q in terms and explained(g, alt[f"without, {q}"]):
        return f"{q} matches the R-pass without its bilinear term {terms[q]}"
    return ""
