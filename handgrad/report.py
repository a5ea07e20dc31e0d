"""The report of a run: Markdown, JSON and, for merged shards, JUnit XML, from its tally
(:mod:`handgrad.tally`) and what it verified.
"""

from __future__ import annotations

import json
import math
import platform
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from handgrad.scope import AXES, Scope
from handgrad.tally import Tally


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
            env: dict[str, str] | None = None, options: str = "", api: str = "",
            names: Sequence[str] = (), notes: Sequence[str] = ()) -> dict[str, Any]:  # fmt: skip
    """The report as one dict for strict JSON: an infinite ratio (a shape, dtype or NaN
    failure) is written as the string "inf". ``options``: those that name the candidate
    and its conventions in a rerun command (default: from ``candidate`` and ``scope``). ``shards``: the "i/n" shards it covers
    (default ["1/1"], the whole run); ``selection``: which of the gate's tests ran (pytest's
    -m and -k); ``env``: the versions it ran with (default: this process's); ``api``: how
    the candidate was called ("module", "function" or a family's name) and ``names``: which
    of its names the adapter called; ``notes``: the adapter's on the candidate, before the
    tally's on its cases."""
    rows = [r | {"worst_ratio": r["worst_ratio"] if math.isfinite(r["worst_ratio"]) else "inf"}
            for r in tally.as_dicts()]  # fmt: skip
    scope = scope or Scope()
    if not options:
        conventions = (f"--relu-at-zero {scope.relu_at_zero}" if scope.relu_at_zero != "0" else "",
                       scope.l2.as_options())  # fmt: skip
        options = " ".join([f"--candidate {candidate}", *filter(None, conventions)])
    return {"candidate": candidate, "api": api, "names": list(names), "options": options,
            "seed": seed,
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
            "failing": tally.failing_list(), "notes": list(dict.fromkeys([*notes, *tally.notes])),
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
        *([api_statement(s), ""] if s.get("api") else []),
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
    if s.get("notes"):
        lines += ["", "## Notes", "", *(f"- {note}" for note in s["notes"])]
    if s["failures"]:
        lines += ["", "## Failures", ""]
        for f in s["failures"]:
            lines += [f"### `{f['test']}`", "", "```", f["message"], "```", ""]
    env = s["environment"]
    lines += ["", "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items())]
    return "\n".join(lines) + "\n"


def api_statement(s: dict[str, Any]) -> str:
    """How the candidate was called, and which of its names."""
    names = f" (names used: {', '.join(s['names'])})" if s.get("names") else ""
    return f"API: {s['api']}{names}."


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
