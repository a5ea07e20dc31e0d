"""Both references called directly on one case, unpadded: what ``tests/test_engine.py``
holds the engine's batched path (:mod:`handgrad.oracles`) equal to, and what the tests
that need one case's reference values use."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.cases import MOVED, Case, case_direction
from handgrad.oracles import Arrays, _jax
from handgrad.quantities import PRODUCTS, QUANTITIES, SECOND, check_keys
from handgrad.regularisation import L2, NO_L2


def torch_plain(case: Case, l2: L2 = NO_L2) -> Arrays:
    """torch's reference called directly on the case: unpadded, labels as labels, with the
    regularised loss itself."""
    import torch

    from references import torch_ref

    y = case.y.astype(np.int64) if case.labels else case.y
    tensors: dict[str, Any] = {k: torch.from_numpy(np.asarray(v)) for k, v in case.inputs().items()}
    tensors["y"] = torch.from_numpy(y)
    reg: dict[str, Any] = {"l2": l2.coefficient, "l2_biases": l2.biases} if l2 else {}
    out = torch_ref.reference(**tensors, reduction=case.spec.reduction, **reg)
    check_keys("torch reference", out)
    out["dp/ds2"] = torch_ref.softmax_jacobian(out["s2"].detach())
    primals = tuple(tensors[k] for k in MOVED)
    direction = tuple(torch.from_numpy(v) for v in _direction(case))
    for product in PRODUCTS:
        got = getattr(torch_ref, product)(primals, direction, tensors["y"], case.spec.reduction,
                                          **reg)  # fmt: skip
        out |= {name: got[QUANTITIES[name].key] for name in SECOND[product]}
    return {k: v.detach().numpy() for k, v in out.items()}


def jax_plain(case: Case, l2: L2 = NO_L2) -> Arrays:
    """JAX's reference called directly on the case (compiles for this shape)."""
    jax = _jax()
    from references import jax_ref

    reg: dict[str, Any] = {"l2": l2.coefficient, "l2_biases": l2.biases} if l2 else {}
    static = ("reduction", "l2_biases")
    program = jax.jit(jax_ref.reference, static_argnames=static)
    out = dict(program(**case.inputs(), reduction=case.spec.reduction, **reg))
    check_keys("jax reference", out)
    out["dp/ds2"] = jax.jit(jax_ref.softmax_jacobian)(out["s2"])
    primals = tuple(getattr(case, k) for k in MOVED)
    for product in PRODUCTS:
        function = jax.jit(getattr(jax_ref, product), static_argnames=static)
        got = function(primals, _direction(case), case.y, reduction=case.spec.reduction, **reg)
        out |= {name: got[QUANTITIES[name].key] for name in SECOND[product]}
    return {k: np.asarray(v) for k, v in out.items()}


def _direction(case: Case) -> tuple[NDArray[Any], ...]:
    """The case's direction as the references take it: ẋ zero when x is held fixed."""
    drawn = case_direction(case)
    return tuple(np.zeros_like(case.x) if drawn[k] is None else drawn[k] for k in MOVED)


PLAIN = {"torch": torch_plain, "jax": jax_plain}
