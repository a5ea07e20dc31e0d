"""``handgrad grade DIR...``: a whole class's submissions, one per directory.

Each submission is verified as by ``handgrad run``, from its directory, with that
directory first on ``--path``, by one of a few gate processes (``--jobs``, one per core by
default) that each take their share in turn (:mod:`handgrad.grade_group`; its candidate
runs in a worker of its own, as always). Each writes its report under
``--report-dir/<submission>/``; a submission that cannot be imported, hangs or crashes is
one row of the summary and never stops the others. The summary, ``summary.md`` and ``summary.csv``, has a row per
submission: its API, verdict, cases failed, the first failing quantity (the upstream-most,
with the function that gave it) and its likely cause, from the report's failure list.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from handgrad import grade_group
from handgrad.progress import counting
from handgrad.quantities import ORDER

COLUMNS = ("submission", "api", "verdict", "cases", "failed", "errors", "quantity", "source",
           "cause", "failing", "report")  # fmt: skip


LAUNCH = "import sys; sys.path.pop(0); from handgrad.cli import main; sys.exit(main())"
"""``handgrad`` without the working directory on its path (``-c`` puts it first)."""


@dataclass
class Row:
    """One submission's line of the summary."""

    submission: str
    api: str = ""
    verdict: str = ""
    cases: int = 0
    failed: int = 0
    errors: int = 0
    """Cases where the candidate raised, hung, crashed or wrote into its inputs."""
    quantity: str = ""
    """The upstream-most failing quantity ("" if none, or if the candidate broke its
    contract before any comparison)."""
    source: str = ""
    """The candidate's function that gave it, where its API says."""
    cause: str = ""
    """Its likely cause, or why the submission could not be verified."""
    failing: str = ""
    """Every failing quantity, upstream first (a loss that fails alone hides no gradient)."""
    report: str = ""


def names(directories: Sequence[Path]) -> list[str]:
    """A name per submission, from its directory's name, made unique."""
    out: list[str] = []
    for d in directories:
        name, n = d.resolve().name or "submission", 2
        while name in out:
            name, n = f"{d.resolve().name}-{n}", n + 1
        out.append(name)
    return out


def _first_failure(report: dict[str, Any]) -> tuple[str, str, str]:
    """(quantity, source, cause) of the upstream-most failure in ``report``."""
    failing = report.get("failing", [])
    compared = [f for f in failing if f["quantity"]]
    if compared:
        first = min(compared, key=lambda f: ORDER.get(f["quantity"], len(ORDER)))
        same = [f for f in compared if f["quantity"] == first["quantity"]]
        cause = next((f["cause"] for f in same if f.get("cause")), "") or first.get("problem") or ""
        return first["quantity"], first.get("source") or "", cause
    errors = [f for f in failing if f.get("error")]
    return "", "", errors[0]["error"] if errors else ""


def row(name: str, rc: int, output: str, directory: Path) -> Row:
    """The summary's row from a finished ``handgrad run``: its exit code, its output and
    the report it wrote (if it wrote one)."""
    path = directory / "verify.json"
    if rc == 2 or not path.is_file():
        lines = [line for line in output.splitlines() if line.strip()]
        why = lines[-1] if lines else f"exit code {rc}"
        verdict = "not verified" if rc == 2 else f"gate failed (exit code {rc})"
        return Row(name, verdict=verdict, cause=why.removeprefix("handgrad run: "))
    report = json.loads(path.read_text())
    failed = sum(f for _, f in report["pattern"]["dtype"].values())
    quantity, source, cause = _first_failure(report)
    verdict = "passed" if report["passed"] and rc == 0 else "FAILED"
    every = sorted({f["quantity"] for f in report["failing"] if f["quantity"]},
                   key=lambda q: ORDER.get(q, len(ORDER)))  # fmt: skip
    return Row(name, report.get("api", ""), verdict, report["cases"], failed,
               report["candidate_errors"], quantity, source, cause, " ".join(every), str(path))  # fmt: skip


