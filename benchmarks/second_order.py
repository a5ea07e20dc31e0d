"""The second-order products against one gradient: manual, JAX (jit) and torch
(eager ``torch.func``), timed side by side, round by round.

    python -m benchmarks.second_order --out reports     # writes reports/bench_second_order.md

For each shape and dtype, each implementation computes one gradient (every dL/d· of the
parameters and x), the forward tangents (jvp), Hv and Gv along one direction of every
parameter and x. The table gives the median time of each and the ratio of each product to
the same implementation's gradient. Textbook reverse mode puts each product at a small
constant multiple of one gradient (Pearlmutter 1994, for Hv by the R-operator).

Every result is checked after timing against manual in float64 on the same inputs
(normwise, ``problems.TOLERANCE``), so that nothing wrong is timed. Rounds are
interleaved, with a pause before each sample, as in ``benchmarks.interleaved``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import manual
from benchmarks.implementations import SETTLE_S
from benchmarks.problems import CORES, DTYPES, SHAPES, TOLERANCE, Shape, relative_error
from handgrad import cases

PRODUCTS = ("gradient", "jvp", "hvp", "ggn_vp")
IMPLEMENTATIONS = ("manual", "jax", "torch")
Run = Callable[[], dict[str, Any]]


def _manual(case: cases.Case, v: dict[str, Any]) -> dict[str, Run]:
    params = manual.Params(case.w1, case.b1, case.w2, case.b2)
    direction = manual.Params(v["w1"], v["b1"], v["w2"], v["b2"])
    args = (case.x, case.y, params, direction, v["x"])
    fields = ("x", "w1", "b1", "w2", "b2")

    def gradient() -> dict[str, Any]:
        g = manual.loss_and_gradients(case.x, case.y, params)[2]
        return {f"dL/d{f}": getattr(g, f) for f in fields}

    def jvp() -> dict[str, Any]:
        t = manual.jvp(*args)
        return {k: getattr(t, k) for k in ("s1", "s2", "p", "loss")}

    def product(f: Callable[..., manual.Gradients]) -> dict[str, Any]:
        g = f(*args)
        return {f"dL/d{k}": getattr(g, k) for k in fields}

    return {"gradient": gradient, "jvp": jvp, "hvp": functools.partial(product, manual.hvp),
            "ggn_vp": functools.partial(product, manual.ggn_vp)}  # fmt: skip


def _jax(case: cases.Case, v: dict[str, Any]) -> dict[str, Run]:
    import jax

    from references import jax_ref

    primals = tuple(jax.numpy.asarray(getattr(case, k)) for k in jax_ref.PARAMS)
    tangents = tuple(jax.numpy.asarray(v[k]) for k in jax_ref.PARAMS)
    y = jax.numpy.asarray(case.y)
    grad = jax.jit(jax.grad(jax_ref.loss, argnums=(0, 1, 2, 3, 4)), static_argnames="reduction")

    def ready(out: dict[str, Any]) -> dict[str, Any]:
        """Wait for the results: JAX dispatches asynchronously."""
        jax.block_until_ready(out)  # type: ignore[no-untyped-call]
        return out

    programs = {name: jax.jit(f, static_argnames="reduction")
                for name, f in (("jvp", jax_ref.jvp), ("hvp", jax_ref.hvp),
                                ("ggn_vp", jax_ref.ggn_vp))}  # fmt: skip

    def gradient() -> dict[str, Any]:
        out = grad(*primals, y, reduction="mean")
        return ready(dict(zip(("dL/dx", "dL/dw1", "dL/db1", "dL/dw2", "dL/db2"), out, strict=True)))

    def product(name: str) -> dict[str, Any]:
        return ready(programs[name](primals, tangents, y, reduction="mean"))

    runs: dict[str, Run] = {"gradient": gradient}
    runs |= {name: functools.partial(product, name) for name in programs}
    return runs


def _torch(case: cases.Case, v: dict[str, Any]) -> dict[str, Run]:
    import torch

    from references import torch_ref

    primals = tuple(torch.from_numpy(getattr(case, k)) for k in torch_ref.PARAMS)
    tangents = tuple(torch.from_numpy(v[k]) for k in torch_ref.PARAMS)
    y = torch.from_numpy(case.y)
    grad = torch.func.grad(torch_ref.loss, argnums=(0, 1, 2, 3, 4))

    x, w1, b1, w2, b2 = primals

    def gradient() -> dict[str, Any]:
        out = grad(x, w1, b1, w2, b2, y, "mean")
        return dict(zip(("dL/dx", "dL/dw1", "dL/db1", "dL/dw2", "dL/db2"), out, strict=True))

    runs: dict[str, Run] = {"gradient": gradient}
    for name, f in (("jvp", torch_ref.jvp), ("hvp", torch_ref.hvp), ("ggn_vp", torch_ref.ggn_vp)):
        runs[name] = functools.partial(f, primals, tangents, y, "mean")
    return runs


BUILDERS = {"manual": _manual, "jax": _jax, "torch": _torch}


def _expected(case: cases.Case, v: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """manual's products in float64 on the same (cast) inputs: what every result is
    checked against."""
    f64 = cases.Case(case.spec, *(getattr(case, k).astype(np.float64) if k != "y" else case.y
                                  for k in ("x", "y", "w1", "b1", "w2", "b2")))  # fmt: skip
    v64 = {k: a.astype(np.float64) for k, a in v.items()}
    return {name: run() for name, run in _manual(f64, v64).items()}


def check(impl: str, name: str, got: dict[str, Any], want: dict[str, Any], dtype: str) -> None:
    for key, value in want.items():
        err = relative_error(np.asarray(got[key]), np.asarray(value, dtype=np.float64))
        tol = TOLERANCE[np.dtype(dtype)]
        assert err <= tol, f"{impl} {name} {key} {dtype}: relative error {err:.3g} > {tol:.0e}"


def measure(shape: Shape, dtype: str, rounds: int,
            settle: float = SETTLE_S) -> dict[tuple[str, str], float]:  # fmt: skip
    """Median seconds of each implementation × product, interleaved round by round."""
    case = cases.make_case(cases.CaseSpec(*shape, dtype, "labels", "mean", "random", 0))
    v = cases.make_direction(case)
    want = _expected(case, v)
    runs = {(impl, name): run for impl in IMPLEMENTATIONS
            for name, run in BUILDERS[impl](case, v).items()}  # fmt: skip
    reps = {}
    for (impl, name), run in runs.items():  # compile, warm, check once, and size the samples
        check(impl, name, run(), want[name], dtype)
        start = time.perf_counter()
        run()
        reps[impl, name] = max(1, min(2000, int(0.05 / max(time.perf_counter() - start, 1e-7))))
    samples: dict[tuple[str, str], list[float]] = {key: [] for key in runs}
    keys = list(runs)
    for r in range(rounds):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            time.sleep(settle)
            start = time.perf_counter()
            for _ in range(reps[key]):  # about 50 ms a sample: one call after a pause is noise
                runs[key]()
            samples[key].append((time.perf_counter() - start) / reps[key])
    return {key: statistics.median(s) for key, s in samples.items()}


def table(results: dict[tuple[Shape, str], dict[tuple[str, str], float]],
          rounds: int) -> str:  # fmt: skip
    lines = [(f"Median of {rounds} interleaved rounds; torch {CORES} threads. "
             "Each ratio is the product's time over the same implementation's gradient."),
             "",
             ("| (N, D, H, C) | dtype | implementation | gradient | jvp | hvp | ggn_vp "
             "| jvp/gradient | hvp/gradient | ggn_vp/gradient |"),
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for (shape, dtype), m in results.items():
        for impl in IMPLEMENTATIONS:
            times = " | ".join(f"{m[impl, p] * 1e3:.3g} ms" for p in PRODUCTS)
            ratios = " | ".join(f"{m[impl, p] / m[impl, 'gradient']:.2f}" for p in PRODUCTS[1:])
            lines.append(f"| {shape} | {dtype} | {impl} | {times} | {ratios} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--small", action="store_true", help="only the two smallest shapes")
    parser.add_argument("--settle", type=float, default=SETTLE_S)
    parser.add_argument("--out", type=Path, default=None, help="write bench_second_order.md")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(CORES)
    results = {}
    for shape in SHAPES[:2] if args.small else SHAPES[:4]:
        for dtype in DTYPES:
            results[(shape, dtype)] = measure(shape, dtype, args.rounds, args.settle)
            print(f"measured {shape} {dtype}", file=sys.stderr, flush=True)
    text = table(results, args.rounds)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_second_order.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
