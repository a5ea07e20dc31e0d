"""Central finite differences in float64: a third, framework-free opinion on every gradient,
and (:func:`directional`) on the second-order products.

The loss is evaluated by a plain float64 NumPy forward pass (log-sum-exp, no gradient
formula anywhere), and each gradient element is (L(θ + h) − L(θ − h)) / 2h.

Kink-aware: an element whose ±h step would move any s1 across 0 is not differenced
centrally (the loss is not differentiable across the kink); if one side stays clear it
is differenced one-sidedly on that side, otherwise it is skipped. Both are counted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.cases import MOVED, Case
from handgrad.regularisation import L2, NO_L2

F64 = NDArray[np.float64]

# ε^(1/3) balances truncation (h²) against round-off (ε/h) for a central difference.
STEP = float(np.finfo(np.float64).eps) ** (1 / 3)
ONE_SIDED_STEP = float(np.finfo(np.float64).eps) ** 0.5
# Errors are ~ε^(2/3) ≈ 4e-11 (central) and ~ε^(1/2) ≈ 1.5e-8 (one-sided) of the scale.
RTOL = 1e-6


def _loss_from_s2(s2: F64, y: F64, scale: float) -> float:
    m = s2.max(axis=1, keepdims=True)
    logp = s2 - (m + np.log(np.exp(s2 - m).sum(axis=1, keepdims=True)))
    return float(-(y * logp).sum() * scale)


@dataclass
class FiniteDifferences:
    """FD gradients of one case, keyed like the references (dL/dx, ..., dp/ds2)."""

    grads: dict[str, F64] = field(default_factory=dict)
    one_sided: dict[str, NDArray[np.bool_]] = field(default_factory=dict)
    skipped: dict[str, NDArray[np.bool_]] = field(default_factory=dict)


def _penalty(v: dict[str, F64], l2: L2) -> float:
    """The declared L2 term λ·Σ‖W‖² of parameters ``v`` (0 without one)."""
    return l2.coefficient * sum(float(np.vdot(v[k], v[k])) for k in l2.names) if l2 else 0.0


def finite_differences(case: Case, l2: L2 = NO_L2) -> FiniteDifferences:
    """Every gradient of ``case`` by central differences (small shapes only: 2 passes/element),
    of the loss with the declared L2 term."""
    a = {k: v.astype(np.float64) for k, v in case.inputs().items() if k != "y"}
    y = case.target_matrix()
    scale = 1.0 / case.spec.N if case.spec.reduction == "mean" else 1.0

    def s1_of(v: dict[str, F64]) -> F64:
        s1: F64 = v["x"] @ v["w1"] + v["b1"]
        return s1

    def from_s1(s1: F64, v: dict[str, F64]) -> float:
        return _loss_from_s2(np.where(s1 > 0, s1, 0.0) @ v["w2"] + v["b2"], y, scale)

    out = FiniteDifferences()
    base_s1 = s1_of(a)
    o1 = np.where(base_s1 > 0, base_s1, 0.0)
    s2 = o1 @ a["w2"] + a["b2"]

    # Parameters before the ReLU can cross its kink; record the sign pattern of s1.
    def kink_safe(v: dict[str, F64]) -> bool:
        return bool(np.array_equal(s1_of(v) > 0, base_s1 > 0))

    def record(key: str, theta: F64, f: Callable[[F64], float],
               safe: Callable[[F64], bool] | None) -> None:  # fmt: skip
        out.grads[key], out.one_sided[key], out.skipped[key] = _difference(theta, f, safe)

    for name in ("x", "w1", "b1", "w2", "b2"):

        def loss(v: F64, n: str = name) -> float:
            moved = {**a, n: v}
            return from_s1(s1_of(moved), moved) + _penalty(moved, l2)

        def safe(v: F64, n: str = name) -> bool:
            return kink_safe({**a, n: v})

        # w2 and b2 come after the ReLU: their steps cannot cross a kink.
        record(f"dL/d{name}", a[name], loss, safe if name in ("x", "w1", "b1") else None)
    out.grads["dL/ds2"], out.one_sided["dL/ds2"], out.skipped["dL/ds2"] = _difference(
        s2, lambda v: _loss_from_s2(v, y, scale), None
    )
    out.grads["dL/do1"], out.one_sided["dL/do1"], out.skipped["dL/do1"] = _difference(
        o1, lambda v: _loss_from_s2(v @ a["w2"] + a["b2"], y, scale), None
    )
    out.grads["dL/ds1"], out.one_sided["dL/ds1"], out.skipped["dL/ds1"] = _difference(
        base_s1,
        lambda v: from_s1(v, a),
        lambda v: bool(np.array_equal(v > 0, base_s1 > 0)),
    )
    out.grads["dp/ds2"] = _softmax_jacobian_fd(s2)
    return out


def _difference(
    theta: F64, f: Callable[[F64], float], safe: Callable[[F64], bool] | None
) -> tuple[F64, NDArray[np.bool_], NDArray[np.bool_]]:
    grad = np.zeros_like(theta)
    skipped = np.zeros(theta.shape, dtype=bool)
    one_sided = np.zeros(theta.shape, dtype=bool)
    for idx in np.ndindex(theta.shape):
        h = STEP * max(1.0, abs(float(theta[idx])))
        plus, minus = theta.copy(), theta.copy()
        plus[idx] += h
        minus[idx] -= h
        ok_plus = safe is None or safe(plus)
        ok_minus = safe is None or safe(minus)
        if ok_plus and ok_minus:
            grad[idx] = (f(plus) - f(minus)) / (2 * h)
        elif ok_plus or ok_minus:
            # One side crosses a kink: difference on the side that does not, with the step
            # √ε that suits a first-order difference; s1 is linear in θ, so the shorter
            # step stays on the safe side too.
            h1 = ONE_SIDED_STEP * max(1.0, abs(float(theta[idx])))
            side = theta.copy()
            side[idx] += h1 if ok_plus else -h1
            grad[idx] = (f(side) - f(theta)) / (h1 if ok_plus else -h1)
            one_sided[idx] = True
        else:
            skipped[idx] = True
    return grad, one_sided, skipped


def _softmax_jacobian_fd(s2: F64) -> F64:
    def softmax(s: F64) -> F64:
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        p: F64 = e / e.sum(axis=-1, keepdims=True)
        return p

    N, C = s2.shape
    jac = np.zeros((N, C, C))
    for j in range(C):
        # An absolute step: softmax is shift-invariant, its curvature scale is 1 whatever |s2|.
        plus, minus = s2.copy(), s2.copy()
        plus[:, j] += STEP
        minus[:, j] -= STEP
        jac[:, :, j] = (softmax(plus) - softmax(minus)) / (2 * STEP)
    return jac


def agree(fd: F64, ref: NDArray[Any], skipped: NDArray[np.bool_] | None = None) -> float:
    """Worst |fd − ref| relative to the gradient's scale, over the elements not skipped."""
    ref64 = ref.astype(np.float64)
    keep = ~skipped if skipped is not None else np.ones(fd.shape, dtype=bool)
    # FD's error is absolute (~ε^(2/3) of the loss and of p, both O(1)); a gradient whose
    # largest element is tiny, e.g. a Jacobian with p ≈ one-hot, is measured against 1e-4.
    scale = max(float(np.abs(ref64).max(initial=0.0)), 1e-4)
    if not keep.any():
        return 0.0
    return float(np.abs(fd - ref64)[keep].max()) / scale


