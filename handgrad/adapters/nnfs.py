"""``nnfs``: the classes of *Neural Networks from Scratch in Python* (Kinsley, Kukieła).

    dense = Layer_Dense(n_inputs, n_neurons)     # .weights D×H, .biases 1×H
    dense.forward(inputs)                        # sets .output (later chapters: (inputs, training))
    dense.backward(dvalues)                      # sets .dinputs, .dweights, .dbiases
    Activation_ReLU()                            # .forward, .backward, .output, .dinputs
    Activation_Softmax_Loss_CategoricalCrossentropy()
        .forward(inputs, y_true) -> loss         # sets .output to p
        .backward(dvalues, y_true)               # dvalues is its own output p; sets .dinputs

Where the combined class has no ``forward`` (the book's last chapters), p comes from
``Activation_Softmax`` and the loss from ``Loss_CategoricalCrossentropy().calculate``.
L2 is the book's ``weight_regularizer_l2`` (and ``bias_regularizer_l2`` under
``--l2-biases``) with ``Loss.regularization_loss(layer)`` (chapter 14) or
``regularization_loss()`` after ``remember_trainable_layers`` (later): the full form.
Verified: every first-order quantity but the Jacobian. The biases are 1×H rows, and so
must their gradients be. Natural scope: labels and one-hot, the mean (the book's
backward collapses soft targets by argmax).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from handgrad.adapters import dlfs
from handgrad.adapters.calls import Calls, find, own, parameters, patched_dot
from handgrad.adapters.module import takes
from handgrad.candidate import Arrays, Candidate, LoadError, declared_scope
from handgrad.cases import Case
from handgrad.regularisation import L2

NAME = "nnfs"
DENSE, RELU = "Layer_Dense", "Activation_ReLU"
COMBINED = "Activation_Softmax_Loss_CategoricalCrossentropy"
SOFTMAX, LOSS = "Activation_Softmax", "Loss_CategoricalCrossentropy"
REQUIRED = (DENSE, RELU, COMBINED)
SCOPE = {"targets": ["labels", "onehot"], "reductions": ["mean"], "l2_form": "full"}


def detect(module: ModuleType) -> bool:
    """The module defines the dense layer, the ReLU and the combined softmax-loss classes."""
    defined = own(module)
    return all(c.replace("_", "").lower() in defined for c in REQUIRED)


def _classes(module: ModuleType, name: str) -> dict[str, Any]:
    found = {c: find(module, c) for c in (*REQUIRED, SOFTMAX, LOSS)}
    classes = {c: getattr(module, n) for c, n in found.items()
               if n is not None and isinstance(getattr(module, n), type)}  # fmt: skip
    missing = [c for c in REQUIRED if c not in classes]
    if missing:
        raise LoadError(f"--candidate {name}: --api {NAME} needs the classes "
                        f"{', '.join(REQUIRED)}; {module.__name__} has no {', '.join(missing)}")  # fmt: skip
    if not callable(getattr(classes[COMBINED], "forward", None)) and not (
            SOFTMAX in classes and LOSS in classes):  # fmt: skip
        raise LoadError(f"--candidate {name}: {classes[COMBINED].__name__} has no forward, and "
                        f"{module.__name__} has no {SOFTMAX} and {LOSS} to take its place")  # fmt: skip
    return classes


def _training(method: Any) -> dict[str, Any]:
    """The book's later ``forward(inputs, training)``: training=True."""
    return {"training": True} if "training" in parameters(method) else {}


def _without_l2(classes: dict[str, Any]) -> tuple[str, ...]:
    dense, loss = classes[DENSE], classes.get(LOSS)
    if not takes(dense, "weight_regularizer_l2"):
        return (f"{dense.__name__} takes no weight_regularizer_l2",)
    if loss is None or not callable(getattr(loss, "regularization_loss", None)):
        return (f"the module has no {LOSS}.regularization_loss",)
    return ()


