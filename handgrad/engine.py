"""The gate's pipeline: a padded batch through both references, the tolerances, the
comparisons and the invariants at once; only failing cases are unpacked one by one.

Per batch of one bucket and dtype, while a worker runs the candidate case by case:
  1. torch and JAX give every quantity of every case (:func:`handgrad.oracles.references`):
     JAX on the whole bucket it compiled for, torch on groups trimmed to their own cases
     (:meth:`handgrad.batch.Batch.split`), both cut to sub-batches within the groups;
  2. the tolerances come from one reference's values (:mod:`handgrad.tolerance`);
  3. the candidate's arrays are checked (a wrong shape or dtype fails that quantity; one
     it does not provide is not verified, an invariant only where it gives both sides);
  4. every quantity's worst ratio per case, against both references and the invariants,
     comes from one vectorised pass per sub-batch (:mod:`handgrad.compare`), the softmax
     Jacobian's from its own stage on the batch's rows (:mod:`handgrad.jacobian`), which
     XLA computes meanwhile;
  5. a case with a ratio above 1 is unpacked: its slices are compared again for the
     details of the worst element, and diagnosed. Results keep the batch's order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad import convention, jacobian, oracles
from handgrad.adapters import module as module_adapter
from handgrad.batch import NEG, Batch, batch_of, batch_size, batches, bucket
from handgrad.bounds import Magnitudes
from handgrad.candidate import NOTES, TIMEOUT, Candidate
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
from handgrad.regularisation import L2, NO_L2
from handgrad.tolerance import add_l2, tolerances

Arrays = dict[str, NDArray[Any]]
MISSING = "missing"
"""The contract problem of a quantity the candidate never returned because it raised."""
ABSENT = "not returned in this case, though it was in others of its batch"
"""The contract problem of a quantity a candidate gives in some cases and not in others."""


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
    l2: L2 = NO_L2
    """The declared L2 regulariser the case was verified with."""
    command: str = ""
    """The options that rerun this case with the same verdict: the candidate, its --path,
    and the declared conventions (ReLU at 0, L2)."""
    notes: tuple[str, ...] = ()
    """What the candidate's adapter noted on this case that is not a failure."""
    sources: Mapping[str, str] = field(default_factory=dict)
    """Which of the candidate's functions gives each quantity (``Candidate.sources``)."""

    @property
    def passed(self) -> bool:
        return not self.failures and not self.error


def as_candidate(candidate: Candidate | ModuleType) -> Candidate:
    """A Candidate as it is, or an imported module with manual's API wrapped as one."""
    if isinstance(candidate, Candidate):
        return candidate
    return module_adapter.adapt(candidate, candidate.__name__)


def verify_many(candidate: Candidate | ModuleType, specs: Sequence[CaseSpec],
                relu_at_zero: str = "0", l2: L2 = NO_L2) -> Iterator[CaseResult]:  # fmt: skip
    """Verify ``specs`` in padded batches; yields results in batch order, not spec order.
    ``relu_at_zero`` and ``l2`` are the candidate's declared conventions."""
    candidate = as_candidate(candidate)
    candidate.check_l2(l2)
    for _, batch in batches(specs):
        yield from verify_batch(candidate, batch, relu_at_zero, l2)


def verify_cases(candidate: Candidate | ModuleType, cases: Sequence[Case],
                 relu_at_zero: str = "0", l2: L2 = NO_L2) -> list[CaseResult]:  # fmt: skip
    """Verify already-drawn cases, batched by dtype and bucket, in the order given."""
    candidate = as_candidate(candidate)
    candidate.check_l2(l2)
    by_key: dict[Any, list[int]] = {}
    for i, case in enumerate(cases):
        by_key.setdefault((bucket(case.spec), case.spec.dtype), []).append(i)
    found: dict[int, CaseResult] = {}
    for (dims, _), idx in by_key.items():
        size = batch_size(dims)
        for start in range(0, len(idx), size):
            chunk = idx[start : start + size]
            batch = batch_of([cases[i] for i in chunk], dims)
            found |= dict(zip(chunk, verify_batch(candidate, batch, relu_at_zero, l2), strict=True))
    return [found[i] for i in range(len(cases))]


def verify_case(candidate: Candidate | ModuleType, case: Case, relu_at_zero: str = "0",
                l2: L2 = NO_L2) -> CaseResult:  # fmt: skip
    """One case by itself (the single-case command, Hypothesis, the catalog)."""
    candidate = as_candidate(candidate)
    candidate.check_l2(l2)
    return verify_batch(candidate, batch_of([case], alone=True), relu_at_zero, l2)[0]


