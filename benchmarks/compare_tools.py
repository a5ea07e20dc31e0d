"""handgrad beside ``torch.autograd.gradcheck`` and ``jax.test_util.check_grads``, on this
network, with pinned seeds: how often each fails a correct implementation, and its cost.

    python -m benchmarks.compare_tools --seeds 20 --out reports

Every case is ``make_case`` of (N, D, H, C) = ``--shape`` with integer labels, the mean
reduction and ordinary random data (w ~ N(0, 1/fan_in)), one data seed per case. Each tool
gets the same cases and only correct derivatives:

- gradcheck, with its defaults, checks torch autograd's own gradient of the loss with
  respect to x, w1, b1, w2 and b2 (the references' loss) against central finite
  differences; in float32, then in float64 as a control;
- check_grads (order 1, its default modes "fwd" and "rev") checks JAX's own gradient of
  the same loss, in both dtypes. Its tangent is one fixed random draw; the script counts
  the entries of s1 whose sign differs between the two ends of the finite-difference step
  (the ReLU kinks the step crosses);
- handgrad verifies ``manual``, the hand-written backward, against both frameworks.

Cost: the first call at ``--shape`` (a fresh shape: JAX compiles there, and so does
handgrad when the shape opens a new bucket), after every tool has run once at another
shape, and the median of the calls after it; all in one process, one torch thread. Writes
compare.md and compare.json.
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from handgrad import cases, oracles
from handgrad.candidate import load_candidate
from handgrad.engine import verify_case


@dataclass
class Tally:
    tool: str
    dtype: str
    failed: list[int] = field(default_factory=list)
    """Seeds whose correct gradients the tool rejected."""
    seconds: list[float] = field(default_factory=list)
    """Each call's wall time, in seed order (the first is at a fresh shape)."""
    messages: list[str] = field(default_factory=list)
    kinks_crossed: list[int] = field(default_factory=list)
    """check_grads only: per seed, the s1 entries whose sign its step flips."""

    def by_kinks(self) -> str:
        """Failures among the cases whose step crosses a kink, and among the others."""
        crossing = [seed for seed, k in enumerate(self.kinks_crossed) if k]
        others = [seed for seed, k in enumerate(self.kinks_crossed) if not k]
        failed = set(self.failed)
        return (f"{len(failed & set(crossing))} of {len(crossing)} / "
                f"{len(failed & set(others))} of {len(others)}")  # fmt: skip

    def row(self) -> dict[str, Any]:
        later = self.seconds[1:] or self.seconds
        return {"tool": self.tool, "dtype": self.dtype, "cases": len(self.seconds),
                "failed": len(self.failed), "failed_seeds": self.failed,
                "first_call_s": self.seconds[0], "median_later_s": statistics.median(later),
                "median_message_chars": int(statistics.median(map(len, self.messages)))
                if self.messages else None,
                "first_message": first_lines(self.messages[0]) if self.messages else "",
                "median_kinks_crossed": statistics.median(self.kinks_crossed)
                if self.kinks_crossed else None,
                "failed_crossing_a_kink_or_not": self.by_kinks() if self.kinks_crossed else ""}  # fmt: skip


def first_lines(message: str, count: int = 3) -> str:
    """The start of a failure message: enough to see which check failed."""
    return " / ".join([line.strip() for line in message.splitlines() if line.strip()][:count])


def timed(check: Callable[[], str | None]) -> tuple[float, str | None]:
    """Wall time of ``check`` and its failure message (None: it passed). The pause first
    lets OpenBLAS's idle threads stop spinning, as in every benchmark here."""
    time.sleep(0.2)
    start = time.perf_counter()
    message = check()
    return time.perf_counter() - start, message


def gradcheck_case(case: cases.Case) -> Callable[[], str | None]:
    import torch
    from torch.autograd.gradcheck import GradcheckError

    from references import torch_ref

    y = torch.from_numpy(case.y)
    inputs = tuple(torch.from_numpy(getattr(case, k).copy()).requires_grad_() for k in cases.MOVED)

    def check() -> str | None:
        def f(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
              b2: torch.Tensor) -> torch.Tensor:  # fmt: skip
            return torch_ref.loss(x, w1, b1, w2, b2, y, "mean")

        with warnings.catch_warnings():
            # Its float32 warning ("not a double precision") is what the figure measures.
            warnings.simplefilter("ignore", UserWarning)
            try:
                torch.autograd.gradcheck(f, inputs)
            except GradcheckError as exc:
                return str(exc)
        return None

    return check


def check_grads_case(case: cases.Case) -> Callable[[], str | None]:
    import jax.numpy as jnp
    from jax.test_util import check_grads

    from references import jax_ref  # first: it enables float64 before any JAX array

    y = jnp.asarray(case.y)
    args = tuple(jnp.asarray(getattr(case, k)) for k in cases.MOVED)

    def f(x: Any, w1: Any, b1: Any, w2: Any, b2: Any) -> Any:
        return jax_ref.loss(x, w1, b1, w2, b2, y, "mean")

    def check() -> str | None:
        try:
            check_grads(f, args, order=1)  # type: ignore[no-untyped-call]
        except AssertionError as exc:
            return str(exc)
        return None

    return check


