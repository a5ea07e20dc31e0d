"""Engine throughput against one of its constants, side by side: the sub-batch size
(``handgrad.batch.SUB_BATCH``), torch's group (``handgrad.oracles.TORCH_SUB_BATCH``) or the
Jacobian's block (``handgrad.jacobian.BLOCK_ELEMENTS``).

Each round verifies the same random cases once per value, in turn, with manual in its own
worker as the gate runs it; the figure is the median over rounds. One untimed pass per
value first compiles every JAX program it needs.

    python -m benchmarks.constants --constant batch.SUB_BATCH --values 4,8,16
    python -m benchmarks.constants --constant oracles.TORCH_SUB_BATCH --values 16,32,64
    python -m benchmarks.constants --constant jacobian.BLOCK_ELEMENTS --values 131072,262144
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time

from handgrad import oracles
from handgrad.candidate import load_candidate
from handgrad.cases import random_specs
from handgrad.engine import verify_many
from handgrad.messages import summary

CONSTANTS = ("batch.SUB_BATCH", "oracles.TORCH_SUB_BATCH", "jacobian.BLOCK_ELEMENTS")
SETTLE_S = 0.2
"""A pause before each sample: an idle OpenBLAS thread spins for about 0.1 s."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--constant", default="batch.SUB_BATCH", choices=CONSTANTS)
    parser.add_argument("--values", default="8,16,32,64")
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    values = [int(v) for v in args.values.split(",")]
    module_name, name = args.constant.split(".")
    module = importlib.import_module(f"handgrad.{module_name}")
    oracles.configure()
    candidate = load_candidate("manual")
    specs = random_specs(0, args.cases, big_share=0)
    default = getattr(module, name)
    times: dict[int, list[float]] = {value: [] for value in values}
    try:
        for timed in [False] + [True] * args.rounds:  # the first pass compiles, untimed
            for value in values:
                setattr(module, name, value)
                time.sleep(SETTLE_S)
                start = time.perf_counter()
                failed = summary(list(verify_many(candidate, specs)))
                if failed:
                    raise SystemExit(failed)
                if timed:
                    times[value].append(time.perf_counter() - start)
    finally:
        setattr(module, name, default)
    print(f"{args.cases} random cases (N, D, H, C in 1..64), medians of {args.rounds} rounds")
    print(f"| {args.constant} | s | cases/s |\n|---:|---:|---:|")
    for value, seconds in times.items():
        median = statistics.median(seconds)
        print(f"| {value} | {median:.2f} | {args.cases / median:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