def rerun_options(candidate: Candidate, relu_at_zero: str, l2: L2) -> str:
    """The options of a rerun command that keep the verdict: the candidate and its conventions."""
    relu = f"--relu-at-zero {relu_at_zero}" if relu_at_zero != "0" else ""
    timeout = getattr(getattr(candidate, "worker", None), "timeout", TIMEOUT)
    limit = f"--timeout {timeout:g}" if timeout != TIMEOUT else ""
    return " ".join(o for o in (candidate.command, relu, l2.as_options(), limit) if o)


def verify_batch(candidate: Candidate | ModuleType, batch: Batch, relu_at_zero: str = "0",
                 l2: L2 = NO_L2) -> list[CaseResult]:  # fmt: skip
    """Every case of ``batch`` against both references; see the module docstring.
    ``relu_at_zero`` is the candidate's declared ReLU convention (:mod:`handgrad.convention`),
    ``l2`` its regulariser (:mod:`handgrad.regularisation`)."""
    candidate = as_candidate(candidate)
    provided = candidate.products
    pending = candidate.submit(batch.cases, l2)  # runs while the references compute
    # The R{·} and G{·} bounds read the tangents, so the references always give them.
    computed = tuple(p for p in PRODUCTS if p in provided or (provided and p == "jvp"))
    parts = []
    for idx, sub, refs in oracles.references(batch, computed, l2):
        tol, m = tolerances(sub, next(iter(refs.values())))
        add_l2(tol, m, next(iter(refs.values())), l2)
        convention.apply(sub, refs, tol, relu_at_zero)
        parts.append(_Part(idx, sub, refs, tol, m))
    returned = pending()
    notes = [tuple(str(n) for n in got.pop(NOTES, ())) for got, _ in returned]
    outputs, errors, problems, names = _candidate_values(candidate, batch, returned)
    B = len(batch)
    started = None
    if jacobian.Q in names:  # XLA computes it while the case-wise quantities are compared
        broken = np.array([(i, jacobian.Q) in problems for i in range(B)])
        broken_p = np.array([(i, "p") in problems or "p" not in names for i in range(B)])
        s2 = {name: _whole(batch, parts, [part.refs[name]["s2"] for part in parts], "s2", NEG)
              for name in oracles.BATCHED}  # fmt: skip
        p = _whole(batch, parts, [part.m.ref["p"] for part in parts], "p")
        e_p = _whole(batch, parts, [part.m.resolve("p") for part in parts], "p")
        started = jacobian.start(batch, s2, p, e_p, outputs, broken, broken_p)
    ratios: dict[tuple[str, str], NDArray[np.float64]] = {}
    kink_skipped = np.zeros(B, dtype=bool)
    for part in parts:
        for key, r in _compare_part(part, outputs, problems, names, relu_at_zero, l2).items():
            ratios.setdefault(key, np.zeros(B))[part.idx] = r
        kink_skipped[part.idx] = convention.second_order_unverified(part.sub, part.refs,
                                                                    relu_at_zero, provided)  # fmt: skip
    for i, q in problems:
        if q in CASE_WISE:  # the Jacobian's own problems are the Jacobian stage's
            for name in oracles.BATCHED:
                ratios[(q, name)][i] = math.inf
    jac_ratios, jac_found = jacobian.finish(started) if started else ({}, {})
    ratios |= jac_ratios
    command = rerun_options(candidate, relu_at_zero, l2)
    results: list[CaseResult] = []
    where = {int(i): (part, k) for part in parts for k, i in enumerate(part.idx)}
    for i, case in enumerate(batch.cases):
        result = CaseResult(case.spec, candidate.name, error=errors[i],
                            unverified=tuple(p for p in PRODUCTS if p not in provided),
                            kink_skipped=bool(kink_skipped[i]), l2=l2, command=command,
                            notes=notes[i], sources=candidate.sources)  # fmt: skip
        out = outputs[i]
        missing = {q for q in QUANTITIES if problems.get((i, q)) == MISSING}
        if result.kink_skipped:
            missing |= {q for q in names if QUANTITIES[q].product}
        result.ratios = {key: float(r[i]) for key, r in ratios.items() if key[0] not in missing}
        if any(r > 1 for r in result.ratios.values()):
            part, k = where[i]
            _unpack(result, part.sub, k, part.refs, part.tol, out, part.invariants,
                    jac_found.get(i), relu_at_zero,
                    tuple(q for q in names if q in CASE_WISE))  # fmt: skip
            _blame_inputs(result, candidate.fed)
        results.append(result)
    return results


@dataclass
class _Part:
    """One sub-batch (:meth:`Batch.split`) of the batch: its cases' indices in the batch,
    its references, tolerances and magnitudes, and (once compared) its invariants' arrays."""

    idx: NDArray[np.intp]
    sub: Batch
    refs: dict[str, Arrays]
    tol: Arrays
    m: Magnitudes
    invariants: list[Any] = field(default_factory=list)


