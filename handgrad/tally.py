"""The tally of a run: one row per quantity × reference × dtype, the failure pattern, and
every failing case × quantity.

Each row has the number of cases, how many failed, the worst error/tolerance ratio (≤ 1
passes; how close the run came to failing) and the case that gave it. Rows merge across
tests, pytest-xdist workers and shards (:meth:`Tally.merge`) to the same result in any
order; :mod:`handgrad.report` writes them out.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from handgrad.cases import CaseSpec
from handgrad.engine import CaseResult
from handgrad.quantities import FIRST, NAMES, ORDER, PRODUCTS, ROW_WISE


@dataclass
class Row:
    quantity: str
    reference: str
    dtype: str
    cases: int = 0
    failed: int = 0
    worst_ratio: float = 0.0
    worst_case: str = ""

    @property
    def status(self) -> str:
        return "PASS" if self.failed == 0 else "FAIL"

    def update(self, cases: int, failed: int, ratio: float, case: str) -> None:
        self.cases += cases
        self.failed += failed
        # Equal ratios keep the first case in text order, not the first one seen, so that
        # merging in any order (xdist workers, shards) names the same worst case.
        if not self.worst_case or (-ratio, case) < (-self.worst_ratio, self.worst_case):
            self.worst_ratio, self.worst_case = ratio, case


PATTERN_AXES = ("dtype", "target", "reduction", "kind", "size")
"""What the failure pattern breaks cases down by."""


def size_class(spec: CaseSpec) -> str:
    """The case's largest dimension, in three classes."""
    largest = max(spec.N, spec.D, spec.H, spec.C)
    return "largest dim ≤ 8" if largest <= 8 else "largest dim 9–64" if largest <= 64 else (
        "largest dim > 64")  # fmt: skip


def _value(spec: CaseSpec, axis: str) -> str:
    return size_class(spec) if axis == "size" else str(getattr(spec, axis))


def fingerprint(spec: CaseSpec) -> int:
    """A 64-bit digest of one case; a run's fingerprint is their sum modulo 2⁶⁴, the same
    for the same cases in any order or split, so a merged report shows that its shards
    verified exactly the cases of the unsplit run."""
    return int.from_bytes(hashlib.blake2b(str(spec).encode(), digest_size=8).digest(), "big")


def confined(counts: dict[str, list[int]]) -> tuple[list[str], list[str]]:
    """One axis's (cases, failed) per value, split into the values with failures and the
    values whose every case passed, when the failures are confined to some values (both
    lists non-empty); two empty lists otherwise."""
    failing = [v for v, (_, failed) in counts.items() if failed]
    clean = [v for v, (_, failed) in counts.items() if not failed]
    return (failing, clean) if failing and clean else ([], [])


