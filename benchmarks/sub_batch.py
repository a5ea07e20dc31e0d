"""Engine throughput against the sub-batch size (``handgrad.batch.SUB_BATCH``), side by side.

Each round verifies the same random cases once per size, in turn, with manual in its own
worker as the gate runs it; the figure is the median over rounds. One untimed pass per
size first compiles every bucket's JAX programs (the sub-batch size changes none of
them: JAX always runs on the whole bucket).

    python -m benchmarks.sub_batch --sizes 4,8,16,32,64
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from handgrad import batch, oracles
from handgrad.candidate import load_candidate
from handgrad.cases import random_specs
from handgrad.engine import verify_many
from handgrad.messages import summary

SETTLE_S = 0.2
"""A pause before each sample: an idle OpenBLAS thread spins for about 0.1 s."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4,8,16,32,64")
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    oracles.configure()
    candidate = load_candidate("manual")
    specs = random_specs(0, args.cases, big_share=0)
    default = batch.SUB_BATCH
    times: dict[int, list[float]] = {size: [] for size in sizes}
    try:
        for timed in [False] + [True] * args.rounds:  # the first pass compiles, untimed
            for size in sizes:
                batch.SUB_BATCH = size
                time.sleep(SETTLE_S)
                start = time.perf_counter()
                failed = summary(list(verify_many(candidate, specs)))
                if failed:
                    raise SystemExit(failed)
                if timed:
                    times[size].append(time.perf_counter() - start)
    finally:
        batch.SUB_BATCH = default
    print(f"{args.cases} random cases (N, D, H, C in 1..64), medians of {args.rounds} rounds")
    print("| SUB_BATCH | s | cases/s |\n|---:|---:|---:|")
    for size, seconds in times.items():
        median = statistics.median(seconds)
        print(f"| {size} | {median:.2f} | {args.cases / median:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
