"""What isolation costs: the engine's throughput with the candidate in its own worker
process (the gate's default, :mod:`handgrad.worker`) against the same candidate imported
into the gate's process, on the same cases, interleaved round by round.

Each round verifies the same random cases once each way, in alternating order, with one
pause before each sample (idle BLAS threads spin for about 0.1 s); the ratio is of the
medians over rounds. JAX's programs are compiled by a warm-up pass first.

    python -m benchmarks.isolation --cases 500 --rounds 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

import manual
from handgrad import oracles
from handgrad.candidate import Candidate, load_candidate
from handgrad.cases import CaseSpec, random_specs
from handgrad.engine import as_candidate, verify_many
from handgrad.messages import summary

SETTLE_S = 0.2


def _rate(candidate: Candidate, specs: Sequence[CaseSpec]) -> float:
    """Cases per second of one pass; a failure would make the figure meaningless."""
    time.sleep(SETTLE_S)
    start = time.perf_counter()
    results = list(verify_many(candidate, specs))
    elapsed = time.perf_counter() - start
    failure = summary(results)
    if failure:
        raise AssertionError(failure)
    return len(specs) / elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    oracles.configure()
    specs = random_specs(args.seed, args.cases, big_share=0)
    ways = {"in-process": as_candidate(manual), "worker": load_candidate("manual")}
    for candidate in ways.values():
        _rate(candidate, specs)  # compiles every bucket's program
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for k in range(args.rounds):
        order = list(ways) if k % 2 == 0 else list(reversed(ways))
        for name in order:
            rates[name].append(_rate(ways[name], specs))
    medians = {name: statistics.median(r) for name, r in rates.items()}
    for name, r in rates.items():
        print(f"{name:10} median {medians[name]:6.1f} cases/s  rounds "
              + " ".join(f"{x:.1f}" for x in r))  # fmt: skip
    ratio = medians["worker"] / medians["in-process"]
    print(f"worker / in-process: {ratio:.3f} ({(1 - ratio) * 100:+.1f}% cost)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
