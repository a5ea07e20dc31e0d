"""The timed implementations of each pass, shared by ``test_passes.py`` and ``interleaved.py``.

Implementations, all on the same inputs (``benchmarks.problems``):

* ``manual``: the hand-derived NumPy package. Forward is ``forward`` + ``cross_entropy``
  (the loss and everything ``backward`` needs); backward is ``backward`` on a saved forward;
  forward+backward is ``loss_and_gradients``, which checks the inputs once and takes the
  loss's log-sum-exp from the softmax instead of recomputing it.
* ``jax``: ``jax.jit`` of ``jax.vjp`` / ``jax.value_and_grad`` over ``jax_ref.loss``.
  Forward returns the loss and the vjp function (the saved residuals); backward applies
  that function; compilation happens before timing, and every call ends in
  ``block_until_ready`` because dispatch is asynchronous.
* ``torch`` (eager) and ``torch_compile``: the two layers, ``torch_ref.loss_from_s2`` and
  the softmax, then ``loss.backward()``, with gradients for x, w1, b1, w2 and b2 as manual
  computes them. Backward alone has a ``setup`` that builds a fresh graph, untimed.
* ``gemm_floor``: only the pass's matrix products, into preallocated outputs: the time no
  implementation of these formulas can beat with the same BLAS.

Each builder returns a :class:`Timed`: what to time and how to check its result against
the float64 reference (``problems.check``). This is not a test module, so that the
interleaved runner can import it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
import torch

import manual
from benchmarks.problems import Problem, check
from references import jax_ref, torch_ref

Args = tuple[tuple[Any, ...], dict[str, Any]]
T = TypeVar("T")


@dataclass(frozen=True)
class Timed:
    """What one benchmark times, and how its result is checked.

    Without ``setup``, ``run()`` is timed as is. With it, every round first calls ``setup()``
    untimed and times ``run(*args, **kwargs)`` on what it returned.
    """

    run: Callable[..., Any]
    check: Callable[[Any], None]
    setup: Callable[[], Args] | None = None


SETTLE_S = 0.3
"""Pause before each timed benchmark: idle BLAS threads of the library that ran last spin
for about 0.1 s (OpenBLAS), and on 2 cores that halves the speed of the next library
(torch: 69.5 ms right after manual, 35.4 ms after a 0.2 s pause, measured here)."""


# --- manual -------------------------------------------------------------------------------


def manual_timed(pb: Problem, pass_: str) -> Timed:
    """manual.forward + cross_entropy; manual.backward on a saved Forward; or both."""
    params = manual.Params(w1=pb.w1, b1=pb.b1, w2=pb.w2, b2=pb.b2)
    x, y = pb.x, pb.y

    def forward() -> tuple[manual.Forward, Any]:
        fwd = manual.forward(x, params)
        return fwd, manual.cross_entropy(fwd.s2, y)

    def check_forward(out: tuple[manual.Forward, Any]) -> None:
        check("manual", "p", out[0].p, pb)
        check("manual", "loss", out[1], pb)

    def check_grads(g: manual.Gradients) -> None:
        check("manual", "dL/dw1", g.w1, pb)
        check("manual", "dL/dx", g.x, pb)
        check("manual", "dL/db2", g.b2, pb)

    if pass_ == "forward":
        return Timed(forward, check_forward)
    if pass_ == "backward":
        saved = manual.forward(x, params)
        return Timed(lambda: manual.backward(x, y, params, saved), check_grads)

    def forward_backward() -> tuple[Any, manual.Gradients]:
        loss, _, grads = manual.loss_and_gradients(x, y, params)
        return loss, grads

    def check_both(out: tuple[Any, manual.Gradients]) -> None:
        check("manual", "loss", out[0], pb)
        check_grads(out[1])

    return Timed(forward_backward, check_both)


# --- the GEMM floor ---------------------------------------------------------------------------


def floor_timed(pb: Problem, pass_: str) -> Timed:
    """The pass's matrix products alone, NumPy ``matmul`` into preallocated outputs.

    forward:  s1 = x·w1 (N×H), s2 = o1·w2 (N×C)
    backward: dL/dw2 = o1ᵀ·ds2 (H×C), dL/do1 = ds2·w2ᵀ (N×H),
              dL/dw1 = xᵀ·ds1 (D×H), dL/dx = ds1·w1ᵀ (N×D)
    o1, ds2 and ds1 come from the reference, cast to the dtype: the floor does no
    elementwise work and allocates nothing, so it bounds every implementation from below.
    """
    N, D, H, C = pb.shape
    dt = pb.dtype
    x, w1, w2 = pb.x, pb.w1, pb.w2
    o1 = np.maximum(pb.ref["s1"], 0.0).astype(dt)
    ds2 = pb.ref["dL/ds2"].astype(dt)
    ds1 = pb.ref["dL/ds1"].astype(dt)
    s1, s2, do1 = np.empty((N, H), dt), np.empty((N, C), dt), np.empty((N, H), dt)
    dw2, dw1, dx = np.empty((H, C), dt), np.empty((D, H), dt), np.empty((N, D), dt)

    def forward() -> dict[str, np.ndarray[Any, Any]]:
        np.matmul(x, w1, out=s1)
        np.matmul(o1, w2, out=s2)
        return {"s1": s1, "s2": s2}

    def backward() -> dict[str, np.ndarray[Any, Any]]:
        np.matmul(o1.T, ds2, out=dw2)
        np.matmul(ds2, w2.T, out=do1)
        np.matmul(x.T, ds1, out=dw1)
        np.matmul(ds1, w1.T, out=dx)
        return {"dL/dw2": dw2, "dL/dw1": dw1, "dL/dx": dx}

    def forward_backward() -> dict[str, np.ndarray[Any, Any]]:
        return forward() | backward()

    def check_products(out: dict[str, np.ndarray[Any, Any]]) -> None:
        biases = {"s1": pb.b1, "s2": pb.b2}
        for name, got in out.items():
            check("gemm_floor", name, got + biases[name] if name in biases else got, pb)
        # dL/do1 has no reference of its own; dL/ds1 = dL/do1 ⊙ [s1 > 0] pins it.
        if "dL/dw1" in out:
            check("gemm_floor", "dL/ds1", np.where(pb.ref["s1"] > 0, do1, 0).astype(dt), pb)

    runs = {"forward": forward, "backward": backward, "forward+backward": forward_backward}
    return Timed(runs[pass_], check_products)


# --- JAX --------------------------------------------------------------------------------------


def _jax_forward(
    x: jax.Array, w1: jax.Array, b1: jax.Array, w2: jax.Array, b2: jax.Array, y: jax.Array
) -> tuple[jax.Array, Callable[[jax.Array], tuple[jax.Array, ...]]]:
    """The loss and the vjp function, a pytree holding the residuals the backward needs."""
    loss = functools.partial(jax_ref.loss, y=y, reduction="mean")
    return jax.vjp(loss, x, w1, b1, w2, b2)


def _jax_backward(
    vjp: Callable[[jax.Array], tuple[jax.Array, ...]], cotangent: jax.Array
) -> tuple[jax.Array, ...]:
    """(dL/dx, dL/dw1, dL/db1, dL/dw2, dL/db2) from the saved residuals."""
    return vjp(cotangent)


_jax_forward_jit = jax.jit(_jax_forward)
_jax_backward_jit = jax.jit(_jax_backward)
_jax_value_and_grad_jit = jax.jit(
    jax.value_and_grad(jax_ref.loss, argnums=(0, 1, 2, 3, 4)), static_argnames="reduction"
)


def _block(out: T) -> T:
    """Wait for JAX's asynchronous dispatch: the time must include the computation."""
    return jax.block_until_ready(out)  # type: ignore[no-untyped-call,no-any-return]


