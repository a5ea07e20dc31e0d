"""The second-order products against one gradient: manual, JAX (jit) and torch
(eager ``torch.func``), timed side by side, round by round.

    python -m benchmarks.second_order --out reports     # writes reports/bench_second_order.md

For each shape and dtype, each implementation computes one gradient (every dL/d· of the
parameters and x), the forward tangents (jvp), Hv and Gv along one direction of every
parameter and x: manual's functions, and the usual idioms of each framework on the
references' loss and forward pass (parameters and x only, as Hessian-free code uses them;
the references' own ``hvp`` and ``ggn_vp`` also differentiate the intermediates the gate
compares). The table gives the median time of each and the ratio of each product to
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


GRADS = ("dL/dx", "dL/dw1", "dL/db1", "dL/dw2", "dL/db2")


def _jax(case: cases.Case, v: dict[str, Any]) -> dict[str, Run]:
    """The usual JAX idioms on the references' loss and forward pass, parameters and x
    only: ``jax.grad``; ``jax.jvp`` of the forward pass; Hv as ``jax.jvp`` of ``jax.grad``;
    Gv as ``jax.jvp`` of s2, the loss's Hessian in s2 by ``jax.jvp`` of its gradient, then
    ``jax.vjp`` of s2. Each under ``jax.jit``."""
    import jax

    from references import jax_ref

    primals = tuple(jax.numpy.asarray(getattr(case, k)) for k in jax_ref.PARAMS)
    tangents = tuple(jax.numpy.asarray(v[k]) for k in jax_ref.PARAMS)
    y = jax.numpy.asarray(case.y)
    grad = jax.grad(functools.partial(jax_ref.loss, y=y, reduction="mean"), argnums=(0, 1, 2, 3, 4))
    loss_grad = jax.grad(functools.partial(jax_ref.loss_from_s2, y=y, reduction="mean"))

    def s2_of(x: Any, w1: Any, b1: Any, w2: Any, b2: Any) -> Any:
        return jax_ref.forward(x, w1, b1, w2, b2, y, "mean")["s2"]

    def jvp(p: Any, t: Any) -> Any:
        return jax.jvp(functools.partial(jax_ref.forward, y=y, reduction="mean"), p, t)[1]

    def hvp(p: Any, t: Any) -> Any:
        return jax.jvp(grad, p, t)[1]

    def ggn_vp(p: Any, t: Any) -> Any:
        s2, js = jax.jvp(s2_of, p, t)
        return jax.vjp(s2_of, *p)[1](jax.jvp(loss_grad, (s2,), (js,))[1])

    def gradient(p: Any, _: Any) -> Any:  # the direction is not used
        return grad(*p)

    programs = {"gradient": jax.jit(gradient), "jvp": jax.jit(jvp),
                "hvp": jax.jit(hvp), "ggn_vp": jax.jit(ggn_vp)}  # fmt: skip

    def run(name: str) -> dict[str, Any]:
        out = programs[name](primals, tangents)
        jax.block_until_ready(out)  # type: ignore[no-untyped-call]  # dispatch is asynchronous
        return out if name == "jvp" else dict(zip(GRADS, out, strict=True))

    return {name: functools.partial(run, name) for name in programs}


def _torch(case: cases.Case, v: dict[str, Any]) -> dict[str, Run]:
    """The same idioms in eager ``torch.func``: ``grad``, ``jvp`` of the forward pass,
    ``jvp`` of ``grad``, and ``jvp``, ``jvp`` of the s2-gradient, ``vjp`` for Gv."""
    import torch

    from references import torch_ref

    primals = tuple(torch.from_numpy(getattr(case, k)) for k in torch_ref.PARAMS)
    tangents = tuple(torch.from_numpy(v[k]) for k in torch_ref.PARAMS)
    y = torch.from_numpy(case.y)
    grad = torch.func.grad(functools.partial(torch_ref.loss, y=y, reduction="mean"),
                           argnums=(0, 1, 2, 3, 4))  # fmt: skip
    loss_grad = torch.func.grad(functools.partial(torch_ref.loss_from_s2, y=y, reduction="mean"))

    def s2_of(x: Any, w1: Any, b1: Any, w2: Any, b2: Any) -> Any:
        return torch_ref.forward(x, w1, b1, w2, b2, y, "mean")["s2"]

    def gradient() -> Any:
        return grad(*primals)

    def jvp() -> Any:
        forward = functools.partial(torch_ref.forward, y=y, reduction="mean")
        return torch.func.jvp(forward, primals, tangents)[1]

    def hvp() -> Any:
        return torch.func.jvp(grad, primals, tangents)[1]

    def ggn_vp() -> Any:
        s2, js = torch.func.jvp(s2_of, primals, tangents)[:2]
        return torch.func.vjp(s2_of, *primals)[1](torch.func.jvp(loss_grad, (s2,), (js,))[1])

    def run(f: Callable[[], Any], name: str) -> dict[str, Any]:
        out = f()
        return dict(out) if name == "jvp" else dict(zip(GRADS, out, strict=True))

    runs = {"gradient": gradient, "jvp": jvp, "hvp": hvp, "ggn_vp": ggn_vp}
    return {name: functools.partial(run, f, name) for name, f in runs.items()}


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
