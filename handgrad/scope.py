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
from types import ModuleType
from typing import Any

from handgrad.cases import DTYPES, REDUCTIONS, TARGETS, CaseSpec, edge_specs, random_specs

ATTRIBUTE = "HANDGRAD_SCOPE"
AXES = {"dtypes": ("dtype", DTYPES), "targets": ("target", TARGETS),
        "reductions": ("reduction", REDUCTIONS)}  # fmt: skip
"""Each scope axis: the CaseSpec field it restricts and every value it can take."""
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
    def parse(cls, **options: str | None) -> Scope:
        """A scope from comma-list options (None: the whole axis)."""
        relu = options.pop("relu_at_zero", None)
        values: dict[str, Any] = {
            axis: tuple(v.strip() for v in text.split(",") if v.strip())
            for axis, text in options.items() if text is not None
        }  # fmt: skip
        if relu is not None:
            values["relu_at_zero"] = relu.strip()
        return cls(**values)

    @classmethod
    def of(cls, module: ModuleType, **options: str | None) -> Scope:
        """The candidate's declared scope (its ``HANDGRAD_SCOPE``), overridden by options."""
        declared: Any = getattr(module, ATTRIBUTE, {})
        keys = (*AXES, "relu_at_zero")
        if not isinstance(declared, dict) or set(declared) - set(keys):
            raise TypeError(f"{module.__name__}.{ATTRIBUTE}: expected a dict with keys from "
                            f"{', '.join(keys)}, got {declared!r}")  # fmt: skip
        merged = {axis: values if axis == "relu_at_zero" else ",".join(values)
                  for axis, values in declared.items()}  # fmt: skip
        merged |= {axis: text for axis, text in options.items() if text is not None}
        return cls.parse(**merged)

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
        """What is verified, what is not, and the ReLU convention."""
        verified = "; ".join(f"{axis} {', '.join(getattr(self, axis))}" for axis in AXES)
        relu = f" ReLU's derivative at exactly 0 taken as {RELU_AT_ZERO[self.relu_at_zero]}."
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
        return " ".join(options)