def jax_timed(pb: Problem, pass_: str) -> Timed:
    """Jitted vjp / vjp-function / value_and_grad, compiled here, before any timing."""
    x, w1, b1, w2, b2, y = (jax.device_put(a) for a in (pb.x, pb.w1, pb.b1, pb.w2, pb.b2, pb.y))

    def check_grads(grads: tuple[jax.Array, ...]) -> None:
        check("jax", "dL/dx", grads[0], pb)
        check("jax", "dL/dw1", grads[1], pb)
        check("jax", "dL/db2", grads[4], pb)

    timed: Timed
    if pass_ == "forward":
        timed = Timed(
            lambda: _block(_jax_forward_jit(x, w1, b1, w2, b2, y)),
            lambda out: check("jax", "loss", out[0], pb),
        )
    elif pass_ == "backward":
        _, vjp = _jax_forward_jit(x, w1, b1, w2, b2, y)
        one = jnp.ones((), pb.dtype)
        timed = Timed(lambda: _block(_jax_backward_jit(vjp, one)), check_grads)
    else:

        def check_both(out: tuple[jax.Array, tuple[jax.Array, ...]]) -> None:
            check("jax", "loss", out[0], pb)
            check_grads(out[1])

        timed = Timed(
            lambda: _block(_jax_value_and_grad_jit(x, w1, b1, w2, b2, y, reduction="mean")),
            check_both,
        )
    timed.run()  # compile
    return timed


