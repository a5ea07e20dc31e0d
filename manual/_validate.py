"""Input checks shared by the public functions of :mod:`manual`.

Every check names the argument it rejects and says what was expected. Nothing is
broadcast or cast: a caller who passes float64 weights with float32 inputs is told so
rather than getting a silent promotion.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

FLOAT_CHARS = ("f", "d")
"""float32 and float64, by ``dtype.char``: cheaper to test than dtype equality."""
REDUCTIONS = ("mean", "sum")


def float_array(name: str, a: Any, ndim: int) -> NDArray[np.floating[Any]]:
    """Return ``a`` unchanged if it is a finite float32/float64 ndarray with ``ndim`` dims."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name}: expected a numpy.ndarray, got {type(a).__name__}")
    if a.dtype.char not in FLOAT_CHARS:
        raise TypeError(f"{name}: expected dtype float32 or float64, got {a.dtype}")
    if a.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimension(s), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or inf")
    return a


def same_dtype(like: str, dtype: np.dtype[Any], **arrays: NDArray[Any]) -> None:
    """Reject mixed float dtypes instead of promoting them; ``like`` names the model array."""
    for name, a in arrays.items():
        if a.dtype != dtype:
            raise TypeError(f"{name}: dtype {a.dtype} does not match the dtype of {like}, {dtype}")


def dim(name: str, a: NDArray[Any], axis: int, expected: int, what: str) -> None:
    if a.shape[axis] != expected:
        raise ValueError(
            f"{name}: shape {a.shape} has {a.shape[axis]} in axis {axis}, "
            f"expected {expected} ({what})"
        )


def reduction(value: Any) -> str:
    if value not in REDUCTIONS:
        raise ValueError(f"reduction: expected 'mean' or 'sum', got {value!r}")
    return str(value)


def targets(y: Any, N: int, C: int, dtype: np.dtype[Any]) -> NDArray[Any]:
    """Check ``y``: integer labels of shape (N,) in [0, C), or float targets N×C."""
    if not isinstance(y, np.ndarray):
        raise TypeError(f"y: expected a numpy.ndarray, got {type(y).__name__}")
    if y.dtype.kind in "iu":
        if y.ndim != 1:
            raise ValueError(f"y: integer labels must have shape (N,), got shape {y.shape}")
        dim("y", y, 0, N, "N, the number of rows of x")
        if y.size and (y.min() < 0 or y.max() >= C):
            raise ValueError(
                f"y: labels must lie in [0, C) = [0, {C}), got values in [{y.min()}, {y.max()}]"
            )
        return y
    if y.dtype.kind == "f":
        if y.ndim == 1:
            raise TypeError(
                f"y: a 1-D y holds class labels and must have an integer dtype, got {y.dtype}"
            )
        float_array("y", y, 2)
        same_dtype("x", dtype, y=y)
        dim("y", y, 0, N, "N, the number of rows of x")
        dim("y", y, 1, C, "C, the number of classes")
        return y
    raise TypeError(f"y: expected integer labels or float targets, got dtype {y.dtype}")
