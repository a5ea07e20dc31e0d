"""The verification engine: cases, references, tolerances, comparison and failure messages.

Tests, the ``verify`` session and the benchmarks all import this one module; nothing here
is copied into a test. Reproduce one case from the command line with::

    python -m tests.harness --candidate manual --case 'N=5,D=4,H=10,C=3,dtype=float32,...'
"""

from __future__ import annotations

import argparse
import functools
import importlib
import math
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from references import QUANTITIES

Arrays = dict[str, NDArray[Any]]

DTYPES = ("float32", "float64")
TARGETS = ("labels", "onehot", "soft", "unnormalised")
REDUCTIONS = ("mean", "sum")
KINDS = ("random", "kink", "large", "tiny")
REFERENCES = ("torch", "jax")
API = ("Params", "forward", "backward", "cross_entropy", "softmax_jacobian")
GRADIENTS = ("dL/ds2", "dL/do1", "dL/dw2", "dL/db2", "dL/ds1", "dL/dx", "dL/dw1", "dL/db1")


# --- cases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSpec:
    """Everything that determines one case; ``str(spec)`` round-trips through ``parse``."""

    N: int
    D: int
    H: int
    C: int
    dtype: str = "float64"
    target: str = "labels"
    reduction: str = "mean"
    kind: str = "random"
    seed: int = 0

    def __str__(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))

    @classmethod
    def parse(cls, text: str) -> CaseSpec:
        kv = dict(item.split("=", 1) for item in text.split(","))
        types = {f.name: (int if f.type in ("int", int) else str) for f in fields(cls)}
        unknown = set(kv) - set(types)
        if unknown:
            raise ValueError(f"--case: unknown fields {sorted(unknown)}; known: {sorted(types)}")
        values: dict[str, Any] = {k: types[k](v) for k, v in kv.items()}
        return cls(**values)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape every compared quantity must have."""
        N, D, H, C = self.N, self.D, self.H, self.C
        s = {"loss": (), "s1": (N, H), "o1": (N, H), "s2": (N, C), "p": (N, C)}
        s |= {"dp/ds2": (N, C, C), "dL/dx": (N, D), "dL/dw1": (D, H), "dL/db1": (H,)}
        s |= {"dL/dw2": (H, C), "dL/db2": (C,), "dL/ds1": (N, H), "dL/do1": (N, H)}
        s |= {"dL/ds2": (N, C)}
        return s


@dataclass(frozen=True)
class Case:
    spec: CaseSpec
    x: NDArray[Any]
    y: NDArray[Any]
    w1: NDArray[Any]
    b1: NDArray[Any]
    w2: NDArray[Any]
    b2: NDArray[Any]

    def inputs(self) -> Arrays:
        return {k: getattr(self, k) for k in ("x", "y", "w1", "b1", "w2", "b2")}

    def target_matrix(self, dtype: Any = np.float64) -> NDArray[Any]:
        """y as N×C targets: labels become one-hot rows."""
        labels = self.y.dtype.kind in "iu"
        y: NDArray[Any] = (
            np.eye(self.spec.C, dtype=dtype)[self.y] if labels else self.y.astype(dtype)
        )
        return y


# Multipliers on w2 and b2 for the stress kinds: "large" puts |s2| in the thousands,
# "tiny" spreads each row of s2 by ~100 so the smallest probabilities are ~e^-100.
_SCORE_SCALE = {"random": 1.0, "kink": 1.0, "large": 3000.0, "tiny": 40.0}


def make_case(spec: CaseSpec) -> Case:
    """Draw the arrays of ``spec`` from its seed: w ~ N(0, 1/fan_in), as at initialisation."""
    for name, value, allowed in (("dtype", spec.dtype, DTYPES), ("target", spec.target, TARGETS),
                                 ("reduction", spec.reduction, REDUCTIONS),
                                 ("kind", spec.kind, KINDS)):  # fmt: skip
        if value not in allowed:
            raise ValueError(f"{name}: expected one of {allowed}, got {value!r}")
    rng = np.random.default_rng(spec.seed)
    N, D, H, C = spec.N, spec.D, spec.H, spec.C
    x = rng.standard_normal((N, D))
    w1 = rng.standard_normal((D, H)) / math.sqrt(D)
    b1 = 0.1 * rng.standard_normal(H)
    w2 = rng.standard_normal((H, C)) / math.sqrt(H) * _SCORE_SCALE[spec.kind]
    b2 = 0.1 * rng.standard_normal(C) * _SCORE_SCALE[spec.kind]
    if spec.kind == "kink":
        # Exact zeros in s1, the ReLU kink: a zero row of x meets zero entries of b1, and a
        # zero column of w1 with zero bias zeroes a whole column. Both sides compute these
        # zeros exactly, so [s1 > 0] must give exactly 0 there.
        x[rng.random(N) < 0.3] = 0.0
        x[0] = 0.0
        b1[rng.random(H) < 0.5] = 0.0
        b1[0] = 0.0
        w1[:, 0] = 0.0
    labels = rng.integers(0, C, N)
    y: NDArray[Any]
    if spec.target == "labels":
        y = labels
    elif spec.target == "onehot":
        y = np.eye(C)[labels]
    elif spec.target == "soft":
        y = rng.dirichlet(np.ones(C), size=N)
    else:
        y = rng.uniform(0.0, 2.0, (N, C))
    dt = np.dtype(spec.dtype)
    cast = {k: a.astype(dt) for k, a in {"x": x, "w1": w1, "b1": b1, "w2": w2, "b2": b2}.items()}
    return Case(spec=spec, y=y if y.dtype.kind in "iu" else y.astype(dt), **cast)


EDGE_SHAPES: dict[str, tuple[int, int, int, int]] = {
    "N=1": (1, 7, 9, 5),
    "C=1": (6, 5, 8, 1),
    "C=2": (6, 5, 8, 2),
    "H=1": (6, 5, 1, 4),
    "D=1": (6, 1, 8, 4),
    "all=1": (1, 1, 1, 1),
    "seed": (5, 4, 10, 3),
    "wide": (300, 20, 40, 10),
}


def edge_specs(seed: int = 0) -> list[CaseSpec]:
    """Named edge shapes × dtype × target × reduction, plus every stress kind."""
    out = []
    for shape in EDGE_SHAPES.values():
        for dtype in DTYPES:
            for target in TARGETS:
                for reduction in REDUCTIONS:
                    out.append(CaseSpec(*shape, dtype, target, reduction, "random", seed))
    for kind in KINDS[1:]:
        for dtype in DTYPES:
            for target in TARGETS:
                for reduction in REDUCTIONS:
                    out.append(CaseSpec(33, 17, 25, 7, dtype, target, reduction, kind, seed))
    return out


BIG = {"N": 512, "D": 512, "H": 512, "C": 256}
"""Upper bounds for the one large dimension a case may have: blocked or chunked
implementations only break past small sizes."""


def random_specs(
    seed: int, n: int, small: int = 64, big_share: float = 1 / 16, dtype: str | None = None
) -> list[CaseSpec]:
    """``n`` cases: N, D, H, C uniform in 1..small, except that a ``big_share`` of the cases
    has one dimension drawn from small+1 up to its ``BIG`` bound. Every other field (the
    dtype too, unless given) is drawn uniformly; each case gets its own data seed."""
    rng = np.random.default_rng(seed)
    specs = []
    for _ in range(n):
        dims = dict(zip("NDHC", map(int, rng.integers(1, small + 1, size=4)), strict=True))
        if rng.random() < big_share:
            name = str(rng.choice(list(BIG)))
            dims[name] = int(rng.integers(small + 1, BIG[name] + 1))
        drawn = str(rng.choice(DTYPES))
        specs.append(CaseSpec(**dims, dtype=dtype or drawn,
                              target=str(rng.choice(TARGETS)),
                              reduction=str(rng.choice(REDUCTIONS)), kind=str(rng.choice(KINDS)),
                              seed=int(rng.integers(2**31))))  # fmt: skip
    return specs


# --- running a candidate and the references --------------------------------------------------


def load_candidate(name: str) -> ModuleType:
    """Import ``name`` and check that it exposes the API of :mod:`manual`."""
    module = importlib.import_module(name)
    missing = [a for a in API if not hasattr(module, a)]
    if missing:
        raise TypeError(f"--candidate {name}: missing {', '.join(missing)} (expected {API})")
    return module


class CandidateError(AssertionError):
    """The candidate broke the contract before any value could be compared."""


def run_candidate(module: ModuleType, case: Case) -> Arrays:
    """Run the candidate on private copies of the inputs and collect every quantity.

    The copies keep a candidate that writes into its inputs from corrupting the references;
    comparing them with the originals afterwards catches the write.
    """
    given = {k: a.copy() for k, a in case.inputs().items()}
    params = module.Params(w1=given["w1"], b1=given["b1"], w2=given["w2"], b2=given["b2"])
    reduction = case.spec.reduction
    step, fwd = "forward", None
    # A candidate's overflow warnings are not the gate's errors: the NaN or inf they leave
    # behind is what gets compared and diagnosed.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fwd = module.forward(given["x"], params)
            kept = {k: np.array(getattr(fwd, k), copy=True) for k in ("s1", "o1", "s2", "p")}
            step = "cross_entropy"
            loss = module.cross_entropy(fwd.s2, given["y"], reduction=reduction)
            step = "backward"
            grads = module.backward(given["x"], given["y"], params, fwd, reduction=reduction)
            step = "softmax_jacobian"
            jac = module.softmax_jacobian(fwd.p)
    except Exception as exc:
        hint = ""
        bad = [
            k
            for k in ("s1", "o1", "s2", "p")
            if fwd is not None
            and not np.isfinite(np.asarray(getattr(fwd, k, 0.0), dtype=float)).all()
        ]
        if bad:
            hint = (
                f"; its forward gave NaN or inf in fwd.{', fwd.'.join(bad)}: overflow, "
                "e.g. softmax without subtracting the row maximum"
            )
        raise CandidateError(f"{module.__name__}.{step} raised {type(exc).__name__}: {exc} "
                             f"({case.spec}){hint}") from exc  # fmt: skip
    modified = [k for k, a in given.items() if not np.array_equal(a, getattr(case, k))]
    modified += [f"fwd.{k}" for k, a in kept.items()
                 if not np.array_equal(a, getattr(fwd, k), equal_nan=True)]  # fmt: skip
    if modified:
        raise CandidateError(
            f"{module.__name__} modified its input(s) {', '.join(modified)} ({case.spec}); "
            "inputs must be left untouched"
        )
    out = {"loss": loss, "s1": fwd.s1, "o1": fwd.o1, "s2": fwd.s2, "p": fwd.p, "dp/ds2": jac}
    out |= {f"dL/d{k}": getattr(grads, k) for k in ("s2", "o1", "w2", "b2", "s1", "x", "w1", "b1")}
    return {k: np.asarray(v) for k, v in out.items()}


@functools.cache
def _torch_ref() -> ModuleType:
    import torch

    from references import torch_ref

    # The cases are small: handing each tiny op to a second thread costs more than it
    # saves (6.7 ms against 1.2 ms per case, measured), and xdist workers own the cores.
    torch.set_num_threads(1)
    return torch_ref


def torch_outputs(case: Case) -> Arrays:
    out: Arrays = _torch_ref().reference(case.x, case.y, case.w1, case.b1, case.w2, case.b2,
                               case.spec.reduction)  # fmt: skip
    return out


# JAX compiles once per shape (~0.3 s). Each case is padded into a shape bucket, so one
# compiled program serves every shape in the bucket, and cases are vmapped in batches:
#   - zero columns of x and rows of w1 (D), zero columns of w1/b1 and rows of w2 (H):
#     they add exact zeros to s1 and s2;
#   - rows with zero targets (N): they add nothing to the sum. The program always uses
#     reduction="sum" and _unpad divides by the true N for "mean": dividing inside by the
#     padded N would push values near the underflow threshold below it, where XLA flushes
#     them to zero;
#   - classes with score -1e30 (C): their probability is exactly 0 and their target 0.
# Labels enter as one-hot rows so that padded rows can carry zero targets; the label path
# of the reference itself is run unpadded by tests/test_engine.py.
BATCH = 16
_NEG = -1e30


def bucket(n: int, steps: tuple[int, ...] = (64, 512)) -> int:
    for b in steps:
        if n <= b:
            return b
    return -(-n // 1024) * 1024


def buckets(spec: CaseSpec) -> tuple[int, int, int, int]:
    """The padded (N, D, H, C). C has a finer step: the Jacobian grows as N·C²."""
    return bucket(spec.N), bucket(spec.D), bucket(spec.H), bucket(spec.C, (16, 64, 256))


def batch_size(dims: tuple[int, int, int, int]) -> int:
    """Cases per call: BATCH for the 64⁴ bucket, fewer for larger ones (memory is N·C²)."""
    N, _, _, C = dims
    return max(1, min(BATCH, BATCH * 64**3 // (N * C * C)))


@functools.cache
def _jax_program(batched: bool, reduction: str) -> Any:
    import jax

    from references import jax_ref

    fn = functools.partial(jax_ref.reference, reduction=reduction)
    return jax.jit(jax.vmap(fn) if batched else fn)


def _padded_inputs(case: Case, dims: tuple[int, int, int, int]) -> Arrays:
    N, D, H, C = dims
    n, d, h, c = case.spec.N, case.spec.D, case.spec.H, case.spec.C
    dt = case.x.dtype
    y = case.target_matrix(dt)
    out = {"x": np.zeros((N, D), dt), "y": np.zeros((N, C), dt), "w1": np.zeros((D, H), dt),
           "b1": np.zeros(H, dt), "w2": np.zeros((H, C), dt), "b2": np.full(C, _NEG, dt)}  # fmt: skip
    out["x"][:n, :d] = case.x
    out["y"][:n, :c] = y
    out["w1"][:d, :h] = case.w1
    out["b1"][:h] = case.b1
    out["w2"][:h, :c] = case.w2
    out["b2"][:c] = case.b2
    return out


def _unpad(out: Arrays, case: Case) -> Arrays:
    n, d, h, c = case.spec.N, case.spec.D, case.spec.H, case.spec.C
    res = {
        "loss": out["loss"], "s1": out["s1"][:n, :h], "o1": out["o1"][:n, :h],
        "s2": out["s2"][:n, :c], "p": out["p"][:n, :c], "dp/ds2": out["dp/ds2"][:n, :c, :c],
        "dL/ds2": out["dL/ds2"][:n, :c], "dL/do1": out["dL/do1"][:n, :h],
        "dL/ds1": out["dL/ds1"][:n, :h], "dL/dx": out["dL/dx"][:n, :d],
        "dL/dw1": out["dL/dw1"][:d, :h], "dL/db1": out["dL/db1"][:h],
        "dL/dw2": out["dL/dw2"][:h, :c], "dL/db2": out["dL/db2"][:c],
    }  # fmt: skip
    if case.spec.reduction == "mean":
        for k in ("loss", *GRADIENTS):
            res[k] = res[k] / case.x.dtype.type(n)
    # Copies, so that the padded batch can be freed.
    return {k: np.array(v) for k, v in res.items()}


def jax_outputs(cases: Sequence[Case]) -> list[Arrays]:
    """The JAX reference for each case, through padded, batched, cached programs."""
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, case in enumerate(cases):
        s = case.spec
        dims = buckets(s)
        groups.setdefault((dims, s.dtype), []).append(i)
    results: list[Arrays | None] = [None] * len(cases)
    for (dims, _dtype), idx in groups.items():
        size = batch_size(dims)
        for start in range(0, len(idx), size):
            chunk = idx[start : start + size]
            padded = [_padded_inputs(cases[i], dims) for i in chunk]
            # Fill the batch with copies, so every call has the same size: one program.
            padded += [padded[0]] * (size - len(chunk))
            stacked = {k: np.stack([p[k] for p in padded]) for k in padded[0]}
            host = {k: np.asarray(v) for k, v in _jax_program(True, "sum")(**stacked).items()}
            for j, i in enumerate(chunk):
                results[i] = _unpad({k: v[j] for k, v in host.items()}, cases[i])
    return [r for r in results if r is not None]


def jax_outputs_plain(case: Case) -> Arrays:
    """The JAX reference called directly on the case, unpadded (compiles for this shape)."""
    out = _jax_program(False, case.spec.reduction)(**case.inputs())
    return {k: np.asarray(v) for k, v in out.items()}


# --- tolerances ------------------------------------------------------------------------------

SAFETY = 8.0
"""ρ: the tolerance is ρ times the first-order rounding-error bound below."""


def error_bounds(case: Case, ref: Arrays) -> Arrays:
    """Per-element bound on |manual − reference| for a correct manual, before the factor ρ.

    The rule: propagate a first-order rounding-error bound through the network, element by
    element, from the dtype's machine epsilon ε and the magnitudes that enter each element.

    * A length-k accumulation Σ aᵢbᵢ carries rounding error ≲ ε·√k·Σ|aᵢ||bᵢ|. (The
      worst case is k·ε; round-off is unbiased, so √k is the realistic bound and the
      safety factor ρ covers the tail; blocked BLAS sums do better still.)
    * Errors already in an operand propagate through a product as independent errors do,
      by root-sum-square: e(A·B) gets √(e(A)²·B²) + √(A²·e(B)²). (Adding them linearly would
      compound a spurious √k at every layer.) Within a softmax row the errors share the
      log-sum-exp, so they add linearly there: an absolute error in s2 becomes a relative
      error in p.
    * Where |s1| is within ρ·e(s1) of the kink, a correct implementation may see the other
      side of it: dL/ds1 there may differ by all of |dL/do1|, and that propagates into
      dL/dx, dL/dw1 and dL/db1. Exact zeros of s1 with zero magnitude have e(s1) = 0, so
      [s1 > 0] must hold exactly there.
    * Both manual and the reference round, so each bound counts ε twice (ε, not ε/2).

    Magnitudes come from the reference's own values, in float64.
    """
    dt = np.dtype(case.spec.dtype)
    eps = float(np.finfo(dt).eps)
    N, D, H, C = case.spec.N, case.spec.D, case.spec.H, case.spec.C

    def acc(k: int) -> float:
        return eps * math.sqrt(k)

    def rss(a: NDArray[Any], b: NDArray[Any]) -> NDArray[Any]:
        """√(a²·b²) for non-negative a, b.

        Squares of tiny bounds (p ~ 1e-260 in float64) underflow, even scaled by the row
        and column maxima, when an element's sum runs only over tiny terms. Cauchy-Schwarz
        gives √(a²·b²) ≥ (a·b)/√k, which cannot underflow, so the larger of the two is the
        same bound wherever squaring was exact and a sound one where it was not.
        """
        sa = a.max(axis=1, keepdims=True)
        sb = b.max(axis=0, keepdims=True)
        sa[sa == 0] = 1.0
        sb[sb == 0] = 1.0
        squared = sa * np.sqrt((a / sa) ** 2 @ (b / sb) ** 2) * sb
        out: NDArray[Any] = np.maximum(squared, (a @ b) / math.sqrt(max(a.shape[1], 1)))
        return out

    def rss_rows(a: NDArray[Any]) -> NDArray[Any]:
        """√(Σ_n a[n]²) per column, the bias-gradient analogue of ``rss``."""
        out: NDArray[Any] = rss(np.ones((1, a.shape[0])), a)[0]
        return out

    a = {k: np.abs(v.astype(np.float64)) for k, v in case.inputs().items() if k != "y"}
    x, w1, b1, w2, b2 = a["x"], a["w1"], a["b1"], a["w2"], a["b2"]
    r = {k: v.astype(np.float64) for k, v in ref.items()}
    s1, o1, s2, p = r["s1"], np.abs(r["o1"]), r["s2"], r["p"]
    y = case.target_matrix()
    ysum = np.abs(y.sum(axis=1, keepdims=True))
    scale = 1.0 / N if case.spec.reduction == "mean" else 1.0

    e: Arrays = {}
    e["s1"] = acc(D + 1) * (x @ w1 + b1)
    e["o1"] = e["s1"]
    e["s2"] = rss(e["o1"], w2) + acc(H + 1) * (o1 @ w2 + b2)
    lse = np.log(np.exp(s2 - s2.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True))
    lse += s2.max(axis=1, keepdims=True)
    e_lse = (p * e["s2"]).sum(axis=1, keepdims=True) + eps * (
        np.abs(s2).max(axis=1, keepdims=True) + np.abs(lse) + math.sqrt(C) + 1
    )
    e_logp = e["s2"] + e_lse + eps * (np.abs(s2) + np.abs(lse))
    logp = np.abs(s2 - lse)
    e["p"] = p * e_logp
    e_rows = (np.abs(y) * e_logp).sum(axis=1) + acc(C) * (np.abs(y) * logp).sum(axis=1)
    e["loss"] = np.asarray(scale * (e_rows.sum() + acc(N) * (np.abs(y) * logp).sum()))

    ds2, do1, ds1 = np.abs(r["dL/ds2"]), np.abs(r["dL/do1"]), np.abs(r["dL/ds1"])
    # p·Σy − y: Σy rounds like any sum, the product and the difference once each.
    yabs = np.abs(y).sum(axis=1, keepdims=True)
    e["dL/ds2"] = scale * (e["p"] * ysum + (acc(C) * yabs + eps * ysum) * p) + 2 * eps * ds2
    e["dL/do1"] = rss(e["dL/ds2"], w2.T) + acc(C) * (ds2 @ w2.T)
    near_kink = np.abs(s1) < SAFETY * e["s1"]
    e["dL/ds1"] = np.where(near_kink, do1 + e["dL/do1"], np.where(s1 > 0, e["dL/do1"], 0.0))
    e["dL/dw2"] = rss(e["o1"].T, ds2) + rss(o1.T, e["dL/ds2"]) + acc(N) * (o1.T @ ds2)
    e["dL/db2"] = rss_rows(e["dL/ds2"]) + acc(N) * ds2.sum(axis=0)
    e["dL/dx"] = rss(e["dL/ds1"], w1.T) + acc(H) * (ds1 @ w1.T)
    e["dL/dw1"] = rss(x.T, e["dL/ds1"]) + acc(N) * (x.T @ ds1)
    e["dL/db1"] = rss_rows(e["dL/ds1"]) + acc(N) * ds1.sum(axis=0)
    ep = e["p"]
    # e_p ⊗ p + p ⊗ e_p + ε p ⊗ p, folded into two outer products.
    ep_half = ep + 0.5 * eps * p
    e["dp/ds2"] = ep_half[:, :, None] * p[:, None, :]
    e["dp/ds2"] += p[:, :, None] * ep_half[:, None, :]
    diag = np.einsum("ncc->nc", e["dp/ds2"])
    diag += ep + eps * p
    return e


def flush_floors(case: Case, ref: Arrays) -> dict[str, float]:
    """How many smallest-normal numbers each quantity may lose to flush-to-zero.

    XLA on CPU flushes subnormal results to zero. One flushed element loses less than the
    smallest normal number, tiny; but the losses all point the same way (towards 0), so a
    sum of flushed terms loses up to the sum of their weights × tiny. This propagates that
    count, linearly, through the backward pass: a floor of tiny·count under each bound.
    """
    a = {k: np.abs(v.astype(np.float64)) for k, v in case.inputs().items() if k != "y"}
    N = case.spec.N
    do1 = 1 + float(a["w2"].sum(axis=1).max(initial=0.0))  # Σ_c |w2[h, c]|·(flushed ds2)
    out = dict.fromkeys(QUANTITIES, 1.0)
    out["dL/db2"] = 1 + N
    out["dL/dw2"] = 1 + N * float(np.abs(ref["o1"]).max(initial=0.0))
    out["dL/do1"] = out["dL/ds1"] = do1
    out["dL/db1"] = 1 + N * do1
    out["dL/dx"] = 1 + do1 * float(a["w1"].sum(axis=1).max(initial=0.0))
    out["dL/dw1"] = 1 + N * do1 * float(a["x"].max(initial=0.0))
    return out


def tolerances(case: Case, ref: Arrays) -> Arrays:
    """ρ·(rounding bound + flush-to-zero floor), per element."""
    tiny = float(np.finfo(np.dtype(case.spec.dtype)).tiny)
    floors = flush_floors(case, ref)
    return {k: SAFETY * (b + tiny * floors[k]) for k, b in error_bounds(case, ref).items()}


# --- comparison ------------------------------------------------------------------------------


@dataclass
class Comparison:
    """One quantity of one case against one reference."""

    quantity: str
    reference: str
    spec: CaseSpec
    ratio: float  # worst |got − want| / tolerance; inf for a shape, dtype or NaN mismatch
    mismatches: int = 0
    size: int = 0
    index: tuple[int, ...] = ()
    got: float = math.nan
    want: float = math.nan
    error: float = math.nan
    tol: float = math.nan
    problem: str = ""  # a contract breach (shape, dtype) found before values were compared
    cause: str = ""  # the likely cause, when the error has a recognisable pattern

    @property
    def ok(self) -> bool:
        return self.ratio <= 1.0


def compare(
    quantity: str, reference: str, spec: CaseSpec, got: NDArray[Any], want: NDArray[Any],
    tol: NDArray[Any],
) -> Comparison:  # fmt: skip
    """Elementwise |got − want| ≤ tol, vectorised; records the worst element."""
    make = functools.partial(Comparison, quantity, reference, spec)
    if got.shape != want.shape:
        return make(ratio=math.inf, problem=f"shape {got.shape}, expected {want.shape}")
    if got.dtype != want.dtype:
        return make(ratio=math.inf, problem=f"dtype {got.dtype}, expected {want.dtype}")
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    # A zero tolerance demands exact equality (0/0 counts as 0); err / tol overflows to inf
    # only for a gross error, and NaN in err is never tolerated.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        ratio = np.where(err == 0, 0.0, err / tol)
    ratio = np.nan_to_num(ratio, nan=math.inf, posinf=math.inf)
    flat = int(np.argmax(ratio))
    index = tuple(int(i) for i in np.unravel_index(flat, ratio.shape))
    worst = float(ratio.reshape(-1)[flat])
    return make(
        ratio=worst, mismatches=int((~(err <= tol)).sum()), size=int(err.size),
        index=index, got=float(got[index]), want=float(want[index]), error=float(err[index]),
        tol=float(tol[index]),
    )  # fmt: skip


def compare_many(
    items: Sequence[tuple[str, str, NDArray[Any], NDArray[Any], NDArray[Any]]], spec: CaseSpec
) -> list[Comparison]:
    """``compare`` for many (quantity, reference, got, want, tol) at once.

    One vectorised pass over all elements finds each item's worst ratio; only the items
    that fail (or break shape or dtype) go through ``compare`` for their details. Most of
    a passing case's cost was per-item overhead.
    """
    fast = [
        i for i, (_, _, g, w, _) in enumerate(items) if g.shape == w.shape and g.dtype == w.dtype
    ]
    out: list[Comparison | None] = [None] * len(items)
    if fast:
        got = np.concatenate([items[i][2].ravel() for i in fast]).astype(np.float64)
        want = np.concatenate([items[i][3].ravel() for i in fast]).astype(np.float64)
        tol = np.concatenate(
            [np.broadcast_to(items[i][4], items[i][3].shape).ravel() for i in fast]
        )
        err = np.abs(got - want)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ratio = np.where(err == 0, 0.0, err / tol)
        ratio[np.isnan(ratio)] = math.inf
        sizes = [items[i][3].size for i in fast]
        starts = np.cumsum([0, *sizes[:-1]])
        nonempty = [n > 0 for n in sizes]
        worst = np.zeros(len(fast))
        if any(nonempty):
            worst[nonempty] = np.maximum.reduceat(ratio, starts[nonempty])
        for i, w, n in zip(fast, worst, sizes, strict=True):
            q, ref = items[i][0], items[i][1]
            out[i] = Comparison(q, ref, spec, ratio=float(w), size=n)
    return [
        c if c is not None and c.ok else compare(items[i][0], items[i][1], spec, *items[i][2:])
        for i, c in enumerate(out)
    ]


@dataclass
class CaseResult:
    spec: CaseSpec
    candidate: str
    comparisons: list[Comparison] = field(default_factory=list)
    refs: dict[str, Arrays] = field(default_factory=dict)

    @property
    def failures(self) -> list[Comparison]:
        return [c for c in self.comparisons if not c.ok]


def verify_case(
    candidate: ModuleType, case: Case, refs: dict[str, Arrays] | None = None
) -> CaseResult:
    """Compare every quantity of ``candidate`` with each reference (computed if not given)."""
    if refs is None:
        refs = {"torch": torch_outputs(case), "jax": jax_outputs([case])[0]}
    got = run_candidate(candidate, case)
    result = CaseResult(case.spec, candidate.__name__, refs=refs)
    shapes = case.spec.shapes()
    # The bound needs magnitudes, not exact values: either reference's serve both.
    tol = tolerances(case, next(iter(refs.values())))
    items = []
    for name, ref in refs.items():
        for q in QUANTITIES:
            want = ref[q]
            if want.shape != shapes[q] or want.dtype != case.x.dtype:
                raise AssertionError(f"reference {name} gave {q} as {want.dtype}{want.shape}")
            items.append((q, name, got[q], want, tol[q]))
    for c in compare_many(items, case.spec):
        if not c.ok:
            c.cause = diagnose(c, got[c.quantity], case, refs[c.reference], tol[c.quantity])
        result.comparisons.append(c)
    result.comparisons += invariants(got, case)
    return result


INVARIANTS = {
    "dL/ds1": "dL/ds1 must be exactly 0 wherever s1 ≤ 0",
    "dL/db1": "dL/db1 must equal the column sums of the candidate's own dL/ds1",
    "dL/db2": "dL/db2 must equal the column sums of the candidate's own dL/ds2",
    "dL/ds2": "rows of dL/ds2 must sum to 0 when every target row sums to 1",
    "dp/ds2": "the softmax Jacobian must be symmetric with rows summing to 0",
}


def invariants(got: Arrays, case: Case) -> list[Comparison]:
    """Structural checks of the candidate against itself, needing no reference.

    dL/ds1 at s1 ≤ 0 must be exactly 0. The others hold exactly in real arithmetic, so
    their only tolerance is ρ times the rounding of the one sum or product they involve.
    """
    spec, dt = case.spec, np.dtype(case.spec.dtype)
    eps = float(np.finfo(dt).eps)
    items: list[tuple[str, str, NDArray[Any], NDArray[Any], NDArray[Any]]] = []

    def check(quantity: str, value: NDArray[Any], bound: NDArray[Any]) -> None:
        items.append((quantity, "invariant", value, np.zeros_like(value), SAFETY * bound))

    shapes = spec.shapes()
    used = ("dL/ds1", "dL/db1", "dL/ds2", "dL/db2", "dp/ds2")
    g = {k: got[k].astype(np.float64) for k in used if got[k].shape == shapes[k]}
    if "dL/ds1" in g and got["s1"].shape == shapes["s1"]:
        check("dL/ds1", np.where(got["s1"] <= 0, g["dL/ds1"], 0.0), np.zeros(shapes["dL/ds1"]))
    N, C = spec.N, spec.C
    for bias, ds in (("dL/db1", "dL/ds1"), ("dL/db2", "dL/ds2")):
        if bias in g and ds in g:
            bound = (eps * math.sqrt(N) + eps) * np.abs(g[ds]).sum(axis=0) + float(
                np.finfo(dt).tiny
            )
            check(bias, g[bias] - g[ds].sum(axis=0), bound)
    normalised = spec.target in ("labels", "onehot", "soft")
    if normalised and "dL/ds2" in g:
        y = np.abs(case.target_matrix())
        scale = 1.0 / N if spec.reduction == "mean" else 1.0
        bound = (eps * math.sqrt(C) + eps) * (
            np.abs(g["dL/ds2"]).sum(axis=1) + scale * y.sum(axis=1)
        )
        check("dL/ds2", g["dL/ds2"].sum(axis=1), bound + float(np.finfo(dt).tiny))
    if "dp/ds2" in g:
        jac = g["dp/ds2"]
        asym = jac - np.swapaxes(jac, 1, 2)
        rows = jac.sum(axis=2)
        p = np.abs(got["p"].astype(np.float64)) if got["p"].shape == shapes["p"] else 0.0
        tiny = float(np.finfo(dt).tiny)
        check("dp/ds2", asym, eps * np.abs(jac) + tiny)
        check("dp/ds2", rows, (eps * math.sqrt(C) + eps) * (np.abs(jac).sum(axis=2) + p) + tiny)
    out = compare_many(items, spec)
    for c in out:
        if not c.ok:
            c.cause = INVARIANTS[c.quantity]
    return out


def verify_many(candidate: ModuleType, specs: Sequence[CaseSpec]) -> Iterator[CaseResult]:
    """``verify_case`` over many cases, with the JAX reference batched per shape bucket."""
    for start in range(0, len(specs), 256):
        cases = [make_case(s) for s in specs[start : start + 256]]
        for case, jax_ref in zip(cases, jax_outputs(cases), strict=True):
            yield verify_case(candidate, case, {"torch": torch_outputs(case), "jax": jax_ref})


# --- diagnosis ----------------------------------------------------------------------------


def _explained(got: NDArray[Any], alt: NDArray[Any], tol: NDArray[Any], eps: float) -> bool:
    """Whether the alternative ``alt`` accounts for ``got`` elementwise.

    ``tol`` is the tolerance of the true value, which is too tight where ``alt`` differs
    from it most, so a round-off allowance of 1000·ε relative to ``alt``'s scale is added.
    """
    if got.shape != alt.shape or not alt.size:
        return False
    return bool(np.all(np.abs(got - alt) <= tol + 1000 * eps * np.abs(alt).max()))


def diagnose(c: Comparison, got: NDArray[Any], case: Case, ref: Arrays, tol: NDArray[Any]) -> str:
    """The likely cause of a failed comparison, from the pattern of its error ("" if none).

    Each pattern is tested against the reference's own values: e.g. a candidate whose
    dL/dx equals dL/do1·w1ᵀ has left out the mask.
    """
    q, N = c.quantity, case.spec.N
    if c.problem.startswith("dtype"):
        return f"wrong dtype: {c.problem}; a float64 constant or cast promoted the result"
    if c.problem.startswith("shape"):
        return (f"wrong shape: {c.problem}; a transposed product (e.g. np.outer or x·dsᵀ) or a "
                "sum over the wrong axis")  # fmt: skip
    want = ref[q].astype(np.float64)
    g = got.astype(np.float64)
    if not np.isfinite(g).all():
        rows = ~np.isfinite(g.reshape(g.shape[0], -1)).all(axis=1) if g.ndim else None
        big = np.abs(ref["s2"]).max(axis=1) if rows is not None and rows.shape[0] == N else None
        where = ""
        if big is not None and rows is not None:
            where = f" in {int(rows.sum())} row(s) whose largest |s2| is ≥ {big[rows].min():.3g}"
        return (f"NaN or inf where the reference is finite{where}: overflow, e.g. softmax "
                "without subtracting the row maximum")  # fmt: skip
    eps = float(np.finfo(np.dtype(case.spec.dtype)).eps)
    if np.any(want) and _explained(g, -want, tol, eps):
        return "candidate ≈ −reference: a sign error (p − y flipped to y − p?)"
    if N > 1 and np.any(want):
        if _explained(g, N * want, N * tol, eps):
            return "candidate ≈ N × reference: the 1/N of reduction='mean' is missing"
        if _explained(g, want / N, tol, eps):
            return "candidate ≈ reference / N: the 1/N of reduction='mean' is applied twice"
    s1 = ref["s1"]
    if q == "dL/ds1":
        bad = ~(np.abs(g - want) <= tol)
        if bad.any() and np.all(s1[bad] == 0):
            return "mismatches only where s1 = 0 exactly, the ReLU kink: use [s1 > 0], not ≥"
        if bad.any() and np.all(s1[bad] <= 0):
            return "mismatches only where s1 ≤ 0: the ReLU mask [s1 > 0] is missing or wrong"
    if q in ("dL/dx", "dL/dw1", "dL/db1"):
        do1 = ref["dL/do1"].astype(np.float64)
        x, w1 = case.x.astype(np.float64), case.w1.astype(np.float64)
        for label, ds1 in (("missing", do1), ("taken as [s1 ≥ 0]", np.where(s1 >= 0, do1, 0))):
            alt = {"dL/dx": ds1 @ w1.T, "dL/dw1": x.T @ ds1, "dL/db1": ds1.sum(axis=0)}[q]
            if _explained(g, alt, tol, eps):
                return f"{q} matches the formula with the ReLU mask {label}"
    if q == "dL/dw2":
        alt = s1.T.astype(np.float64) @ ref["dL/ds2"].astype(np.float64)
        if _explained(g, alt, tol, eps):
            return "dL/dw2 matches s1ᵀ·dL/ds2: the product needs o1 = ReLU(s1), not s1"
    if q == "dL/ds2" and case.y.dtype.kind == "f":
        p, y = ref["p"].astype(np.float64), case.y.astype(np.float64)
        alt = (p - y) / (N if case.spec.reduction == "mean" else 1)
        if _explained(g, alt, tol, eps):
            return ("candidate = p − y, which holds only when every row of y sums to 1; "
                    "in general dL/ds2 = p·Σ_c y_c − y")  # fmt: skip
    if q == "dp/ds2":
        C = g.shape[-1]
        bad = ~(np.abs(g - want) <= tol)
        on_diag = np.broadcast_to(np.eye(C, dtype=bool), bad.shape)
        if bad.any() and np.all(on_diag[bad]):
            return "mismatches only on the diagonal: the diag(p) term, p_j (1 − p_j) at c = j"
        if bad.any() and not np.any(on_diag[bad]):
            return "mismatches only off the diagonal: the −p_c p_j term for c ≠ j"
    if np.any(want):
        scale = float(np.vdot(g, want) / np.vdot(want, want))
        if abs(scale - 1) > 10 * eps and _explained(g, scale * want, tol, eps):
            return f"candidate ≈ {scale:.7g} × reference: a uniform scale error of {scale - 1:.2g}"
    if g.ndim >= 1 and g.shape[0] == N and N > 1 and q != "loss":
        bad_rows = ~(np.abs(g - want) <= tol).reshape(N, -1).all(axis=1)
        big = np.abs(ref["s2"]).max(axis=1)
        # exp overflows past ~88 in float32 and ~709 in float64; 50 leaves room for sums.
        if bad_rows.any() and big[bad_rows].min() > max(50.0, big[~bad_rows].max(initial=0)):
            return "mismatches only in rows with the largest scores: an unstable softmax"
    return ""


# --- failure messages ------------------------------------------------------------------------


FD_MAX_ELEMENTS = 4096
"""Finite differences cost two forward passes per element: only for small cases."""


@functools.cache
def _finite_differences(spec: CaseSpec) -> Any:
    from tests.finite_differences import finite_differences

    return finite_differences(make_case(spec))


def _fd_opinion(spec: CaseSpec, quantity: str, index: tuple[int, ...]) -> str | None:
    """A third opinion at one element, when the case is small enough to difference."""
    sizes = spec.N * spec.D + spec.D * spec.H + spec.H * spec.C + spec.N * (spec.H + spec.C)
    if not quantity.startswith("d") or sizes > FD_MAX_ELEMENTS:
        return None
    fd = _finite_differences(spec)
    grad = fd.grads.get(quantity)
    if grad is None or len(index) != grad.ndim:
        return None
    if quantity in fd.skipped and fd.skipped[quantity][index]:
        return "finite differences cannot judge this element: both steps cross a ReLU kink"
    side = quantity in fd.one_sided and bool(fd.one_sided[quantity][index])
    how = " (one-sided: a central step would cross a ReLU kink)" if side else ""
    return f"finite differences (float64, no framework) give {float(grad[index]):.9g}{how}"


def reproduce_command(candidate: str, spec: CaseSpec) -> str:
    return f"python -m tests.harness --candidate {candidate} --case '{spec}'"


def describe(c: Comparison, result: CaseResult) -> str:
    """What a student needs: which gradient, which element, by how much, and how to rerun."""
    s = c.spec
    head = (
        f"{c.quantity} mismatch: {result.candidate} vs {c.reference}, {s.dtype}, "
        f"(N, D, H, C) = ({s.N}, {s.D}, {s.H}, {s.C}), target={s.target}, "
        f"reduction={s.reduction}, kind={s.kind}, seed={s.seed}"
    )
    lines = [head]
    if c.problem:
        lines.append(f"  {c.quantity} has {c.problem}")
    else:
        idx = "[" + ", ".join(map(str, c.index)) + "]"
        lines.append(
            f"  {c.mismatches} of {c.size} elements exceed their tolerance; worst at {idx}: "
            f"{result.candidate} = {c.got:.9g}, {c.reference} = {c.want:.9g}, "
            f"|error| = {c.error:.3g}, tolerance = {c.tol:.3g} (error/tolerance = {c.ratio:.3g})"
        )
        others = [n for n in result.refs if n != c.reference] if c.reference in result.refs else []
        for other in others:
            v = float(result.refs[other][c.quantity][c.index])
            agree = abs(v - c.want) <= c.tol
            lines.append(
                f"  {other} gives {v:.9g} at {idx}: {c.reference} and {other} "
                + (f"agree to {abs(v - c.want):.2g}; {result.candidate} is the odd one out"
                   if agree else "disagree too: suspect the references or the tolerance")
            )  # fmt: skip
        fd = _fd_opinion(s, c.quantity, c.index) if others else None
        if fd is not None:
            lines.append(f"  {fd} at {idx}")
    if c.cause:
        lines.append(f"  likely cause: {c.cause}")
    lines.append(f"  reproduce: {reproduce_command(result.candidate, s)}")
    return "\n".join(lines)


def assert_verified(result: CaseResult) -> None:
    failures = result.failures
    if failures:
        worst = sorted(failures, key=lambda c: -c.ratio)
        names = sorted({c.quantity for c in failures}, key=list(QUANTITIES).index)
        head = f"{len(failures)} comparison(s) failed, in {', '.join(names)}"
        raise AssertionError(head + "\n" + "\n".join(describe(c, result) for c in worst[:3]))


# --- the summary table -----------------------------------------------------------------------


@dataclass
class Row:
    quantity: str
    reference: str
    dtype: str
    cases: int = 0
    failed: int = 0
    worst_ratio: float = 0.0
    worst_case: str = ""  # the CaseSpec of the worst ratio: rerun it with tests.harness

    @property
    def status(self) -> str:
        return "PASS" if self.failed == 0 else "FAIL"

    def update(self, cases: int, failed: int, ratio: float, case: str) -> None:
        self.cases += cases
        self.failed += failed
        if ratio > self.worst_ratio or not self.worst_case:
            self.worst_ratio, self.worst_case = max(ratio, self.worst_ratio), case


class Tally:
    """Accumulates one row per quantity × reference × dtype across cases."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], Row] = {}

    def add(self, result: CaseResult) -> None:
        for c in result.comparisons:
            key = (c.quantity, c.reference, c.spec.dtype)
            self.rows.setdefault(key, Row(*key)).update(1, not c.ok, c.ratio, str(c.spec))

    def merge(self, rows: Iterable[dict[str, Any]]) -> None:
        for r in rows:
            key = (r["quantity"], r["reference"], r["dtype"])
            row = self.rows.setdefault(key, Row(*key))
            row.update(r["cases"], r["failed"], r["worst_ratio"], r["worst_case"])

    def as_dicts(self) -> list[dict[str, Any]]:
        order = {q: i for i, q in enumerate(QUANTITIES)}
        rows = sorted(self.rows.values(), key=lambda r: (order[r.quantity], r.reference, r.dtype))
        return [asdict(r) | {"status": r.status} for r in rows]


# --- command line ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify one case and print the comparison.")
    parser.add_argument("--candidate", default="manual", help="module exposing manual's API")
    parser.add_argument("--case", required=True, type=CaseSpec.parse, help="a CaseSpec string")
    args = parser.parse_args(argv)
    result = verify_case(load_candidate(args.candidate), make_case(args.case))
    for c in result.comparisons:
        print(f"{c.quantity:8} {c.reference:6} ratio {c.ratio:9.3g}  {'ok' if c.ok else 'FAIL'}")
    if result.failures:
        print()
        for c in result.failures:
            print(describe(c, result))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
