"""Both references, run on a whole padded batch at once (one plain case: :mod:`.plain`).

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
torch's thread count and caps glibc's malloc arenas at one (:mod:`handgrad.memory`). The gate's entry points (the pytest plugin, the command line and
:func:`handgrad.verify`) call :func:`configure`; nothing else changes it.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad import jax_cache, memory
from handgrad.batch import NEG, Batch, batch_size
from handgrad.cases import MOVED
from handgrad.polymorphic import Polymorphic
from handgrad.quantities import (
    CASE_WISE,
    INPUT_AXES,
    PRODUCTS,
    QUANTITIES,
    SECOND,
    case_wise,
    check_keys,
)
from handgrad.regularisation import L2, NO_L2

Arrays = dict[str, NDArray[Any]]
ORDER = ("x", "y", "w1", "b1", "w2", "b2")
"""The oracles' positional arguments (vmap maps positional arguments only), followed by the
direction's (``MOVED``) when second-order products are asked for."""
Products = tuple[str, ...]

TORCH_THREADS = 1
"""The default: a batch's operations are small, and ``-n auto`` gives every core a worker
of its own; a second torch thread per worker only contends for them."""


def configure(torch_threads: int = TORCH_THREADS) -> None:
    """Set torch's intra-op thread count for the references, and one malloc arena for
    the process (:mod:`handgrad.memory`)."""
    import torch

    memory.one_arena()
    torch.set_num_threads(torch_threads)


def values(module: Any, jvp: Any, products: Products, l2_biases: bool | None, x: Any, y: Any,
           w1: Any, b1: Any, w2: Any, b2: Any, *rest: Any) -> dict[str, Any]:  # fmt: skip
    """One case's values from reference ``module`` (``references.jax_ref`` or ``torch_ref``):
    ``reference``'s, then each of ``products`` along the direction (ẋ … ḃ2) under the
    registry's names. Sum-reduced: the engine divides by N (``_finish``).

    With jvp and hvp both asked for, the framework's own forward mode (``jvp``:
    ``torch.func.jvp`` or ``jax.jvp``) of the module's ``reference``, as a function of the
    parameters, gives every value with its tangent at once: the tangents of s1 … loss are
    the jvp's, those of the gradients are Hv's R-pass. One pass instead of a jvp of
    ``forward`` and another of ``gradients`` (which runs the forward pass again): torch,
    which runs eagerly, took 110 against 128 ms for 64 cases at N, D, H, C = 64, 64, 64, 16
    (float64, medians of 7). The plain path (:mod:`handgrad.plain`) calls the
    module's ``jvp`` and ``hvp`` as written, and ``tests/test_engine.py`` holds the two
    paths equal.

    ``l2_biases`` None: no regulariser, and ``rest`` is the direction. Otherwise ``rest``
    starts with the penalty's coefficient and b2 with zeros in its padding (b2 itself holds
    a huge negative score there, whose square would swamp the penalty): the penalty's
    terms, by the reference's own autodiff (``penalty_terms``), are added to the loss, the
    gradients and the products; they do not depend on x or the intermediates.
    """
    direction = rest if l2_biases is None else rest[2:]
    primals = (x, w1, b1, w2, b2)
    rest_products: tuple[str, ...] = products
    if "jvp" in products and "hvp" in products:

        def of_parameters(x: Any, w1: Any, b1: Any, w2: Any, b2: Any) -> Any:
            return module.reference(x, y, w1, b1, w2, b2, reduction="sum")

        value, tangent = jvp(of_parameters, primals, tuple(direction))
        out: dict[str, Any] = dict(value)
        for product in ("jvp", "hvp"):
            out |= {name: tangent[QUANTITIES[name].key] for name in SECOND[product]}
        rest_products = tuple(p for p in products if p not in ("jvp", "hvp"))
    else:
        out = dict(module.reference(x, y, w1, b1, w2, b2, reduction="sum"))
    for product in rest_products:
        got = getattr(module, product)(primals, direction, y, "sum")
        out |= {name: got[QUANTITIES[name].key] for name in SECOND[product]}
    if l2_biases is not None:
        l2, zero_padded_b2 = rest[:2]
        moved = direction[1:] if direction else (w1, b1, w2, zero_padded_b2)
        pen = module.penalty_terms((w1, b1, w2, zero_padded_b2), moved, l2, l2_biases)
        for name in ("loss", *PENALISED):
            out[name] = out[name] + pen[name]
        if "jvp" in products:
            out["L̇"] = out["L̇"] + pen["L̇"]
        for product, prefix in (("hvp", "R"), ("ggn_vp", "G")):
            if product in products:
                for name in PENALISED:
                    out[f"{prefix}{{{name}}}"] = out[f"{prefix}{{{name}}}"] + pen[f"H·{name}"]
    return out


