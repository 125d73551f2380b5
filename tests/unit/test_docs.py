"""The front door: README.md stays short, every relative link in it and in docs/ resolves, and no
numbered label of the team's own (a work period or a tracker number, which a reader cannot place) is left in
the project's Markdown or Python."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
LABEL = re.compile(r"\b(?:sessions?|issues?) \d+\b", re.I)


def _markdown() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_the_readme_is_under_200_lines() -> None:
    assert len((ROOT / "README.md").read_text().splitlines()) < 200


def test_every_relative_link_resolves() -> None:
    broken = []
    for doc in _markdown():
        for target in LINK.findall(doc.read_text()):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (doc.parent / target.split("#", 1)[0]).resolve()
            if not path.exists() or not path.is_relative_to(ROOT):
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert broken == []
    assert len(_markdown()) > 10  # the guides are there to be checked


def test_a_broken_link_would_be_found(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text("see [the guide](docs/nowhere.md) and [a site](https://example.org)\n")
    targets = [t for t in LINK.findall(doc.read_text()) if not re.match(r"[a-z]+:", t)]
    assert targets == ["docs/nowhere.md"] and not (tmp_path / targets[0]).exists()


def test_no_numbered_internal_label_is_left() -> None:
    files = [
        *_markdown(),
        *ROOT.glob("*.md"),
        *(ROOT / "bench").rglob("*.md"),
        *(ROOT / "tests").rglob("*.md"),
        *(ROOT / "swaplab").rglob("*.py"),
        *(ROOT / "tests").rglob("*.py"),
        *(ROOT / "bench").rglob("*.py"),
    ]
    found = [f"{f.relative_to(ROOT)}: {m}" for f in files if f.is_file() and f != Path(__file__)
             for m in LABEL.findall(f.read_text(errors="replace")) if "MaxSessions" not in m]  # fmt: skip
    assert found == []
