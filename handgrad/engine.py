"""The gate's pipeline: a padded batch through both references, the tolerances, the
comparisons and the invariants at once; only failing cases are unpacked one by one.

Per batch of one bucket and dtype:
  1. torch and JAX give every quantity of every case (:mod:`handgrad.oracles`);
  2. the tolerances come from one reference's values (:mod:`handgrad.tolerance`);
  3. the candidate runs case by case (its API is per case), and its arrays are padded
     into the batch; a wrong shape or dtype is a failure of that quantity;
  4. every quantity's worst ratio per case, against both references and the invariants,
     comes from one vectorised pass each (:mod:`handgrad.compare`);
  5. a case with a ratio above 1 is unpacked: its slices are compared again for the
     details of the worst element, and diagnosed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad import convention, jacobian, oracles
from handgrad.batch import Batch, batch_of, batch_size, batches, bucket
from handgrad.candidate import CandidateError, products, run_candidate
from handgrad.cases import Case, CaseSpec
from handgrad.compare import (
    INVARIANT,
    INVARIANTS,
    Comparison,
    compare,
    contract_problem,
    worst_ratios,
)
from handgrad.diagnosis import diagnose
from handgrad.quantities import CASE_WISE, PRODUCTS, QUANTITIES, ROW_WISE, case_wise
from handgrad.tolerance import tolerances

Arrays = dict[str, NDArray[Any]]
MISSING = "missing"
"""The contract problem of a quantity the candidate never returned because it raised."""


@dataclass
class CaseResult:
    """What the gate found for one case.

    ``ratios`` has every (quantity, reference) worst ratio, for the report; ``failures``
    the details of those above 1. ``refs``, ``tol`` and ``got`` are kept (unpadded) only
    for a failing case, for its messages.
    """

    spec: CaseSpec
    candidate: str
    ratios: dict[tuple[str, str], float] = field(default_factory=dict)
    failures: list[Comparison] = field(default_factory=list)
    error: str = ""
    refs: dict[str, Arrays] = field(default_factory=dict)
    tol: Arrays = field(default_factory=dict)
    got: Arrays = field(default_factory=dict)
    unverified: tuple[str, ...] = ()
    """The second-order products not verified: those the candidate does not provide."""
    kink_skipped: bool = False
    """Whether this case's second-order products went unverified because s1 has exact zeros
    and the declared ReLU convention is not "0" (the references' second order is theirs)."""

    @property
    def passed(self) -> bool:
        return not self.failures and not self.error


def verify_many(candidate: ModuleType, specs: Sequence[CaseSpec],
                relu_at_zero: str = "0") -> Iterator[CaseResult]:  # fmt: skip
    """Verify ``specs`` in padded batches; yields results in batch order, not spec order."""
    for _, batch in batches(specs):
        yield from verify_batch(candidate, batch, relu_at_zero)


def verify_cases(candidate: ModuleType, cases: Sequence[Case],
                 relu_at_zero: str = "0") -> list[CaseResult]:  # fmt: skip
    """Verify already-drawn cases, batched by dtype and bucket, in the order given."""
    by_key: dict[Any, list[int]] = {}
    for i, case in enumerate(cases):
        by_key.setdefault((bucket(case.spec), case.spec.dtype), []).append(i)
    found: dict[int, CaseResult] = {}
    for (dims, _), idx in by_key.items():
        size = batch_size(dims)
        for start in range(0, len(idx), size):
            chunk = idx[start : start + size]
            batch = batch_of([cases[i] for i in chunk], dims)
            found |= dict(zip(chunk, verify_batch(candidate, batch, relu_at_zero), strict=True))
    return [found[i] for i in range(len(cases))]


def verify_case(candidate: ModuleType, case: Case, relu_at_zero: str = "0") -> CaseResult:
    """One case (the single-case command, Hypothesis, the catalog)."""
    return verify_cases(candidate, [case], relu_at_zero)[0]


def verify_batch(candidate: ModuleType, batch: Batch, relu_at_zero: str = "0") -> list[CaseResult]:
    """Every case of ``batch`` against both references; see the module docstring.
    ``relu_at_zero`` is the candidate's declared ReLU convention (:mod:`handgrad.convention`)."""
    provided = products(candidate)
    names = case_wise(provided)
    # The R{·} and G{·} bounds read the tangents, so the references always give them.
    computed = tuple(p for p in PRODUCTS if p in provided or (provided and p == "jvp"))
    refs = {name: run(batch, computed) for name, run in oracles.BATCHED.items()}
    tol, m = tolerances(batch, next(iter(refs.values())))
    convention.apply(batch, refs, tol, relu_at_zero)
    outputs, errors, problems = _candidate_values(candidate, batch, names)
    got = _pad_candidate(batch, outputs, problems, names)
    B = len(batch)
    ratios: dict[tuple[str, str], NDArray[np.float64]] = {}
    for q in names:
        for name, ref in refs.items():
            ratios[(q, name)] = worst_ratios(got[q], ref[q], tol[q])
    kink_skipped = convention.second_order_unverified(batch, refs, relu_at_zero, provided)
    invariant_arrays = []
    for inv in INVARIANTS:
        value, bound, applies = inv.check(batch, {k: got[k] for k in inv.uses}, tol, relu_at_zero)
        bound[~batch.mask_of(inv.axes)] = np.inf
        worst = worst_ratios(value, None, bound)
        skipped = np.array([any((i, k) in problems for k in inv.uses) for i in range(B)])
        worst[~applies | skipped] = 0.0
        key = (inv.quantity, INVARIANT)
        ratios[key] = np.maximum(ratios[key], worst) if key in ratios else worst
        invariant_arrays.append((inv, value, bound, worst))
    for i, q in problems:
        if q in names:
            for name in refs:
                ratios[(q, name)][i] = math.inf
    broken = np.array([(i, jacobian.Q) in problems for i in range(B)])
    broken_p = np.array([(i, "p") in problems for i in range(B)])
    s2 = {name: ref["s2"] for name, ref in refs.items()}
    jac_ratios, jac_found = jacobian.stage(
        batch, s2, m.ref["p"], m.resolve("p"), outputs, broken, broken_p
    )
    ratios |= jac_ratios

    results = []
    for i, case in enumerate(batch.cases):
        result = CaseResult(case.spec, candidate.__name__, error=errors[i],
                            unverified=tuple(p for p in PRODUCTS if p not in provided),
                            kink_skipped=bool(kink_skipped[i]))  # fmt: skip
        out = outputs[i]
        missing = {q for q in QUANTITIES if problems.get((i, q)) == MISSING}
        if result.kink_skipped:
            missing |= {q for q in names if QUANTITIES[q].product}
        result.ratios = {key: float(r[i]) for key, r in ratios.items() if key[0] not in missing}
        if any(r > 1 for r in result.ratios.values()):
            _unpack(result, batch, i, refs, tol, out, invariant_arrays, jac_found.get(i),
                    relu_at_zero, names)  # fmt: skip
        results.append(result)
    return results


def _candidate_values(candidate: ModuleType, batch: Batch, names: tuple[str, ...]) -> tuple[
        list[Arrays], list[str], dict[tuple[int, str], str]]:  # fmt: skip
    """Run the candidate on every case: (outputs, errors, contract problems by (case, q)),
    for the case-wise ``names`` and the row-wise quantities.

    A quantity the candidate never returned (it raised first) is a problem called
    ``MISSING``: it is neither compared nor counted."""
    outputs: list[Arrays] = []
    errors: list[str] = []
    problems: dict[tuple[int, str], str] = {}
    for i, case in enumerate(batch.cases):
        error = ""
        try:
            got = run_candidate(candidate, case)
        except CandidateError as exc:
            got, error = exc.partial, str(exc)
        shapes = case.spec.shapes()
        for q in names + ROW_WISE:
            if q not in got and not error:
                raise KeyError(f"run_candidate returned no {q!r}: a registered quantity must "
                               "be collected from the candidate in handgrad/candidate.py")  # fmt: skip
            problem = contract_problem(got[q], shapes[q], batch.dtype) if q in got else MISSING
            if problem:
                problems[(i, q)] = problem
        outputs.append(got)
        errors.append(error)
    return outputs, errors, problems


def _pad_candidate(batch: Batch, outputs: list[Arrays], problems: dict[tuple[int, str], str],
                   names: tuple[str, ...]) -> Arrays:  # fmt: skip
    """The candidate's case-wise values, padded; broken or missing ones left as zeros."""
    return {q: batch.pad([None if (i, q) in problems else got[q] for i, got in enumerate(outputs)],
                         QUANTITIES[q].axes) for q in names}  # fmt: skip


def _unpack(result: CaseResult, batch: Batch, i: int, refs: dict[str, Arrays], tol: Arrays,
            got: Arrays, invariant_arrays: list[Any], jac: jacobian.Found | None,
            relu_at_zero: str, names: tuple[str, ...]) -> None:  # fmt: skip
    """Details, diagnosis and the unpadded arrays of a failing case; ``names`` are the
    case-wise quantities compared (the references may hold more: the tangents)."""
    case = batch.cases[i]
    held = [q for q in CASE_WISE if q in tol]
    result.refs = {name: {q: batch.unpad(ref[q], i, QUANTITIES[q].axes) for q in held}
                   for name, ref in refs.items()}  # fmt: skip
    result.tol = {q: batch.unpad(tol[q], i, QUANTITIES[q].axes) for q in held}
    result.got = got
    if jac is not None:
        result.tol[jacobian.Q] = jac.tol
        for name, value in jac.refs.items():
            result.refs[name][jacobian.Q] = value
    for q in names:
        for name, ref in result.refs.items():
            if result.ratios.get((q, name), 0.0) <= 1:
                continue
            c = compare(q, name, case.spec, got[q], ref[q], result.tol[q])
            result.failures.append(c)
    for inv, value, bound, worst in invariant_arrays:
        if worst[i] > 1:
            v = batch.unpad(value, i, inv.axes)
            c = compare(inv.quantity, INVARIANT, case.spec, v, np.zeros_like(v),
                        batch.unpad(bound, i, inv.axes))  # fmt: skip
            c.cause = inv.rule
            result.failures.append(c)
    if jac is not None:
        result.failures += jac.failures
    elif jacobian.Q in got and result.ratios.get((jacobian.Q, "torch"), 0.0) > 1:
        # Its Jacobian broke the contract (shape or dtype): compare() names the breach.
        want = np.zeros(case.spec.shapes()[jacobian.Q], batch.dtype)
        result.tol[jacobian.Q] = np.zeros_like(want)
        result.failures += [compare(jacobian.Q, name, case.spec, got[jacobian.Q], want, want)
                            for name in refs]  # fmt: skip
    for c in result.failures:
        if c.reference != INVARIANT and not c.cause and c.quantity in got:
            ref = result.refs.get(c.reference, result.refs["torch"])
            c.cause = diagnose(c, got[c.quantity], case, ref, result.tol[c.quantity], got,
                               relu_at_zero)  # fmt: skip
