"""The gate: every quantity of the candidate against torch and JAX autograd, elementwise.

Run against any implementation with ``--candidate some.module``; ``--seed`` changes every
random draw and ``--cases`` the size of the bulk run.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests import harness
from tests.conftest import Options
from tests.report import record

EDGE = harness.edge_specs()


@pytest.mark.parametrize("spec", EDGE, ids=[str(s) for s in EDGE])
def test_edge_case(spec: harness.CaseSpec, candidate: ModuleType, options: Options,
                   request: pytest.FixtureRequest) -> None:  # fmt: skip
    """Named shapes (N = 1, C = 1, C = 2, H = 1, D = 1), every target form, and the stress
    kinds: exact zeros in s1, |s2| in the thousands, probabilities near underflow."""
    spec = dataclasses.replace(spec, seed=spec.seed + options.seed)
    tally = harness.Tally()
    result = harness.verify_case(candidate, harness.make_case(spec))
    tally.add(result)
    record(request.node, tally)
    harness.assert_verified(result)


CHUNKS = 8


@pytest.mark.parametrize("chunk", range(CHUNKS), ids=lambda c: f"chunk{c}")
def test_random_cases(chunk: int, candidate: ModuleType, options: Options,
                      request: pytest.FixtureRequest) -> None:  # fmt: skip
    """``--cases`` random shapes (N, D, H, C in 1..64; one case in sixteen has one dimension
    up to 512), both dtypes, every target form, reduction and stress kind, batched through
    JAX. The cases are dealt into CHUNKS tests so that ``-n auto`` can spread them."""
    specs = harness.random_specs(options.seed, options.cases)[chunk::CHUNKS]
    run_bulk(candidate, specs, request.node)


def run_bulk(candidate: ModuleType, specs: list[harness.CaseSpec], node: pytest.Item) -> None:
    """Verify ``specs`` in JAX batches; fail with the smallest failing case, if any."""
    tally = harness.Tally()
    failed: list[harness.CaseResult] = []
    try:
        for result in harness.verify_many(candidate, specs):
            tally.add(result)
            if result.failures:
                failed.append(result)
    finally:
        record(node, tally)
    if failed:
        # Report the smallest failing case first: it is the easiest to reason about.
        failed.sort(key=lambda r: (r.spec.N * r.spec.D * r.spec.H * r.spec.C, r.spec.seed))
        pytest.fail(
            f"{len(failed)} of {len(specs)} random cases failed; smallest:\n"
            + harness.describe(failed[0].failures[0], failed[0]),
            pytrace=False,
        )


@st.composite
def specs(draw: st.DrawFn) -> harness.CaseSpec:
    """Like ``harness.random_specs``: small dims, at most one large; shrinks to no large."""
    dims = {name: draw(st.integers(1, 64)) for name in "NDHC"}
    # One case in three has a large dimension; the draw shrinks towards none.
    which = draw(st.integers(0, 11))
    if which >= 8:
        big = "NDHC"[which - 8]
        dims[big] = draw(st.integers(65, harness.BIG[big]))
    return harness.CaseSpec(
        **dims, dtype=draw(st.sampled_from(harness.DTYPES)),
        target=draw(st.sampled_from(harness.TARGETS)),
        reduction=draw(st.sampled_from(harness.REDUCTIONS)),
        kind=draw(st.sampled_from(harness.KINDS)), seed=draw(st.integers(0, 2**31 - 1)),
    )  # fmt: skip


def test_hypothesis_shapes(
    candidate: ModuleType, options: Options, request: pytest.FixtureRequest
) -> None:
    """Hypothesis draws shapes from 1 to 512 and, on failure, shrinks to the smallest
    failing one (fewest large dimensions, then smallest sizes). It runs a tenth of ``--cases`` examples, seeded by ``--seed``."""
    tally = harness.Tally()

    @seed(options.seed)
    @settings(max_examples=max(10, options.cases // 10), deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
              print_blob=True)  # fmt: skip
    @given(spec=specs())
    def check(spec: harness.CaseSpec) -> None:
        result = harness.verify_case(candidate, harness.make_case(spec))
        tally.add(result)
        harness.assert_verified(result)

    try:
        check()
    finally:
        record(request.node, tally)


FALSE_ALARM_CASES = 10_000
FALSE_ALARM_CHUNKS = 10


@pytest.mark.slow
@pytest.mark.parametrize("chunk", range(FALSE_ALARM_CHUNKS), ids=lambda c: f"chunk{c}")
@pytest.mark.parametrize("dtype", harness.DTYPES)
def test_no_false_alarms(
    dtype: str, chunk: int, candidate: ModuleType, options: Options, request: pytest.FixtureRequest
) -> None:
    """10,000 random cases per dtype, none of which may fail a correct candidate: the proof
    that the tolerances never cry wolf. Dealt into chunks for ``-n auto``."""
    seed = options.seed + 1 + harness.DTYPES.index(dtype)  # not the bulk run's draws
    specs = harness.random_specs(seed, FALSE_ALARM_CASES, dtype=dtype)[chunk::FALSE_ALARM_CHUNKS]
    run_bulk(candidate, specs, request.node)
