"""Where the engine's time goes: the share of each stage over random cases.

    python -m benchmarks.profile_engine --cases 500

Wraps each stage's function with a timer (inclusive wall time, never counted twice) and
verifies the cases once to warm the compiled programs, then once more, timed. Stages:
JAX and torch, each as its batched program; torch's softmax Jacobian rows; the Jacobian
stage's JAX program, which gives JAX's rows and also their tolerance, comparisons and
invariants (:mod:`handgrad.jacobian`); the candidate (manual, case by case, with the
copies and checks around it); the case-wise tolerances; the case-wise comparisons (the
worst ratios, the invariants and the details of failing cases); and the rest, Python's
own work between them. JAX's two programs run on XLA's threads while the engine goes on
(torch's batched program, the case-wise comparisons): their stages are the time the
engine spends starting them (building their arguments included) and waiting for them.
It also prints the Jacobian's size: the average elements per case, and (on Linux) the
CPU time per case of the gate's main thread, of its other threads (XLA's, which compute
JAX's programs) and of the candidate's worker (:mod:`benchmarks.cpu`): with a worker per
core, cores / (CPU time per case) bounds the rate.

    python -m benchmarks.profile_engine --cases 500 --candidate benchmarks.first_order

profiles a first-order candidate (manual without its second-order products).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import cpu
from handgrad import cases, engine, jacobian, oracles
from handgrad.candidate import load_candidate

STAGES: dict[str, list[tuple[Any, str]]] = {
    "JAX, batched program": [(oracles, "_jax_dispatch"), (oracles, "_jax_collect")],
    "JAX, Jacobian program (rows, tolerance, comparisons)": [(jacobian, "jax_rows"),
                                                             (jacobian, "collect")],
    "torch, batched program": [(oracles, "torch_batch")],
    "torch, Jacobian rows": [(oracles, "torch_jacobian")],
    "candidate": [(engine, "_candidate_values")],
    "tolerances": [(engine, "tolerances")],
    "comparison": [(engine, "worst_ratios"), (engine, "_unpack")],
}  # fmt: skip


def instrument(spent: dict[str, float]) -> None:
    """Replace each stage's functions, where they are looked up, with timed wrappers."""
    for stage, places in STAGES.items():
        for module, name in places:
            original: Callable[..., Any] = getattr(module, name)

            @functools.wraps(original)
            def timed(*args: Any, _f: Callable[..., Any] = original, _s: str = stage,
                      **kwargs: Any) -> Any:  # fmt: skip
                start = time.perf_counter()
                try:
                    return _f(*args, **kwargs)
                finally:
                    spent[_s] += time.perf_counter() - start

            setattr(module, name, timed)
    # The batched oracles are looked up through these tables.
    oracles.BATCHED.update(torch=oracles.torch_batch)
    oracles.PER_BUCKET.update(jax=(oracles._jax_dispatch, oracles._jax_collect))
    oracles.JACOBIAN.update(torch=oracles.torch_jacobian, jax=oracles.jax_jacobian)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--big-share", type=float, default=0.0,
                        help="share of cases with one dimension up to 512 (the gate's: 0.0625)")  # fmt: skip
    parser.add_argument("--plot", type=Path, default=None,
                        help="also draw the stages as a bar chart into this PNG file")  # fmt: skip
    parser.add_argument("--candidate", default="manual",
                        help="the module to verify, in its worker (default: manual)")  # fmt: skip
    args = parser.parse_args(argv)
    oracles.configure()
    candidate = load_candidate(args.candidate)
    specs = cases.random_specs(args.seed, args.cases, big_share=args.big_share)
    list(engine.verify_many(candidate, specs))  # compile every bucket first
    spent = dict.fromkeys(STAGES, 0.0)
    instrument(spent)
    before = cpu.snapshot() if cpu.available() else None
    start = time.perf_counter()
    results = list(engine.verify_many(candidate, specs))
    total = time.perf_counter() - start
    threads = None if before is None else cpu.by_group(before, cpu.snapshot())
    assert all(r.passed for r in results)
    dims = "1..64" if args.big_share == 0 else f"1..64, {args.big_share:.3g} with one up to 512"
    print(f"{args.candidate}: {args.cases} cases (N, D, H, C in {dims}, both dtypes) in {total:.2f} s: "
          f"{args.cases / total:.0f} cases/s, {total / args.cases * 1e3:.2f} ms per case")  # fmt: skip
    elements = sum(s.N * s.C * s.C for s in specs) / len(specs)
    print(f"softmax Jacobian: {elements:,.0f} elements per case on average (N·C²)")
    print("| stage | ms per case | share |\n|---|---:|---:|")
    spent["Python between stages"] = total - sum(spent.values())
    for stage, seconds in spent.items():
        print(f"| {stage} | {seconds / args.cases * 1e3:.2f} | {seconds / total:.0%} |")
    if threads is not None:
        print(cpu_table(threads, args.cases, total))
    if args.plot:
        chart(spent, args.cases, total, args.plot, f"{args.cases} cases, {dims}")
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


def cpu_table(threads: dict[str, float], n: int, total: float) -> str:
    """CPU milliseconds per case by thread group, the cores they kept busy, and the rate
    that CPU time allows on this machine's cores when every core runs a gate worker."""
    rows = ["| threads | CPU ms per case | cores busy |", "|---|---:|---:|"]
    rows += [f"| {group} | {s / n * 1e3:.2f} | {s / total:.2f} |" for group, s in threads.items()]
    spent = sum(threads.values())
    rows.append(f"| all | {spent / n * 1e3:.2f} | {spent / total:.2f} |")
    cores = os.cpu_count() or 1
    rows.append(
        f"\nat most {cores * n / spent:.0f} cases/s on {cores} cores, one gate worker each"
        " (cores / CPU time per case)"
    )
    return "\n".join(rows)


def chart(spent: dict[str, float], n: int, total: float, path: Path, title: str) -> None:
    """A horizontal bar per stage: its milliseconds per case, labelled with its share."""
    import matplotlib as mpl

    mpl.use("Agg")  # no display: the figure only goes to a file
    import matplotlib.pyplot as plt

    stages = list(spent)[::-1]  # the first stage on top
    ms = [spent[s] / n * 1e3 for s in stages]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    bars = ax.barh(stages, ms, color="C0")
    ax.bar_label(bars, [f"{spent[s] / total:.0%}" for s in stages], padding=3, fontsize=8)
    ax.set(xlabel="ms per case", title=f"Where the engine's time goes ({title})")
    ax.set_xlim(0, max(ms) * 1.15)
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