def adapt(module: ModuleType, name: str, path: tuple[str, ...], entry: str) -> Candidate:
    if entry:
        raise LoadError(f"--candidate {name}: {NAME} has no entry point to name; give the "
                        "module that holds the book's classes")  # fmt: skip
    classes = _classes(module, name)
    n = {c: cls.__name__ for c, cls in classes.items()}
    dense, combined = n[DENSE], n[COMBINED]
    has_forward = callable(getattr(classes[COMBINED], "forward", None))
    p_from = f"{combined}.forward" if has_forward else f"{n.get(SOFTMAX)}.forward"

    def run(case: Case, l2: L2) -> Arrays:
        calls = Calls(case)
        with calls.running():
            _network(calls, classes, n, l2, has_forward)
        return calls.result()

    sources = {
        "s1": f"{dense}.forward (first layer) → output",
        "o1": f"{n[RELU]}.forward → output",
        "s2": f"{dense}.forward (second layer) → output",
        "p": f"{p_from} → output",
        "loss": (f"{combined}.forward" if has_forward else f"{n.get(LOSS)}.calculate")
        + (f", with {n.get(LOSS)}.regularization_loss under --l2"),
        "dL/ds2": f"{combined}.backward → dinputs",
        "dL/do1": f"{dense}.backward (second layer) → dinputs",
        "dL/dw2": f"{dense}.backward (second layer) → dweights",
        "dL/db2": f"{dense}.backward (second layer) → dbiases",
        "dL/ds1": f"{n[RELU]}.backward → dinputs",
        "dL/dx": f"{dense}.backward (first layer) → dinputs",
        "dL/dw1": f"{dense}.backward (first layer) → dweights",
        "dL/db1": f"{dense}.backward (first layer) → dbiases",
    }
    fed = dlfs.FED | {"loss": ("s2",) if has_forward else ("p",)}
    scope: dict[str, Any] = SCOPE
    notes: tuple[str, ...] = ()
    if patched_dot():
        # nnfs.init(): np.dot computes in float64 and returns float32, whatever its inputs.
        scope = SCOPE | {"dtypes": ["float32"]}
        notes = (("np.dot was replaced at import (nnfs.init() makes it return float32 whatever "
                 "its inputs), so the natural scope is float32 alone; --dtypes float64 "
                 "verifies float64 too, and fails there"),)  # fmt: skip
    return Candidate(name, run, (), scope | declared_scope(module), _without_l2(classes), path,
                     api=NAME, names=tuple(n.values()), sources=sources, fed=fed, notes=notes)  # fmt: skip


