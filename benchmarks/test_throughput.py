"""End-to-end throughput of the verification engine: cases verified per second.

One case = make the inputs, run manual, run the torch and (batched) JAX references,
derive the tolerances and compare all 14 quantities against both references: what the
gate's bulk run does per case (``tests/test_verify.py::test_random_cases``).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
import torch

from tests import harness

CASES = 500
SEED = 0
ROUNDS = 3


def _warm_specs(specs: list[harness.CaseSpec], per_dtype: int = 3) -> list[harness.CaseSpec]:
    """A few cases of each dtype: JAX compiles one batched program per dtype and bucket."""
    return [s for d in harness.DTYPES for s in [s for s in specs if s.dtype == d][:per_dtype]]


def test_verify_throughput(benchmark: Any) -> None:
    """``CASES`` random cases with N, D, H, C in 1..64 (no large dimension), both dtypes."""
    candidate = harness.load_candidate("manual")
    specs = harness.random_specs(SEED, CASES, big_share=0)
    # Compilation of the JAX programs (~1.5 s per dtype) stays out of the timed rounds.
    list(harness.verify_many(candidate, _warm_specs(specs)))

    benchmark.group = "verify throughput"
    benchmark.extra_info.update({
        "implementation": "manual", "pass": "verify", "cases": CASES, "seed": SEED,
        "dims": "1..64", "dtypes": {d: sum(s.dtype == d for s in specs) for d in harness.DTYPES},
        # The harness, not this file, picks torch's threads (one: the cases are tiny).
        "torch_threads": torch.get_num_threads(),
    })  # fmt: skip
    results = benchmark.pedantic(lambda: list(harness.verify_many(candidate, specs)),
                                 rounds=ROUNDS)  # fmt: skip

    assert len(results) == CASES
    failed = [r for r in results if r.failures != []]
    if failed:
        first = harness.describe(failed[0].failures[0], failed[0])
        raise AssertionError(f"{len(failed)} of {CASES} cases failed; first:\n{first}")
    if benchmark.stats is not None:
        benchmark.extra_info["cases_per_second"] = CASES / benchmark.stats.stats.median


def _verify_chunk(specs: list[harness.CaseSpec]) -> int:
    """Verify ``specs`` in this worker; return the number of failing cases."""
    candidate = harness.load_candidate("manual")
    return sum(bool(r.failures) for r in harness.verify_many(candidate, specs))


@pytest.fixture(scope="module")
def pool() -> Iterator[ProcessPoolExecutor]:
    """Two worker processes, spawned (JAX must not be forked) and warmed before timing."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=context) as executor:
        warm = _warm_specs(harness.random_specs(SEED, CASES, big_share=0))
        assert list(executor.map(_verify_chunk, [warm] * WORKERS)) == [0] * WORKERS
        yield executor


WORKERS = 2


def test_verify_throughput_on_every_core(benchmark: Any, pool: ProcessPoolExecutor) -> None:
    """The same cases dealt to two processes, as ``nox -s verify`` does with ``-n auto``."""
    specs = harness.random_specs(SEED, CASES, big_share=0)
    chunks = [specs[i::WORKERS] for i in range(WORKERS)]
    benchmark.group = "verify throughput"
    benchmark.extra_info.update({
        "implementation": "manual", "pass": "verify", "cases": CASES, "seed": SEED,
        "dims": "1..64", "workers": WORKERS,
    })  # fmt: skip
    failures = benchmark.pedantic(lambda: sum(pool.map(_verify_chunk, chunks)), rounds=ROUNDS)
    assert failures == 0
    if benchmark.stats is not None:
        benchmark.extra_info["cases_per_second"] = CASES / benchmark.stats.stats.median
