"""The machine in the report, and the run that fits its budget: the host's and a blade's calibration
(``swaplab.machine``), compare's warning when two runs' machines were not alike, and the hog pairs a run
starts within --run-budget (``fleet.trials.TrialPairs`` on a clock of the test's)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from swaplab import machine
from swaplab.fleet.trials import PRESSURE_FLOOR, TrialPairs, after_trials_s
from swaplab.options import WorkingSet
from swaplab.records import HogTrial, RatioRecord
from swaplab.report.compare import compare
from swaplab.report.results import RunResult, precision_words, summary_text
from swaplab.stats import STOP_RUN_BUDGET, TrialPlan

RUNS = Path(__file__).parent / "data" / "runs"


def test_the_blades_calibration_is_read_from_what_the_command_prints() -> None:
    # The command itself, run here by the same python3 a blade has: one line, a rate and the cores.
    out = subprocess.run([sys.executable, "-c", machine.BLADE_COMMAND.split("'")[1]], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    got = machine.parse_blade(out)
    assert got is not None and got["hash_mib_s"] > 0 and got["cpus"] >= 1
    # What a blade prints is untrusted: anything else is no calibration.
    for bad in ("", "12.5", "fast 2", "12.5 2 3", "-1 2", "1e9 2", "12.5 0", "nan 2", "12.5 2.5"):
        assert machine.parse_blade(bad) is None, bad


def test_the_host_calibration_names_cores_cpu_and_rate() -> None:
    h = machine.host()
    assert h["cpus"] >= 1 and h["hash_mib_s"] > 0 and isinstance(h["kvm"], bool)


def test_machines_apart_are_named_alike_ones_are_not() -> None:
    base = {"host": {"cpus": 2, "hash_mib_s": 900.0}, "blades": {"blade1": {"hash_mib_s": 40.0, "cpus": 2}}}
    alike = copy.deepcopy(base)
    alike["host"]["hash_mib_s"] = 1000.0  # 11% apart: one machine's run-to-run spread
    assert machine.differences(base, alike) == []
    slow = {"host": {"cpus": 1, "hash_mib_s": 450.0}, "blades": {"blade1": {"hash_mib_s": 15.0, "cpus": 2}}}
    words = machine.differences(base, slow)
    assert any("1 on the candidate" in w for w in words)
    assert any(w.startswith("the controller hashed 900") and "100% apart" in w for w in words)
    assert any(w.startswith("blade blade1 hashed 40") for w in words)
    # Untrusted documents: nothing that is not a calibration is compared, and nothing raises.
    for junk in (None, [], {"host": "x"}, {"host": {"hash_mib_s": "fast"}}, {"blades": {"b": {"hash_mib_s": True}}}):
        assert machine.differences(base, junk) == []
    assert machine.unrecorded(base, None) is not None and machine.unrecorded(base, slow) is None


def _run(name: str) -> RunResult:
    return RunResult.load(RUNS / name / "results.json")


def test_compare_warns_when_the_two_runs_machines_were_not_alike() -> None:
    base, cand = _run("kernel-6.1-a"), _run("kernel-6.1-b")
    base.options["machine"] = {"host": {"cpus": 2, "hash_mib_s": 900.0}}
    cand.options["machine"] = {"host": {"cpus": 2, "hash_mib_s": 400.0}}
    cmp = compare(base, cand)
    assert any(w.startswith("the machines differ: the controller hashed 900") for w in cmp.warnings), cmp.warnings
    assert cmp.comparable  # a warning: read the figures with it in mind, not a refusal
    cand.options["machine"] = copy.deepcopy(base.options["machine"])
    assert not any("machine" in w for w in compare(base, cand).warnings)
    del cand.options["machine"]
    assert any("recorded no machine calibration" in w for w in compare(base, cand).warnings)


def _trial(t: int, store: str, s: float) -> HogTrial:
    return HogTrial(store, t, "done", s, None, 100)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _run_pairs(pairs: TrialPairs, clock: Clock, pair_s: float, most: int) -> int:
    ran = 0
    for t in range(1, most + 1):
        if pairs.wanted(t):
            break
        ran += 1
        for store in ("nfs", "nbd"):
            clock.now += pair_s / 2
            pairs.done.append(_trial(t, store, pair_s / 2 - 5))
    return ran


def test_pairs_stop_when_the_next_would_overrun_the_runs_deadline() -> None:
    """A 2-core machine twice as slow as another: the same plan (at least 5 pairs) stops where the deadline
    leaves no room for one more pair, and says why; the fast machine runs its five. One four times as slow
    runs one pair: the budget does not wait for an interval it cannot afford."""
    plan = TrialPlan(minimum=5, maximum=5, precision_pct=None, budget_s=float("inf"))
    for pair_s, expected in ((100.0, 5), (200.0, 3), (400.0, 1)):
        clock = Clock()
        pairs = TrialPairs(plan, [], lambda m: None, deadline=700.0, clock=clock)
        ran = _run_pairs(pairs, clock, pair_s, 5)
        assert ran == expected, (pair_s, ran)
        assert (pairs.stop == STOP_RUN_BUDGET) == (expected < 5)


def test_the_suites_after_the_trials_are_set_aside_from_the_pairs_time() -> None:
    """With fio after the trials (fio alone on both stores, and its hogs at their floor, 0.95 times a trial's
    each), a 600 s deadline at 100 s a pair holds four pairs and fio (145 s) where it held five without
    fio; the hog beside fio then gets what the pairs left."""
    plan = TrialPlan(minimum=5, maximum=5, precision_pct=None, budget_s=float("inf"))
    assert after_trials_s(["config", "hog", "verdict"], 5, 100.0) == 0.0
    assert after_trials_s(["config", "hog", "fio", "verdict"], 5, 100.0) == 2 * (4 * 5 + 5) + 0.95 * 100.0
    ran = {}
    for suites in (["hog"], ["hog", "fio"]):
        clock = Clock()
        pairs = TrialPairs(plan, [], lambda m: None, deadline=600.0, clock=clock,
                           after=lambda pair_s, s=suites: after_trials_s(s, 5, pair_s))  # fmt: skip
        ran[len(suites)] = _run_pairs(pairs, clock, 100.0, 5)
    assert ran == {1: 5, 2: 4}


def test_the_hog_beside_fio_gets_what_the_budget_left_never_below_its_floor() -> None:
    """A load of fio beside the hog costs 0.95 of a trial at its floor (1.25x RAM), 1.8 at the whole working
    set; in between, in proportion. When not even the floor fits, it is not run (None)."""
    plan = TrialPlan(minimum=2, maximum=2, precision_pct=None, budget_s=float("inf"))
    clock = Clock()
    pairs = TrialPairs(plan, [], lambda m: None, deadline=600.0, clock=clock)
    assert pairs.pressure_share(2) == 1.0  # no pair has told what one costs
    _run_pairs(pairs, clock, 200.0, 3)  # two pairs ran: 400 s; a trial is 100 s
    assert clock.now == 400.0 and pairs.pair_wall_s == 200.0 and pairs.trial_s() == 100.0
    clock.now = 240.0  # (as if) 360 s left: two loads of 1.8 trials fit
    assert pairs.pressure_share(2) == 1.0
    clock.now = 325.0  # 275 s left: 1.375 trials a load, halfway from the floor's 0.95 to 1.8
    assert pairs.pressure_share(2) == pytest.approx(0.5)
    clock.now = 420.0  # 180 s left: 0.9 trial each for two, not the floor's 0.95; one fits whole
    assert pairs.pressure_share(2) is None and pairs.pressure_share(1) == 1.0
    assert pairs.seconds_left() == 180.0
    clock.now = 700.0
    assert pairs.pressure_share(1) is None
    mem_kib = 140 * 1024
    two = WorkingSet("times_ram", 2.0)
    assert two.scaled(1.0, mem_kib, PRESSURE_FLOOR) == two
    assert two.scaled(0.4, mem_kib, PRESSURE_FLOOR) == WorkingSet("times_ram", 1.55)
    assert two.scaled(0.0, mem_kib, PRESSURE_FLOOR) == WorkingSet("times_ram", 1.25)
    # The warm-up's working set: the floor, or the run's own when smaller.
    assert WorkingSet("times_ram", 1.1).scaled(0.0, mem_kib, PRESSURE_FLOOR) == WorkingSet("times_ram", 1.1)
    assert WorkingSet("mib", 420.0).scaled(0.5, mem_kib, PRESSURE_FLOOR) == WorkingSet("mib", 297.0)  # 175 + 245 / 2


def test_the_summary_says_the_precision_reached_and_why_the_pairs_stopped() -> None:
    r = RatioRecord(ratio=1.15, ci95_low=1.01, ci95_high=1.30, ci95_half_width_pct=12.3, pairs=3, per_pair=(),
                    gate=2.5, nfs_s=(), nbd_s=(), precision_pct=10.0, precision_reached=False,
                    stop=STOP_RUN_BUDGET)  # fmt: skip
    assert precision_words(r) == "+-12.3% after 3 pair(s) (asked +-10%: NOT reached; stopped: the run's --run-budget)"
    result = _run("kernel-6.1-a")
    result.options["run_budget_s"] = 600
    result.timings_s["total"] = 637.0
    assert "run budget: 637 s of 600 s (OVER it)" in summary_text(result)
