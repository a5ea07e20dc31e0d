"""What isolation costs: the engine's throughput with the candidate in its own worker
process (the gate's default, :mod:`handgrad.worker`) against the same candidate imported
into the gate's process, on the same cases, interleaved round by round.

Each round verifies the same random cases once each way, in alternating order, with one
pause before each sample (idle BLAS threads spin for about 0.1 s); the ratio is of the
medians over rounds. JAX's programs are compiled by a warm-up pass first.

``--processes 2`` deals the cases to two gate processes, as ``nox -s verify`` does with
``-n auto`` on two cores: each has its own candidate worker, so four processes share the
cores, and that is where isolation costs most.

    python -m benchmarks.isolation --cases 500 --rounds 7 --processes 2
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import statistics
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from handgrad import oracles
from handgrad.candidate import Candidate, load_candidate
from handgrad.cases import CaseSpec, random_specs
from handgrad.engine import as_candidate, verify_many
from handgrad.messages import summary

SETTLE_S = 0.2
WAYS = ("in-process", "worker")


@functools.cache
def _candidate(way: str) -> Candidate:
    """manual, loaded once per process, either way."""
    oracles.configure()
    if way == "worker":
        return load_candidate("manual")
    import manual

    return as_candidate(manual)


def _verify(way: str, specs: Sequence[CaseSpec]) -> str:
    """Verify ``specs`` one way; the failure summary ("" if none)."""
    return summary(list(verify_many(_candidate(way), specs)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args(argv)
    specs = random_specs(args.seed, args.cases, big_share=0)
    chunks = [specs[i :: args.processes] for i in range(args.processes)]
    context = multiprocessing.get_context("spawn")  # JAX must not be forked
    with ProcessPoolExecutor(args.processes, mp_context=context) as pool:

        def rate(way: str) -> float:
            """Cases per second of one pass; a failure would make the figure meaningless."""
            time.sleep(SETTLE_S)
            start = time.perf_counter()
            failures = [f for f in pool.map(_verify, [way] * len(chunks), chunks) if f]
            elapsed = time.perf_counter() - start
            if failures:
                raise AssertionError("\n".join(failures))
            return len(specs) / elapsed

        for way in WAYS:  # each process compiles every bucket's program, both ways
            for failure in pool.map(_verify, [way] * args.processes, [specs] * args.processes):
                if failure:
                    raise AssertionError(failure)
        rates: dict[str, list[float]] = {way: [] for way in WAYS}
        for k in range(args.rounds):
            for way in WAYS if k % 2 == 0 else reversed(WAYS):
                rates[way].append(rate(way))
    medians = {way: statistics.median(r) for way, r in rates.items()}
    print(f"{args.cases} cases, {args.processes} gate process(es), {args.rounds} rounds")
    for way, r in rates.items():
        print(f"{way:10} median {medians[way]:6.1f} cases/s  rounds "
              + " ".join(f"{x:.1f}" for x in r))  # fmt: skip
    ratio = medians["worker"] / medians["in-process"]
    print(f"worker / in-process: {ratio:.3f} ({(1 - ratio) * 100:+.1f}% cost)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
