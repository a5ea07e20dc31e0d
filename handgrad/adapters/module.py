"""A module with manual's API, as far as it goes.

``Params``, ``forward`` and ``backward`` are required (a candidate must give at least one
gradient). ``cross_entropy`` (the loss), ``softmax_jacobian`` (dp/ds2) and the products
``jvp``, ``hvp`` and ``ggn_vp`` are optional, and so is every field of ``forward``'s and
``backward``'s results: a field that is absent or ``None`` is a quantity not provided.

Under ``--l2``, ``backward`` and the products are called with ``l2=R``, and
``cross_entropy`` with ``l2=R, params=params`` if it takes both (a loss of s2 alone has no
weights to penalise, so otherwise the loss is not verified).
"""

from __future__ import annotations

import inspect
import warnings
from types import ModuleType
from typing import Any

import numpy as np

from handgrad.candidate import (
    Arrays,
    Candidate,
    CandidateError,
    LoadError,
    calling,
    declared_scope,
)
from handgrad.cases import MOVED, Case, case_direction
from handgrad.quantities import PRODUCTS, QUANTITIES, SECOND
from handgrad.regularisation import L2

REQUIRED = ("Params", "forward", "backward")
OPTIONAL = ("cross_entropy", "softmax_jacobian")
FORWARD = ("s1", "o1", "s2", "p")
GRADIENTS = ("s2", "o1", "w2", "b2", "s1", "x", "w1", "b1")
"""The fields of the candidate's gradients object, reported as dL/d<field>."""


def _own(module: ModuleType, name: str) -> bool:
    """Whether ``module`` defines or exports callable ``name`` (not one it merely imported):
    ``from jax import jvp`` in a first-order candidate is not a product with manual's
    signature."""
    f = getattr(module, name, None)
    where = str(getattr(f, "__module__", ""))
    own = where == module.__name__ or where.startswith(module.__name__ + ".")
    return callable(f) and (name in getattr(module, "__all__", ()) or own)


def products(module: ModuleType) -> tuple[str, ...]:
    """The second-order products the module provides, in the registry's order."""
    return tuple(p for p in PRODUCTS if _own(module, p))


def takes(f: Any, parameter: str) -> bool:
    """Whether ``f`` accepts the keyword ``parameter`` (by name or through ``**kwargs``)."""
    try:
        signature = inspect.signature(f)
    except (TypeError, ValueError):
        return False
    return any(p.name == parameter or p.kind is p.VAR_KEYWORD
               for p in signature.parameters.values())  # fmt: skip


def _field(name: str) -> str:
    """The attribute of a product's result that holds quantity ``name``: a Tangents field
    for "jvp" (s1 … loss), a Gradients field for the others (w1 for dL/dw1)."""
    return QUANTITIES[name].key.removeprefix("dL/d")


def _fields(result: Any, fields: tuple[str, ...], prefix: str = "") -> Arrays:
    """The fields of ``result`` that are present and not None, as arrays."""
    return {prefix + k: np.asarray(v) for k in fields
            if (v := getattr(result, k, None)) is not None}  # fmt: skip


def adapt(module: ModuleType, name: str, path: tuple[str, ...] = ()) -> Candidate:
    """``module`` as a Candidate; a LoadError names what it lacks."""
    missing = [a for a in REQUIRED if not hasattr(module, a)]
    if missing:
        raise LoadError(f"--candidate {name}: missing {', '.join(missing)} (a module needs "
                        f"{', '.join(REQUIRED)}; {', '.join(OPTIONAL)} and the products "
                        f"{', '.join(PRODUCTS)} are optional; or name a function as "
                        f"{name}:function; or say which published API it follows with "
                        "--api)")  # fmt: skip
    own = products(module)
    calls = ("backward", *own)
    lacking = [f"{name}.{f}" for f in calls
               if hasattr(module, f) and not takes(getattr(module, f), "l2")]  # fmt: skip
    verb = "takes" if len(lacking) == 1 else "take"
    without_l2 = (f"{', '.join(lacking)} {verb} no l2= parameter",) if lacking else ()

    def run(case: Case, l2: L2) -> Arrays:
        return run_module(module, name, case, l2)

    return Candidate(name, run, own, declared_scope(module), without_l2, path)