PENALISED = ("dL/dw1", "dL/db1", "dL/dw2", "dL/db2")
"""The gradients the L2 penalty adds to (the biases' terms are zero unless penalised)."""


def _arguments(batch: Batch, products: Products, l2: L2) -> list[NDArray[Any]]:
    inputs = batch.inputs(NEG)
    out = [inputs[k] for k in ORDER]
    if l2:
        # The program is sum-reduced and divided by N afterwards for "mean": the penalty,
        # which is not divided, is multiplied by N first.
        n = np.where(batch.mean, batch.size("N"), 1).astype(batch.dtype)
        out += [n * batch.dtype.type(l2.coefficient), batch.inputs(0.0)["b2"]]
    return out + ([batch.direction[k] for k in MOVED] if products else [])


def _biases(l2: L2) -> bool | None:
    return l2.biases if l2 else None


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
def _jax() -> Any:
    """JAX, with its persistent compilation cache on (:mod:`handgrad.jax_cache`) before
    the engine compiles anything."""
    import jax

    jax_cache.enable()
    return jax


@functools.cache
def _jax_program(products: Products, l2_biases: bool | None) -> Polymorphic:
    """The batched program, traced once per dtype for every bucket (:mod:`.polymorphic`);
    its arguments are ``_arguments``'."""
    jax = _jax()
    from references import jax_ref

    axes = ["B" + INPUT_AXES[k] for k in ORDER]
    axes += ["B", "BC"] if l2_biases is not None else []
    axes += ["B" + INPUT_AXES[k] for k in MOVED] if products else []
    function = jax.vmap(functools.partial(values, jax_ref, jax.jvp, products, l2_biases))
    return Polymorphic(function, axes, name=f"oracles.values {products} {l2_biases}")


def jax_batch(batch: Batch, products: Products = (), l2: L2 = NO_L2) -> Arrays:
    """JAX's values for every case of ``batch``, padded, with the second-order
    ``products`` along each case's direction; one program for all of them.

    Every call of one bucket has the same number of cases, filled up with copies of the
    first, so that one compiled program serves them all (a fill costs microseconds, a
    fresh compilation about 0.3 s) and a case's values never depend on its batch-mates. A
    case verified alone (``Batch.alone``: ``verify_case``, Hypothesis) runs a program of
    its own, for one case: 63 copies of a 64×64×64 case took JAX about 35 ms.
    """
    return _jax_collect(batch, _jax_dispatch(batch, products, l2), products)


def _jax_collect(batch: Batch, started: dict[str, Any], products: Products) -> Arrays:
    """``_jax_dispatch``'s values as NumPy arrays, once XLA has computed them (a function
    of its own, so that the profile tells JAX's wait from torch's ``_finish``)."""
    return _finish(batch, started, products)


def _jax_dispatch(batch: Batch, products: Products, l2: L2) -> dict[str, Any]:
    """``jax_batch``'s program, started: JAX's arrays, which XLA computes on threads of its
    own until ``_jax_collect`` reads them. Its arguments are fresh arrays that nothing
    writes to afterwards (JAX on CPU may read NumPy's memory without copying it)."""
    arguments = _arguments(batch, products, l2)
    size = 1 if batch.alone else max(batch_size(batch.dims), len(batch))
    if size > len(batch):
        arguments = [np.concatenate([v, np.repeat(v[:1], size - len(batch), axis=0)])
                     for v in arguments]  # fmt: skip
    out: dict[str, Any] = _jax_program(products, _biases(l2))(*arguments)
    return out


@functools.cache
def _torch_program(products: Products, l2_biases: bool | None) -> Any:
    import torch

    from references import torch_ref

    return torch.func.vmap(functools.partial(values, torch_ref, torch.func.jvp, products,
                                             l2_biases))  # fmt: skip


