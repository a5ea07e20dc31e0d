"""Cases: what one verification run draws, and the one generator of its inputs.

A :class:`CaseSpec` is a case's shape, dtype, target form, reduction, data kind and seed;
``str(spec)`` round-trips through :meth:`CaseSpec.parse`, so every failure names a case
that can be rerun. :func:`make_case` draws its arrays. Tests, the gate and the benchmarks
all draw their inputs here.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.quantities import QUANTITIES

DTYPES = ("float32", "float64")
TARGETS = ("labels", "onehot", "soft", "unnormalised")
REDUCTIONS = ("mean", "sum")
KINDS = ("random", "kink", "large", "tiny")
"""Data kinds: ordinary draws; exact zeros in s1 (the ReLU kink); |s2| in the thousands;
probabilities near underflow (~e^-100)."""


@dataclass(frozen=True)
class CaseSpec:
    """Everything that determines one case."""

    N: int
    D: int
    H: int
    C: int
    dtype: str = "float64"
    target: str = "labels"
    reduction: str = "mean"
    kind: str = "random"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in "NDHC":
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected an integer of at least 1, got {value!r}")
        for name, allowed in (("dtype", DTYPES), ("target", TARGETS),
                              ("reduction", REDUCTIONS), ("kind", KINDS)):  # fmt: skip
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: expected one of {allowed}, got {getattr(self, name)!r}")

    def __str__(self) -> str:
        return ",".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self))

    @classmethod
    def parse(cls, text: str) -> CaseSpec:
        """The inverse of ``str``: 'N=5,D=4,H=10,C=3,dtype=float32,...'."""
        types = {f.name: (int if f.type in ("int", int) else str) for f in fields(cls)}
        try:
            kv = dict(item.split("=", 1) for item in text.split(","))
        except ValueError:
            raise ValueError(f"--case: expected name=value pairs separated by commas, "
                             f"got {text!r}") from None  # fmt: skip
        unknown = set(kv) - set(types)
        if unknown:
            raise ValueError(f"--case: unknown fields {sorted(unknown)}; known: {sorted(types)}")
        values: dict[str, Any] = {}
        for k, v in kv.items():
            try:
                values[k] = types[k](v)
            except ValueError:
                raise ValueError(f"--case: {k}: expected an integer, got {v!r}") from None
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--case: {exc}") from None

    @property
    def dims(self) -> dict[str, int]:
        return {"N": self.N, "D": self.D, "H": self.H, "C": self.C}

    @property
    def size(self) -> int:
        """N·D·H·C: failures are shown smallest case first."""
        return self.N * self.D * self.H * self.C

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape every compared quantity must have."""
        return {name: q.shape(self.dims) for name, q in QUANTITIES.items()}


@dataclass(frozen=True)
class Case:
    """A spec and its arrays: x (N×D), y (labels (N,) or targets N×C), w1, b1, w2, b2."""

    spec: CaseSpec
    x: NDArray[Any]
    y: NDArray[Any]
    w1: NDArray[Any]
    b1: NDArray[Any]
    w2: NDArray[Any]
    b2: NDArray[Any]

    def inputs(self) -> dict[str, NDArray[Any]]:
        return {k: getattr(self, k) for k in ("x", "y", "w1", "b1", "w2", "b2")}

    @property
    def labels(self) -> bool:
        return self.y.dtype.kind in "iu"

    def target_matrix(self, dtype: Any = np.float64) -> NDArray[Any]:
        """y as N×C targets: labels become one-hot rows."""
        if self.labels:
            out: NDArray[Any] = np.eye(self.spec.C, dtype=dtype)[self.y]
            return out
        return self.y.astype(dtype)


SCORE_SCALE = {"random": 1.0, "kink": 1.0, "large": 3000.0, "tiny": 40.0}
"""Multipliers on w2 and b2: "large" puts |s2| in the thousands, "tiny" spreads each row of
s2 by ~100, so that the smallest probabilities are ~e^-100."""


def make_case(spec: CaseSpec) -> Case:
    """Draw the arrays of ``spec`` from its seed: w ~ N(0, 1/fan_in), as at initialisation."""
    rng = np.random.default_rng(spec.seed)
    N, D, H, C = spec.N, spec.D, spec.H, spec.C
    x = rng.standard_normal((N, D))
    w1 = rng.standard_normal((D, H)) / math.sqrt(D)
    b1 = 0.1 * rng.standard_normal(H)
    w2 = rng.standard_normal((H, C)) / math.sqrt(H) * SCORE_SCALE[spec.kind]
    b2 = 0.1 * rng.standard_normal(C) * SCORE_SCALE[spec.kind]
    if spec.kind == "kink":
        # Exact zeros in s1: a zero row of x meets zero entries of b1, and a zero column
        # of w1 with zero bias zeroes a whole column. Both sides compute these zeros
        # exactly, so [s1 > 0] must give exactly 0 there.
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


