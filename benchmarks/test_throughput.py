"""End-to-end throughput of the verification engine: cases verified per second.

One case = make the inputs, run manual, run the torch and (batched) JAX references,
derive the tolerances and compare all 14 quantities against both references: what the
gate's bulk run does per case (``tests/test_verify.py::test_random_cases``).
"""

from __future__ import annotations

from typing import Any

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
