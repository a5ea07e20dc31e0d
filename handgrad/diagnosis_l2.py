"""The likely cause of a mismatch in what L2 regularisation changes: the loss and the
regularised gradients.

Each alternative is the reference's own value with its penalty swapped for another one
(the data term, the reference minus its declared penalty, stays): the other form's, one
that also covers the biases, or none. A cause is named only when the alternative accounts
for every element (``explained``); the form is named as an option to declare only when
every regularised quantity the candidate gives matches that form, and a loss and gradient
that match different forms are named as inconsistent, with no option to suggest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.cases import Case
from handgrad.regularisation import FORMS, L2

Arrays = dict[str, NDArray[Any]]
Explains = Callable[[str, NDArray[Any]], bool]
"""Whether an alternative value accounts for the candidate's quantity of that name."""
Passes = Callable[[str], bool]
"""Whether the candidate's quantity of that name is within its tolerance (False if absent)."""
BIASES = ("dL/db1", "dL/db2")


def penalty(case: Case, coefficient: float, names: tuple[str, ...]) -> Arrays:
    """The L2 term λ·Σ‖·‖² over ``names`` (e.g. w1, w2) and its gradients, in float64."""
    a = {k: getattr(case, k).astype(np.float64) for k in ("w1", "b1", "w2", "b2")}
    out: Arrays = {"loss": np.asarray(coefficient * sum(float(np.vdot(a[k], a[k])) for k in names))}
    for k, value in a.items():
        out[f"dL/d{k}"] = 2 * coefficient * value if k in names else np.zeros_like(value)
    return out


def regularised(l2: L2) -> tuple[str, ...]:
    """The quantities the declared penalty changes (a diagnosis also looks at the biases'
    gradients, which an undeclared penalty on them changes)."""
    return ("loss", "dL/dw1", "dL/dw2", *(BIASES if l2.biases else ()))


def diagnose_l2(q: str, case: Case, ref: Arrays, l2: L2, outputs: Arrays, explains: Explains,
                passes: Passes) -> str:  # fmt: skip
    """The cause of ``q``'s mismatch in the L2 term, or ""."""
    declared = penalty(case, l2.coefficient, l2.names)

    def data(name: str) -> NDArray[Any]:
        out: NDArray[Any] = ref[name].astype(np.float64) - declared[name]
        return out

    def with_(name: str, pen: Arrays) -> NDArray[Any]:
        out: NDArray[Any] = data(name) + pen[name]
        return out

    other = "half" if l2.form == "full" else "full"
    other_coefficient = l2.strength / 2 if other == "half" else l2.strength
    swapped = penalty(case, other_coefficient, l2.names)
    given = [n for n in regularised(l2) if n in outputs]
    if explains(q, with_(q, swapped)):
        if all(explains(n, with_(n, swapped)) for n in given):
            return (f"matches the {other} form, {FORMS[other]}, in the loss and every "
                    f"regularised gradient given: declare --l2-form {other}")  # fmt: skip
        gradients = [n for n in given if n != "loss"]
        if q == "loss" and gradients and all(passes(n) for n in gradients):
            return (f"the loss has the {other} form's term ({FORMS[other].split(' (')[0]}), "
                    f"but its gradients have the declared {l2.form} form's: the loss and its "
                    "gradient disagree")  # fmt: skip
        if q != "loss" and passes("loss"):
            return (f"{q} has the {other} form's gradient, but the loss has the declared "
                    f"{l2.form} form's term ({FORMS[l2.form].split(' (')[0]}): the loss and "
                    "its gradient disagree")  # fmt: skip
    if not l2.biases and q in ("loss", *BIASES):
        covering = penalty(case, l2.coefficient, (*l2.names, "b1", "b2"))
        if explains(q, with_(q, covering)):
            return ("the L2 term also covers the biases (dL/db gains a multiple of b): "
                    "declare --l2-biases if that is the convention")  # fmt: skip
    if q in regularised(l2) and case.spec.reduction == "mean" and case.spec.N > 1:
        scaled = {n: v / case.spec.N for n, v in declared.items()}
        if explains(q, with_(q, scaled)):
            return ("matches the declared L2 term divided by N: the term is added after the "
                    "mean over the examples, not before it")  # fmt: skip
    if q in regularised(l2) and explains(q, data(q)):
        what = "the loss" if q == "loss" else q
        return f"{what} matches the value without the declared L2 term: the term is missing there"
    return ""
