"""``handgrad grade``: every family's correct candidate passes and each of its mistakes is
named, one grade run per family; and a grade goes on past an import error, a hang and a
crash, with the gate's own modules out of a submission's reach.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from handgrad import grade, grade_group
from tests.test_families import CATALOG, PATH


def _submission(directory: Path, entry: str) -> None:
    """A directory whose ``submission`` module is the family's ``entry`` under the family's
    default names: a class re-exported as TwoLayerNet, or a module's names star-imported."""
    directory.mkdir(parents=True)
    module, _, cls = entry.partition(":")
    line = f"from {module} import *\n"
    if cls:
        line += f"from {module} import {cls} as TwoLayerNet\n"
    (directory / "submission.py").write_text(line)


def _graded(family: str, root: Path) -> tuple[list[grade.Row], str]:
    options, entries = CATALOG[family]
    for i, entry in enumerate(entries):
        _submission(root / f"{i}-{entry.replace(':', '-')}", entry)
    out = root / "grades"
    run = subprocess.run(
        [sys.executable, "-m", "handgrad", "grade", *sorted(map(str, root.glob("[0-9]-*"))),
         "--candidate", "submission", "--api", family, *PATH, *options, "--cases", "0",
         "--report-dir", str(out)],
        capture_output=True, text=True, check=False, cwd=root,
    )  # fmt: skip
    rows = list(grade.csv_rows(out / "summary.csv"))
    return rows, run.stdout + run.stderr


@pytest.mark.parametrize("family", CATALOG)
def test_handgrad_grade_passes_the_correct_one_and_names_each_mistake(
    family: str, tmp_path: Path
) -> None:
    rows, output = _graded(family, tmp_path)
    _, entries = CATALOG[family]
    assert len(rows) == len(entries), output
    for r, (entry, expected) in zip(rows, entries.items(), strict=True):
        assert r.api == family, (entry, r)
        if expected is None:
            assert r.verdict == "passed", (entry, r, output)
            continue
        quantity, source, cause = expected
        assert r.verdict == "FAILED", (entry, r)
        assert (r.quantity, source in r.source) == (quantity, True), (entry, r)
        assert re.search(cause, r.cause), (entry, r)
    summary = (tmp_path / "grades" / "summary.md").read_text()
    assert f"{sum(e is None for e in entries.values())} of {len(entries)} submissions passed" in (
        summary)  # fmt: skip


def test_grade_keeps_going_past_an_import_error_a_hang_and_a_crash(tmp_path: Path) -> None:
    root = tmp_path / "class"
    for name, body in [
        ("a-correct", "print('a-correct imported')\nfrom cs231n.layers import *\n"),
        # The gate's own modules, shadowed in a submission's directory: never imported.
        ("a-correct/references", "raise SystemExit('the gate imported a submission's file')\n"),
        ("b-import", "import a_module_nobody_has\n"),
        ("c-hang", ("import time\nfrom cs231n.layers import *\n"
                   "def relu_backward(dout, cache):\n    time.sleep(600)\n")),
        ("d-crash", ("import os\nfrom cs231n.layers import *\n"
                    "def relu_backward(dout, cache):\n    os._exit(3)\n")),
    ]:  # fmt: skip
        if "/" in name:
            (root / f"{name}.py").write_text(body)
            continue
        (root / name).mkdir(parents=True)
        (root / name / "submission.py").write_text(body)
    out = tmp_path / "grades"
    run = subprocess.run(
        [sys.executable, "-m", "handgrad", "grade", *sorted(map(str, root.iterdir())),
         "--candidate", "submission", "--api", "cs231n-layers", *PATH, "--cases", "3",
         "--no-edge", "--timeout", "3", "--report-dir", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout + run.stderr
    rows = {r.submission: r for r in grade.csv_rows(out / "summary.csv")}
    assert rows["a-correct"].verdict == "passed"
    assert rows["b-import"].verdict == "not verified"
    assert "cannot import 'a_module_nobody_has'" in rows["b-import"].cause
    assert rows["c-hang"].verdict == "FAILED"
    assert "relu_backward timed out" in rows["c-hang"].cause
    assert rows["d-crash"].verdict == "FAILED"
    assert "relu_backward crashed the worker process (exit code 3)" in rows["d-crash"].cause
    for name in rows:
        # What each submission's code printed is in its own output, and no other's.
        printed = "a-correct imported" in (out / name / "output.txt").read_text()
        assert printed == (name == "a-correct"), name


def test_a_gate_process_that_dies_leaves_no_submission_ungraded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared gate processes exit before verifying anything: each submission is then
    verified in a process of its own, and graded as usual."""
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "submission.py").write_text("from cs231n.layers import *\n")
    monkeypatch.setattr(grade_group, "SERVE", "import sys; sys.exit(9)")
    arguments = ["--candidate", "submission", "--api", "cs231n-layers", *PATH, "--cases", "2",
                 "--no-edge"]  # fmt: skip
    rows = grade.grade([tmp_path / "a"], arguments, tmp_path / "grades")
    assert [(r.submission, r.verdict, r.cases) for r in rows] == [("a", "passed", 2)]
    assert (tmp_path / "grades" / "a" / "output.txt").read_text().strip().endswith(
        "verify.md")  # fmt: skip
