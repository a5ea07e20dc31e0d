"""Tests of the engine's numerical kernels: the bounds' root-sum-square, the worst ratio of
a padded batch, the Jacobian stage's compiled program against its own formulas, and the
shape-polymorphic programs that trace once for every shape."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import manual
from handgrad import cases, jacobian, oracles
from handgrad.batch import NEG
from handgrad.bounds import rss
from handgrad.compare import worst_ratios
from handgrad.polymorphic import Polymorphic


def test_rss_keeps_its_floor_where_squares_underflow() -> None:
    """The bounds' √(a²·b²) is the plain formula at ordinary magnitudes; where a scaled
    square underflows (1e-200² is 0 in float64) it is the Cauchy-Schwarz floor (a·b)/√k,
    not 0, and so it stays a bound."""
    rng = np.random.default_rng(5)
    a, b = rng.uniform(0.1, 2.0, (3, 4, 5)), rng.uniform(0.1, 2.0, (3, 5, 6))
    np.testing.assert_allclose(rss(a, b, np.full((3, 1, 1), 5.0)), np.sqrt(a**2 @ b**2),
                               rtol=1e-14)  # fmt: skip
    a, b = np.array([[[1.0, 1e-200]]]), np.array([[[1e-200], [1.0]]])
    got = float(rss(a, b, np.full((1, 1, 1), 2.0))[0, 0, 0])
    assert got == pytest.approx(2e-200 / math.sqrt(2), rel=1e-12)  # the true value, √2·1e-200


@pytest.mark.parametrize("dtype", cases.DTYPES)
def test_the_jacobian_program_gives_the_ratios_of_its_formulas_in_numpy(dtype: str) -> None:
    """The Jacobian stage's compiled program (JAX's rows, the tolerance, both comparisons
    and both invariants, fused by XLA) gives each row the worst ratios that the same
    formulas give in NumPy with JAX's rows computed apart: on rows with padded classes,
    and on one planted wrong element, found in its row alone."""
    dt = np.dtype(dtype)
    info = np.finfo(dt)
    rng = np.random.default_rng(3)
    R, C = 12, 8
    s2 = rng.standard_normal((R, C))
    classes = np.ones((R, C), dtype=bool)
    classes[6:, 5:] = False  # rows of a case with 5 classes in a bucket of 8
    s2[~classes] = NEG
    s2 = s2.astype(dt)
    p = np.exp(s2 - s2.max(axis=1, keepdims=True)).astype(np.float64)
    p /= p.sum(axis=1, keepdims=True)
    e_p = 10 * float(info.eps) * p
    g = manual.softmax_jacobian(p.astype(dt))
    g[3, 2, 4] += 1e-2
    torch_rows, jax_rows = (oracles.JACOBIAN[name](s2) for name in ("torch", "jax"))
    got = jacobian.jax_rows(g, torch_rows, s2, p, p, e_p, classes)
    want = np.array(jacobian.row_ratios(np, g, [torch_rows, jax_rows], p, p, e_p, classes,
                                        float(info.eps), float(info.tiny)))  # fmt: skip
    assert got.shape == want.shape == (3, R)
    for k in range(3):  # torch, JAX, the invariants
        assert got[k, 3] > 1
        np.testing.assert_allclose(got[k, 3], want[k, 3], rtol=1e-6)
        others = np.delete(np.arange(R), 3)
        assert (got[k, others] <= 1).all()
        assert (want[k, others] <= 1).all()
    # torch's rows: the same inputs through the same formulas.
    np.testing.assert_allclose(got[0], want[0], rtol=1e-9)
    # The invariants' sums may be added in another order: the sum's own rounding, which
    # their tolerance counts at ρ = 8 times, moves a ratio by at most 1/ρ.
    np.testing.assert_allclose(got[2], want[2], atol=1 / 8)


def test_worst_ratios_take_an_exact_match_at_zero_tolerance_as_zero() -> None:
    """Per case: an exact match where the tolerance is 0 counts 0 (not 0/0), a mismatch
    there ∞, a NaN ∞, and the other cases of the batch keep their own worst ratio."""
    want = np.zeros((4, 3))
    got = want.copy()
    tol = np.ones((4, 3))
    tol[0, 1] = tol[1, 1] = 0.0  # exact match in case 0, a mismatch in case 1
    got[1, 1] = 1e-300
    got[2, 0] = math.nan
    got[3, 2] = 0.5
    np.testing.assert_array_equal(worst_ratios(got, want, tol), [0.0, math.inf, math.inf, 0.5])
    np.testing.assert_array_equal(worst_ratios(got, None, tol), [0.0, math.inf, math.inf, 0.5])


def test_a_polymorphic_program_is_traced_once_for_every_shape() -> None:
    """``Polymorphic`` traces its function once per dtype and serves every shape from that
    trace, with the values of the shape's own arrays; arguments whose shared dimension
    disagrees, or with the wrong number of dimensions, are refused."""
    import references.jax_ref  # noqa: F401  (JAX's x64 mode, for the float64 arrays)

    traced: list[tuple[int, ...]] = []

    def program(a: Any, b: Any) -> Any:
        traced.append(a.shape)
        return a @ b

    poly = Polymorphic(program, ["BNK", "BKM"])
    rng = np.random.default_rng(0)
    for shape in ((2, 3, 4, 5), (1, 7, 2, 3), (4, 1, 1, 1)):
        B, N, K, M = shape
        a, b = rng.standard_normal((B, N, K)), rng.standard_normal((B, K, M))
        np.testing.assert_allclose(np.asarray(poly(a, b)), a @ b, rtol=1e-12)
    assert len(traced) == 1
    poly(a.astype(np.float32), b.astype(np.float32))
    assert len(traced) == 2  # a second dtype: a second trace
    with pytest.raises(ValueError, match="argument 1: 3 dimensions"):
        poly(a, b[0])
    with pytest.raises(ValueError, match="do not match the polymorphic shapes"):
        poly(a, rng.standard_normal((4, 2, 1)))  # K is 1 in a, 2 in b


def test_the_jacobian_blocks_cover_the_rows_in_few_shapes() -> None:
    """Blocks of BLOCK_ELEMENTS // C² rows, the last one as long as the others, but for a
    case verified alone: cut to the least power of two of at least LEAST_ROWS rows that
    holds the rest, never longer than a full block."""
    full = jacobian.BLOCK_ELEMENTS // 64  # C = 8
    least = jacobian.LEAST_ROWS
    assert jacobian.blocks(1, 8) == [0, full]
    assert jacobian.blocks(full + 1, 8) == [0, full, 2 * full]
    assert jacobian.blocks(1, 8, alone=True) == [0, least]
    assert jacobian.blocks(100, 8, alone=True) == [0, 128]
    assert jacobian.blocks(full, 8, alone=True) == [0, full]
    assert jacobian.blocks(full + 1, 8, alone=True) == [0, full, full + least]
    assert jacobian.blocks(full + 300, 8, alone=True) == [0, full, full + 512]
    big = jacobian.BLOCK_ELEMENTS // 256**2  # C = 256: fewer rows than LEAST_ROWS a block
    assert jacobian.blocks(2 * big + 1, 256, alone=True) == [0, big, 2 * big, 3 * big]
