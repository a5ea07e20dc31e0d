"""The repository stands on its own: a fresh clone refers to no file outside it."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)\s]+)\)")
"""A Markdown link's target: [text](target)."""
OUTSIDE = re.compile(r"\.\.[/\\]shared|shared[/]seed|anchors[.]md|derivation[.]ru[.]md|NOTES[.]md")
"""The team's own folder beside the repository and the files in it, which a clone does not
have. The pattern is written so that it does not match this file."""


def tracked_files(root: Path) -> list[Path]:
    """What a clone holds: git's tracked files (every file but build outputs without git)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                             check=True, text=True).stdout  # fmt: skip
        return [root / name for name in out.split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".nox", "reports", "__pycache__", ".venv"}
        return [p for p in root.rglob("*") if p.is_file() and not skip & set(p.parts)]


def text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return ""  # a binary file names no path


def outside_references(root: Path, files: list[Path]) -> list[str]:
    return [f"{path.relative_to(root)}:{n}: {line.strip()}" for path in files
            for n, line in enumerate(text(path).splitlines(), 1) if OUTSIDE.search(line)]  # fmt: skip


SOURCE = re.compile(r"https://github\.com/handgrad/handgrad/(?:blob|tree)/main/([^#]*)")
"""A link from the documentation site to a file of this repository (the site holds only
docs/, so its pages name the repository's other files by their address on GitHub)."""


def broken_links(root: Path, files: list[Path]) -> list[str]:
    """Relative Markdown links that leave ``root`` or name a file that does not exist, and
    links to this repository's files on GitHub that name none."""
    broken = []
    for page in (p for p in files if p.suffix == ".md"):
        for target in LINK.findall(text(page)):
            source = SOURCE.match(target)
            if source:
                if not (root / source.group(1)).exists():
                    broken.append(f"{page.relative_to(root)}: {target}")
                continue
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor on the same page
            resolved = (page.parent / target.split("#")[0]).resolve()
            if not resolved.is_relative_to(root) or not resolved.exists():
                broken.append(f"{page.relative_to(root)}: {target}")
    return broken


def test_no_file_names_a_folder_outside_the_repository() -> None:
    found = outside_references(ROOT, tracked_files(ROOT))
    assert not found, "\n".join(found)


def test_every_relative_link_resolves_inside_the_repository() -> None:
    files = tracked_files(ROOT)
    assert ROOT / "README.md" in files
    assert ROOT / "docs" / "derivation.md" in files
    assert ROOT / "docs" / "index.md" in files
    broken = broken_links(ROOT, files)
    assert not broken, "links to nothing in this repository:\n" + "\n".join(broken)


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "ok.md").write_text("fine")
    page = tmp_path / "README.md"
    escape = "." + "./shared"  # the banned text, built so this file holds none
    gone = "https://github.com/handgrad/handgrad/blob/main/docs/gone.md"
    page.write_text(f"[a](docs/ok.md) [b](docs/gone.md#x) [c](../x.md) [d](https://x.org)\n"
                    f"see {escape}/seed/notes\n"
                    f"[e](https://github.com/handgrad/handgrad/blob/main/docs/ok.md) [f]({gone})\n")  # fmt: skip
    assert broken_links(tmp_path, [page]) == ["README.md: docs/gone.md#x", "README.md: ../x.md",
                                              f"README.md: {gone}"]  # fmt: skip
    assert outside_references(tmp_path, [page]) == [f"README.md:2: see {escape}/seed/notes"]
