"""Wrong: a loss of R·Σ‖W‖² with gradients of R·W (the loss's derivative is 2R·W)."""

from tests.candidates._l2 import make

HANDGRAD_SCOPE = {"l2": 0.1, "l2_form": "full"}
candidate = make(1.0, 1.0)
