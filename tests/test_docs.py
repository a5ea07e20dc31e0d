"""Every command in the README and the documentation pages runs, or names only options that
exist, with those spellings and those values.

Each fenced shell block's commands that call ``handgrad``, ``python -m handgrad`` or
``nox`` are checked against what they call: ``handgrad``'s own argument parser; nox's
sessions, read from the noxfile; and the options a session passes on to pytest, from the
pytest plugins' own option definitions (values included) and from ``pytest --help``. Each
Python block that imports ``handgrad`` or ``manual`` is run, on a small case's arrays. A
command or block that none of these can check fails the test: a renamed option cannot
leave a stale page, and no block escapes by being left unmarked. (The published APIs'
commands are also run in full, by ``tests/test_families.py``.)
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from handgrad import cases, cli, pytest_plugin

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
SHELL = {"bash", "sh", "shell", "console"}
PYTHON = {"python", "py", "pycon"}
PYTEST_TARGET = {"verify": "tests/test_verify.py", "tests": "tests", "bench": "benchmarks"}
"""Where each nox session passes what follows ``--``: a pytest run of this target."""


def blocks() -> Iterator[tuple[str, str, str]]:
    """(page, language, body) of every fenced block of the README and the pages."""
    for page in PAGES:
        for m in BLOCK.finditer(page.read_text(encoding="utf-8")):
            yield str(page.relative_to(ROOT)), m.group(1).lower(), m.group(2)


def command_lines(language: str, body: str) -> Iterator[str]:
    """The shell command lines of a block: every line of a shell block or of one with no
    language named; elsewhere, a transcript's ``$ `` lines and a workflow's ``run:`` steps."""
    for line in body.splitlines():
        if language in SHELL or not language:
            yield line.removeprefix("$ ")
        elif line.startswith("$ "):
            yield line[2:]
        elif (step := re.match(r"\s*(?:- )?run: (.*)$", line)) and language in ("yaml", "yml"):
            yield step.group(1)


def commands() -> list[tuple[str, list[str]]]:
    """(page, argv) of every command in the pages' blocks that calls handgrad or nox."""
    found = []
    for page, language, body in blocks():
        for line in command_lines(language, body):
            for part in re.split(r"&&|;|\|", line):
                argv = shlex.split(part, comments=True)
                if tool(argv):
                    found.append((page, argv))
    return found


def tool(argv: list[str]) -> str:
    """ "handgrad" or "nox" where the command runs one (as itself or ``python -m``)."""
    if argv[:1] in (["handgrad"], ["nox"]):
        return argv[0]
    if len(argv) >= 3 and re.fullmatch(r"python[\d.]*", argv[0]) and argv[1] == "-m":
        return argv[2] if argv[2] in ("handgrad", "nox") else ""
    return ""


def python_blocks() -> list[tuple[str, str]]:
    return [(page, body) for page, language, body in blocks() if language in PYTHON
            and re.search(r"^\s*(from|import) (handgrad|manual)\b", body, re.MULTILINE)]  # fmt: skip


def sessions() -> set[str]:
    """The noxfile's sessions, read without importing nox."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    return {f.name for f in tree.body if isinstance(f, ast.FunctionDef)
            and any("session" in ast.unparse(d) for d in f.decorator_list)}  # fmt: skip


class _Group:
    """What a pytest plugin's ``pytest_addoption`` sees, adding to an argparse parser."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser

    def getgroup(self, *_: Any, **__: Any) -> _Group:
        return self

    def addoption(self, *names: str, **kwargs: Any) -> None:
        self.parser.add_argument(*names, **kwargs)


class _Refused(AssertionError):
    """An option or value a plugin's own definition refuses."""


