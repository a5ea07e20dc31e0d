"""Wrong as declared: the half form, consistently, in a module that declares the full one."""

from tests.candidates._l2 import make

HANDGRAD_SCOPE = {"l2": 0.1, "l2_form": "full"}
candidate = make(0.5, 1.0)
