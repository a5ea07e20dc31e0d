"""What a candidate claims to support, and so what the gate verifies: its declared scope.

Coursework code usually supports integer labels with a mean reduction and nothing else.
A scope names the dtypes, target forms and reductions to verify; every source of cases
(random, edge, Hypothesis, the no-false-alarm run) draws only from it, and the report says
plainly what was verified and what was not.

A candidate module may declare its own scope in one attribute::

    HANDGRAD_SCOPE = {"targets": ["labels"], "reductions": ["mean"]}

and the options ``--dtypes``, ``--targets`` and ``--reductions`` (comma lists) override it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from handgrad.candidate import SCOPE_ATTRIBUTE as ATTRIBUTE
from handgrad.candidate import Candidate
from handgrad.cases import DTYPES, REDUCTIONS, TARGETS, CaseSpec, edge_specs, random_specs
from handgrad.regularisation import L2, NO_L2

AXES = {"dtypes": ("dtype", DTYPES), "targets": ("target", TARGETS),
        "reductions": ("reduction", REDUCTIONS)}  # fmt: skip
"""Each scope axis: the CaseSpec field it restricts and every value it can take."""
L2_KEYS = ("l2", "l2_form", "l2_biases")
"""The L2 convention's keys, in HANDGRAD_SCOPE and as options (``--l2-form``, …)."""
RELU_AT_ZERO = {
    "0": "0, as torch and JAX take it",
    "1": "1, the right derivative",
    "any": "any value in [0, 1], each element on its own",
}
"""The conventions for ReLU's derivative at exactly s1 = 0, and how the report words them."""


@functools.lru_cache(maxsize=4)
def _drawn(dtypes: tuple[str, ...], targets: tuple[str, ...], reductions: tuple[str, ...],
           seed: int, n: int, dtype: str | None) -> tuple[CaseSpec, ...]:  # fmt: skip
    return tuple(random_specs(seed, n, dtype=dtype, dtypes=DTYPES if dtype else dtypes,
                              targets=targets, reductions=reductions))  # fmt: skip


