"""No candidate can change the gate's arithmetic, hang it, or lose its report.

Each hazard is a habit of real code, written at the top of a candidate module that is
otherwise manual (correct) or ``no_relu_mask`` (wrong in dL/ds1 and after): the correct
one must pass, the wrong one must be rejected for its own mistake only, every message must
reach the user and the report must land where it was asked for. The modules are written
into a temporary directory and named with ``--path``, as a user's would be.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from handgrad import cli, messages
from handgrad.candidate import LoadError, load_candidate
from handgrad.cases import CaseSpec, make_case
from handgrad.engine import verify_cases
from handgrad.regularisation import NO_L2

HABITS = {
    # nnfs.init() (the nnfs book calls it at import), as its source does it: float32
    # defaults for np.zeros, np.eye and np.random.randn, a dot taken in float64 and returned
    # in float32, and a fixed seed.
    "nnfs": """
        _zeros, _eye, _randn, _dot = np.zeros, np.eye, np.random.randn, np.dot
        np.zeros = lambda shape, dtype=np.float32, **k: _zeros(shape, dtype=dtype, **k)
        np.eye = lambda n, *a, dtype=np.float32, **k: _eye(n, *a, dtype=dtype, **k)
        np.random.randn = lambda *a: _randn(*a).astype(np.float32)
        np.dot = lambda *a, **k: _dot(*[x.astype(np.float64) for x in a], **k).astype(np.float32)
        np.random.seed(0)
    """,
    "seterr": 'np.seterr(all="raise")',
    "chdir": "os.chdir(tempfile.mkdtemp())",
    "stdout": "sys.stdout = io.StringIO(); sys.stderr = io.StringIO()",
    # Everyone's global switches: torch's dtype and threads, JAX's x64, the warnings
    # filters, NumPy's print options and random state.
    "globals": """
        import jax, torch
        torch.set_default_dtype(torch.float64)
        torch.set_num_threads(3)
        jax.config.update("jax_enable_x64", False)
        warnings.simplefilter("error")
        np.set_printoptions(precision=1, threshold=5)
        np.random.seed(1234)
    """,
}
BASES = {"correct": "manual", "wrong": "tests.candidates.no_relu_mask"}
WRONG_IN = {"dL/ds1", "dL/dx", "dL/dw1", "dL/db1"}
"""Where no_relu_mask is wrong: nothing else may fail."""


def write(directory: Path, name: str, habit: str, base: str, backward: str = "") -> str:
    """A candidate module ``name`` in ``directory``: ``habit`` at import, ``base``'s API."""
    body = textwrap.dedent(habit).strip()
    code = (
        "import io, os, sys, tempfile, time, signal, warnings\nimport numpy as np\n"
        f"{body}\nfrom {base} import Params, forward, backward, cross_entropy, "
        "softmax_jacobian\n"
    )
    if backward:
        code += (
            f"_backward = backward\n\ndef backward(x, y, params, fwd, reduction='mean'):\n"
            f"    {backward}\n    return _backward(x, y, params, fwd, reduction)\n"
        )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.py").write_text(code)
    return name