def torch_batch(batch: Batch, products: Products = (), l2: L2 = NO_L2) -> Arrays:
    """torch's values for every case of ``batch``, padded (see ``jax_batch``)."""
    import torch

    arguments = map(torch.from_numpy, _arguments(batch, products, l2))
    out = _torch_program(products, _biases(l2))(*arguments)
    return _finish(batch, {k: v.detach() for k, v in out.items()}, products)


BATCHED = {"torch": torch_batch, "jax": jax_batch}
"""The references by name, in the order the reports list them."""
PER_BUCKET = {"jax": (_jax_dispatch, _jax_collect)}
"""The references that compile one program per bucket and dtype, run on the whole batch,
by name: how to start the program and how to read it; the others (torch's eager vmap) on
groups of ``TORCH_SUB_BATCH`` cases."""
TORCH_SUB_BATCH = 32
"""Cases per torch group: an eager operation costs about the same however few cases it
holds, so groups are larger than the NumPy stages' sub-batches (``SUB_BATCH``). Measured
as ``SUB_BATCH`` is (2026-12-04): 154, 159 and 155 cases/s at 16, 32 and 64."""
Part = tuple[NDArray[np.intp], Batch, dict[str, Arrays]]


def references(batch: Batch, products: Products = (), l2: L2 = NO_L2) -> list[Part]:
    """Every reference's values for ``batch`` per sub-batch (:meth:`Batch.split` of each
    torch group): (the cases' indices in ``batch``, the sub-batch, its values by reference
    in ``BATCHED``'s order). JAX's program is started first, and XLA computes it on threads
    of its own while torch runs: 1 process went 155, 150 -> 168, 163 cases/s side by side
    (``benchmarks/test_throughput.py``, 2026-12-04, with the Jacobian's overlap)."""
    direction = bool(products)
    started = {name: start(batch, products, l2) for name, (start, _) in PER_BUCKET.items()}
    groups = batch.split(TORCH_SUB_BATCH, direction=direction)
    own = [{name: run(group, products, l2) for name, run in BATCHED.items()
            if name not in PER_BUCKET} for _, group in groups]  # fmt: skip
    whole = {name: PER_BUCKET[name][1](batch, values, products)
             for name, values in started.items()}  # fmt: skip
    out = []
    for k, (in_batch, group) in enumerate(groups):
        mine, own[k] = own[k], {}  # each group's arrays go once they are cut
        for in_group, sub in group.split(direction=direction):
            idx = in_batch[in_group]
            refs = {name: {q: batch.cut(v, idx, sub, QUANTITIES[q].axes)
                           for q, v in whole[name].items()} if name in whole
                    else {q: group.cut(v, in_group, sub, QUANTITIES[q].axes)
                          for q, v in mine[name].items()} for name in BATCHED}  # fmt: skip
            out.append((idx, sub, refs))
    return out


JACOBIAN_BLOCK = 2**17
"""Elements per JAX Jacobian call, so that one program per C and dtype serves every block."""


@functools.cache
def _jax_jacobian_program() -> Any:
    jax = _jax()
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


def batched_values(batch: Batch, name: str, l2: L2 = NO_L2) -> list[Arrays]:
    """Reference ``name``'s values through the engine's path (``references``' sub-batches
    and the whole batch's stacked Jacobian rows), unpacked per case in ``batch``'s order:
    what the engine compares against."""
    parts = references(batch, PRODUCTS, l2)
    s2 = batch.place([(idx, sub, refs[name]["s2"]) for idx, sub, refs in parts],
                     QUANTITIES["s2"].axes, NEG)  # fmt: skip
    jac = JACOBIAN[name](batch.rows(s2))
    out: dict[int, Arrays] = {}
    for idx, sub, refs in parts:
        for k, i in enumerate(idx):
            case = {q: sub.unpad(refs[name][q], k, QUANTITIES[q].axes) for q in CASE_WISE}
            n, c = int(batch.size("N")[i]), int(batch.size("C")[i])
            start = int(batch.row_offsets[i])
            case["dp/ds2"] = np.array(jac[start : start + n, :c, :c])
            out[int(i)] = case
    return [out[i] for i in range(len(batch))]