MOVED = ("x", "w1", "b1", "w2", "b2")
"""What a direction moves, and what the gradients are taken by, in the derivation's order."""


def make_direction(case: Case, with_x: bool = True) -> dict[str, Any]:
    """A direction for the second-order products, drawn from the case's seed and scaled
    like the arrays it moves: ẋ (None unless ``with_x``: x held fixed), ẇ1, ḃ1, ẇ2, ḃ2."""
    rng = np.random.default_rng([case.spec.seed, 2])  # a stream apart from the case's own
    N, D, H, C = case.spec.N, case.spec.D, case.spec.H, case.spec.C
    drawn = {"x": rng.standard_normal((N, D)),
             "w1": rng.standard_normal((D, H)) / math.sqrt(D), "b1": 0.1 * rng.standard_normal(H),
             "w2": rng.standard_normal((H, C)) / math.sqrt(H), "b2": 0.1 * rng.standard_normal(C)}  # fmt: skip
    dt = np.dtype(case.spec.dtype)
    out: dict[str, Any] = {k: a.astype(dt) for k, a in drawn.items()}
    if not with_x:
        out["x"] = None
    return out


def moves_x(spec: CaseSpec) -> bool:
    """Whether the case's direction moves x too (ẋ ≠ 0), for half of all cases: the parity
    of a digest of the spec, so that the edge cases, which share one seed, split as well."""
    return bool(hashlib.blake2b(str(spec).encode(), digest_size=1).digest()[0] & 1)


def case_direction(case: Case) -> dict[str, Any]:
    """The direction the gate verifies the second-order products of ``case`` along."""
    return make_direction(case, with_x=moves_x(case.spec))


EDGE_SHAPES: tuple[tuple[int, int, int, int], ...] = (
    (1, 7, 9, 5),  # N = 1
    (6, 5, 8, 1),  # C = 1
    (6, 5, 8, 2),  # C = 2
    (6, 5, 1, 4),  # H = 1
    (6, 1, 8, 4),  # D = 1
    (1, 1, 1, 1),  # all = 1
    (5, 4, 10, 3),  # the derivation's own network
    (300, 20, 40, 10),  # N past a blocking size
)
STRESS_SHAPE = (33, 17, 25, 7)


def edge_specs(seed: int = 0, dtypes: tuple[str, ...] = DTYPES,
               targets: tuple[str, ...] = TARGETS,
               reductions: tuple[str, ...] = REDUCTIONS) -> list[CaseSpec]:  # fmt: skip
    """The edge shapes × dtype × target × reduction, then every stress kind likewise (only
    the given dtypes, targets and reductions: a declared scope)."""
    grid = [(shape, "random") for shape in EDGE_SHAPES]
    grid += [(STRESS_SHAPE, kind) for kind in KINDS[1:]]
    return [CaseSpec(*shape, dtype, target, reduction, kind, seed)
            for shape, kind in grid for dtype in dtypes for target in targets
            for reduction in reductions]  # fmt: skip


BIG = {"N": 512, "D": 512, "H": 512, "C": 256}
"""Upper bounds for the one large dimension a case may have: blocked or chunked
implementations only break past small sizes."""


def _pick(rng: np.random.Generator, full: tuple[str, ...], allowed: tuple[str, ...]) -> str:
    """A uniform draw from ``allowed``; from the full scope it is exactly the draw from
    ``full``, so the full contract's cases do not depend on how scopes are drawn."""
    value = str(rng.choice(full))
    return value if value in allowed else str(rng.choice(allowed))


def random_specs(
    seed: int, n: int, small: int = 64, big_share: float = 1 / 16, dtype: str | None = None,
    dtypes: tuple[str, ...] = DTYPES, targets: tuple[str, ...] = TARGETS,
    reductions: tuple[str, ...] = REDUCTIONS,
) -> list[CaseSpec]:  # fmt: skip
    """``n`` cases: N, D, H, C uniform in 1..small, except that a ``big_share`` of the cases
    has one dimension drawn from small+1 up to its ``BIG`` bound. Every other field is drawn
    uniformly from its allowed values (a declared scope: ``dtypes``, ``targets``,
    ``reductions``), the dtype fixed instead if ``dtype`` is given; each case gets its own
    data seed."""
    rng = np.random.default_rng(seed)
    specs = []
    for _ in range(n):
        dims = dict(zip("NDHC", map(int, rng.integers(1, small + 1, size=4)), strict=True))
        if rng.random() < big_share:
            name = str(rng.choice(list(BIG)))
            dims[name] = int(rng.integers(small + 1, BIG[name] + 1))
        drawn = _pick(rng, DTYPES, dtypes)
        specs.append(CaseSpec(**dims, dtype=dtype or drawn,
                              target=_pick(rng, TARGETS, targets),
                              reduction=_pick(rng, REDUCTIONS, reductions),
                              kind=str(rng.choice(KINDS)),
                              seed=int(rng.integers(2**31))))  # fmt: skip
    return specs
