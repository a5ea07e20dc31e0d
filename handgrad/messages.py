"""Failure messages, and the one ranking of failures that every caller shows first.

A message names what a student needs: which quantity, against which reference, in which
dtype, shape and seed; how many elements fail and the worst one with both values, the
error and its tolerance; whether the other reference agrees; on small cases what finite
differences say; the likely cause; and the command that reruns exactly that case.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from handgrad.cases import CaseSpec, case_direction, make_case, moves_x
from handgrad.compare import INVARIANT, Comparison
from handgrad.engine import CaseResult
from handgrad.finite_differences import (
    Directional,
    FiniteDifferences,
    directional,
    finite_differences,
)
from handgrad.quantities import ORDER, QUANTITIES, downstream
from handgrad.regularisation import L2, NO_L2
from handgrad.scope import AXES
from handgrad.tally import Tally, confined

FD_MAX_ELEMENTS = 4096
"""Finite differences cost two forward passes per element: only for small cases."""
SHOWN = 3
"""How many failures a summary shows in full."""


def rank(results: Iterable[CaseResult]) -> list[tuple[CaseResult, Comparison | None]]:
    """Every failure, in the order to show them: the smallest case first (the easiest to
    reason about); within a case, the quantity furthest upstream in the derivation first (a
    wrong p makes everything after it wrong), the references before the invariants, the
    worst first. ``None`` stands for the candidate's own error: first if it wrote into its
    inputs, last if it raised (after what it returned before raising)."""
    order = {"torch": 0, "jax": 1, INVARIANT: 2}
    failed = sorted((r for r in results if not r.passed), key=lambda r: (r.spec.size, str(r.spec)))
    out: list[tuple[CaseResult, Comparison | None]] = []
    for r in failed:
        ranked: list[tuple[CaseResult, Comparison | None]] = [
            (r, c) for c in sorted(r.failures, key=lambda c: (
                ORDER[c.quantity], order.get(c.reference, 3), -c.ratio))]  # fmt: skip
        if r.error and " raised " in r.error:
            # What it returned before raising is upstream of the call that raised (a NaN p
            # before a softmax_jacobian that rejects it): the crash comes after.
            ranked.append((r, None))
        elif r.error:
            ranked.insert(0, (r, None))  # it wrote into its inputs: that comes first
        out += ranked
    return out


def reproduce_command(result: CaseResult) -> str:
    """The command that reruns the case of ``result`` with every option that keeps its verdict."""
    options = result.command or f"--candidate {result.candidate}"
    return f"python -m handgrad check {options} --case '{result.spec}'"


@functools.lru_cache(maxsize=8)
def _finite_differences(spec: CaseSpec, l2: L2) -> FiniteDifferences:
    return finite_differences(make_case(spec), l2)


@functools.lru_cache(maxsize=8)
def _directional(spec: CaseSpec, l2: L2) -> Directional:
    case = make_case(spec)
    return directional(case, case_direction(case), l2)


def _directional_opinion(spec: CaseSpec, quantity: str, index: tuple[int, ...],
                         l2: L2) -> str | None:  # fmt: skip
    """A second-order quantity's third opinion: differences along the case's direction."""
    q = QUANTITIES[quantity]
    d = _directional(spec, l2)
    if d.kind == "skipped":
        return "finite differences along v cannot judge this case: both steps cross a ReLU kink"
    values = {"jvp": d.jvp, "hvp": d.hvp, "ggn_vp": d.ggn}[q.product]
    value = values[q.key]
    if value.ndim != len(index):
        return None
    skipped = d.skipped.get(q.key) if q.product == "ggn_vp" else None
    if skipped is not None and skipped[index]:
        return "finite differences cannot judge this element: both steps cross a ReLU kink"
    how = " (one-sided: a central step would cross a ReLU kink)" if d.kind == "one-sided" else ""
    return (f"finite differences along v (float64, of manual's proven forward pass and "
            f"gradients) give {float(value[index]):.9g}{how}")  # fmt: skip


def fd_opinion(spec: CaseSpec, quantity: str, index: tuple[int, ...],
               l2: L2 = NO_L2) -> str | None:  # fmt: skip
    """A third opinion at one element, when the case is small enough to difference (of
    the loss with the declared L2 term ``l2``)."""
    sizes = spec.N * spec.D + spec.D * spec.H + spec.H * spec.C + spec.N * (spec.H + spec.C)
    if sizes > FD_MAX_ELEMENTS:
        return None
    if QUANTITIES[quantity].product:
        return _directional_opinion(spec, quantity, index, l2)
    if not QUANTITIES[quantity].finite_differences:
        return None
    fd = _finite_differences(spec, l2)
    grad = fd.grads[quantity]
    if len(index) != grad.ndim:
        return None
    if quantity in fd.skipped and fd.skipped[quantity][index]:
        return "finite differences cannot judge this element: both steps cross a ReLU kink"
    side = quantity in fd.one_sided and bool(fd.one_sided[quantity][index])
    how = " (one-sided: a central step would cross a ReLU kink)" if side else ""
    return f"finite differences (float64, no framework) give {float(grad[index]):.9g}{how}"


def describe(c: Comparison | None, result: CaseResult) -> str:
    """The full message for one failure of ``result`` (``None``: the candidate raised)."""
    s = result.spec
    where = (f"{s.dtype}, (N, D, H, C) = ({s.N}, {s.D}, {s.H}, {s.C}), target={s.target}, "
             f"reduction={s.reduction}, kind={s.kind}, seed={s.seed}")  # fmt: skip
    if c is None:
        return "\n".join([f"contract broken: {result.error}", f"  case: {where}",
                          f"  reproduce: {reproduce_command(result)}"])  # fmt: skip
    source = result.sources.get(c.quantity)
    origin = f", from {source}" if source else ""
    lines = [f"{c.quantity} mismatch{origin}: {result.candidate} vs {c.reference}, {where}"]
    if QUANTITIES[c.quantity].product:
        moved = "x, w1, b1, w2 and b2" if moves_x(s) else "w1, b1, w2 and b2 (x held fixed)"
        lines.append(f"  {QUANTITIES[c.quantity].product} along the case's direction v, drawn "
                     f"from its seed, which moves {moved}")  # fmt: skip
    if c.problem:
        lines.append(f"  {c.quantity} has {c.problem}")
    else:
        idx = "[" + ", ".join(map(str, c.index)) + "]"
        values = (f"the candidate's residual = {c.got:.9g} (must be 0)" if c.reference == INVARIANT
                  else f"{result.candidate} = {c.got:.9g}, {c.reference} = {c.want:.9g}")  # fmt: skip
        lines.append(
            f"  {c.mismatches} of {c.size} elements exceed their tolerance; worst at {idx}: "
            f"{values}, |error| = {c.error:.3g}, tolerance = {c.tol:.3g} "
            f"(error/tolerance = {c.ratio:.3g})"
        )
        others = [n for n in result.refs if n != c.reference] if c.reference in result.refs else []
        for other in others:
            v = float(result.refs[other][c.quantity][c.index])
            agree = abs(v - c.want) <= c.tol
            lines.append(
                f"  {other} gives {v:.9g} at {idx}: {c.reference} and {other} "
                + (f"agree to {abs(v - c.want):.2g}; {result.candidate} is the odd one out"
                   if agree else "disagree too: suspect the references or the tolerance")
            )  # fmt: skip
        fd = fd_opinion(s, c.quantity, c.index, result.l2) if others else None
        if fd is not None:
            lines.append(f"  {fd} at {idx}")
    if c.cause:
        lines.append(f"  likely cause: {c.cause}")
    failing = {f.quantity for f in result.failures}
    after = [q for q in downstream(c.quantity) if q in failing]
    if after:
        lines.append(f"  also failing in this case, downstream of {c.quantity} in the "
                     f"derivation: {', '.join(after)}")  # fmt: skip
    lines.append(f"  reproduce: {reproduce_command(result)}")
    return "\n".join(lines)


def narrower_scope(results: Sequence[CaseResult]) -> str:
    """When every failing case has one value of a scope axis that passing cases do not
    share, say so and name the option that declares a scope without it ("" otherwise).
    The failure stands: this only tells a candidate that does not claim that value how to
    say so."""
    tally = Tally()
    tally.add_all(results)
    for axis, (field, values) in AXES.items():
        failing, clean = confined(tally.pattern[field])
        if failing:
            which = " or ".join(f"{field}={v}" for v in values if v in failing)
            keep = ",".join(v for v in values if v in clean)
            return (f"every failing case has {which}, and every case with another {field} "
                    f"passed: if your implementation does not claim {which}, declare the scope "
                    f"it supports (--{axis} {keep}, or HANDGRAD_SCOPE in its module)")  # fmt: skip
    return ""


def summary(results: Sequence[CaseResult], shown: int | None = SHOWN) -> str:
    """The empty string if every case passed; else a headline and the first ``shown``
    failures in full (all of them for None), one per case and quantity, in the order of
    ``rank``."""
    ranked = rank(results)
    if not ranked:
        return ""
    cases = len({str(r.spec) for r, _ in ranked})
    quantities = sorted({c.quantity for _, c in ranked if c is not None}, key=ORDER.__getitem__)
    head = f"{cases} of {len(results)} case(s) failed"
    if quantities:
        head += f", in {', '.join(quantities)}"
    hint = narrower_scope(results)
    if hint:
        head += f"\n{hint}"
    # One message per case and quantity: the line about the other reference says whether
    # it agrees, so repeating the quantity against it adds nothing.
    seen: set[tuple[str, str]] = set()
    distinct = []
    for r, c in ranked:
        key = (str(r.spec), c.quantity if c else "")
        if key not in seen:
            seen.add(key)
            distinct.append((r, c))
    shown = len(distinct) if shown is None else shown
    more = len(distinct) - shown
    body = "\n".join(describe(c, r) for r, c in distinct[:shown])
    tail = f"\n... and {more} more failing quantity × case pair(s) not shown" if more > 0 else ""
    return f"{head}; first, by the smallest case and the upstream-most quantity:\n{body}{tail}"