def kinks_crossed(case: cases.Case, eps: float = 1e-4) -> int:
    """Entries of s1 whose sign differs at the two ends of check_grads's step: its tangent
    is ``RandomState(0)`` normal draws shaped like (x, w1, b1, w2, b2), in that order."""
    rng = np.random.RandomState(0)
    t = {k: rng.randn(*getattr(case, k).shape) for k in cases.MOVED}
    ends = [(case.x + s * eps * t["x"]) @ (case.w1 + s * eps * t["w1"]) + case.b1
            + s * eps * t["b1"] for s in (1, -1)]  # fmt: skip
    return int(np.count_nonzero(np.sign(ends[0]) != np.sign(ends[1])))


WARM_UP = (2, 3, 4, 5)
"""A shape each tool runs once, untimed, first: the first call at ``--shape`` then costs
what a fresh shape costs, not the framework's start-up."""


def compare(shape: tuple[int, int, int, int], seeds: int) -> list[dict[str, Any]]:
    oracles.configure()
    manual = load_candidate("manual")
    tools = {"torch.autograd.gradcheck": gradcheck_case,
             "jax.test_util.check_grads": check_grads_case}  # fmt: skip
    for dtype in cases.DTYPES:
        warm = cases.make_case(cases.CaseSpec(*WARM_UP, dtype=dtype))
        for make in tools.values():
            make(warm)()
        _handgrad(manual, warm)
    tallies = []
    for dtype in cases.DTYPES:
        specs = [cases.CaseSpec(*shape, dtype=dtype, seed=seed) for seed in range(seeds)]
        for tool, make in tools.items():
            tally = Tally(tool, dtype)
            for spec in specs:
                case = cases.make_case(spec)
                seconds, message = timed(make(case))
                tally.seconds.append(seconds)
                if tool.startswith("jax"):
                    tally.kinks_crossed.append(kinks_crossed(case))
                if message is not None:
                    tally.failed.append(spec.seed)
                    tally.messages.append(message)
            tallies.append(tally)
        tally = Tally("handgrad (manual vs torch and JAX)", dtype)
        for spec in specs:
            case = cases.make_case(spec)
            seconds, message = timed(functools.partial(_handgrad, manual, case))
            tally.seconds.append(seconds)
            if message is not None:
                tally.failed.append(spec.seed)
                tally.messages.append(message)
        tallies.append(tally)
    return [t.row() for t in tallies]


def _handgrad(manual: Any, case: cases.Case) -> str | None:
    from handgrad import messages

    result = verify_case(manual, case)
    return None if result.passed else messages.summary([result])


def markdown(rows: list[dict[str, Any]], command: str, shape: tuple[int, ...]) -> str:
    lines = [
        f"# handgrad beside the usual tools, at (N, D, H, C) = {shape}",
        "",
        f"`{command}`; {time.strftime('%Y-%m-%d')}. Every case is correct code: each failure",
        "is a false alarm. Times are wall seconds in one process, one torch thread.",
        "",
        "| tool | dtype | cases | failed | first call (fresh shape) | median later call | kinks "
        + "crossed by the step (median) | failed: step crosses a kink / crosses none "
        + "| failure message (median chars) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        kinks = "" if r["median_kinks_crossed"] is None else f"{r['median_kinks_crossed']:g}"
        chars = "" if r["median_message_chars"] is None else str(r["median_message_chars"])
        lines.append(f"| {r['tool']} | {r['dtype']} | {r['cases']} | {r['failed']} | "
                     f"{r['first_call_s']:.3f} s | {r['median_later_s']:.3f} s | {kinks} | "
                     f"{r['failed_crossing_a_kink_or_not']} | "
                     f"{chars} |")  # fmt: skip
    firsts = [f"- {r['tool']}, {r['dtype']}: `{r['first_message']}`"
              for r in rows if r["first_message"]]  # fmt: skip
    if firsts:
        lines += ["", "The start of each tool's first failure message:", "", *firsts]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="cases per tool and dtype")
    parser.add_argument("--shape", default="64,128,64,10", help="N,D,H,C")
    parser.add_argument("--out", type=Path, default=None, help="write compare.md/.json here")
    args = parser.parse_args(argv)
    shape = tuple(int(v) for v in args.shape.split(","))
    if len(shape) != 4 or args.seeds < 1:
        parser.error("--shape: expected N,D,H,C; --seeds: at least 1")
    rows = compare((shape[0], shape[1], shape[2], shape[3]), args.seeds)
    command = f"python -m benchmarks.compare_tools --seeds {args.seeds} --shape {args.shape}"
    text = markdown(rows, command, shape)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "compare.md").write_text(text)
        data = {"command": command, "shape": shape, "rows": rows}
        (args.out / "compare.json").write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
