"""The registry: every compared quantity, declared once.

A :class:`Quantity` says what the engine needs to know about one output of the network:
its shape (as the derivation's axis letters), whether ``reduction="mean"`` divides it by
N, whether finite differences can give a third opinion on it, and the two halves of its
tolerance, the rounding-error bound and the flush-to-zero floor (formulas in
:mod:`handgrad.bounds` and :mod:`handgrad.floors`). Padding and unpadding follow from the axes: a padded batch holds
each case in the top-left corner of every axis.

Adding a quantity means a line here, its bound in :mod:`handgrad.bounds` (second order:
:mod:`handgrad.bounds_second`) and its floor in :mod:`handgrad.floors`, its formula in
``manual/``, its autograd value in ``references/`` and, if the candidate's API grows, the
line in :mod:`handgrad.candidate` that collects it (the engine refuses to run while a
registered quantity is not collected). Diagnosis and finite differences know some
quantities by name, for patterns and formulas of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from handgrad import bounds as b
from handgrad import bounds_second as b2
from handgrad import floors as f

Dims = Mapping[str, int]


@dataclass(frozen=True)
class Quantity:
    """One compared output of the network."""

    name: str
    axes: tuple[str, ...]
    """Its shape as axis letters, e.g. ("D", "H") for dL/dw1; () for the scalar loss."""
    mean_scaled: bool
    """Whether reduction="mean" divides it by N (the loss and every dL/d·)."""
    finite_differences: bool
    """Whether :mod:`handgrad.finite_differences` computes it (the derivatives do)."""
    bound: Callable[[b.Magnitudes], NDArray[Any]]
    """The first-order rounding-error bound per element, before the safety factor."""
    floor: Callable[[b.Magnitudes], NDArray[Any]]
    """How many smallest-normal numbers flush-to-zero may take from it, per case."""
    after: tuple[str, ...] = ()
    """The quantities its formula reads, in the derivation's data flow."""
    rows: bool = False
    """Row by row: a function of one row of s2 (the softmax Jacobian, N·C² elements). The
    engine stacks the rows of a batch's cases instead of padding N, and its oracle is
    ``softmax_jacobian(s2)`` (:mod:`handgrad.jacobian`)."""
    product: str = ""
    """The second-order product that gives it ("jvp", "hvp" or "ggn_vp", the function's name
    in ``manual``, ``references`` and a candidate); "" for the first-order quantities."""
    key: str = ""
    """Its key in that product's output: a forward quantity for "jvp", a dL/d· for the
    others (the candidate's field is the key without "dL/d")."""

    def shape(self, dims: Dims) -> tuple[int, ...]:
        return tuple(dims[a] for a in self.axes)


def _q(name: str, axes: str, after: str, bound: Callable[[b.Magnitudes], NDArray[Any]],
       floor: Callable[[b.Magnitudes], NDArray[Any]], rows: bool = False) -> Quantity:  # fmt: skip
    of_loss = name == "loss" or name.startswith("dL/")
    return Quantity(name, tuple(axes), of_loss, name.startswith("d"), bound, floor,
                    tuple(after.split()), rows)  # fmt: skip


def _second(name: str, product: str, key: str, axes: str, after: str) -> Quantity:
    """A second-order quantity: ``product``'s value at ``key``. L̇ and every R{·} and G{·}
    scale with 1/N under "mean", like the loss and gradients they come from."""
    scaled = key == "loss" or key.startswith("dL/")
    return Quantity(name, tuple(axes), scaled, False, b2.BOUNDS[name], f.SECOND_ORDER[name],
                    tuple(after.split()), product=product, key=key)  # fmt: skip


QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        _q("s1", "NH", "", b.bound_s1, f.floor_one),
        _q("o1", "NH", "s1", b.bound_o1, f.floor_one),
        _q("s2", "NC", "o1", b.bound_s2, f.floor_one),
        _q("p", "NC", "s2", b.bound_p, f.floor_one),
        _q("loss", "", "s2", b.bound_loss, f.floor_one),
        _q("dL/ds2", "NC", "p", b.bound_ds2, f.floor_one),
        _q("dL/do1", "NH", "dL/ds2", b.bound_do1, f.floor_do1),
        _q("dL/dw2", "HC", "o1 dL/ds2", b.bound_dw2, f.floor_dw2),
        _q("dL/db2", "C", "dL/ds2", b.bound_db2, f.floor_db2),
        _q("dL/ds1", "NH", "dL/do1 s1", b.bound_ds1, f.floor_do1),
        _q("dL/dx", "ND", "dL/ds1", b.bound_dx, f.floor_dx),
        _q("dL/dw1", "DH", "dL/ds1", b.bound_dw1, f.floor_dw1),
        _q("dL/db1", "H", "dL/ds1", b.bound_db1, f.floor_db1),
        _q("dp/ds2", "NCC", "p", b.bound_jacobian, f.floor_one, rows=True),
        # Forward mode along the direction (ẋ, ẇ1, ḃ1, ẇ2, ḃ2): the tangents.
        _second("ṡ1", "jvp", "s1", "NH", ""),
        _second("ȯ1", "jvp", "o1", "NH", "ṡ1 s1"),
        _second("ṡ2", "jvp", "s2", "NC", "ȯ1 o1"),
        _second("ṗ", "jvp", "p", "NC", "ṡ2 p"),
        _second("L̇", "jvp", "loss", "", "ṡ2 dL/ds2"),
        # Hv: the R-pass, R{·} of every gradient (with the bilinear terms' first-order factors).
        _second("R{dL/ds2}", "hvp", "dL/ds2", "NC", "ṗ"),
        _second("R{dL/do1}", "hvp", "dL/do1", "NH", "R{dL/ds2} dL/ds2"),
        _second("R{dL/dw2}", "hvp", "dL/dw2", "HC", "R{dL/ds2} ȯ1 dL/ds2"),
        _second("R{dL/db2}", "hvp", "dL/db2", "C", "R{dL/ds2}"),
        _second("R{dL/ds1}", "hvp", "dL/ds1", "NH", "R{dL/do1} s1"),
        _second("R{dL/dx}", "hvp", "dL/dx", "ND", "R{dL/ds1} dL/ds1"),
        _second("R{dL/dw1}", "hvp", "dL/dw1", "DH", "R{dL/ds1} dL/ds1"),
        _second("R{dL/db1}", "hvp", "dL/db1", "H", "R{dL/ds1}"),
        # Gv: the ordinary backward pass of H_s2·ṡ2; G{·} is its value at each dL/d·.
        _second("G{dL/ds2}", "ggn_vp", "dL/ds2", "NC", "ṗ"),
        _second("G{dL/do1}", "ggn_vp", "dL/do1", "NH", "G{dL/ds2}"),
        _second("G{dL/dw2}", "ggn_vp", "dL/dw2", "HC", "G{dL/ds2} o1"),
        _second("G{dL/db2}", "ggn_vp", "dL/db2", "C", "G{dL/ds2}"),
        _second("G{dL/ds1}", "ggn_vp", "dL/ds1", "NH", "G{dL/do1} s1"),
        _second("G{dL/dx}", "ggn_vp", "dL/dx", "ND", "G{dL/ds1}"),
        _second("G{dL/dw1}", "ggn_vp", "dL/dw1", "DH", "G{dL/ds1}"),
        _second("G{dL/db1}", "ggn_vp", "dL/db1", "H", "G{dL/ds1}"),
    )
}
"""In the derivation's data-flow order (every quantity after all it reads): the forward
pass, the loss, the backward pass from the loss down, the softmax Jacobian, then the
second-order products (``docs/second-order.md``): the tangents, Hv's R-pass and Gv's pass.
Reports list their rows in this order, and a failing case leads with its earliest
failure."""

NAMES: tuple[str, ...] = tuple(QUANTITIES)


def downstream(name: str) -> list[str]:
    """Every quantity whose formula reads ``name``, directly or through others, in order."""
    found: set[str] = set()
    frontier = {name}
    while frontier:
        frontier = {q for q, quantity in QUANTITIES.items() if set(quantity.after) & frontier}
        frontier -= found
        found |= frontier
    return [q for q in QUANTITIES if q in found]


PRODUCTS: tuple[str, ...] = ("jvp", "hvp", "ggn_vp")
"""The second-order products, each optional for a candidate, in the registry's order."""
FIRST: tuple[str, ...] = tuple(n for n, q in QUANTITIES.items() if not q.rows and not q.product)
"""The quantities of ``reference(...)``."""
SECOND: dict[str, tuple[str, ...]] = {
    product: tuple(n for n, q in QUANTITIES.items() if q.product == product) for product in PRODUCTS
}
"""Each product's quantities."""
CASE_WISE: tuple[str, ...] = tuple(n for n, q in QUANTITIES.items() if not q.rows)
"""Every quantity computed case by case (padded); the rest come row by row from
``softmax_jacobian(s2)``."""


def case_wise(products: tuple[str, ...]) -> tuple[str, ...]:
    """The case-wise quantities of a run that verifies the given second-order products."""
    return FIRST + tuple(n for p in PRODUCTS if p in products for n in SECOND[p])


ROW_WISE: tuple[str, ...] = tuple(n for n, q in QUANTITIES.items() if q.rows)
ORDER: dict[str, int] = {name: i for i, name in enumerate(NAMES)}


def get(name: str) -> Quantity:
    """The quantity called ``name``; an unknown name is an error, never a default."""
    try:
        return QUANTITIES[name]
    except KeyError:
        raise KeyError(f"unknown quantity {name!r}; known: {', '.join(NAMES)}") from None


def check_keys(where: str, keys: Any, names: tuple[str, ...] = FIRST) -> None:
    """Raise unless ``keys`` are exactly the registered ``names`` (a reference's output)."""
    got = set(keys)
    if got != set(names):
        missing, extra = sorted(set(names) - got), sorted(got - set(names))
        raise KeyError(f"{where}: missing {missing}, unregistered {extra}")


INPUT_AXES: dict[str, str] = {"x": "ND", "y": "NC", "w1": "DH", "b1": "H", "w2": "HC", "b2": "C"}
"""The inputs' axes; y is the N×C target matrix (labels enter the batch as one-hot rows)."""
