"""Time the forward, backward and forward+backward passes of each implementation.

The implementations and what each pass covers are in ``benchmarks.implementations``.
Every benchmark checks what it computed against a float64 reference (``problems.check``)
after timing.
"""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
import torch

from benchmarks.implementations import BUILDERS, SETTLE_S, Timed
from benchmarks.problems import CORES, PASSES, Problem, flops, shape_id


@pytest.fixture(autouse=True)
def _torch_threads(pytestconfig: pytest.Config) -> None:
    # Set before every test, not once: the verification engine's oracles.configure() drops
    # torch to one thread for its tiny cases, and it may have run first in this process.
    torch.set_num_threads(CORES)
    if not pytestconfig.getoption("benchmark_disable"):
        time.sleep(SETTLE_S)


# --- the benchmark ----------------------------------------------------------------------------


def pedantic_rounds(timed: Timed, config: pytest.Config) -> int:
    """Rounds that fit ``--benchmark-max-time``, at least ``--benchmark-min-rounds``.

    pedantic takes a fixed count where the automatic mode derives one from those options;
    the untimed setup is counted too, so the wall time stays near the budget.
    """
    assert timed.setup is not None
    start = time.perf_counter()
    args, kwargs = timed.setup()
    timed.run(*args, **kwargs)
    once = time.perf_counter() - start
    max_time = float(config.getoption("benchmark_max_time"))
    min_rounds = int(config.getoption("benchmark_min_rounds"))
    return max(min_rounds, min(10_000, math.floor(max_time / once)))


@pytest.mark.parametrize("pass_", PASSES)
def test_pass(
    benchmark: Any, problem: Problem, impl: str, pass_: str, pytestconfig: pytest.Config
) -> None:
    """One implementation × pass × shape × dtype; the result is checked after timing."""
    timed = BUILDERS[impl](problem, pass_)
    N, D, H, C = problem.shape
    benchmark.group = f"{pass_} {shape_id(problem.shape)} {problem.dtype.name}"
    benchmark.extra_info.update({
        "implementation": impl, "pass": pass_, "shape": [N, D, H, C], "N": N, "D": D, "H": H,
        "C": C, "dtype": problem.dtype.name, "flops": flops(problem.shape, pass_),
        "torch_threads": torch.get_num_threads(),
    })  # fmt: skip
    if timed.setup is None:
        out = benchmark(timed.run)
    elif benchmark.disabled:
        out = benchmark.pedantic(timed.run, setup=timed.setup)
    else:
        rounds = pedantic_rounds(timed, pytestconfig)
        out = benchmark.pedantic(timed.run, setup=timed.setup, rounds=rounds, warmup_rounds=1)
    timed.check(out)
