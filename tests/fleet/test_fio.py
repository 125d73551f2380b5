"""fio on each store, alone and beside the memory hog.

Every load runs on the blade, detached, under a hard time limit; its console and kernel log are
judged (``swaplab.fleet.judge``). Per blade, fio alone runs first, then fio under memory pressure; both
after the hog trials, whose cost on this machine sizes the hog beside fio to what the run's --run-budget
has left (never below 1.25x RAM; the case says so in a warning).
"""

from __future__ import annotations

import posixpath
import shlex

import pytest

from swaplab.fleet import fio
from swaplab.fleet.loads import hog_command
from swaplab.fleet.recording import Recorder, assert_hog_ok, assert_kernel_ok, fio_results, fio_run, hog_trial
from swaplab.fleet.session import BladeSession
from swaplab.fleet.settings import InfraError, Settings
from swaplab.fleet.trials import PRESSURE_FLOOR, PRESSURE_FLOOR_FACTOR, fio_alone_s

STORES = ("nfs", "nbd")


def _fio_target(blade: BladeSession, store: str) -> tuple[str, list[str], str]:
    """fio's target on ``store``, the devices to mkswap afterwards, and the swap the blade keeps meanwhile."""
    if store == "nfs":
        return posixpath.join(posixpath.dirname(blade.area("nfs").path), "fio.dat"), [], "all"
    dev = blade.area("nbd").path
    return dev, [dev], "nfs"  # the device leaves swap while fio overwrites it, and gets its signature back


@pytest.mark.parametrize("store", STORES)
def test_fio(blade: BladeSession, settings: Settings, store: str, record: Recorder) -> None:
    """fio alone on the store: sequential 64k and random 4k, write and read, direct I/O."""
    opts = settings.options
    if (left := blade.trials.seconds_left()) < fio_alone_s(opts.fio_runtime_s):
        pytest.skip(f"not run: the run's --run-budget had {left:.0f} s left, and fio alone takes about "
                    f"{fio_alone_s(opts.fio_runtime_s):.0f} s")  # fmt: skip
    target, mkswap, use = _fio_target(blade, store)
    cmd = fio.command(target, opts.fio_size_mib, opts.fio_runtime_s, "fio.json")
    if store == "nfs":
        cmd += f"; rc=$?; rm -f {shlex.quote(target)}; exit $rc"
    budget = 120 + 4 * opts.fio_runtime_s * 3
    report = blade.load(f"fio-{store}", cmd, budget, use=use, mkswap=mkswap)
    record.load(report, store)
    assert_kernel_ok(report)
    assert report.outcome.rc == 0, f"fio exited {report.outcome.rc}: {report.outcome.text('stderr')[-500:]}"
    results = fio_results(report, "fio.json")
    record.add(fio_run(store, False, results))
    assert set(results) == {j[0] for j in fio.JOBS}, f"fio jobs missing: {sorted(results)}"


@pytest.mark.parametrize("store", STORES)
def test_fio_under_pressure(blade: BladeSession, settings: Settings, store: str, record: Recorder) -> None:
    """fio on the store while the memory hog swaps to the same store: the deadlock-prone case."""
    size_mib = settings.options.fio_size_mib
    target, _, _ = _fio_target(blade, store)
    if store == "nbd":
        # The NBD device is the swap area itself here: fio writes a file on the NFS mount instead,
        # so that the pressure (swap over NBD) and the I/O (NFS) meet in the network stack.
        target = posixpath.join(posixpath.dirname(blade.area("nfs").path), "fio.dat")
    # What the hog trials cost on this machine sizes this hog to what the run's budget has left for it.
    asked = settings.options.working_set
    share = blade.trials.pressure_share(len(STORES) - STORES.index(store))  # this load and those after it
    if share is None and store == "nfs" and blade.trials.pressure_share(1) is not None:
        share = 0.0  # room for one at its floor: NFS's, the store under test (NBD's then has none)
    if share is None:
        floor_s = PRESSURE_FLOOR_FACTOR * blade.trials.trial_s()
        pytest.skip(
            f"not run: the run's --run-budget had {blade.trials.seconds_left():.0f} s left, and fio beside "
            f"the hog at {PRESSURE_FLOOR:g}x RAM takes about {floor_s:.0f} s on this machine"
        )
    ws = asked.scaled(share, blade.mem_total_kib(), PRESSURE_FLOOR) if share < 1.0 else asked
    size_arg, mib = blade.working_set_args(ws)
    budget = blade.settings.options.load_budget(mib) * 2
    cmd = fio.beside_hog(target, size_mib, budget, hog_command(size_arg, pin=blade.settings.options.pin, exec_=False))
    report = blade.load(f"fio-hog-{store}", cmd, budget, use=store)
    hog_result = report.json_file("hog.json") or {}
    if report.outcome.rc == fio.LAYOUT_FAILED and not hog_result and not report.verdict.failures:
        raise InfraError(f"{blade.name}: fio could not lay out {target}: {report.outcome.text('stderr')[-500:]}")
    if ws != asked:
        report.verdict.warnings.append(f"the hog beside fio worked on {ws}, not {asked}: all that the run's "
                                       "--run-budget had left after the hog trials")  # fmt: skip
    record.load(report, store)
    record.add(hog_trial(store, None, hog_result))
    assert_kernel_ok(report)
    assert_hog_ok(report, hog_result)
    assert "fio.json" in report.outcome.files, f"fio beside the hog left no result: {report.outcome.text('stderr')}"
    record.add(fio_run(store, True, fio_results(report, "fio.json")))