def _gives_loss(module: ModuleType, l2: L2) -> bool:
    """Whether the module's loss is compared: it has ``cross_entropy``, and under L2 that
    takes ``l2=`` and ``params=`` (from s2 alone it cannot add a penalty on the weights;
    then the loss is reported as not verified)."""
    f = getattr(module, "cross_entropy", None)
    return f is not None and (not l2 or (takes(f, "l2") and takes(f, "params")))


def calling_step(name: str, step: str) -> str:
    """Record ``name.step`` as the call in progress (for a hang's or a crash's message)."""
    calling(f"{name}.{step}")
    return step


def run_module(module: ModuleType, name: str, case: Case, l2: L2) -> Arrays:
    """Run the module on private copies of the inputs and collect every quantity it gives,
    and those of its second-order products along the case's direction.

    The copies keep a candidate that writes into its inputs from corrupting anything else;
    comparing them with the originals afterwards catches the write.
    """
    given = {k: a.copy() for k, a in case.inputs().items()}
    provided = products(module)
    direction = case_direction(case) if provided else {}
    moved = {f"v.{k}" if k != "x" else "dx": a for k, a in direction.items() if a is not None}
    given |= {k: a.copy() for k, a in moved.items()}
    reduction = case.spec.reduction
    extra = {"l2": l2.strength} if l2 else {}
    step, out, kept = calling_step(name, "Params"), {}, {}
    fwd: Any = None
    # A candidate's overflow warnings are not the gate's errors: the NaN or inf they leave
    # behind is what gets compared and diagnosed.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            params = module.Params(w1=given["w1"], b1=given["b1"], w2=given["w2"],
                                   b2=given["b2"])  # fmt: skip
            step = calling_step(name, "forward")
            fwd = module.forward(given["x"], params)
            out = _fields(fwd, FORWARD)
            kept = {k: np.array(v, copy=True) for k, v in out.items()}
            if _gives_loss(module, l2) and getattr(fwd, "s2", None) is not None:
                step = calling_step(name, "cross_entropy")
                penalty = extra | {"params": params} if l2 else {}
                out["loss"] = np.asarray(module.cross_entropy(fwd.s2, given["y"],
                                                              reduction=reduction, **penalty))  # fmt: skip
            step = calling_step(name, "backward")
            grads = module.backward(given["x"], given["y"], params, fwd, reduction=reduction,
                                    **extra)  # fmt: skip
            out |= _fields(grads, GRADIENTS, "dL/d")
            if hasattr(module, "softmax_jacobian") and "p" in out:
                step = calling_step(name, "softmax_jacobian")
                out["dp/ds2"] = np.asarray(module.softmax_jacobian(fwd.p))
            if provided:
                step = calling_step(name, "Params")
                v = module.Params(**{k: given[f"v.{k}"] for k in MOVED[1:]})
    except Exception as exc:
        raise CandidateError(f"{name}.{step} raised {type(exc).__name__}: {exc} "
                             f"({case.spec})", out) from exc  # fmt: skip
    # Each product on its own: one that raises does not keep the others from being compared.
    raised = []
    for product in provided:
        f = getattr(module, product)
        calling(f"{name}.{product}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                got = f(given["x"], given["y"], params, v, dx=given.get("dx"),
                        reduction=reduction, **extra)  # fmt: skip
                out |= {q: np.asarray(getattr(got, _field(q))) for q in SECOND[product]}
        except Exception as exc:  # noqa: BLE001 (a candidate may raise anything)
            raised.append(f"{name}.{product} raised {type(exc).__name__}: {exc}")
    if raised:
        raise CandidateError(f"{'; '.join(raised)} ({case.spec})", out)
    original = case.inputs() | moved
    modified = [k for k, a in given.items() if not np.array_equal(a, original[k])]
    modified += [f"fwd.{k}" for k, a in kept.items()
                 if not np.array_equal(a, getattr(fwd, k), equal_nan=True)]  # fmt: skip
    if modified:
        raise CandidateError(
            f"{name} modified its input(s) {', '.join(modified)} ({case.spec}); "
            "inputs must be left untouched",
            out,
        )
    return out
