"""The composite GitHub Action: ``action.yml`` and the script that holds its steps, run
outside GitHub with the environment GitHub would give it."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ACTION_YML = (ROOT / "action.yml").read_text()


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "action_verify", ROOT / ".github/action/verify.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


action = load_script()
COURSEWORK = {"HANDGRAD_CANDIDATE": "coursework_labels_mean", "HANDGRAD_PATH": "tests/candidates"}


def github_env(tmp_path: Path, **inputs: str) -> dict[str, str]:
    """What the runner gives the step: the workspace, the summary and output files, and
    the inputs as action.yml maps them."""
    (tmp_path / "summary.md").write_text("earlier step\n")
    return {"GITHUB_WORKSPACE": str(ROOT), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
            "GITHUB_OUTPUT": str(tmp_path / "output"), "PATH": "/usr/bin",
            "HANDGRAD_REPORT_DIR": str(tmp_path / "reports"), **inputs}  # fmt: skip


def test_action_yml_hands_every_input_to_the_script() -> None:
    """Each input reaches the script as the variable it reads, and none is pasted into
    shell code (where a crafted value would run as a command)."""
    block = ACTION_YML.split("\ninputs:\n")[1].split("\noutputs:\n")[0]
    inputs = set(re.findall(r"^  ([a-z0-9-]+):$", block, re.MULTILINE))
    mapped = dict(re.findall(r"(HANDGRAD_\w+): \$\{\{ inputs\.([a-z0-9-]+) \}\}", ACTION_YML))
    used_by_steps = {"python-version", "artifact-name"}  # used by the steps that `uses:` actions
    assert set(mapped.values()) == inputs - used_by_steps
    for variable, name in mapped.items():
        assert action.given({variable: " x "}, name) == "x"
    read = {*action.OPTIONS, *action.RENAMED, "path", "l2-biases", "torch-index-url", "report-dir"}
    assert set(mapped.values()) == read
    run_lines = re.findall(r"^\s+run: (.*)$", ACTION_YML, re.MULTILINE)
    assert run_lines == ['python "$GITHUB_ACTION_PATH/.github/action/verify.py"']
    assert Path(action.command(COURSEWORK)[4]) == ROOT / "noxfile.py"


def test_the_inputs_become_the_gates_options(tmp_path: Path) -> None:
    env = github_env(tmp_path, **COURSEWORK, HANDGRAD_CASES="300", HANDGRAD_SEED="",
                     HANDGRAD_DTYPES="float64", HANDGRAD_RELU_AT_ZERO="any", HANDGRAD_L2="0.1",
                     HANDGRAD_L2_FORM="half", HANDGRAD_L2_BIASES="true",
                     HANDGRAD_TIMEOUT="9", HANDGRAD_API="module")  # fmt: skip
    out = tmp_path / "reports"
    assert action.pytest_args(env) == [
        "--candidate=coursework_labels_mean", "--api=module", "--cases=300", "--dtypes=float64",
        "--relu-at-zero=any", "--l2=0.1", "--l2-form=half", "--candidate-timeout=9",
        "--l2-biases", f"--path={ROOT / 'tests/candidates'}", f"--report-dir={out}",
        f"--junitxml={out / 'verify.xml'}",
    ]  # fmt: skip
    session = action.environment(env | {"PYTHONPATH": "/elsewhere",
                                        "HANDGRAD_TORCH_INDEX_URL": "https://torch.example/cpu"})  # fmt: skip
    assert session["PYTHONPATH"] == "/elsewhere"
    assert session["PIP_EXTRA_INDEX_URL"] == "https://torch.example/cpu"
    assert "PIP_EXTRA_INDEX_URL" not in action.environment(env)


def test_without_a_candidate_it_stops_with_the_inputs_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[list[str]] = []

    def run(command: list[str], **_: Any) -> int:
        calls.append(command)
        return 0

    assert action.main(github_env(tmp_path), run=run) == 2
    assert "candidate: required" in capsys.readouterr().err
    assert not calls


@pytest.mark.parametrize("code", [0, 1])
def test_it_publishes_the_report_and_passes_on_the_gates_exit_code(tmp_path: Path,
                                                                  code: int) -> None:  # fmt: skip
    env = github_env(tmp_path, **COURSEWORK)
    calls: list[tuple[list[str], dict[str, str]]] = []

    def run(command: list[str], env: dict[str, str]) -> int:
        calls.append((command, env))
        if "nox" in command and "verify" in command:  # the gate: it writes its report
            (tmp_path / "reports").mkdir()
            (tmp_path / "reports" / "verify.md").write_text("# handgrad verify report\n")
            return code
        return 0

    assert action.main(env, run=run) == code
    (install, _), (gate, session) = calls
    assert install[-1] == action.NOX
    assert gate[gate.index("--") + 1 :] == action.pytest_args(env)
    assert "PYTHONPATH" not in session
    assert (tmp_path / "summary.md").read_text() == "earlier step\n# handgrad verify report\n"
    outputs = (tmp_path / "output").read_text()
    assert f"passed={'true' if code == 0 else 'false'}\n" in outputs
    assert f"report-dir={tmp_path / 'reports'}\n" in outputs


def test_a_gate_that_wrote_no_report_is_said_so_in_the_summary(tmp_path: Path) -> None:
    env = github_env(tmp_path, **COURSEWORK)

    def run(command: list[str], **_: Any) -> int:
        return 3 if "nox" in command else 0

    assert action.main(env, run=run) == 3
    assert "the gate wrote no report (exit code 3)" in (tmp_path / "summary.md").read_text()


def test_the_gate_accepts_the_options_the_script_builds(tmp_path: Path) -> None:
    """The real gate (its edge cases, to stay short) with the options and PYTHONPATH the
    script builds: the coursework candidate, importable only from the ``path`` input,
    passes within its declared scope, and the report lands where the action uploads it."""
    env = github_env(tmp_path, **COURSEWORK)
    session = action.environment(env | {"PATH": "/usr/bin:/bin"})
    args = [sys.executable, "-m", "pytest", "tests/test_verify.py", "-p", "no:cacheprovider",
            "-q", "-k", "test_edge_case", *action.pytest_args(env)]  # fmt: skip
    done = subprocess.run(args, cwd=ROOT, env=session, capture_output=True, text=True,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    action.publish(env, done.returncode)
    summary = (tmp_path / "summary.md").read_text()
    assert "**PASS**" in summary
    assert "Not verified (outside the declared scope): targets onehot, soft" in summary
    assert (tmp_path / "reports" / "verify.xml").exists()
