"""Both references, run on a whole padded batch at once, and on one plain case.

The oracles in ``references/`` are written for one case. The batching lives here: JAX's
``reference`` goes through ``jax.jit(jax.vmap(...))``, one compiled program per bucket and
dtype; torch's goes through ``torch.func.vmap``. Either way each case's values come from
that framework's autograd applied to that case's own arrays: vmap maps a function over a
leading axis without mixing cases. The padded classes, rows and columns add exact zeros
(:mod:`handgrad.batch`), and ``tests/test_engine.py`` proves that the true slice matches
the plain, unpadded call within the gate's tolerance, labels included.

Framework state lives in two documented places: ``references.jax_ref`` enables JAX's
float64 (x64) when it is imported, which the engine does before it makes any JAX array (a
host process that already made float32 JAX arrays keeps them), and :func:`configure` sets
torch's thread count. The gate's entry points (the pytest plugin, the command line and
:func:`handgrad.verify`) call :func:`configure`; nothing else changes it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.batch import NEG, Batch, batch_size
from handgrad.cases import MOVED, Case, case_direction
from handgrad.quantities import CASE_WISE, PRODUCTS, QUANTITIES, SECOND, case_wise, check_keys

Arrays = dict[str, NDArray[Any]]
ORDER = ("x", "y", "w1", "b1", "w2", "b2")
"""The oracles' positional arguments (vmap maps positional arguments only), followed by the
direction's (``MOVED``) when second-order products are asked for."""
Products = tuple[str, ...]

TORCH_THREADS = 1
"""The default: a batch's operations are small, and ``-n auto`` gives every core a worker
of its own; a second torch thread per worker only contends for them."""


def configure(torch_threads: int = TORCH_THREADS) -> None:
    """Set torch's intra-op thread count for the references."""
    import torch

    torch.set_num_threads(torch_threads)


def values(module: Any, products: Products, x: Any, y: Any, w1: Any, b1: Any, w2: Any,
           b2: Any, *direction: Any) -> dict[str, Any]:  # fmt: skip
    """One case's values from reference ``module`` (``references.jax_ref`` or ``torch_ref``):
    ``reference``'s, then each of ``products`` along ``direction`` (ẋ … ḃ2) under the
    registry's names. Sum-reduced: the engine divides by N (``_finish``)."""
    out = dict(module.reference(x, y, w1, b1, w2, b2, reduction="sum"))
    for product in products:
        got = getattr(module, product)((x, w1, b1, w2, b2), direction, y, "sum")
        out |= {name: got[QUANTITIES[name].key] for name in SECOND[product]}
    return out


def _arguments(batch: Batch, products: Products) -> list[NDArray[Any]]:
    inputs = batch.inputs(NEG)
    return [inputs[k] for k in ORDER] + ([batch.direction[k] for k in MOVED] if products else [])


def _finish(batch: Batch, out: dict[str, Any], products: Products) -> Arrays:
    """NumPy arrays, with the loss and gradients divided by N for reduction="mean"."""
    check_keys("reference", out, case_wise(products))
    host = {k: np.asarray(v)[: len(batch)] for k, v in out.items()}
    n = batch.size("N").astype(batch.dtype)
    denominator = np.where(batch.mean, n, batch.dtype.type(1))
    for name, value in host.items():
        if QUANTITIES[name].mean_scaled:
            shape = (len(batch),) + (1,) * len(QUANTITIES[name].axes)
            host[name] = value / denominator.reshape(shape)
    return host


@functools.cache
def _jax_program(products: Products) -> Any:
    import jax

    from references import jax_ref

    return jax.jit(jax.vmap(functools.partial(values, jax_ref, products)))


def jax_batch(batch: Batch, products: Products = ()) -> Arrays:
    """JAX's values for every case of ``batch``, padded, with the second-order
    ``products`` along each case's direction; one program for all of them.

    Every call of one bucket has the same number of cases, filled up with copies of the
    first, so that one compiled program serves them all: a fill costs microseconds, a
    fresh compilation about 0.3 s.
    """
    arguments = _arguments(batch, products)
    size = max(batch_size(batch.dims), len(batch))
    if size > len(batch):
        arguments = [np.concatenate([v, np.repeat(v[:1], size - len(batch), axis=0)])
                     for v in arguments]  # fmt: skip
    return _finish(batch, _jax_program(products)(*arguments), products)


@functools.cache
def _torch_program(products: Products) -> Any:
    import torch

    from references import torch_ref

    return torch.func.vmap(functools.partial(values, torch_ref, products))


def torch_batch(batch: Batch, products: Products = ()) -> Arrays:
    """torch's values for every case of ``batch``, padded (see ``jax_batch``)."""
    import torch

    out = _torch_program(products)(*map(torch.from_numpy, _arguments(batch, products)))
    return _finish(batch, {k: v.detach() for k, v in out.items()}, products)


