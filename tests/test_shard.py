"""One run split with ``--shard i/n`` and joined with ``handgrad merge``: the shards verify
exactly the unsplit run's cases, and their merged report is the unsplit run's report."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from handgrad import cli, merge, report
from handgrad.batch import groups
from handgrad.cases import random_specs
from handgrad.shard import Shard
from handgrad.tally import Row, Tally

ROOT = Path(__file__).resolve().parent.parent
SHARDS = 3
SCOPE = ["--dtypes", "float64", "--targets", "labels,soft", "--reductions", "mean"]
"""A small scope keeps the four pytest runs short; sharding does not depend on it."""
PER_RUN = ("seconds", "failures", "shards")
"""What a merged report may not share with the unsplit run's: when and how it ran."""


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_are_disjoint_and_cover_the_list(count: int) -> None:
    items = list(range(20))
    taken = [Shard(i, count).take(items) for i in range(1, count + 1)]
    assert sorted(x for part in taken for x in part) == items
    for i, part in enumerate(taken, 1):
        assert all(Shard(i, count).owns(x) for x in part)


@pytest.mark.parametrize("count", [1, 3])
def test_a_shard_takes_whole_batches(count: int) -> None:
    """Each shard's cases fall into exactly batches of the unsplit list: every case keeps
    its batch-mates, and the shards together hold every case once."""
    specs = random_specs(0, 300)
    whole = {tuple(specs[i] for i in chunk) for chunk in groups(specs)}
    taken = [Shard(i, count).take_batches(specs) for i in range(1, count + 1)]
    for part in taken:
        assert {tuple(part[i] for i in chunk) for chunk in groups(part)} <= whole
    assert sorted(map(str, (s for part in taken for s in part))) == sorted(map(str, specs))


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0"])
def test_a_bad_shard_is_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="--shard: expected i/n"):
        Shard.parse(text)


def test_equal_ratios_name_the_same_worst_case_in_any_order() -> None:
    """Merging is order-free only if ties are broken by the case, not by arrival."""
    a, b = Row("p", "jax", "float64"), Row("p", "jax", "float64")
    for row, order in ((a, ["N=2", "N=1", "N=3"]), (b, ["N=3", "N=1", "N=2"])):
        for case in order:
            row.update(1, 0, 0.5, case)
    assert a == b
    assert a.worst_case == "N=1"


def gate(directory: Path, candidate: str, *options: str) -> int:
    """The gate's own tests, as ``nox -s verify`` runs them, in a fresh process."""
    args = [sys.executable, "-m", "pytest", "tests/test_verify.py", "-p", "no:cacheprovider",
            "-q", "--candidate", candidate, "--cases", "30", "--seed", "5", *SCOPE,
            f"--report-dir={directory}", *options]  # fmt: skip
    return subprocess.run(args, cwd=ROOT, capture_output=True, check=False).returncode


def without_run_details(s: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in s.items() if key not in PER_RUN}


def test_merged_shards_equal_the_unsharded_run(tmp_path: Path) -> None:
    """A candidate that fails on the kink cases only: failing rows whose counts and worst
    cases must add up across shards, beside rows that pass everywhere."""
    candidate, code = "tests.candidates.mask_ge", 1
    assert gate(tmp_path / "whole", candidate) == code
    for i in range(1, SHARDS + 1):
        assert gate(tmp_path / f"shard{i}", candidate, f"--shard={i}/{SHARDS}") in (0, code)
    whole = json.loads((tmp_path / "whole" / "verify.json").read_text())
    parts = merge.load([tmp_path / f"shard{i}" for i in range(1, SHARDS + 1)])
    assert [p["shards"] for p in parts] == [[f"{i}/{SHARDS}"] for i in range(1, SHARDS + 1)]
    assert all(0 < p["cases"] < whole["cases"] for p in parts)  # each shard did a part
    assert sum(p["cases"] for p in parts) == whole["cases"]

    out = tmp_path / "merged"
    assert cli.main(["merge", *(str(tmp_path / f"shard{i}") for i in (1, 2, 3)),
                     "--report-dir", str(out)]) == code  # fmt: skip
    merged = json.loads((out / "verify.json").read_text())
    assert without_run_details(merged) == without_run_details(whole)
    assert merge.merge(parts[::-1]) | {"seconds": 0} == merge.merge(parts) | {"seconds": 0}
    assert merged["fingerprint"] == whole["fingerprint"]
    assert merged["shards"] == [f"{i}/{SHARDS}" for i in range(1, SHARDS + 1)]
    assert merged["failures"]
    suite = ET.parse(out / "verify.xml").getroot()
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert len(list(suite.iter("testcase"))) == len(whole["rows"]) + len(merged["failures"])
    assert "dL/ds1 vs torch (float64)" in failed
    assert "dL/dw2 vs torch (float64)" not in failed
    assert (out / "verify.md").read_text().startswith("# handgrad verify report")


def summary_of(shards: list[str], **changes: Any) -> dict[str, Any]:
    tally = Tally()
    return report.summary(tally, "manual", 0, 10, True, 1.0, [], None, shards) | changes


def test_merge_refuses_a_report_it_cannot_read(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    old = summary_of(["1/1"])
    del old["fingerprint"]
    (tmp_path / "verify.json").write_text(json.dumps(old))
    assert cli.main(["merge", str(tmp_path), "--report-dir", str(tmp_path / "out")]) == 2
    assert "not a handgrad verify.json of this version (missing fingerprint)" in (
        capsys.readouterr().err)  # fmt: skip


def test_junit_holds_any_message() -> None:
    """Terminal colour codes and empty messages still give well-formed XML."""
    s = summary_of(["1/1"], failures=[{"test": "a", "message": "\x1b[31mred\x1b[0m"},
                                      {"test": "b", "message": ""}])  # fmt: skip
    suite = ET.fromstring(report.junit(s))
    assert [c.get("message") for c in suite.iter("failure")] == ["?[31mred?[0m", "failed"]


def test_merging_passing_shards_passes(tmp_path: Path) -> None:
    for i in (1, 2):
        (tmp_path / f"shard{i}").mkdir()
        (tmp_path / f"shard{i}" / "verify.json").write_text(json.dumps(summary_of([f"{i}/2"])))
    args = ["merge", str(tmp_path), "--report-dir", str(tmp_path / "out")]
    assert cli.main(args) == 0
    merged = json.loads((tmp_path / "out" / "verify.json").read_text())
    assert merged["passed"]
    assert merged["shards"] == ["1/2", "2/2"]
    assert ET.parse(tmp_path / "out" / "verify.xml").getroot().get("failures") == "0"


@pytest.mark.parametrize(
    ("shards", "changes", "message"),
    [
        (["1/3", "2/3"], {}, "shard 3/3 missing"),
        (["1/2", "1/2", "2/2"], {}, "shard 1/2 given twice"),
        (["1/2", "2/3"], {}, "shards of different splits"),
        (["1/2", "2/2"], {"seed": 1}, "they differ in seed"),
        (["1/2", "2/2"], {"selection": "-m ''"}, "they differ in selection"),
        (["1/2", "2/2"], {"environment": {"torch": "2.0"}}, "they differ in environment"),
    ],
)
def test_merge_refuses_reports_that_are_not_one_run(
    shards: list[str], changes: dict[str, Any], message: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    paths = []
    for k, shard in enumerate(shards):
        path = tmp_path / f"{k}.json"
        path.write_text(json.dumps(summary_of([shard], **(changes if k else {}))))
        paths.append(str(path))
    assert cli.main(["merge", *paths, "--report-dir", str(tmp_path / "out")]) == 2
    assert message in capsys.readouterr().err
