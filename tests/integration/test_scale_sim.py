"""A rack, not a blade: the real controller against a simulated rack of 10 blades (``swaplab.sim``).

Each simulated blade is a real sshd (host key checked) in a mount namespace of its own, behind a real ipmi_sim
BMC whose Serial-over-LAN carries its console; only the hog and the kernel are simulated. The blades are
brought up by the real boot and swap plays (power-ons through the BMCs, in waves), then tested by a real
`swaplab run --no-provision --suite hog,verdict`. ``bench/bench_scale.py`` measures the same scenarios at
1 to 100 blades (figures in bench/README.md); here each must behave.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from swaplab.kernel.under_test import resolve
from swaplab.sim import rack as sim
from swaplab.sim import scenario

pytestmark = pytest.mark.integration
BLADES = 10

if sim.problems(sim.rack_names(BLADES)):
    pytest.fail(f"the simulated rack cannot run here: {'; '.join(sim.problems(sim.rack_names(BLADES)))}")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> scenario.Settings:
    release = resolve(None, print).release
    base = tmp_path_factory.mktemp("rack")
    # Short trials, one pair; power-ons in waves of 4 (each keeps its place 4 s, the blades take ~3 s to sshd).
    return scenario.Settings(release=release, trial=8.0, trials=1, precision=0, boot=3.0, chatter=2.0,
                             probe_every=4.0, max_recoveries=3, freeze=45.0, rack_dir=base / "r", wave=4,
                             pxe_s=4)  # fmt: skip


@pytest.fixture(autouse=True)
def _rack_gone(settings: scenario.Settings) -> None:
    yield
    assert settings.rack_dir is not None
    assert not settings.rack_dir.exists(), "the simulated rack was not brought down"


def test_a_rack_of_ten_blades_is_booted_in_waves_and_tested_with_every_session_closed(
    settings: scenario.Settings,
) -> None:
    row = scenario.measure(BLADES, settings)
    print(row)
    assert row["boot_play_rc"] == 0, row.get("boot_play_tail")
    assert row["power_ons"] == BLADES
    assert row["most_in_pxe"] <= 4  # the wave: before waves, all 10 were powered on together
    assert row["run_rc"] == 0 and row["cases"] == {"passed": 4 * BLADES}, row
    # Every IPMI session closed: before, each SOL recorder left one open on its BMC at the end of the run.
    assert row["ipmi_bmcs_not_answering"] == 0
    assert row["ipmi_sessions_left_open"] == 0
    assert row["ipmi_sessions_most"] <= 2  # the SOL and at most one command
    # Every kernel line printed on a watched console was seen by the live watch.
    assert row["latency_expected"] > 0 and row["latency_probes"] >= row["latency_expected"]
    assert row["journal_bytes_per_blade"] < 100_000
    assert row["power_cycles_during_run"] == 0


def test_a_rack_that_hangs_at_once_is_recovered_a_few_blades_at_a_time(settings: scenario.Settings) -> None:
    row = scenario.measure(BLADES, settings, "hang")
    print(row)
    assert row["run_rc"] == 1
    # Per blade: the hung trial is a kernel failure, and so is the ratio it left without a pair; the NBD trial
    # after the recovery and the health checks pass.
    assert row["cases"] == {"failed": 2 * BLADES, "passed": 2 * BLADES}, row
    assert 1 <= row["recoveries_at_once"] <= settings.max_recoveries  # --max-recoveries 3, not 10 at once
    assert row["power_cycles_during_run"] == BLADES  # each recovered once, through its BMC
    assert row["ipmi_sessions_left_open"] == 0


def test_a_frozen_nas_is_one_incident_with_no_power_cycle(settings: scenario.Settings) -> None:
    """The NAS stops for 45 s (its sshd and, with it, every blade: their roots and swap are on it) during the NFS
    trials, past the 30 s hang budget. Before: the prober needed 33 s to call one probe lost, the blades were
    judged hung and power-cycled, and the stretched NFS trials then failed the ratio gate as the kernel's fault."""
    row = scenario.measure(BLADES, settings, "nas-freeze")
    print(row)
    assert row["nas_incidents"] == 1, row  # one incident for the rack, not one per blade
    assert row["power_cycles_during_run"] == 0  # no blade was power-cycled for the NAS's silence
    assert row["recoveries_at_once"] == 0
    # Per blade: the NFS trial passes (the blade survived), its time the NAS's, left out of the ratio; the
    # ratio, left without a pair, is an <error> naming the NAS. Exit 2: the lab's failure, not the kernel's.
    assert row["run_rc"] == 2 and row["cases"] == {"error": BLADES, "passed": 3 * BLADES}, row


def test_the_simulated_rack_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    assert any("1 to" in p for p in sim.problems([]))
    assert any("host names" in p for p in sim.problems(["bad_name"]))
    assert any("twice" in p for p in sim.problems(["r1-b01", "r1-b01"]))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").touch()
    with pytest.raises(sim.SimError, match="not empty"):
        sim.up(tmp_path / "busy", ["r1-b01"], "6.1.0-sim")
    assert shutil.which("ipmi_sim")