# --- PyTorch ----------------------------------------------------------------------------------

TorchStep = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def _torch_step(
    x: torch.Tensor, y: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
    b2: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """The loss and p, recording the graph for ``loss.backward()``.

    The layers are written out rather than calling ``torch_ref.loss``, which hides s2: the
    forward must also produce p from s2, as manual's forward does, to time the same work.
    """
    s2 = torch.relu(x @ w1 + b1) @ w2 + b2
    return torch_ref.loss_from_s2(s2, y, "mean"), torch.softmax(s2, dim=1)


_compiled: dict[str, TorchStep] = {}


def _compiled_step(pb: Problem) -> TorchStep:
    """torch.compile of the step for this problem only, compiled on the first call.

    Dynamo's cache is per code object and gives up after a few recompilations (or turns
    shapes dynamic), so it is reset for each problem: one static-shape graph each.
    """
    if pb.label not in _compiled:
        torch.compiler.reset()
        _compiled.clear()
        _compiled[pb.label] = torch.compile(_torch_step, dynamic=False)
    return _compiled[pb.label]


def _np(t: torch.Tensor | None) -> np.ndarray[Any, Any]:
    assert t is not None, "a gradient was not computed"
    return t.detach().numpy()


def torch_timed(pb: Problem, pass_: str, step: TorchStep, name: str) -> Timed:
    """The eager (or compiled) step and loss.backward(), gradients for every input as manual."""
    leaves = [torch.from_numpy(a).requires_grad_() for a in (pb.x, pb.w1, pb.b1, pb.w2, pb.b2)]
    tx, tw1, _, _, tb2 = leaves
    ty = torch.from_numpy(pb.y)

    def forward() -> tuple[torch.Tensor, torch.Tensor]:
        # Gradients are set to None, as optimizer.zero_grad() does, so backward writes them
        # fresh instead of accumulating into the previous round's.
        for t in leaves:
            t.grad = None
        return step(tx, ty, tw1, *leaves[2:])

    def backward(loss: torch.Tensor) -> tuple[Any, ...]:
        loss.backward()  # type: ignore[no-untyped-call]
        return loss, _np(tx.grad), _np(tw1.grad), _np(tb2.grad)

    def check_grads(out: tuple[Any, ...]) -> None:
        check(name, "dL/dx", out[1], pb)
        check(name, "dL/dw1", out[2], pb)
        check(name, "dL/db2", out[3], pb)

    def check_forward(out: tuple[torch.Tensor, torch.Tensor]) -> None:
        check(name, "loss", _np(out[0]), pb)
        check(name, "p", _np(out[1]), pb)

    def check_both(out: tuple[Any, ...]) -> None:
        check(name, "loss", _np(out[0]), pb)
        check_grads(out)

    timed: Timed
    if pass_ == "forward":
        timed = Timed(forward, check_forward)
    elif pass_ == "backward":
        timed = Timed(backward, check_grads, setup=lambda: ((forward()[0],), {}))
    else:
        timed = Timed(lambda: backward(forward()[0]), check_both)
    backward(forward()[0])  # compiles torch_compile; first-call allocations for eager
    return timed


BUILDERS: dict[str, Callable[[Problem, str], Timed]] = {
    "manual": manual_timed,
    "gemm_floor": floor_timed,
    "jax": jax_timed,
    "torch": lambda pb, pass_: torch_timed(pb, pass_, _torch_step, "torch"),
    "torch_compile": lambda pb, pass_: torch_timed(pb, pass_, _compiled_step(pb), "torch_compile"),
}
