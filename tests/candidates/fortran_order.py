"""Correct: works on Fortran-ordered copies of every array and returns Fortran-ordered
results, so BLAS sees transposed layouts."""

from dataclasses import fields
from typing import Any

import numpy as np

import manual
from manual import Params, cross_entropy, softmax_jacobian


def _f(params: Params) -> Params:
    return Params(**{k.name: np.asfortranarray(getattr(params, k.name)) for k in fields(params)})


def forward(x: Any, params: Params) -> manual.Forward:
    return manual.forward(np.asfortranarray(x), _f(params))


def backward(x: Any, y: Any, params: Params, fwd: manual.Forward,
             reduction: str = "mean") -> manual.Gradients:  # fmt: skip
    g = manual.backward(np.asfortranarray(x), y, _f(params), fwd, reduction)
    return manual.Gradients(**{k.name: np.asfortranarray(getattr(g, k.name)) for k in fields(g)})


__all__ = ["Params", "backward", "cross_entropy", "forward", "softmax_jacobian"]
