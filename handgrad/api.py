"""``handgrad.verify``: the gate as one function call."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from handgrad import oracles
from handgrad.candidate import Candidate, load_candidate
from handgrad.engine import CaseResult, as_candidate, verify_many
from handgrad.progress import counting
from handgrad.scope import Scope
from handgrad.tally import Tally


@dataclass
class Outcome:
    """Every case's result and their tally; ``passed`` is the verdict."""

    results: list[CaseResult]
    tally: Tally
    scope: Scope

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


def verify(candidate: str | ModuleType | Candidate = "manual", cases: int = 2000, seed: int = 0,
           edge: bool = True, scope: Scope | None = None,
           torch_threads: int = oracles.TORCH_THREADS, path: tuple[str, ...] = (),
           timeout: float | None = None, progress: bool = False, api: str = "") -> Outcome:  # fmt: skip
    """Verify ``candidate`` (a module, a loaded Candidate, or a name as ``--candidate``
    takes it, imported with ``path`` first on sys.path, and run in a worker process whose
    calls may take ``timeout`` seconds per case, called as ``api`` says: see
    :mod:`handgrad.adapters.families`) on ``cases`` random cases drawn
    from ``seed``, plus the named edge cases unless ``edge`` is false, all within
    ``scope`` (default: the candidate's declared ``HANDGRAD_SCOPE``, else the full
    contract). torch runs on ``torch_threads`` threads meanwhile; the caller's setting is
    restored afterwards. ``progress`` draws the cases done, the rate and the time left on
    the standard error stream, if it is a terminal (:mod:`handgrad.progress`). A bad
    argument is a ValueError before any case runs."""
    import torch

    if isinstance(cases, bool) or cases < 0:
        raise ValueError(f"cases: expected an integer of at least 0, got {cases!r}")
    if isinstance(candidate, str):
        loaded = load_candidate(candidate, path, timeout, api)
    elif isinstance(candidate, ModuleType) and api:
        from handgrad.adapters import families

        loaded = families.adapt(candidate, candidate.__name__, tuple(path), api, "")
    elif api:
        raise ValueError(f"api: a loaded Candidate is called as it was loaded, got api={api!r}")
    else:
        loaded = as_candidate(candidate)
    scope = scope or Scope.of(loaded)
    loaded.check_l2(scope.l2)
    specs = scope.random_specs(seed, cases) + (scope.edge_specs(seed) if edge else [])
    if not specs:
        raise ValueError(f"cases: expected at least 1 case in all, got {cases} (edge={edge})")
    before = torch.get_num_threads()
    oracles.configure(torch_threads)
    try:
        found = verify_many(loaded, specs, scope.relu_at_zero, scope.l2)
        results = list(counting(found, len(specs)) if progress else found)
    finally:
        oracles.configure(before)
    tally = Tally()
    tally.add_all(results)
    return Outcome(results, tally, scope)
