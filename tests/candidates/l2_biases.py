"""Correct: the full form over the biases too, declared with l2_biases."""

from tests.candidates._l2 import make

ALL = ("w1", "b1", "w2", "b2")
HANDGRAD_SCOPE = {"l2": 0.1, "l2_form": "full", "l2_biases": True}
candidate = make(1.0, 2.0, ALL, ALL)
