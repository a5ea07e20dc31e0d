"""The benchmarked problems: shapes, data, FLOP counts, and a float64 reference to check against.

The network, with the derivation's names::

    x (N×D) → s1 = x·w1 + b1 (N×H) → o1 = ReLU(s1) → s2 = o1·w2 + b2 (N×C) → p = softmax(s2)
            → L = mean_n −log p[n, y_n]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from handgrad.cases import CaseSpec, make_case

Shape = tuple[int, int, int, int]
"""(N, D, H, C)."""

SHAPES: tuple[Shape, ...] = (
    (5, 4, 10, 3),  # the derivation's seed network
    (64, 32, 16, 10),
    (256, 784, 256, 10),  # an MNIST-sized layer
    (1024, 1024, 1024, 100),
    (2048, 1024, 1024, 1000),
)
SMALL_SHAPES: tuple[Shape, ...] = SHAPES[:3]
"""The shapes of ``--bench-shapes small``: each pass takes milliseconds, not tenths of seconds."""

CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
"""Cores this process may run on: torch is given this many threads for the passes."""

DTYPES = ("float32", "float64")
PASSES = ("forward", "backward", "forward+backward")

TOLERANCE = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-12}
"""Bound on the normwise relative error ‖got − want‖_F / ‖want‖_F against the float64
reference. Correct passes measure at most 8e-7 in float32 and 1.5e-15 in float64 here;
the bounds sit far above that and far below the O(1) error of a wrong formula."""


def flops(shape: Shape, pass_: str) -> int:
    """FLOPs of the pass's matrix products, 2 per multiply-add.

    forward  = 2·(N·D·H + N·H·C)          s1 = x·w1, s2 = o1·w2
    backward = 2·(2·N·H·C + 2·N·D·H)      dL/dw2 = o1ᵀ·ds2, dL/do1 = ds2·w2ᵀ,
                                          dL/dw1 = xᵀ·ds1, dL/dx = ds1·w1ᵀ
    forward+backward = the sum, 6·(N·D·H + N·H·C).

    Bias, ReLU, softmax and loss are O(N·(H + C)) and left out: the count is the work that
    cannot be avoided, so GFLOP/s compares implementations on equal terms.
    """
    N, D, H, C = shape
    forward = 2 * (N * D * H + N * H * C)
    backward = 2 * (2 * N * H * C + 2 * N * D * H)
    counts = {"forward": forward, "backward": backward, "forward+backward": forward + backward}
    return counts[pass_]


def shape_id(shape: Shape) -> str:
    """'N=5,D=4,H=10,C=3': a test id and group label without spaces."""
    return ",".join(f"{k}={v}" for k, v in zip("NDHC", shape, strict=True))


@dataclass(frozen=True)
class Problem:
    """Inputs of one (shape, dtype) and the float64 reference of every checked quantity.

    x: N×D, y: (N,) int64 labels, w1: D×H, b1: (H,), w2: H×C, b2: (C,), all but y of
    ``dtype``. ``ref`` holds float64 arrays keyed like ``handgrad.quantities.CASE_WISE``.
    """

    shape: Shape
    dtype: np.dtype[Any]
    x: NDArray[Any]
    y: NDArray[np.int64]
    w1: NDArray[Any]
    b1: NDArray[Any]
    w2: NDArray[Any]
    b2: NDArray[Any]
    ref: dict[str, NDArray[np.float64]]

    @property
    def label(self) -> str:
        return f"{shape_id(self.shape)},{self.dtype.name}"


def make_problem(shape: Shape, dtype: str, seed: int = 0) -> Problem:
    """Draw the inputs with the gate's one generator (``handgrad.cases.make_case``): labels,
    mean reduction, ordinary data, so x ~ N(0, 1), w1 ~ N(0, 1/D), w2 ~ N(0, 1/H).

    The reference is computed from the *cast* inputs promoted back to float64, so that it
    differs from a correct pass only by the pass's own rounding.
    """
    case = make_case(CaseSpec(*shape, dtype, "labels", "mean", "random", seed))
    y = case.y.astype(np.int64)
    f64 = np.float64
    ref = reference(case.x.astype(f64), case.w1.astype(f64), case.b1.astype(f64),
                    case.w2.astype(f64), case.b2.astype(f64), y)  # fmt: skip
    return Problem(shape, np.dtype(dtype), case.x, y, case.w1, case.b1, case.w2, case.b2, ref)


def reference(
    x: NDArray[np.float64], w1: NDArray[np.float64], b1: NDArray[np.float64],
    w2: NDArray[np.float64], b2: NDArray[np.float64], y: NDArray[np.int64],
) -> dict[str, NDArray[np.float64]]:  # fmt: skip
    """Loss, intermediates and gradients by float64 torch autograd (``torch_ref.reference``).

    The reference leaves out dp/ds2 (``torch_ref.softmax_jacobian``): N×C×C, 16 GB at the
    largest shape, and no pass here computes it.
    """
    import torch

    from references import torch_ref

    tx, tw1, tb1, tw2, tb2 = (torch.from_numpy(a) for a in (x, w1, b1, w2, b2))
    out = torch_ref.reference(tx, torch.from_numpy(y), tw1, tb1, tw2, tb2, "mean")
    return {k: v.detach().numpy() for k, v in out.items()}


def relative_error(got: NDArray[Any], want: NDArray[np.float64]) -> float:
    """‖got − want‖_F / ‖want‖_F in float64 (want ≠ 0 for every checked quantity)."""
    diff = np.asarray(got, dtype=np.float64) - want
    return float(np.linalg.norm(diff.ravel()) / np.linalg.norm(want.ravel()))


def check(impl: str, quantity: str, got: Any, problem: Problem) -> None:
    """Assert that ``got`` is ``problem.ref[quantity]`` computed in ``problem.dtype``.

    Shape, dtype and finiteness exactly; values to ``TOLERANCE`` normwise, so that a
    benchmark can never time a wrong computation.
    """
    want = problem.ref[quantity]
    got = np.asarray(got)
    where = f"{impl}, {quantity}, {problem.label}"
    assert got.shape == want.shape, f"{where}: shape {got.shape}, expected {want.shape}"
    assert got.dtype == problem.dtype, f"{where}: dtype {got.dtype}, expected {problem.dtype}"
    assert np.isfinite(got).all(), f"{where}: NaN or inf"
    err = relative_error(got, want)
    tol = TOLERANCE[problem.dtype]
    assert err <= tol, f"{where}: relative error {err:.3g} exceeds {tol:.0e}"