BATCHED = {"torch": torch_batch, "jax": jax_batch}
"""The references by name, in the order the reports list them."""

JACOBIAN_BLOCK = 2**17
"""Rows per JAX Jacobian call: about this many elements, so that one compiled program per
number of classes and dtype serves every chunk."""


@functools.cache
def _jax_jacobian_program() -> Any:
    import jax

    from references import jax_ref

    return jax.jit(jax_ref.softmax_jacobian)


def jax_jacobian(s2_rows: NDArray[Any]) -> NDArray[Any]:
    """JAX's dp/ds2 for stacked rows of s2 (R×C), in fixed blocks of rows."""
    R, C = s2_rows.shape
    block = max(1, JACOBIAN_BLOCK // (C * C))
    padded = -(-R // block) * block
    fill = np.zeros((padded - R, C), s2_rows.dtype)
    rows = np.concatenate([s2_rows, fill]) if padded > R else s2_rows
    program = _jax_jacobian_program()
    parts = [np.asarray(program(rows[k : k + block])) for k in range(0, padded, block)]
    out: NDArray[Any] = (np.concatenate(parts) if len(parts) > 1 else parts[0])[:R]
    return out


def torch_jacobian(s2_rows: NDArray[Any]) -> NDArray[Any]:
    """torch's dp/ds2 for stacked rows of s2 (R×C)."""
    import torch

    from references import torch_ref

    out: NDArray[Any] = torch_ref.softmax_jacobian(torch.from_numpy(s2_rows)).numpy()
    return out


JACOBIAN = {"torch": torch_jacobian, "jax": jax_jacobian}
"""The row-wise oracles (``softmax_jacobian``), in the order of ``BATCHED``."""


def torch_plain(case: Case) -> Arrays:
    """torch's reference called directly on the case: unpadded, labels as labels."""
    import torch

    from references import torch_ref

    y = case.y.astype(np.int64) if case.labels else case.y
    tensors = {k: torch.from_numpy(np.asarray(v)) for k, v in case.inputs().items()}
    tensors["y"] = torch.from_numpy(y)
    out = torch_ref.reference(**tensors, reduction=case.spec.reduction)
    check_keys("torch reference", out)
    out["dp/ds2"] = torch_ref.softmax_jacobian(out["s2"].detach())
    primals = tuple(tensors[k] for k in MOVED)
    direction = tuple(torch.from_numpy(v) for v in _direction(case))
    for product in PRODUCTS:
        got = getattr(torch_ref, product)(primals, direction, tensors["y"], case.spec.reduction)
        out |= {name: got[QUANTITIES[name].key] for name in SECOND[product]}
    return {k: v.detach().numpy() for k, v in out.items()}


def jax_plain(case: Case) -> Arrays:
    """JAX's reference called directly on the case (compiles for this shape)."""
    import jax

    from references import jax_ref

    program = jax.jit(jax_ref.reference, static_argnames="reduction")
    out = dict(program(**case.inputs(), reduction=case.spec.reduction))
    check_keys("jax reference", out)
    out["dp/ds2"] = jax.jit(jax_ref.softmax_jacobian)(out["s2"])
    primals = tuple(getattr(case, k) for k in MOVED)
    for product in PRODUCTS:
        function = jax.jit(getattr(jax_ref, product), static_argnames="reduction")
        got = function(primals, _direction(case), case.y, reduction=case.spec.reduction)
        out |= {name: got[QUANTITIES[name].key] for name in SECOND[product]}
    return {k: np.asarray(v) for k, v in out.items()}


def _direction(case: Case) -> tuple[NDArray[Any], ...]:
    """The case's direction as the references take it: ẋ zero when x is held fixed."""
    drawn = case_direction(case)
    return tuple(np.zeros_like(case.x) if drawn[k] is None else drawn[k] for k in MOVED)


PLAIN = {"torch": torch_plain, "jax": jax_plain}


def batched_values(batch: Batch, name: str) -> list[Arrays]:
    """Reference ``name``'s values through the batched path (padded case-wise program and
    stacked Jacobian rows), unpacked per case: what the engine compares against."""
    padded = BATCHED[name](batch, PRODUCTS)
    jac = JACOBIAN[name](batch.rows(padded["s2"]))
    out = []
    for i in range(len(batch)):
        case = {q: batch.unpad(padded[q], i, QUANTITIES[q].axes) for q in CASE_WISE}
        n, c = int(batch.size("N")[i]), int(batch.size("C")[i])
        start = int(batch.row_offsets[i])
        case["dp/ds2"] = np.array(jac[start : start + n, :c, :c])
        out.append(case)
    return out
