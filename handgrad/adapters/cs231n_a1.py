"""``cs231n-a1``: CS231n assignment 1's ``TwoLayerNet`` (``classifiers/neural_net.py``).

    net = TwoLayerNet(input_size, hidden_size, output_size, std=1e-4)
    net.params            # {'W1': D×H, 'b1': (H,), 'W2': H×C, 'b2': (C,)}
    scores = net.loss(X)                   # y is None: s2, N×C
    loss, grads = net.loss(X, y, reg=R)    # grads with the four keys of params

The adapter builds the class, puts the case's arrays into ``params`` and passes ``--l2``
as ``reg``. Verified: s2, the loss and the four parameter gradients. Natural scope: integer
labels and the mean. Published copies add ``reg·Σ‖W‖²`` or ``½·reg·Σ‖W‖²``, so
``--l2`` needs ``--l2-form``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from handgrad.adapters.calls import PARAMETERS, Calls, find, own, parameter_keys, parameters
from handgrad.adapters.module import takes
from handgrad.candidate import Arrays, Candidate, LoadError, declared_scope
from handgrad.cases import Case
from handgrad.regularisation import L2

NAME = "cs231n-a1"
ENTRY = "TwoLayerNet"
SCOPE = {"targets": ["labels"], "reductions": ["mean"]}


def entry_class(module: ModuleType, name: str, entry: str, family: str) -> Any:
    """The class ``entry`` names (default TwoLayerNet); a LoadError if there is none."""
    found = find(module, entry or ENTRY)
    cls = getattr(module, found, None) if found else None
    if not isinstance(cls, type):
        raise LoadError(f"--candidate {name}: --api {family} needs a class "
                        f"{entry or ENTRY}(...) with a loss method; {module.__name__} has "
                        "none")  # fmt: skip
    if not callable(getattr(cls, "loss", None)):
        raise LoadError(f"--candidate {name}: {cls.__name__} has no loss method")
    return cls


def own_net(module: ModuleType) -> Any:
    """The module's own TwoLayerNet class, if it defines one."""
    found = own(module).get(ENTRY.lower())
    cls = getattr(module, found, None) if found else None
    return cls if isinstance(cls, type) else None


def detect(module: ModuleType) -> bool:
    """Its own TwoLayerNet's ``loss`` takes ``reg`` (assignment 2's takes it in __init__)."""
    cls = own_net(module)
    return cls is not None and "reg" in parameters(getattr(cls, "loss", None))


def sources(cls: Any, keys: dict[str, str] | None = None) -> dict[str, str]:
    """Which call gives each quantity, with the keys the class's params use."""
    keys = keys or {"w1": "W1", "b1": "b1", "w2": "W2", "b2": "b2"}
    loss = f"{cls.__name__}.loss"
    return {"s2": f"{loss}(X) → scores", "loss": f"{loss} → loss"} | {
        f"dL/d{p}": f"{loss} → grads[{keys[p]!r}]" for p in PARAMETERS}  # fmt: skip


def build(calls: Calls, cls: Any, label: str,
          keywords: dict[str, Any] | None = None) -> tuple[Any, dict[str, str]]:  # fmt: skip
    """An instance of ``cls`` for the case's shapes, with the case's arrays as its params."""
    D, H, C = calls.case.spec.D, calls.case.spec.H, calls.case.spec.C
    net = calls.call(label, cls, D, H, C, keywords=keywords)
    keys = parameter_keys(getattr(net, "params", None))
    if keys is None:
        raise calls.fail("gives no params dict holding W1, b1, W2 and b2")
    for p in PARAMETERS:
        net.params[keys[p]] = calls.lend(p)
    return net, keys


def gradients(calls: Calls, returned: Any, keys: dict[str, str]) -> None:
    """Keep the loss and the four parameter gradients of ``(loss, grads)``."""
    loss, grads = calls.unpack(returned, 2, "(loss, grads)")
    calls.keep("loss", loss)
    if not isinstance(grads, dict):
        raise calls.fail(f"returned grads as a {type(grads).__name__}, expected a dict")
    for p in PARAMETERS:
        if keys[p] not in grads:
            raise calls.fail(f"returned no grads[{keys[p]!r}] (the key of params)")
        calls.keep(f"dL/d{p}", grads[keys[p]])


def adapt(module: ModuleType, name: str, path: tuple[str, ...], entry: str) -> Candidate:
    cls = entry_class(module, name, entry, NAME)
    has_reg = takes(cls.loss, "reg")

    def run(case: Case, l2: L2) -> Arrays:
        calls = Calls(case)
        with calls.running():
            net, keys = build(calls, cls, f"{cls.__name__}(input_size, hidden_size, output_size)")
            x = calls.lend("x")
            calls.keep("s2", calls.call(f"{cls.__name__}.loss(X)", net.loss, x, roles=("X",)))
            keywords = {"reg": l2.strength} if has_reg else {}
            returned = calls.call(f"{cls.__name__}.loss(X, y, reg)", net.loss, x,
                                  calls.lend("y"), roles=("X", "y"), keywords=keywords)  # fmt: skip
            gradients(calls, returned, keys)
        return calls.result()

    without = () if has_reg else (f"{cls.__name__}.loss takes no reg parameter",)
    return Candidate(name, run, (), SCOPE | declared_scope(module), without, path, api=NAME,
                     names=(cls.__name__, f"{cls.__name__}.loss"), sources=sources(cls))  # fmt: skip
