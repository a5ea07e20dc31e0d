"""The steps of handgrad's GitHub Action (``action.yml``), kept here so tests run them.

``action.yml`` hands each input to this script as a ``HANDGRAD_<INPUT>`` environment
variable (never pasted into shell code). The script runs the gate's own ``nox -s verify``
session from the action's checkout, with the caller's directory on ``PYTHONPATH``; then it
appends the report to the job summary and sets the step's outputs. It needs only the
standard library: it runs before anything is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

ACTION = Path(__file__).resolve().parent.parent.parent
"""The action's checkout: this repository, at the ref the caller's ``uses:`` names."""
OPTIONS = ("candidate", "api", "cases", "seed", "dtypes", "targets", "reductions",
           "relu-at-zero", "l2", "l2-form")  # fmt: skip
"""Inputs passed on to the gate as the pytest option of the same name."""
RENAMED = {"timeout": "candidate-timeout"}
"""Inputs passed on under another name (pytest-timeout owns pytest's --timeout)."""
NOX = "nox>=2026.8.10"

Runner = Callable[..., int]


def given(env: Mapping[str, str], name: str) -> str:
    """The input ``name`` ("" when not given)."""
    return env.get("HANDGRAD_" + name.upper().replace("-", "_"), "").strip()


def workspace(env: Mapping[str, str]) -> Path:
    return Path(env.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()


def report_dir(env: Mapping[str, str]) -> Path:
    return workspace(env) / (given(env, "report-dir") or "handgrad-reports")


def pytest_args(env: Mapping[str, str]) -> list[str]:
    """The gate's options from the inputs; empty inputs are left to the gate's defaults
    (the candidate's declared scope, 2000 cases, seed 0)."""
    if not given(env, "candidate"):
        raise ValueError("candidate: required, the import name of the module to verify")
    args = [f"--{name}={given(env, name)}" for name in OPTIONS if given(env, name)]
    args += [f"--{option}={given(env, name)}" for name, option in RENAMED.items()
             if given(env, name)]  # fmt: skip
    if given(env, "l2-biases").lower() == "true":
        args.append("--l2-biases")
    args.append(f"--path={workspace(env) / (given(env, 'path') or '.')}")
    out = report_dir(env)
    return [*args, f"--report-dir={out}", f"--junitxml={out / 'verify.xml'}"]


def command(env: Mapping[str, str]) -> list[str]:
    """``nox -s verify`` of the action's own noxfile; nox runs it from that directory."""
    noxfile = str(ACTION / "noxfile.py")
    return [sys.executable, "-m", "nox", "-f", noxfile, "-s", "verify", "--", *pytest_args(env)]


def environment(env: Mapping[str, str]) -> dict[str, str]:
    """The session's environment, with pip told where CPU-only torch lives (the ``path``
    input goes to the gate as ``--path``, absolute, as nox runs elsewhere)."""
    out = dict(env)
    index = given(env, "torch-index-url")
    if index:
        # torch==X then matches X+cpu from this index, which pip prefers to PyPI's X (a
        # local version sorts after its public one); PyPI's Linux wheel pulls CUDA.
        out["PIP_EXTRA_INDEX_URL"] = " ".join(filter(None, (index, env.get("PIP_EXTRA_INDEX_URL"))))
    return out


def publish(env: Mapping[str, str], code: int) -> None:
    """The report into the job summary, and the outputs ``passed`` and ``report-dir``."""
    out = report_dir(env)
    page = out / "verify.md"
    text = page.read_text() if page.exists() else (
        f"handgrad: the gate wrote no report (exit code {code}); see the step's log.\n")  # fmt: skip
    if env.get("GITHUB_STEP_SUMMARY"):
        with Path(env["GITHUB_STEP_SUMMARY"]).open("a") as summary:
            summary.write(text)
    if env.get("GITHUB_OUTPUT"):
        with Path(env["GITHUB_OUTPUT"]).open("a") as outputs:
            outputs.write(f"passed={str(code == 0).lower()}\nreport-dir={out}\n")


def main(env: Mapping[str, str] | None = None, run: Runner = subprocess.call) -> int:
    """Install nox, run the gate, publish. The exit code is nox's (1 when the gate fails
    or rejects an option), or 2 when the ``candidate`` input is missing."""
    env = dict(os.environ if env is None else env)
    try:
        gate = command(env)
    except ValueError as exc:
        print(f"handgrad action: {exc}", file=sys.stderr)
        return 2
    code = run([sys.executable, "-m", "pip", "install", "--quiet", NOX], env=env)
    if code == 0:
        print(" ".join(gate), flush=True)
        code = run(gate, env=environment(env))
    publish(env, code)
    return code


if __name__ == "__main__":
    sys.exit(main())
