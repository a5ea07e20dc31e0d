"""Shards' reports joined into the report of the whole run.

Each shard (``--shard i/n``) writes its own verify.json. :func:`merge` checks that they
are shards of one run (same candidate, seed, number of cases, scope, test selection and
versions, each shard once), adds up their tallies and builds the report the unsplit run
would have written: the same rows, with the same counts, worst ratios and worst cases, the
same failure pattern and the same fingerprint of the cases verified. Only the time and the
failure messages (one per shard's failed test, labelled with its shard) differ. The result
does not depend on the order the reports are given in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from handgrad import report
from handgrad.scope import AXES, Scope
from handgrad.shard import Shard
from handgrad.tally import Tally

SAME = ("candidate", "options", "seed", "random_cases", "scope", "selection", "environment")
"""What every shard of one run shares: what was verified, which of the gate's tests ran,
and the versions (handgrad, Python, NumPy, torch, JAX) it ran with."""
KEYS = (*SAME, "shards", "cases", "fingerprint", "pattern", "rows", "failures", "passed",
        "seconds", "candidate_errors", "second_order", "quantities", "failing")  # fmt: skip
"""What a report must hold to be merged."""


def load(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """The verify.json files given, or found under the directories given."""
    files: list[Path] = []
    for path in paths:
        found = sorted(path.rglob("verify.json")) if path.is_dir() else [path]
        if not found:
            raise ValueError(f"reports: no verify.json under {path}")
        files += found
    loaded = []
    for file in files:
        try:
            data = json.loads(file.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"reports: cannot read {file}: {exc}") from exc
        missing = [key for key in KEYS if key not in data] if isinstance(data, dict) else KEYS
        if missing:
            raise ValueError(f"reports: {file} is not a handgrad verify.json of this version "
                             f"(missing {', '.join(missing)})")  # fmt: skip
        loaded.append(data)
    return loaded


def _shards(summaries: list[dict[str, Any]]) -> list[Shard]:
    """Every shard the summaries cover, once each, and all of the same split."""
    shards = [Shard.parse(text) for s in summaries for text in s["shards"]]
    counts = {shard.count for shard in shards}
    if len(counts) != 1:
        raise ValueError(f"reports: shards of different splits: {sorted(map(str, shards))}")
    (count,) = counts
    seen = [shard.index for shard in shards]
    twice = sorted({i for i in seen if seen.count(i) > 1})
    missing = sorted(set(range(1, count + 1)) - set(seen))
    if twice or missing:
        problems = [f"shard {i}/{count} given twice" for i in twice]
        problems += [f"shard {i}/{count} missing" for i in missing]
        raise ValueError(f"reports: {'; '.join(problems)}")
    return sorted(shards, key=lambda shard: shard.index)


def merge(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole run's report from its shards' reports (see the module's docstring)."""
    if not summaries:
        raise ValueError("reports: none given")
    # In shard order, whatever order the files came in: the result must not depend on it.
    summaries = sorted(summaries, key=lambda s: Shard.parse(s["shards"][0]).index)
    first = summaries[0]
    for s in summaries[1:]:
        differ = [key for key in SAME if s[key] != first[key]]
        if differ:
            raise ValueError(f"reports: not shards of one run: they differ in {', '.join(differ)}")
    shards = _shards(summaries)
    tally = Tally()
    for s in summaries:
        tally.merge({"errors": s["candidate_errors"], "rows": s["rows"],
                     "pattern": s["pattern"], "fingerprint": s["fingerprint"],
                     "second_order": s["second_order"], "failing": s["failing"],
                     "notes": s.get("notes", [])})  # fmt: skip
    failures = [f | {"test": f"{f['test']} [shard {', '.join(s['shards'])}]"}
                for s in summaries for f in s["failures"]]  # fmt: skip
    scope = first["scope"]
    return report.summary(
        tally, first["candidate"], first["seed"], first["random_cases"],
        all(s["passed"] for s in summaries), sum(s["seconds"] for s in summaries), failures,
        Scope.parse(**{axis: ",".join(scope[axis]) for axis in AXES},
                    relu_at_zero=scope["relu_at_zero"], l2=scope["l2"]["strength"],
                    l2_form=scope["l2"]["form"] or None, l2_biases=scope["l2"]["biases"]),
        [str(shard) for shard in shards], first["selection"], first["environment"],
        first["options"], first.get("api", ""), first.get("names", ()),
    )  # fmt: skip