def run(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str], *extra: str,
        cases: int = 40) -> tuple[int, str, dict[str, object]]:  # fmt: skip
    """``handgrad run`` from a working directory of its own, with a relative --report-dir:
    (exit code, what it printed, the report)."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)
        code = cli.main(["run", "--candidate", name, "--path", str(tmp_path / "mods"),
                         "--cases", str(cases), "--no-edge", "--report-dir", "reports", *extra])  # fmt: skip
    out = capsys.readouterr().out
    report = work / "reports" / "verify.json"
    assert report.is_file(), f"no report at {report}:\n{out}"
    return code, out, json.loads(report.read_text())


@pytest.mark.parametrize("habit", sorted(HABITS))
def test_a_correct_candidate_with_the_habit_passes(habit: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    name = write(tmp_path / "mods", f"habit_{habit}_correct", HABITS[habit], BASES["correct"])
    code, out, report = run(tmp_path, name, capsys)
    assert code == 0, out
    assert "all 40 cases passed" in out  # the verdict reaches the user
    assert "report written to" in out
    assert report["passed"] is True


@pytest.mark.parametrize("habit", sorted(HABITS))
def test_a_wrong_candidate_with_the_habit_is_rejected_for_its_own_mistake_only(
    habit: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = write(tmp_path / "mods", f"habit_{habit}_wrong", HABITS[habit], BASES["wrong"])
    code, out, report = run(tmp_path, name, capsys)
    assert code == 1
    failing = report["failing"]
    assert isinstance(failing, list)
    quantities = {f["quantity"] for f in failing}
    assert "dL/ds1" in quantities, out
    assert quantities <= WRONG_IN, quantities
    assert "likely cause: mismatches only where s1 ≤ 0: the ReLU mask" in out


SEVEN = CaseSpec(7, 3, 4, 2, "float64", "labels", "mean", "random", 1)
OTHERS = [CaseSpec(5, 3, 4, 2, "float64", "labels", "mean", "random", s) for s in range(3)]


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("time.sleep(3600) if x.shape[0] == 7 else None", "timed out: no result within 2 s"),
        ("os._exit(3) if x.shape[0] == 7 else None", "crashed the worker process (exit code 3)"),
        (
            "os.kill(os.getpid(), signal.SIGSEGV) if x.shape[0] == 7 else None",
            "crashed the worker process (killed by signal SIGSEGV)",
        ),
        # Not in the list: code written as a script calls sys.exit; it must not end the gate.
        ("sys.exit(0) if x.shape[0] == 7 else None", "raised SystemExit"),
    ],
    ids=["hang", "exit", "segfault", "sys-exit"],
)
def test_a_call_that_hangs_or_kills_its_process_fails_its_case_alone(
    action: str, expected: str, tmp_path: Path
) -> None:
    """The case is a failure that names the call; the cases after it, in the same batch,
    are verified by a new worker."""
    name = write(tmp_path, "hazard_call", "", "manual", backward=action)
    loaded = load_candidate(name, (str(tmp_path),), timeout=2)
    specs = [OTHERS[0], SEVEN, *OTHERS[1:]]
    results = {str(r.spec): r for r in verify_cases(loaded, [make_case(s) for s in specs])}
    bad = results[str(SEVEN)]
    assert expected in bad.error, bad.error
    assert "hazard_call.backward" in bad.error
    assert str(SEVEN) in bad.error
    assert all(results[str(s)].passed for s in OTHERS)
    assert "contract broken: hazard_call.backward" in messages.summary([bad])


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("os._exit(3)", "crashed the worker process (exit code 3)"),
        ("time.sleep(3600)", "timed out: no result within 2 s"),
    ],
    ids=["crash", "hang"],
)
def test_a_hang_and_a_crash_still_write_the_report(action: str, expected: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    name = write(tmp_path / "mods", "hazard_report", "", "manual",
                 backward=f"{action} if x.shape[0] % 7 == 0 else None")  # fmt: skip
    code, out, report = run(tmp_path, name, capsys, "--timeout", "2", cases=30)
    assert code == 1
    assert expected in out
    assert int(str(report["candidate_errors"])) > 0
    failing: list[dict[str, str]] = report["failing"]  # type: ignore[assignment]
    errors = [f["error"] for f in failing if f["quantity"] == ""]
    assert errors
    assert all(expected in e and "hazard_report.backward" in e for e in errors)
    assert report["cases"] == 30  # every case verified, those after a failure included


def test_the_import_runs_in_the_worker_only(tmp_path: Path) -> None:
    """The gate's own process never imports the candidate: its module-level code (a print,
    a patch) runs in the worker."""
    import sys

    name = write(tmp_path, "hazard_marker", "np.HANDGRAD_MARKER = 1", "manual")
    load_candidate(name, (str(tmp_path),))
    assert name not in sys.modules
    import numpy as np

    assert not hasattr(np, "HANDGRAD_MARKER")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("print 'hello'\n", "SyntaxError"),
        (
            "raise RuntimeError('demo code at import')\n",
            "importing it raised RuntimeError: demo code at import",
        ),
    ],
    ids=["python2", "demo-code"],
)
def test_a_candidate_that_cannot_be_imported_is_one_line_and_exit_2(
    code: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "broken.py").write_text(code)
    with pytest.raises(LoadError, match=expected):
        load_candidate("broken", (str(tmp_path),))
    assert cli.main(["run", "--candidate", str(tmp_path / "broken.py")]) == 2
    err = capsys.readouterr().err
    assert expected in err
    assert f"{tmp_path / 'broken.py'}, line 1" in err
    assert err.count("\n") == 1, err


def test_a_batch_never_collected_cannot_be_taken_for_the_next() -> None:
    """A batch sent to the worker whose results were never collected (its caller raised in
    between) must not answer for the next batch."""
    loaded = load_candidate("manual")
    loaded.submit([make_case(s) for s in OTHERS], NO_L2)  # never collected
    ((values, error),) = loaded.submit([make_case(SEVEN)], NO_L2)()
    assert not error
    assert values["s1"].shape == (SEVEN.N, SEVEN.H)


class _Tagged(np.ndarray):
    """A subclass of ndarray, as some libraries return."""


def test_results_come_back_as_the_worker_had_them() -> None:
    """The shared file that carries a batch's arrays (:class:`handgrad.transfer.Results`),
    written by one side and read by the other as the two processes do, each case read as
    soon as it is written: each value's dtype, shape and elements survive, whatever its
    layout; an empty array first (an empty file cannot be mapped) and a 0-d one; what is
    not a plain numeric array (a float, a list, an object array, a subclass) comes back
    as it was, left to the pickled part; a case larger than the file grows it and the
    reader maps it again; a case past ``LIMIT`` goes to the pickled part; a new batch
    starts again at the file's start."""
    from handgrad import transfer

    fd = transfer.shared_file()
    writer, reader = transfer.Results(fd), transfer.Results(fd)
    rng = np.random.default_rng(0)
    big = rng.standard_normal((64, 256, 256))  # 32 MiB: past the file's first size
    first: dict[str, Any] = {
        "dL/ds2": np.zeros((0, 3), np.float32),  # empty, and the file's first array
        "s1": rng.standard_normal((5, 3)).astype(np.float32),
        "loss": np.array(1.5),  # a 0-d array
        "dL/dw1": np.asfortranarray(rng.standard_normal((4, 6))),
        "dL/dx": rng.standard_normal((6, 8))[:, ::2],  # not contiguous
        "p": np.arange(7, dtype=np.int16),
        "o1": [1.0, 2.0],
        "dL/db1": np.array([None, 1.0], dtype=object),
        "dL/dw2": np.ones((2, 2)).view(_Tagged),
        "dL/db2": 0.25,
    }
    second: dict[str, Any] = {"dp/ds2": big, "s2": np.ones((2, 2), np.float32)}
    too_big: dict[str, Any] = {"dp/ds2": np.ones(transfer.LIMIT // 8 + 1)}
    maps = []
    for batch in ([first, second, too_big], [second, first]):
        writer.end = 0  # as the worker's loop does at each batch
        for k, values in enumerate(batch):
            rest, block = writer.put(values)
            if k == 0:
                assert block[0] == 0  # the batch starts at the file's start
            got = reader.take(rest, block)
            maps.append(reader.map)
            assert set(got) == set(values)
            for q, v in values.items():
                shared = type(v) is np.ndarray and v.dtype != object and v.nbytes < transfer.LIMIT
                if shared:
                    assert type(got[q]) is np.ndarray, q
                    assert got[q].dtype == v.dtype, q
                    assert got[q].shape == v.shape, q
                    np.testing.assert_array_equal(got[q], v)
                    assert q not in rest, q  # it came through the file
                else:
                    assert got[q] is v, q  # not in the file: left to the pickled part
    assert maps[0] is not maps[1]  # the reader mapped the grown file again
    assert os.fstat(fd).st_size >= big.nbytes
    writer.close()
    if reader.map is not None:
        reader.map.close()