class Tally:
    """Accumulates rows across cases; a candidate that raised counts in ``errors``; and the
    failure pattern: cases and failed cases by each value of ``PATTERN_AXES``."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], Row] = {}
        self.errors = 0
        self.pattern: dict[str, dict[str, list[int]]] = {a: {} for a in PATTERN_AXES}
        self.fingerprint = 0
        self.unverified: set[str] = set()
        """The second-order products the candidate does not provide."""
        self.kink_skipped = 0
        """Cases whose second order went unverified under a ReLU convention other than 0."""
        self.failing: dict[tuple[str, str], dict[str, Any]] = {}
        """Every failing (case, quantity), with its worst comparison and cause, as data; the
        quantity is "" for a case where the candidate raised or wrote into its inputs."""
        self.notes: dict[str, None] = {}
        """The adapter's notes on the candidate (not failures), each once, in order."""

    @property
    def cases(self) -> int:
        return sum(cases for cases, _ in self.pattern["dtype"].values())

    def add(self, result: CaseResult) -> None:
        if result.error:
            self.errors += 1
        self.unverified |= set(result.unverified)
        self.kink_skipped += int(result.kink_skipped)
        self.fingerprint = (self.fingerprint + fingerprint(result.spec)) % 2**64
        for axis in PATTERN_AXES:
            counts = self.pattern[axis].setdefault(_value(result.spec, axis), [0, 0])
            counts[0] += 1
            counts[1] += int(not result.passed)
        spec = str(result.spec)
        if result.error:
            self._failing({"case": spec, "quantity": "", "references": [], "ratio": "inf",
                           "error": result.error, "cause": None})  # fmt: skip
        for note in result.notes:
            self.notes.setdefault(note, None)
        for c in result.failures:
            entry = {"case": spec, "quantity": c.quantity, "references": [c.reference],
                     "source": result.sources.get(c.quantity),
                     "ratio": finite(c.ratio), "mismatches": c.mismatches, "size": c.size,
                     "index": list(c.index), "got": finite(c.got), "want": finite(c.want),
                     "tolerance": finite(c.tol), "problem": c.problem or None,
                     "cause": c.cause or None}  # fmt: skip
            self._failing(entry)
        for (q, ref), ratio in result.ratios.items():
            key = (q, ref, result.spec.dtype)
            row = self.rows.get(key)
            if row is None:
                row = self.rows[key] = Row(*key)
            row.update(1, int(ratio > 1), ratio, spec)

    def _failing(self, entry: dict[str, Any]) -> None:
        """Add one failing (case, quantity), keeping the worst comparison and every
        reference that failed."""
        key = (entry["case"], entry["quantity"])
        old = self.failing.get(key)
        if old is None:
            self.failing[key] = entry
            return
        references = sorted(set(old["references"]) | set(entry["references"]))
        if _ratio(entry) > _ratio(old):
            self.failing[key] = entry
        self.failing[key]["references"] = references
        self.failing[key]["cause"] = old["cause"] or entry["cause"]

    def add_all(self, results: Iterable[CaseResult]) -> None:
        for r in results:
            self.add(r)

    def merge(self, data: dict[str, Any]) -> None:
        self.errors += int(data["errors"])
        for note in data.get("notes", []):
            self.notes.setdefault(note, None)
        self.unverified |= set(data["second_order"]["not_verified"])
        self.kink_skipped += int(data["second_order"]["kink_skipped"])
        self.fingerprint = (self.fingerprint + int(data["fingerprint"], 16)) % 2**64
        for axis, values in data["pattern"].items():
            for value, (cases, failed) in values.items():
                counts = self.pattern[axis].setdefault(value, [0, 0])
                counts[0] += cases
                counts[1] += failed
        for entry in data["failing"]:
            self._failing(dict(entry))
        for r in data["rows"]:
            key = (r["quantity"], r["reference"], r["dtype"])
            row = self.rows.setdefault(key, Row(*key))
            row.update(r["cases"], r["failed"], float(r["worst_ratio"]), r["worst_case"])

    def as_dicts(self) -> list[dict[str, Any]]:
        rows = sorted(self.rows.values(), key=lambda r: (ORDER[r.quantity], r.reference, r.dtype))
        return [asdict(r) | {"status": r.status} for r in rows]

    def second_order(self) -> dict[str, Any]:
        """Which products were verified, which not (not provided), and how many cases'
        second order went unverified at exact ReLU zeros under a declared convention."""
        verified = [p for p in PRODUCTS if p not in self.unverified and self.cases]
        return {"verified": verified, "not_verified": [p for p in PRODUCTS if p in self.unverified],
                "kink_skipped": self.kink_skipped}  # fmt: skip

    def quantities(self) -> dict[str, list[str]]:
        """The quantities verified (compared in at least one case) and those not verified
        (the candidate does not provide them, or never returned them), in registry order."""
        seen = {q for q, _, _ in self.rows}
        return {"verified": [q for q in NAMES if q in seen],
                "not_verified": [q for q in NAMES if q not in seen]}  # fmt: skip

    def verdict_line(self) -> str:
        """ "N of M quantities verified", and which were not."""
        if not self.cases:
            return "no case was verified"
        q = self.quantities()
        line = f"{len(q['verified'])} of {len(NAMES)} quantities verified"
        parts = [n for n in q["not_verified"] if n in FIRST + ROW_WISE]
        second = len(q["not_verified"]) - len(parts)
        if second:
            parts.append(f"{second} second-order quantities")
        return f"{line}; not verified (not provided): {', '.join(parts)}" if parts else line

    def failing_list(self) -> list[dict[str, Any]]:
        """``failing`` in a fixed order: by case, then upstream-most quantity."""
        return [self.failing[k] for k in sorted(self.failing, key=lambda k: (
            k[0], ORDER.get(k[1], -1)))]  # fmt: skip

    def as_data(self) -> dict[str, Any]:
        return {"errors": self.errors, "rows": self.as_dicts(), "pattern": self.pattern,
                "fingerprint": f"{self.fingerprint:016x}", "second_order": self.second_order(),
                "failing": self.failing_list(), "notes": list(self.notes)}  # fmt: skip

    def only_when(self) -> str:
        """ "fails only when …" if one value of some axis holds every failure while other
        values of it were verified and passed; "" otherwise."""
        found = []
        for axis, counts in self.pattern.items():
            failing, _ = confined(counts)
            if len(failing) == 1:
                found.append(f"{axis} = {failing[0]}" if axis != "size" else failing[0])
        if not found:
            return ""
        total = sum(failed for _, failed in self.pattern["dtype"].values())
        return f"every one of the {total} failing cases has {' and '.join(found)}"

    @property
    def passed(self) -> bool:
        return self.errors == 0 and all(r.failed == 0 for r in self.rows.values())


def finite(value: float) -> float | str:
    """A float for strict JSON: NaN and ±∞ as the strings "nan", "inf" and "-inf"."""
    return value if math.isfinite(value) else str(value)


def _ratio(entry: dict[str, Any]) -> float:
    return float(entry["ratio"])
