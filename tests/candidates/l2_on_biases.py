"""Wrong: the penalty also covers the biases, though the module declares it does not."""

from tests.candidates._l2 import make

ALL = ("w1", "b1", "w2", "b2")
HANDGRAD_SCOPE = {"l2": 0.1, "l2_form": "full"}
candidate = make(1.0, 2.0, ALL, ALL)
