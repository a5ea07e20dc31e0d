"""Wrong: the loss has R·Σ‖W‖², the gradients have no penalty."""

from tests.candidates._l2 import make

HANDGRAD_SCOPE = {"l2": 0.1, "l2_form": "full"}
candidate = make(1.0, 0.0)
