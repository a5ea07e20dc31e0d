"""Wrong: the gradients have the penalty's 2R·w, the loss has no penalty."""

from tests.candidates._l2 import make

HANDGRAD_SCOPE = {"l2": 0.1, "l2_form": "full"}
candidate = make(0.0, 2.0)
