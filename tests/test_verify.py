"""The gate: every quantity of the candidate against torch and JAX autograd, elementwise.

Run against any implementation with ``--candidate some.module``; ``--seed`` changes every
random draw and ``--cases`` the size of the bulk run (options of the handgrad plugin).
``--shard i/n`` verifies the i-th of n disjoint slices of every list of cases below, so
that n machines share one run; ``handgrad merge`` joins their reports.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from handgrad import cases, messages
from handgrad.batch import bucket
from handgrad.candidate import Candidate
from handgrad.engine import CaseResult, verify_case, verify_cases, verify_many
from handgrad.pytest_plugin import Options
from handgrad.scope import Scope

Record = Callable[[Iterable[CaseResult]], None]
EDGE = cases.edge_specs()


EDGE_BLOCK = len(cases.DTYPES) * len(cases.TARGETS) * len(cases.REDUCTIONS)
"""Edge cases per shape: verified together, when the first test of the shape asks."""


class EdgeResults:
    """The edge cases' results, verified a block (one shape) at a time, when a test first
    asks for one: each pytest-xdist worker verifies only the blocks of the tests it was
    dealt, not all of them."""

    def __init__(self, candidate: Candidate, options: Options, scope: Scope) -> None:
        self.candidate, self.options, self.scope = candidate, options, scope
        self.blocks: dict[int, dict[int, CaseResult]] = {}

    def get(self, k: int) -> CaseResult | None:
        """Edge case ``k``'s result; None if another shard verifies it."""
        block = k // EDGE_BLOCK
        if block not in self.blocks:
            # A shard owns whole blocks, so that each case has the unsplit run's batch-mates.
            mine = [j for j in range(block * EDGE_BLOCK, min(len(EDGE), (block + 1) * EDGE_BLOCK))
                    if self.scope.contains(EDGE[j]) and self.options.shard.owns(block)]  # fmt: skip
            specs = [dataclasses.replace(EDGE[j], seed=EDGE[j].seed + self.options.seed)
                     for j in mine]  # fmt: skip
            results = verify_cases(self.candidate, [cases.make_case(s) for s in specs],
                                   self.scope.relu_at_zero, self.scope.l2)  # fmt: skip
            self.blocks[block] = dict(zip(mine, results, strict=True))
        return self.blocks[block].get(k)


@pytest.fixture(scope="module")
def edge_results(candidate: Candidate, handgrad_options: Options,
                 handgrad_scope: Scope) -> EdgeResults:  # fmt: skip
    return EdgeResults(candidate, handgrad_options, handgrad_scope)


@pytest.mark.parametrize("k", range(len(EDGE)), ids=[str(s) for s in EDGE])
def test_edge_case(k: int, edge_results: EdgeResults, handgrad_options: Options,
                   handgrad_scope: Scope, handgrad_record: Record) -> None:  # fmt: skip
    """Named shapes (N = 1, C = 1, C = 2, H = 1, D = 1), every target form, and the stress
    kinds: exact zeros in s1, |s2| in the thousands, probabilities near underflow."""
    if not handgrad_scope.contains(EDGE[k]):
        pytest.skip(f"outside the declared scope; not verified ({handgrad_scope.as_options()})")
    result = edge_results.get(k)
    if result is None:
        pytest.skip(f"verified by another shard than {handgrad_options.shard}")
    handgrad_record([result])
    failure = messages.summary([result])
    assert not failure, failure


CHUNKS = 8


@pytest.mark.parametrize("chunk", range(CHUNKS), ids=lambda c: f"chunk{c}")
def test_random_cases(chunk: int, candidate: Candidate, handgrad_options: Options,
                      handgrad_scope: Scope, handgrad_record: Record) -> None:  # fmt: skip
    """``--cases`` random shapes (N, D, H, C in 1..64; one case in sixteen has one dimension
    up to 512), both dtypes, every target form, reduction and stress kind, in padded
    batches. The cases are dealt into CHUNKS tests so that ``-n auto`` can spread them."""
    specs = handgrad_scope.random_specs(handgrad_options.seed, handgrad_options.cases)
    specs = handgrad_options.shard.take_batches(dealt(specs, chunk))
    run_bulk(candidate, specs, handgrad_record, handgrad_scope)


def dealt(specs: list[cases.CaseSpec], chunk: int) -> list[cases.CaseSpec]:
    """The ``chunk``-th of CHUNKS contiguous slices of ``specs`` sorted by dtype and shape
    bucket: each test verifies full batches of few buckets, where one case in eight of
    every bucket left most batches mostly filler, and each worker compiles only its own
    buckets' programs."""
    order = sorted(range(len(specs)), key=lambda i: (specs[i].dtype, bucket(specs[i])))
    size = -(-len(specs) // CHUNKS)
    return [specs[i] for i in sorted(order[chunk * size : (chunk + 1) * size])]


def run_bulk(candidate: Candidate, specs: list[cases.CaseSpec], record: Record,
             scope: Scope) -> None:  # fmt: skip
    results = list(verify_many(candidate, specs, scope.relu_at_zero, scope.l2))
    record(results)
    failure = messages.summary(results)
    if failure:
        pytest.fail(failure, pytrace=False)


@st.composite
def specs(draw: st.DrawFn, scope: Scope) -> cases.CaseSpec:
    """Like ``cases.random_specs``: small dims, at most one large; shrinks to no large."""
    dims = {name: draw(st.integers(1, 64)) for name in "NDHC"}
    # One case in three has a large dimension; the draw shrinks towards none.
    which = draw(st.integers(0, 11))
    if which >= 8:
        big = "NDHC"[which - 8]
        dims[big] = draw(st.integers(65, cases.BIG[big]))
    return cases.CaseSpec(
        **dims, dtype=draw(st.sampled_from(scope.dtypes)),
        target=draw(st.sampled_from(scope.targets)),
        reduction=draw(st.sampled_from(scope.reductions)),
        kind=draw(st.sampled_from(cases.KINDS)), seed=draw(st.integers(0, 2**31 - 1)),
    )  # fmt: skip


def test_hypothesis_shapes(candidate: Candidate, handgrad_options: Options,
                           handgrad_scope: Scope, handgrad_record: Record) -> None:  # fmt: skip
    """Hypothesis draws shapes from 1 to 512 and, on failure, shrinks to the smallest
    failing one (fewest large dimensions, then smallest sizes). It runs a tenth of
    ``--cases`` examples, seeded by ``--seed``. Its search adapts to what it finds, so it is
    not split: the first shard runs all of it."""
    if handgrad_options.shard.index != 1:
        pytest.skip(f"Hypothesis's search is not split: shard 1/{handgrad_options.shard.count} "
                    "runs it whole")  # fmt: skip

    @seed(handgrad_options.seed)
    @settings(max_examples=max(10, handgrad_options.cases // 10), deadline=None,
              database=None, print_blob=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(spec=specs(handgrad_scope))
    def check(spec: cases.CaseSpec) -> None:
        result = verify_case(candidate, cases.make_case(spec), handgrad_scope.relu_at_zero,
                             handgrad_scope.l2)  # fmt: skip
        handgrad_record([result])
        failure = messages.summary([result])
        assert not failure, failure

    check()