def _whole(batch: Batch, parts: list[_Part], arrays: list[NDArray[Any]], q: str,
           fill: float = 0.0) -> NDArray[Any]:  # fmt: skip
    """Quantity ``q``'s array padded to the whole batch, from each part's."""
    return batch.place([(part.idx, part.sub, a) for part, a in zip(parts, arrays, strict=True)],
                       QUANTITIES[q].axes, fill)  # fmt: skip


def _compare_part(part: _Part, outputs: list[Arrays], problems: dict[tuple[int, str], str],
                  names: tuple[str, ...], relu_at_zero: str,
                  l2: L2) -> dict[tuple[str, str], NDArray[np.float64]]:  # fmt: skip
    """The worst ratio of every case-wise (quantity, reference) and invariant in one
    sub-batch, per case; its invariants' arrays are kept on ``part`` for the unpacking."""
    sub, refs, tol = part.sub, part.refs, part.tol
    mine = [int(i) for i in part.idx]
    local = {(k, q): v for k, i in enumerate(mine) for q in names if (v := problems.get((i, q)))}
    got = _pad_candidate(sub, [outputs[i] for i in mine], local, names)
    ratios: dict[tuple[str, str], NDArray[np.float64]] = {}
    for q in got:
        for name, ref in refs.items():
            ratios[(q, name)] = worst_ratios(got[q], ref[q], tol[q])
    for inv in INVARIANTS:
        if not set(inv.uses) <= set(names):
            continue  # it applies only where the candidate provides both of its sides
        value, bound, applies = inv.check(sub, {k: got[k] for k in inv.uses}, tol,
                                          relu_at_zero, l2)  # fmt: skip
        bound[~sub.mask_of(inv.axes)] = np.inf
        worst = worst_ratios(value, None, bound)
        skipped = np.array([any((k, q) in local for q in inv.uses) for k in range(len(sub))])
        worst[~applies | skipped] = 0.0
        key = (inv.quantity, INVARIANT)
        ratios[key] = np.maximum(ratios[key], worst) if key in ratios else worst
        part.invariants.append((inv, value, bound, worst))
    return ratios


def _blame_inputs(result: CaseResult, fed: Mapping[str, tuple[str, ...]]) -> None:
    """A quantity whose call was fed a failing quantity of the candidate's own (a layer API)
    is blamed on that input: affine_backward fed relu_backward's float64 dL/ds1 returns a
    float64 dL/dx through no fault of its own."""
    failing = {c.quantity for c in result.failures}
    for c in result.failures:
        inputs = [q for q in fed.get(c.quantity, ()) if q in failing]
        if c.reference == INVARIANT or not inputs:
            continue
        first = min(inputs, key=list(QUANTITIES).index)
        by = result.sources.get(c.quantity, "its call")
        origin = result.sources.get(first)
        c.cause = (f"it is computed from {first}{f', from {origin},' if origin else ''} which "
                   f"fails in this case: {by} was fed the candidate's own {first}; fix that "
                   "first")  # fmt: skip


def _candidate_values(candidate: Candidate, batch: Batch,
                      returned: list[tuple[Arrays, str]]) -> tuple[
        list[Arrays], list[str], dict[tuple[int, str], str], tuple[str, ...]]:  # fmt: skip
    """The candidate's results on every case, checked: (outputs, errors, contract problems
    by (case, q), the quantities it provides), the last in the registry's order.

    What it provides is what it returns in any case of the batch (a batch holds one dtype
    and one bucket of shapes): a quantity it gives in some cases and not in others is a
    problem (``ABSENT``) where it is not given, and one
    it never returned because it raised first is ``MISSING``: neither compared nor counted.
    """
    given = {q for got, _ in returned for q in got}
    names = tuple(q for q in case_wise(candidate.products) + ROW_WISE if q in given)
    outputs, errors = [got for got, _ in returned], [error for _, error in returned]
    problems: dict[tuple[int, str], str] = {}
    for i, (got, error) in enumerate(returned):
        shapes = batch.cases[i].spec.shapes()
        for q in names:
            if q in got:
                problem = contract_problem(got[q], shapes[q], batch.dtype)
            else:
                problem = MISSING if error else ABSENT
            if problem:
                problems[(i, q)] = problem
    return outputs, errors, problems, names


def _pad_candidate(batch: Batch, outputs: list[Arrays], problems: dict[tuple[int, str], str],
                   names: tuple[str, ...]) -> Arrays:  # fmt: skip
    """The candidate's case-wise values, padded; broken or missing ones left as zeros."""
    return {q: batch.pad([None if (i, q) in problems else got[q] for i, got in enumerate(outputs)],
                         QUANTITIES[q].axes) for q in names if q in CASE_WISE}  # fmt: skip


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
            result.failures.append(compare(q, name, case.spec, got[q], ref[q], result.tol[q])
                                   if q in got else Comparison(q, name, case.spec, ratio=math.inf,
                                                               problem=ABSENT))  # fmt: skip
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
                               relu_at_zero, result.l2, result.tol)  # fmt: skip
