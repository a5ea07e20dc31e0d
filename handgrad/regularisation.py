"""L2 regularisation: a declared convention, like ReLU's derivative at 0.

Coursework adds R·(‖w1‖² + ‖w2‖²) to the loss (the "full" form, whose gradients gain 2R·w)
or ½R·(‖w1‖² + ‖w2‖²) ("half", gradients gain R·w), and some regularise the biases too.
Both forms are common, so neither is a default: ``--l2 R`` needs ``--l2-form``. The term is
added after the reduction: "mean" divides the data term by N, never the regulariser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

FORMS = {"full": "R·Σ‖W‖² (gradient 2R·W)", "half": "½R·Σ‖W‖² (gradient R·W)"}
REGULARISED = ("w1", "w2")
"""What the term covers; the biases join under ``biases=True``."""


@dataclass(frozen=True)
class L2:
    """The regulariser the candidate declares; ``L2()`` is none."""

    strength: float = 0.0
    """R, as the candidate takes it (``--l2``)."""
    form: str = ""
    """"full" or "half" (``--l2-form``); required when R ≠ 0."""
    biases: bool = False
    """Whether b1 and b2 are regularised too (``--l2-biases``)."""

    def __post_init__(self) -> None:
        if isinstance(self.strength, bool) or not isinstance(self.strength, (int, float)):
            raise ValueError(f"--l2: expected a number, got {self.strength!r}")  # noqa: TRY004 (a usage error)
        if not math.isfinite(self.strength) or self.strength < 0:
            raise ValueError(f"--l2: expected a finite number of at least 0, got {self.strength}")
        object.__setattr__(self, "strength", float(self.strength))
        if not isinstance(self.biases, bool):
            raise ValueError(f"--l2-biases: expected True or False, got {self.biases!r}")  # noqa: TRY004
        if self.form and self.form not in FORMS:
            raise ValueError(f"--l2-form: expected one of {', '.join(FORMS)}, got {self.form!r}")
        if self.strength and not self.form:
            raise ValueError("--l2 needs --l2-form full or half: full adds R·Σ‖W‖² (gradient "
                             "2R·W), half adds ½R·Σ‖W‖² (gradient R·W); both are common, so "
                             "the gate will not guess")  # fmt: skip
        if self.biases and not self.strength:
            raise ValueError("--l2-biases: needs --l2 R with R > 0")

    def __bool__(self) -> bool:
        return self.strength != 0

    @property
    def coefficient(self) -> float:
        """λ in λ·Σ‖W‖²: R for "full", R/2 for "half" (the references' one convention)."""
        return self.strength if self.form == "full" else self.strength / 2

    @property
    def names(self) -> tuple[str, ...]:
        """The regularised parameters."""
        return (*REGULARISED, "b1", "b2") if self.biases else REGULARISED

    def describe(self) -> str:
        if not self:
            return "No L2 regularisation."
        over = "w1, w2, b1 and b2" if self.biases else "w1 and w2 (not the biases)"
        return f"L2 regularisation R = {self.strength!r}, form {self.form}: {FORMS[self.form]}, over {over}."

    def as_options(self) -> str:
        """The command-line options that declare it ("" for none)."""
        if not self:
            return ""
        return f"--l2 {self.strength!r} --l2-form {self.form}" + (
            " --l2-biases" if self.biases else ""
        )


NO_L2 = L2()
"""The default: no regularisation."""