@dataclass(frozen=True)
class Scope:
    """The values of each axis to verify; the full contract by default."""

    dtypes: tuple[str, ...] = DTYPES
    targets: tuple[str, ...] = TARGETS
    reductions: tuple[str, ...] = REDUCTIONS
    relu_at_zero: str = "0"
    """ReLU's derivative at exactly 0: "0", "1" or "any" (``RELU_AT_ZERO``)."""
    l2: L2 = NO_L2
    """The declared L2 regularisation (none by default)."""

    def __post_init__(self) -> None:
        if self.relu_at_zero not in RELU_AT_ZERO:
            raise ValueError(f"--relu-at-zero: expected one of {', '.join(RELU_AT_ZERO)}, "
                             f"got {self.relu_at_zero!r}")  # fmt: skip
        for axis, (_, allowed) in AXES.items():
            values = getattr(self, axis)
            unknown = [v for v in values if v not in allowed]
            if unknown or not values:
                raise ValueError(f"--{axis}: expected a comma list from {', '.join(allowed)}, "
                                 f"got {','.join(values) or 'nothing'}")  # fmt: skip
            # Keep the canonical order, so that the draws do not depend on how it was written.
            object.__setattr__(self, axis, tuple(v for v in allowed if v in values))

    @classmethod
    def parse(cls, **options: Any) -> Scope:
        """A scope from comma-list options (None: the whole axis), ``relu_at_zero``, and
        ``l2`` (a number), ``l2_form`` and ``l2_biases`` (None: not given)."""
        relu = options.pop("relu_at_zero", None)
        l2 = {k: options.pop(k) for k in L2_KEYS if options.get(k) is not None}
        for k in L2_KEYS:
            options.pop(k, None)
        values: dict[str, Any] = {
            axis: tuple(v.strip() for v in text.split(",") if v.strip())
            for axis, text in options.items() if text is not None
        }  # fmt: skip
        if relu is not None:
            values["relu_at_zero"] = relu.strip()
        if l2:
            declared = L2(l2.get("l2", 0.0), l2.get("l2_form", ""), l2.get("l2_biases", False))
            # A form alone (a family's natural one) declares nothing until R is given.
            values["l2"] = declared if declared else NO_L2
        return cls(**values)

    @classmethod
    def check_options(cls, **options: Any) -> None:
        """A ValueError for a bad option, found before the candidate is imported (that may
        take a while). ``--l2`` without ``--l2-form`` waits for the candidate: its family
        may have a natural form."""
        if options.get("l2") and options.get("l2_form") is None:
            options["l2_form"] = "full"
        cls.parse(**options)

    @classmethod
    def of(cls, candidate: Candidate, **options: Any) -> Scope:
        """The candidate's declared scope (its ``HANDGRAD_SCOPE``), overridden by options;
        a ValueError names a bad key or value, or an L2 the candidate cannot take."""
        declared = dict(candidate.declared)
        keys = (*AXES, "relu_at_zero", *L2_KEYS)
        if set(declared) - set(keys):
            raise ValueError(f"{candidate.name}: {ATTRIBUTE} has unknown key(s) "
                             f"{', '.join(sorted(set(declared) - set(keys)))}; expected keys "
                             f"from {', '.join(keys)}")  # fmt: skip
        merged = {axis: ",".join(values) if axis in AXES else values
                  for axis, values in declared.items()}  # fmt: skip
        merged |= {axis: value for axis, value in options.items() if value is not None}
        scope = cls.parse(**merged)
        candidate.check_l2(scope.l2)
        return scope

    def random_specs(self, seed: int, n: int, dtype: str | None = None) -> list[CaseSpec]:
        """``cases.random_specs`` within this scope (``dtype``: one dtype only). Drawn once
        per process: the gate's chunks and shards each take a slice of the same list, and
        a million specs take 50 s to draw here."""
        return list(_drawn(self.dtypes, self.targets, self.reductions, seed, n, dtype))

    def edge_specs(self, seed: int) -> list[CaseSpec]:
        """``cases.edge_specs`` within this scope."""
        return edge_specs(seed, self.dtypes, self.targets, self.reductions)

    @property
    def full(self) -> bool:
        """Every dtype, target and reduction (whatever the ReLU convention)."""
        return not self.left_out()

    def contains(self, spec: CaseSpec) -> bool:
        return all(getattr(spec, field) in getattr(self, axis)
                   for axis, (field, _) in AXES.items())  # fmt: skip

    def left_out(self) -> dict[str, tuple[str, ...]]:
        """Each axis's values that are not verified (empty axes left out)."""
        out = {axis: tuple(v for v in allowed if v not in getattr(self, axis))
               for axis, (_, allowed) in AXES.items()}  # fmt: skip
        return {axis: values for axis, values in out.items() if values}

    def describe(self) -> str:
        """What is verified, what is not, and the conventions (ReLU at 0, L2)."""
        verified = "; ".join(f"{axis} {', '.join(getattr(self, axis))}" for axis in AXES)
        relu = f" ReLU's derivative at exactly 0 taken as {RELU_AT_ZERO[self.relu_at_zero]}."
        relu += f" {self.l2.describe()}" if self.l2 else ""
        left = self.left_out()
        if not left:
            return f"Verified: the full contract ({verified}).{relu}"
        missing = "; ".join(f"{axis} {', '.join(values)}" for axis, values in left.items())
        return (f"Verified: {verified}. Not verified (outside the declared scope): "
                f"{missing}.{relu}")  # fmt: skip

    def as_options(self) -> str:
        """The command-line options that declare this scope ("" for the full one)."""
        options = [f"--{axis} {','.join(getattr(self, axis))}" for axis in self.left_out()]
        if self.relu_at_zero != "0":
            options.append(f"--relu-at-zero {self.relu_at_zero}")
        if self.l2:
            options.append(self.l2.as_options())
        return " ".join(options)