# --- second order: differences along one direction ------------------------------------------


@dataclass
class Directional:
    """Finite differences along one direction v = (ẋ, ẇ1, ḃ1, ẇ2, ḃ2), in float64: the
    tangent of each forward quantity and of L (``jvp``), the derivative of every gradient
    (``hvp``: R{dL/d·}, so Hv at x … b2), and Gv (``ggn``), keyed like the references.
    ``kind`` is "central", "one-sided" (one end of the step crosses a ReLU kink: the
    one-sided stencil of the same order on the other side) or "skipped" (both ends do;
    the dicts are then empty)."""

    kind: str
    jvp: dict[str, F64] = field(default_factory=dict)
    hvp: dict[str, F64] = field(default_factory=dict)
    ggn: dict[str, F64] = field(default_factory=dict)
    skipped: dict[str, NDArray[np.bool_]] = field(default_factory=dict)
    """Gv's elements whose every step crosses a kink (it is differenced element by element)."""


def directional(case: Case, direction: dict[str, NDArray[Any]], l2: L2 = NO_L2) -> Directional:
    """Differences of manual's float64 forward pass and gradients along ``direction``.

    Not framework-free like :func:`finite_differences`: the gradients differenced for Hv
    are manual's (``loss_and_gradients``), which the first-order gate proves, and so is the
    dL/ds2 (``grad_s2``) differenced along ṡ2 for Gv's H_s2·ṡ2. Gv itself, Jᵀ·H_s2·ṡ2, is
    then differenced element by element, with no backward formula. The declared L2 term
    is added to the loss and its gradient 2λ·w to the gradients differenced; Gv gains its
    Hessian, 2λ·ẇ, exactly.
    """
    import manual
    from manual.network import grad_s2, softmax

    a = {k: getattr(case, k).astype(np.float64) for k in MOVED}
    t = {k: np.zeros_like(a[k]) if direction[k] is None else
         np.asarray(direction[k], dtype=np.float64) for k in MOVED}  # fmt: skip
    y = case.y if case.labels else case.y.astype(np.float64)
    reduction = case.spec.reduction

    def at(s: float) -> tuple[dict[str, Any], dict[str, F64]]:
        v = {k: a[k] + s * t[k] for k in MOVED}
        params = manual.Params(v["w1"], v["b1"], v["w2"], v["b2"])
        loss, fwd, grads = manual.loss_and_gradients(v["x"], y, params, reduction)
        values = {"s1": fwd.s1, "o1": fwd.o1, "s2": fwd.s2, "p": fwd.p,
                  "loss": loss + _penalty(v, l2)}  # fmt: skip
        g = {f"dL/d{g}": getattr(grads, g) for g in ("s2", "o1", "s1", *MOVED)}
        for k in l2.names if l2 else ():
            g[f"dL/d{k}"] = g[f"dL/d{k}"] + 2 * l2.coefficient * v[k]
        return values, g

    base, _ = at(0.0)
    signs = base["s1"] > 0

    def safe(s: float) -> bool:
        return bool(np.array_equal(at(s)[0]["s1"] > 0, signs))

    # The step's scale: the t that moves s1 by its own size, or s2 by 1 (the softmax's
    # curvature scale, whatever |s2|), measured by one probing step.
    probe, _ = at(STEP)
    rate = max(float(np.abs(probe["s1"] - base["s1"]).max())
               / max(1.0, float(np.abs(base["s1"]).max())),
               float(np.abs(probe["s2"] - base["s2"]).max())) / STEP  # fmt: skip
    scale = 1.0 / rate if rate > 0 else 1.0
    h = STEP * scale
    stencil: tuple[tuple[float, float], ...]
    if safe(h) and safe(-h):
        kind, stencil = "central", ((h, 0.5 / h), (-h, -0.5 / h))
    else:
        # One end crosses a kink: the one-sided stencil of the same order, h² (f(0), f(±h)
        # and f(±2h)), on the side that stays clear.
        side = next((t for t in (h, -h) if safe(t) and safe(2 * t)), None)
        if side is None:
            return Directional("skipped")
        kind, stencil = "one-sided", ((0.0, -1.5 / side), (side, 2 / side), (2 * side, -0.5 / side))
    points = [(at(t), weight) for t, weight in stencil]
    out = Directional(kind)
    out.jvp = {k: sum((np.asarray(f[k], dtype=np.float64) * w for (f, _), w in points),
                      np.zeros(np.shape(base[k])))
               for k in base}  # fmt: skip
    out.hvp = {k: sum((g[k] * w for (_, g), w in points), np.zeros_like(g0))
               for k, g0 in points[0][0][1].items()}  # fmt: skip
    # Gv = Jᵀq, q = H_s2·ṡ2. dL/ds2 is smooth in s2, so q is differenced centrally there;
    # then each element of Jᵀq is the derivative of ⟨q, s2⟩ by that element, differenced
    # one by one like the gradients above (kink-aware), so no backward formula enters.
    s2, ds2 = base["s2"], out.jvp["s2"]
    k = STEP / (float(np.abs(ds2).max()) or 1.0)  # s2 moves by STEP: curvature scale 1
    q = (grad_s2(softmax(s2 + k * ds2), y, reduction)
         - grad_s2(softmax(s2 - k * ds2), y, reduction)) / (2 * k)  # fmt: skip

    def projected(v: dict[str, F64]) -> float:
        s1 = v["x"] @ v["w1"] + v["b1"]
        return float(np.vdot(q, np.where(s1 > 0, s1, 0.0) @ v["w2"] + v["b2"]))

    def clear(v: dict[str, F64]) -> bool:
        return bool(np.array_equal(v["x"] @ v["w1"] + v["b1"] > 0, signs))

    out.ggn["dL/ds2"] = q
    for name in MOVED:

        def along(v: F64, n: str = name) -> float:
            return projected({**a, n: v})

        def kink_safe(v: F64, n: str = name) -> bool:
            return clear({**a, n: v})

        # w2 and b2 come after the ReLU: their steps cannot cross a kink.
        safe_here = kink_safe if name in ("x", "w1", "b1") else None
        key = f"dL/d{name}"
        out.ggn[key], _, out.skipped[key] = _difference(a[name], along, safe_here)
    out.ggn["dL/do1"], _, out.skipped["dL/do1"] = _difference(
        base["o1"], lambda o1: float(np.vdot(q, o1 @ a["w2"] + a["b2"])), None)  # fmt: skip
    out.ggn["dL/ds1"], _, out.skipped["dL/ds1"] = _difference(
        base["s1"], lambda s1: float(np.vdot(q, np.where(s1 > 0, s1, 0.0) @ a["w2"] + a["b2"])),
        lambda s1: bool(np.array_equal(s1 > 0, signs)))  # fmt: skip
    for k in l2.names if l2 else ():
        out.ggn[f"dL/d{k}"] = out.ggn[f"dL/d{k}"] + 2 * l2.coefficient * t[k]
    return out