class _Strict(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise _Refused(message)


@cache
def plugin_parser(target: str) -> argparse.ArgumentParser:
    """The options the pytest plugins of a run on ``target`` define, as they define them."""
    parser = _Strict(add_help=False, allow_abbrev=False)
    pytest_plugin.pytest_addoption(_Group(parser))  # type: ignore[arg-type]
    if target == "benchmarks":
        from benchmarks import conftest  # the root is on pytest's pythonpath

        conftest.pytest_addoption(_Group(parser))  # type: ignore[arg-type]
    return parser


@cache
def pytest_help(target: str) -> str:
    """``pytest TARGET --help``: every option of pytest and its installed plugins."""
    run = subprocess.run([sys.executable, "-m", "pytest", target, "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def check_pytest_options(target: str, args: list[str]) -> None:
    _, rest = plugin_parser(target).parse_known_args(args)  # the plugins' values checked
    for arg in rest:
        if arg.startswith("-"):
            name = arg.split("=")[0]
            pattern = rf"(^|[\s,]){re.escape(name)}([\s=,]|$)"
            assert re.search(pattern, pytest_help(target), re.MULTILINE), (
                f"{name} is not an option of pytest {target}")  # fmt: skip


def check_nox(argv: list[str]) -> None:
    args = argv[argv.index("nox") + 1 :]
    posargs = args[args.index("--") + 1 :] if "--" in args else []
    own = args[: args.index("--")] if "--" in args else args
    named: list[str] = []
    for i, a in enumerate(own):
        if a in ("-s", "--session", "--sessions"):
            named += [s for s in own[i + 1 :] if not s.startswith("-")]
            break
    assert set(named) <= sessions(), f"no such nox session: {set(named) - sessions()}"
    if not posargs:
        return
    assert len(named) == 1, f"options after -- with {len(named)} sessions"
    session = named[0]
    assert session in PYTEST_TARGET, f"cannot check the options of nox -s {session}"
    check_pytest_options(PYTEST_TARGET[session], posargs)


def check_handgrad(argv: list[str]) -> None:
    args = argv[argv.index("handgrad") + 1 :]
    try:
        cli.parser().parse_args(args)
    except SystemExit as exit:  # argparse's error: the message is on stderr
        raise AssertionError(f"handgrad refuses {shlex.join(args)}") from exit


def ids(found: list[tuple[str, Any]]) -> list[str]:
    """page-1, page-2, …: each item's place among its page's."""
    seen: dict[str, int] = {}
    out = []
    for page, _ in found:
        seen[page] = seen.get(page, 0) + 1
        out.append(f"{page}-{seen[page]}")
    return out


@pytest.mark.parametrize(("page", "argv"), commands(), ids=ids(commands()))
def test_every_command_names_real_options(page: str, argv: list[str]) -> None:
    assert page.endswith(".md")
    if tool(argv) == "nox":
        check_nox(argv)
    else:
        check_handgrad(argv)


def test_the_pages_have_commands_and_the_checks_can_fail() -> None:
    found = commands()
    assert {page for page, _ in found} >= {"README.md", "docs/verify.md", "docs/ci.md",
                                           "docs/failures.md"}  # fmt: skip
    assert any(argv[:3] == ["python", "-m", "nox"] for page, argv in found if page == "docs/ci.md")
    for wrong in (["nox", "-s", "verfy"], ["nox", "-s", "verify", "--", "--api", "cs231n"],
                  ["nox", "-s", "verify", "--", "--no-such-option"],
                  ["nox", "-s", "docs", "--", "--strict"]):  # fmt: skip
        with pytest.raises(AssertionError):
            check_nox(wrong)
    for wrong_run in (["--casez", "100"], ["--cases", "-1"], ["--l2-form", "quarter"]):
        with contextlib.redirect_stderr(io.StringIO()), pytest.raises(AssertionError):
            check_handgrad(["handgrad", "run", *wrong_run])
    check_nox(["nox", "-s", "bench", "--", "--bench-shapes", "small"])


@pytest.mark.parametrize(("page", "body"), python_blocks(), ids=ids(python_blocks()))
def test_every_python_block_runs(page: str, body: str) -> None:
    """On a small case's arrays, by their names in the derivation."""
    case = cases.make_case(cases.CaseSpec(5, 4, 3, 2, "float64", "labels", "mean", "random", 0))
    names = {k: getattr(case, k) for k in ("x", "y", "w1", "b1", "w2", "b2")}
    exec(compile(body, page, "exec"), names)  # noqa: S102 - the page's own example


def test_python_blocks_are_found() -> None:
    assert any(page == "docs/verify.md" for page, _ in python_blocks())
