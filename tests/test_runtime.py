"""What surrounds a run without changing its verdict: the progress bar (on a terminal only,
never in a report), JAX's persistent compilation cache (on where it can be written) and
the process's one malloc arena."""

from __future__ import annotations

import io
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from handgrad import cli, jax_cache, progress

ROOT = Path(__file__).resolve().parent.parent


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def _slowly(n: int) -> Iterator[int]:
    """n results, one every 20 ms: slower than the bar's refresh interval (0.1 s)."""
    for i in range(n):
        time.sleep(0.02)
        yield i


def test_the_bar_counts_cases_on_a_terminal() -> None:
    screen = Terminal()
    assert list(progress.counting(_slowly(40), 40, file=screen)) == list(range(40))
    drawn = screen.getvalue()
    assert re.search(r"\b[1-9][0-9]?/40\b", drawn), drawn  # cases done, of all
    assert re.search(r"[0-9.]+case/s", drawn), drawn  # the rate
    assert re.search(r"<[0-9]{2}:[0-9]{2}", drawn), drawn  # the time left


def test_no_bar_off_a_terminal() -> None:
    log = io.StringIO()  # a pipe, a file, CI's log
    assert list(progress.counting(_slowly(40), 40, file=log)) == list(range(40))
    assert log.getvalue() == ""


def test_run_draws_its_bar_on_stderr_and_never_in_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    screen = Terminal()
    monkeypatch.setattr(sys, "stderr", screen)
    code = cli.main(["run", "--candidate", "manual", "--cases", "20", "--no-edge",
                     "--report-dir", str(tmp_path)])  # fmt: skip
    assert code == 0
    assert "/20 [" in screen.getvalue()  # the bar, on the standard error stream
    assert "/20 [" not in capsys.readouterr().out
    for report in tmp_path.iterdir():
        text = report.read_text()
        assert "case/s" not in text, report.name
        assert "\r" not in text, report.name


def test_the_cache_directory_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.delenv(jax_cache.VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert jax_cache.directory() == tmp_path / "handgrad" / "jax"
    monkeypatch.setenv(jax_cache.VARIABLE, str(tmp_path / "mine"))
    assert jax_cache.directory() == tmp_path / "mine"
    for off in ("0", "off", "OFF", "false", "no"):
        monkeypatch.setenv(jax_cache.VARIABLE, off)
        assert jax_cache.directory() is None


def test_no_home_directory_means_no_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """A container's user with no home directory: no cache, and no crash."""

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv(jax_cache.VARIABLE, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(Path, "home", no_home)
    assert jax_cache.directory() is None


def test_an_unwritable_directory_is_not_used(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("a file where the directory would go")
    assert not jax_cache.writable(blocked / "jax")
    assert jax_cache.writable(tmp_path / "fresh" / "jax")


def _gate_with_cache(env: dict[str, str]) -> str:
    """Run a few cases in a fresh process; its cache directory as JAX saw it."""
    code = ("from handgrad import api, jax_cache; import jax\n"
            "out = api.verify('manual', cases=4, edge=False)\n"
            "assert out.passed\n"
            "print(repr(getattr(jax.config, 'jax_compilation_cache_dir', None)))\n")  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=False, env=clean | env)  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.strip().splitlines()[-1]


def test_the_gate_fills_the_cache_or_runs_without_it(tmp_path: Path) -> None:
    """The cache is filled where it can be written; an unwritable one turns it off and the
    gate still passes manual."""
    cache = tmp_path / "cache"
    assert _gate_with_cache({jax_cache.VARIABLE: str(cache)}) == repr(str(cache))
    assert any(cache.iterdir())  # compiled programs were stored
    blocked = tmp_path / "blocked"
    blocked.write_text("")
    # "0" takes the same line of jax_cache.enable as an unwritable directory: "0" makes
    # jax_cache.directory None (test_the_cache_directory_follows_the_environment).
    assert _gate_with_cache({jax_cache.VARIABLE: str(blocked / "jax")}) == "None"


ARENAS = """
import ctypes, sys, tempfile, threading
import numpy as np
if sys.argv[1] == "configured":
    from handgrad import oracles
    oracles.configure()
def churn():
    for _ in range(200):
        blocks = [np.ones(20_000) for _ in range(20)]
        del blocks
threads = [threading.Thread(target=churn) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
with tempfile.NamedTemporaryFile(suffix=".xml") as out:
    stream = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, ctypes.c_void_p(stream))
    libc.fclose(ctypes.c_void_p(stream))
    print(open(out.name).read().count("<heap nr="))
"""


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
                    reason="malloc arenas are glibc's")  # fmt: skip
def test_the_gate_allocates_from_one_malloc_arena() -> None:
    """Threads that churn through arrays get arenas of their own, unless the gate's
    ``configure`` capped them (``handgrad.memory``)."""

    def heaps(mode: str) -> int:
        run = subprocess.run([sys.executable, "-c", ARENAS, mode], capture_output=True,
                             text=True, check=True, timeout=120)  # fmt: skip
        return int(run.stdout.split()[-1])

    assert heaps("plain") > 1
    assert heaps("configured") == 1