def _network(calls: Calls, classes: dict[str, Any], n: dict[str, str], l2: L2,
             has_forward: bool) -> None:  # fmt: skip
    spec = calls.case.spec
    regularisers = {}
    if l2:
        regularisers["weight_regularizer_l2"] = l2.strength
        if l2.biases:
            regularisers["bias_regularizer_l2"] = l2.strength
    layers = []
    for i, (inputs, neurons) in enumerate(((spec.D, spec.H), (spec.H, spec.C)), start=1):
        which = "first" if i == 1 else "second"
        label = f"{n[DENSE]}(n_inputs, n_neurons) ({which} layer)"
        layer = calls.call(label, classes[DENSE], inputs, neurons, keywords=regularisers)
        layer.weights = calls.lend(f"w{i}")
        layer.biases = calls.lend(f"b{i}").reshape(1, neurons)
        layers.append(layer)
    dense1, dense2 = layers
    relu = calls.call(f"{n[RELU]}()", classes[RELU])
    last = calls.call(f"{n[COMBINED]}()", classes[COMBINED])
    x, y = calls.lend("x"), calls.lend("y")

    def forward(layer: Any, label: str, inputs: Any) -> Any:
        calls.call(label, layer.forward, inputs, roles=("inputs",),
                   keywords=_training(layer.forward))  # fmt: skip
        return calls.read(layer, "output")

    calls.keep("s1", forward(dense1, f"{n[DENSE]}.forward (first layer)", x))
    calls.keep("o1", forward(relu, f"{n[RELU]}.forward", calls.read(dense1, "output")))
    s2 = forward(dense2, f"{n[DENSE]}.forward (second layer)", calls.read(relu, "output"))
    calls.keep("s2", s2)
    loss_object = getattr(last, "loss", None)
    if has_forward:
        _new_pass(calls, loss_object, n)
        data_loss = calls.call(f"{n[COMBINED]}.forward", last.forward, s2, y,
                               roles=("inputs", "y_true"))  # fmt: skip
        p = calls.read(last, "output")
    else:
        softmax = calls.call(f"{n[SOFTMAX]}()", classes[SOFTMAX])
        p = forward(softmax, f"{n[SOFTMAX]}.forward", s2)
        loss_object = calls.call(f"{n[LOSS]}()", classes[LOSS])
        _new_pass(calls, loss_object, n)
        data_loss = calls.call(f"{n[LOSS]}.calculate", loss_object.calculate, p, y,
                               roles=("output", "y"))  # fmt: skip
    calls.keep("p", p)
    if l2:
        if loss_object is None or not hasattr(loss_object, "regularization_loss"):
            loss_object = calls.call(f"{n[LOSS]}()", classes[LOSS])
        data_loss = data_loss + _regularisation(calls, loss_object, n, (dense1, dense2))
    calls.keep("loss", data_loss)
    calls.call(f"{n[COMBINED]}.backward", last.backward, p, y, roles=("dvalues", "y_true"))
    calls.keep("dL/ds2", calls.read(last, "dinputs"))
    upstream = calls.read(last, "dinputs")
    for i, layer in ((2, dense2), (1, dense1)):
        which = "first" if i == 1 else "second"
        calls.call(f"{n[DENSE]}.backward ({which} layer)", layer.backward, upstream,
                   roles=("dvalues",))  # fmt: skip
        calls.keep(f"dL/dw{i}", calls.read(layer, "dweights"))
        calls.keep(
            f"dL/db{i}", _row(calls, calls.read(layer, "dbiases"), spec.H if i == 1 else spec.C)
        )
        if i == 2:
            calls.keep("dL/do1", calls.read(layer, "dinputs"))
            calls.call(
                f"{n[RELU]}.backward",
                relu.backward,
                calls.read(layer, "dinputs"),
                roles=("dvalues",),
            )
            calls.keep("dL/ds1", calls.read(relu, "dinputs"))
            upstream = calls.read(relu, "dinputs")
        else:
            calls.keep("dL/dx", calls.read(layer, "dinputs"))


def _new_pass(calls: Calls, loss: Any, n: dict[str, str]) -> None:
    """The book's later Loss accumulates over an epoch's batches from ``new_pass()``, which
    its Model calls first."""
    if callable(getattr(loss, "new_pass", None)):
        calls.call(f"{n[LOSS]}.new_pass", loss.new_pass)


def _row(calls: Calls, dbiases: Any, width: int) -> Any:
    """A bias gradient as the registry's (H,), from the book's 1×H row; any other shape is a
    contract failure (a gradient has its parameter's shape)."""
    shape = np.shape(dbiases)
    if shape != (1, width):
        raise calls.fail(f"set dbiases of shape {shape}; the layer stores its biases as "
                         f"(1, {width}), and a gradient has its parameter's shape")  # fmt: skip
    return np.reshape(dbiases, (width,))


def _regularisation(calls: Calls, loss: Any, n: dict[str, str], layers: tuple[Any, ...]) -> Any:
    """The book's regularisation loss of both layers, in whichever of its two forms."""
    label = f"{n[LOSS]}.regularization_loss"
    if parameters(loss.regularization_loss):  # chapter 14: regularization_loss(layer)
        return sum(calls.call(label, loss.regularization_loss, layer) for layer in layers)
    calls.call(f"{n[LOSS]}.remember_trainable_layers", loss.remember_trainable_layers,
               list(layers))  # fmt: skip
    return calls.call(label, loss.regularization_loss)
