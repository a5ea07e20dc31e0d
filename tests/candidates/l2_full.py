"""Correct: the full form, L + R·(‖w1‖² + ‖w2‖²), gradients + 2R·w (CS231n's)."""

from tests.candidates._l2 import make

HANDGRAD_SCOPE = {"l2": 0.1, "l2_form": "full"}
candidate = make(1.0, 2.0)
