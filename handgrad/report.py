"""The tally of a run and its report: one row per quantity × reference × dtype.

Each row has the number of cases, how many failed, the worst error/tolerance ratio (≤ 1
passes; how close the run came to failing) and the case that gave it. Rows merge across
tests, pytest-xdist workers and shards (:meth:`Tally.merge`) to the same result in any
order, and the report is written as Markdown, JSON and, for merged shards, JUnit XML.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from handgrad.cases import CaseSpec
from handgrad.engine import CaseResult
from handgrad.quantities import FIRST, NAMES, ORDER, PRODUCTS, ROW_WISE
from handgrad.scope import AXES, Scope


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
        for c in result.failures:
            entry = {"case": spec, "quantity": c.quantity, "references": [c.reference],
                     "ratio": _finite(c.ratio), "mismatches": c.mismatches, "size": c.size,
                     "index": list(c.index), "got": _finite(c.got), "want": _finite(c.want),
                     "tolerance": _finite(c.tol), "problem": c.problem or None,
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
                "failing": self.failing_list()}  # fmt: skip

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


def _finite(value: float) -> float | str:
    """A float for strict JSON: NaN and ±∞ as the strings "nan", "inf" and "-inf"."""
    return value if math.isfinite(value) else str(value)


def _ratio(entry: dict[str, Any]) -> float:
    return float(entry["ratio"])


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    return {"python": platform.python_version(), "handgrad": _version("handgrad"),
            "numpy": _version("numpy"), "torch": _version("torch"), "jax": _version("jax"),
            "machine": platform.machine()}  # fmt: skip


def summary(tally: Tally, candidate: str, seed: int, random_cases: int, passed: bool,
            seconds: float, failures: list[dict[str, str]], scope: Scope | None = None,
            shards: list[str] | None = None, selection: str = "",
            env: dict[str, str] | None = None, options: str = "") -> dict[str, Any]:  # fmt: skip
    """The report as one dict for strict JSON: an infinite ratio (a shape, dtype or NaN
    failure) is written as the string "inf". ``options``: those that name the candidate
    and its conventions in a rerun command (default: from ``candidate`` and ``scope``). ``shards``: the "i/n" shards it covers
    (default ["1/1"], the whole run); ``selection``: which of the gate's tests ran (pytest's
    -m and -k); ``env``: the versions it ran with (default: this process's)."""
    rows = [r | {"worst_ratio": r["worst_ratio"] if math.isfinite(r["worst_ratio"]) else "inf"}
            for r in tally.as_dicts()]  # fmt: skip
    scope = scope or Scope()
    if not options:
        conventions = (f"--relu-at-zero {scope.relu_at_zero}" if scope.relu_at_zero != "0" else "",
                       scope.l2.as_options())  # fmt: skip
        options = " ".join([f"--candidate {candidate}", *filter(None, conventions)])
    return {"candidate": candidate, "options": options, "seed": seed,
            "random_cases": random_cases,
            "shards": shards or ["1/1"], "cases": tally.cases,
            "fingerprint": f"{tally.fingerprint:016x}",
            "selection": selection,
            "pattern": {axis: dict(sorted(values.items()))
                        for axis, values in tally.pattern.items()},
            "only_when": tally.only_when(),
            "scope": {axis: list(getattr(scope, axis)) for axis in AXES}
            | {"relu_at_zero": scope.relu_at_zero,
               "l2": {"strength": scope.l2.strength, "form": scope.l2.form,
                      "biases": scope.l2.biases}},
            "scope_statement": scope.describe(),
            "second_order": tally.second_order(),
            "quantities": tally.quantities(), "verdict": tally.verdict_line(),
            "failing": tally.failing_list(),
            "passed": passed and tally.passed, "seconds": round(seconds, 1),
            "candidate_errors": tally.errors, "rows": rows, "failures": failures,
            "environment": env or environment()}  # fmt: skip


def markdown(s: dict[str, Any]) -> str:
    c = s["candidate"]
    verdict = "PASS" if s["passed"] else "FAIL"
    shards = "" if s["shards"] == ["1/1"] else f" (shards {', '.join(s['shards'])})"
    lines = [
        "# handgrad verify report",
        "",
        (
            f"candidate `{c}`, seed {s['seed']}, {s['random_cases']} random cases + edge "
            f"cases{shards}: {s['cases']} cases verified; **{verdict}**"
        ),
        "",
        s["verdict"] + ".",
        "",
        s["scope_statement"],
        "",
        second_order_statement(s["second_order"]),
        "",
        (
            "ratio = worst |candidate − reference| / tolerance over all cases (≤ 1 passes); "
            f"rerun a worst case with `python -m handgrad check {s['options']} --case "
            "'<worst case>'`"
        ),
        "",
        "| quantity | reference | dtype | cases | failed | worst ratio | status | worst case |",
        "|---|---|---|---:|---:|---:|---|---|",
    ]
    for r in s["rows"]:
        lines.append(
            f"| {r['quantity']} | {r['reference']} | {r['dtype']} | {r['cases']} | "
            f"{r['failed']} | {float(r['worst_ratio']):.3g} | {r['status']} | `{r['worst_case']}` |"
        )
    if any(failed for values in s["pattern"].values() for _, failed in values.values()):
        lines += ["", "## Failure pattern", ""]
        if s["only_when"]:
            lines += [f"Fails only when: {s['only_when']}.", ""]
        lines += ["| by | value | cases | failed |", "|---|---|---:|---:|"]
        for axis, values in s["pattern"].items():
            for value, (cases, failed) in sorted(values.items()):
                lines.append(f"| {axis} | {value} | {cases} | {failed} |")
    if s["candidate_errors"]:
        errors = s["candidate_errors"]
        lines += ["", f"{errors} case(s) where the candidate raised or modified its inputs."]
    if s["failures"]:
        lines += ["", "## Failures", ""]
        for f in s["failures"]:
            lines += [f"### `{f['test']}`", "", "```", f["message"], "```", ""]
    env = s["environment"]
    lines += ["", "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items())]
    return "\n".join(lines) + "\n"


def second_order_statement(so: dict[str, Any]) -> str:
    """One sentence on what second order the run verified, and what it did not."""
    parts = []
    if so["verified"]:
        parts.append(f"Second order verified: {', '.join(so['verified'])}, along one direction "
                     "per case (x moves in about half of them).")  # fmt: skip
    if so["not_verified"]:
        parts.append(f"Second order **not verified**: {', '.join(so['not_verified'])} (the "
                     "candidate does not provide them).")  # fmt: skip
    if so["kink_skipped"]:
        parts.append(f"{so['kink_skipped']} case(s) with exact zeros in s1 were not verified "
                     "in second order: the declared ReLU convention there is not the "
                     "references'.")  # fmt: skip
    return " ".join(parts)


def write(directory: Path, s: dict[str, Any]) -> list[Path]:
    """Write verify.json and verify.md into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / "verify.json", directory / "verify.md"]
    paths[0].write_text(json.dumps(s, indent=2, allow_nan=False) + "\n")
    paths[1].write_text(markdown(s))
    return paths


XML_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
"""Characters XML 1.0 cannot hold, such as a terminal's colour codes in a message."""


def junit(s: dict[str, Any]) -> str:
    """The report as JUnit XML, for CI pages that read it: one test per row (quantity ×
    reference × dtype), which fails when any of its cases failed, and one per failure
    message of the run. (An unsplit run's verify.xml is pytest's own: one test per pytest
    test.)"""
    suite = ET.Element("testsuite", name="handgrad", tests="0", failures="0")
    cases: list[tuple[str, str | None]] = []
    for r in s["rows"]:
        worst = f"worst ratio {float(r['worst_ratio']):.3g} at {r['worst_case']}"
        failed = f"{r['failed']} of {r['cases']} cases failed; {worst}" if r["failed"] else None
        cases.append((f"{r['quantity']} vs {r['reference']} ({r['dtype']})", failed))
    if s["candidate_errors"]:
        errors = (
            f"{s['candidate_errors']} case(s) where the candidate raised or modified its inputs"
        )
        cases.append(("candidate", errors))
    cases += [(f["test"], f["message"]) for f in s["failures"]]
    for name, failure in cases:
        case = ET.SubElement(suite, "testcase", classname="handgrad.verify", name=name)
        if failure is not None:
            text = XML_UNSAFE.sub("?", failure)
            first = (text.splitlines() or ["failed"])[0]
            ET.SubElement(case, "failure", message=first).text = text
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(failure is not None for _, failure in cases)))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
