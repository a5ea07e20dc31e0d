"""Ratios of medians, measured side by side: forward+backward of every implementation,
interleaved round by round so that the machine's drift hits all of them alike.

pytest-benchmark times one benchmark after another; on a shared machine a minute of drift
between them moves a ratio by 10-40 %. Here each round times every implementation once,
in rotating order, and the ratios are of the medians over rounds.

Before each sample the process sleeps ``--settle`` seconds. Idle BLAS worker threads spin
before they sleep (OpenBLAS for about 0.1 s), and on 2 cores a spinning thread of the
library that ran last halves the speed of the next one: measured here at
(1024, 1024, 1024, 100) float32, torch took 69.5 ms right after manual and 35.4 ms after
a 0.2 s pause. Without the pause the ratios favour whichever library ran before.

    python benchmarks/interleaved.py --out reports        # writes reports/bench_ratios.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from benchmarks.implementations import BUILDERS, SETTLE_S, Timed
from benchmarks.problems import CORES, DTYPES, SHAPES, make_problem

IMPLEMENTATIONS = ("manual", "gemm_floor", "jax", "torch")


def _per_call(timed: Timed, reps: int) -> Callable[[], float]:
    def run() -> float:
        start = time.perf_counter()
        for _ in range(reps):
            out = timed.run()
        elapsed = (time.perf_counter() - start) / reps
        timed.check(out)  # after timing: a wrong result must not go unnoticed
        return elapsed

    return run


def measure(
    shape: tuple[int, int, int, int], dtype: str, rounds: int, settle: float = SETTLE_S
) -> dict[str, float]:
    """Median seconds per forward+backward of each implementation, interleaved."""
    pb = make_problem(shape, dtype)
    timed = {name: BUILDERS[name](pb, "forward+backward") for name in IMPLEMENTATIONS}
    first = {name: _per_call(t, 1)() for name, t in timed.items()}  # warm, and size reps
    reps = {name: max(1, min(2000, int(0.05 / max(s, 1e-7)))) for name, s in first.items()}
    runs = {name: _per_call(t, reps[name]) for name, t in timed.items()}
    samples: dict[str, list[float]] = {name: [] for name in IMPLEMENTATIONS}
    for r in range(rounds):
        order = (
            IMPLEMENTATIONS[r % len(IMPLEMENTATIONS) :]
            + IMPLEMENTATIONS[: r % len(IMPLEMENTATIONS)]
        )
        for name in order:
            time.sleep(settle)  # let the previous library's idle threads stop spinning
            samples[name].append(runs[name]())
    return {name: statistics.median(s) for name, s in samples.items()}


def table(
    results: dict[tuple[tuple[int, int, int, int], str], dict[str, float]],
    rounds: int,
    settle: float,
) -> str:
    lines = [
        (
            f"forward+backward, median of {rounds} interleaved rounds, {settle} s pause "
            f"before each sample; torch {CORES} threads"
        ),
        "",
        (
            "| (N, D, H, C) | dtype | manual | floor | jax | torch | manual/floor | jax/manual "
            "| torch/manual |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (shape, dtype), m in results.items():
        cells = " | ".join(f"{m[n] * 1e3:.3g} ms" for n in IMPLEMENTATIONS)
        lines.append(
            f"| {shape} | {dtype} | {cells} | {m['manual'] / m['gemm_floor']:.2f} | "
            f"{m['jax'] / m['manual']:.2f} | {m['torch'] / m['manual']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--out", type=Path, default=None, help="write bench_ratios.md here")
    parser.add_argument("--small", action="store_true", help="only the three small shapes")
    parser.add_argument(
        "--settle", type=float, default=SETTLE_S, help="seconds of pause before each sample"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(CORES)
    results = {}
    for shape in SHAPES[:3] if args.small else SHAPES:
        for dtype in DTYPES:
            results[(shape, dtype)] = measure(shape, dtype, args.rounds, args.settle)
            print(f"measured {shape} {dtype}", file=sys.stderr, flush=True)
    text = table(results, args.rounds, args.settle)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_ratios.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
