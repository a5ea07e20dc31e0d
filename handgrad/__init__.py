"""handgrad: hand-derived gradients, proven by autodiff.

The gate that verifies an implementation of a two-layer ReLU network's gradients (the API
of ``manual``) against torch and JAX autograd, element by element::

    import handgrad
    outcome = handgrad.verify("my_backprop", cases=2000, seed=0)  # or "module:function"
    assert outcome.passed, handgrad.summary(outcome.results)
"""

from handgrad.api import Outcome, verify
from handgrad.candidate import Candidate, CandidateError, LoadError, load_candidate
from handgrad.cases import Case, CaseSpec, edge_specs, make_case, random_specs
from handgrad.engine import CaseResult, verify_case, verify_cases, verify_many
from handgrad.messages import describe, rank, summary
from handgrad.regularisation import L2

__all__ = [
    "L2",
    "Candidate",
    "CandidateError",
    "Case",
    "CaseResult",
    "CaseSpec",
    "LoadError",
    "Outcome",
    "describe",
    "edge_specs",
    "load_candidate",
    "make_case",
    "random_specs",
    "rank",
    "summary",
    "verify",
    "verify_case",
    "verify_cases",
    "verify_many",
]
