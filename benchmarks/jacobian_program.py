"""The softmax Jacobian stage's JAX program, one block at a time: wall and CPU time.

    python -m benchmarks.jacobian_program
    taskset -c 0 python -m benchmarks.jacobian_program      # XLA on one core

For each number of classes C and dtype, one block of the stage (``jacobian.BLOCK_ELEMENTS``
elements: 2¹⁸ // C² rows of C×C) of correct rows is checked by ``jacobian.jax_rows``, the
program the engine runs (JAX's own rows, the tolerance, both comparisons and both
invariants), and by JAX's ``softmax_jacobian`` alone, jitted: the difference is what the
tolerance, the comparisons and the invariants cost. The rows must pass (every ratio at
most 1), or nothing is timed. CPU time is the whole process's
(``time.process_time``), so it counts XLA's threads: on several cores XLA splits the
program across its pool, and the CPU time exceeds the wall time.
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from handgrad import jacobian, oracles


def block(C: int, dtype: str, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """One block's arguments of ``jacobian.jax_rows``: correct rows of dp/ds2 (as the
    candidate's and as torch's), s2, p (float64, as the candidate's p and the tolerance's),
    its bound and the true classes (all of them)."""
    R = max(1, jacobian.BLOCK_ELEMENTS // (C * C))
    s2 = rng.standard_normal((R, C)).astype(dtype)
    p = np.exp(s2 - s2.max(axis=1, keepdims=True), dtype=np.float64)
    p /= p.sum(axis=1, keepdims=True)
    g = (p[:, :, None] * np.eye(C) - p[:, :, None] * p[:, None, :]).astype(dtype)
    e_p = np.finfo(dtype).eps * p
    return g, g.copy(), s2, p, p.copy(), e_p, np.ones((R, C), dtype=bool)


def timed(f: Callable[[], Any], reps: int) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``f()``, after one call to compile it. A short
    pause before each sample lets the pools' idle threads fall asleep first."""
    np.asarray(f())
    wall, cpu = [], []
    for _ in range(reps):
        time.sleep(0.005)
        w, c = time.perf_counter(), time.process_time()
        np.asarray(f())
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return float(np.median(wall)) * 1e3, float(np.median(cpu)) * 1e3


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", default="8,16,64", help="values of C, comma-separated")
    parser.add_argument("--reps", type=int, default=50, help="samples per median")
    args = parser.parse_args(argv)
    oracles._jax()  # x64 on before any array
    import jax

    from references import jax_ref

    jac = jax.jit(jax_ref.softmax_jacobian)
    rng = np.random.default_rng(0)
    print(f"one block of {jacobian.BLOCK_ELEMENTS:,} elements; medians of {args.reps}")
    print("| C | dtype | program wall ms | program CPU ms | jacobian alone wall ms |"
          " jacobian alone CPU ms | ns per element, program CPU |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|---:|")
    for C in (int(c) for c in args.classes.split(",")):
        for dtype in ("float32", "float64"):
            a = block(C, dtype, rng)
            worst = float(np.max(np.asarray(jacobian.jax_rows(*a))))
            if not worst <= 1:  # correct rows: never time a program that rejects them
                raise AssertionError(f"C={C} {dtype}: correct rows rejected, ratio {worst}")
            w, c = timed(functools.partial(jacobian.jax_rows, *a), args.reps)
            jw, jc = timed(functools.partial(jac, a[2]), args.reps)
            per = c * 1e6 / a[0].size
            print(f"| {C} | {dtype} | {w:.2f} | {c:.2f} | {jw:.2f} | {jc:.2f} | {per:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