def run_one(name: str, submission: Path, arguments: Sequence[str], out: Path) -> Row:
    """Verify one submission in a ``handgrad run`` of its own, from its directory: for a
    submission whose shared gate process died before it (:mod:`handgrad.grade_group`)."""
    directory = out / name
    grade_group.fresh(directory)
    # Not `python -m`, which puts the working directory (the submission) first on the gate's
    # sys.path: a student's numpy.py or manual.py would replace the gate's own.
    command = [sys.executable, "-c", LAUNCH, "run", "--path", str(submission.resolve()),
               *arguments, "--report-dir", str(directory)]  # fmt: skip
    done = subprocess.run(command, cwd=submission, env=grade_group.one_thread_env(),
                          capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)  # fmt: skip
    output = done.stdout + done.stderr
    (directory / "output.txt").write_text(output)
    return row(name, done.returncode, output, directory)


def _finished(name: str, submission: Path, arguments: Sequence[str], out: Path) -> Row:
    """The row of a submission its gate process verified, or, where that process died
    first (no exit code), of a run of its own."""
    directory = out / name
    rc = directory / grade_group.RC
    if not rc.is_file():
        return run_one(name, submission, arguments, out)
    output = (directory / "output.txt").read_text(errors="replace")
    return row(name, int(rc.read_text()), output, directory)


def grade(submissions: Sequence[Path], arguments: Sequence[str], out: Path,
          jobs: int | None = None) -> list[Row]:  # fmt: skip
    """Every submission's row, in the order given; ``arguments`` go to each ``handgrad run``."""
    labels = names(submissions)
    api = arguments[arguments.index("--api") + 1] if "--api" in arguments else ""
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(labels)))
    out.mkdir(parents=True, exist_ok=True)
    triples = [(n, s, out / n) for n, s in zip(labels, submissions, strict=True)]
    for _ in counting(grade_group.run([triples[k::jobs] for k in range(jobs)], arguments, out),
                      len(triples), "submission"):  # fmt: skip
        pass
    rows: dict[str, Row] = {}
    for name, submission, _ in triples:
        try:
            rows[name] = _finished(name, submission, arguments, out)
        except Exception as exc:  # noqa: BLE001 (one row, whatever went wrong)
            rows[name] = Row(name, verdict="gate failed", cause=f"{type(exc).__name__}: {exc}")
    for r in rows.values():
        r.api = r.api or api  # one that could not be verified was still graded as that API
    return [rows[n] for n in labels]


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(rows: Sequence[Row]) -> str:
    passed = sum(r.verdict == "passed" for r in rows)
    lines = [f"# handgrad grade: {passed} of {len(rows)} submissions passed", "",
             ("| submission | API | verdict | cases failed | first failing quantity | likely cause "
             "| every failing quantity |"), "|---|---|---|---:|---|---|---|"]  # fmt: skip
    for r in rows:
        first = f"{r.quantity}, from {r.source}" if r.source else r.quantity
        failed = f"{r.failed} of {r.cases}" if r.cases else ""
        lines.append(f"| {_cell(r.submission)} | {_cell(r.api)} | {r.verdict} | {failed} | "
                     f"{_cell(first)} | {_cell(r.cause)} | {_cell(r.failing)} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def csv_text(rows: Sequence[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    return buffer.getvalue()


def csv_rows(path: Path) -> Iterator[Row]:
    """The rows of a summary.csv, as written."""
    with path.open(newline="") as file:
        for r in csv.DictReader(file):
            counts = {k: int(r[k]) for k in ("cases", "failed", "errors")}
            yield Row(**(r | counts))  # type: ignore[arg-type]


def write(out: Path, rows: Sequence[Row]) -> list[Path]:
    """summary.md and summary.csv in ``out``; their paths."""
    paths = [out / "summary.md", out / "summary.csv"]
    paths[0].write_text(markdown(rows))
    paths[1].write_text(csv_text(rows))
    return paths
