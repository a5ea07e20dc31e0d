"""Correct: the half form, L + ½R·(‖w1‖² + ‖w2‖²), gradients + R·w."""

from tests.candidates._l2 import make

HANDGRAD_SCOPE = {"l2": 0.25, "l2_form": "half"}
candidate = make(0.5, 1.0)
