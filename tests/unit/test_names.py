"""Rack-style blade names and --limit: the virtual lab can name its blades as a rack does,
and every --limit pattern must match a blade."""

from __future__ import annotations

from pathlib import Path

import pytest

from swaplab.cli import main
from swaplab.lab.machines import names_problem
from swaplab.options import RunOptions
from swaplab.run import limit_problems


def test_the_virtual_lab_takes_rack_style_names() -> None:
    assert names_problem(["r1-b01", "r1-b02", "7b"], 3) is None
    assert RunOptions(names=["r1-b01", "r1-b02"]).lab_blade_names() == ["r1-b01", "r1-b02"]
    assert RunOptions(blades=2).lab_blade_names() == ["blade1", "blade2"]


@pytest.mark.parametrize(
    ("names", "blades", "needle"),
    [
        (["r1_b01"], 1, "lower-case DNS label"),
        (["-b1"], 1, "lower-case DNS label"),
        (["R1-B01"], 1, "lower-case DNS label"),
        (["r1.b01"], 1, "lower-case DNS label"),
        (["nas"], 1, "the lab's own machines"),
        (["switch"], 1, "the lab's own machines"),
        (["bmc-1"], 1, "nor bmc-*"),
        (["a", "a"], 2, "given twice"),
        (["a", "b"], 3, "--blades 3 and --names (2 names) disagree"),
    ],
)
def test_bad_names_are_refused(names: list[str], blades: int, needle: str) -> None:
    assert needle in (names_problem(names, blades) or "")


def test_every_limit_pattern_must_match_a_blade() -> None:
    blades = ["r1-b01", "r1-b02", "r2-b01"]
    assert limit_problems("r1-*", blades, "the lab") == []
    assert limit_problems("r1-b01,nosuch", blades, "the lab") == [
        "--limit pattern 'nosuch' matches no blade of the lab: its blades are r1-b01, r1-b02, r2-b01"]  # fmt: skip
    assert "names no pattern" in limit_problems("", blades, "the lab")[0]
    assert "names no pattern" in limit_problems(",", blades, "the lab")[0]
    assert "an empty pattern between commas" in limit_problems("r1-b01,,r2-b01", blades, "the lab")[0]


def test_run_refuses_names_for_a_rack_and_a_limit_that_matches_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["run", "--names", "r1-b01,r1-b02", "--limit", "r1-b01,r9-*", "--kernel", str(tmp_path / "none.deb")])
    err = capsys.readouterr()
    assert rc == 2
    text = err.out + err.err
    assert "--limit pattern 'r9-*' matches no blade of the virtual lab" in text
