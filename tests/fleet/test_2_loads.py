"""Loads: fio on each store, fio beside the memory hog, and the interleaved hog trials.

Every load runs on the blade, detached, under a hard time limit; its console
and kernel log are judged (``swaplab.fleet.judge``). The tests run in file
order, per blade: fio alone, fio under memory pressure, then the trials.
"""

from __future__ import annotations

import posixpath
from typing import Any

import pytest

from swaplab.fleet import fio
from swaplab.fleet.session import BladeSession, InfraError, LoadReport, Settings

STORES = ("nfs", "nbd")


def _record(record_property: pytest.RecordProperty, report: LoadReport, data: dict[str, Any]) -> None:
    o = report.outcome
    record_property(
        "swaplab",
        {**data, "load": o.load_id, "status": o.status, "rc": o.rc, "wall_s": round(o.seconds, 1),
         **o.phases(), "warnings": report.verdict.warnings, "nfs_outage_s": report.verdict.nfs_outage_s},
    )  # fmt: skip
    for path in report.attachments:
        record_property("attachment", path)


def _assert_kernel_ok(report: LoadReport) -> None:
    v = report.verdict
    assert not v.failures, f"{len(v.failures)} kernel problem(s):\n" + "\n".join(v.failures[:20])


def _fio_target(blade: BladeSession, store: str) -> tuple[str, list[str], str]:
    """fio's target on ``store``, the devices to mkswap afterwards, and the swap the blade keeps meanwhile."""
    if store == "nfs":
        return posixpath.join(posixpath.dirname(blade.area("nfs").path), "fio.dat"), [], "all"
    dev = blade.area("nbd").path
    return dev, [dev], "nfs"  # the device leaves swap while fio overwrites it, and gets its signature back


def _fio_results(report: LoadReport, name: str) -> dict[str, dict[str, Any]]:
    text = report.outcome.text(name)
    try:
        return fio.parse(text)
    except ValueError as e:
        pytest.fail(f"fio gave no usable result ({e}); stderr: {report.outcome.text('stderr')[-500:]}")


@pytest.mark.parametrize("store", STORES)
def test_fio(blade: BladeSession, settings: Settings, store: str, record_property: pytest.RecordProperty) -> None:
    """fio alone on the store: sequential 64k and random 4k, write and read, direct I/O."""
    target, mkswap, use = _fio_target(blade, store)
    cmd = fio.command(target, settings.fio_size_mib, settings.fio_runtime_s, "fio.json")
    if store == "nfs":
        cmd += f"; rc=$?; rm -f {blade.q(target)}; exit $rc"
    budget = 120 + 4 * settings.fio_runtime_s * 3
    report = blade.load(f"fio-{store}", cmd, budget, use=use, mkswap=mkswap)
    results = _fio_results(report, "fio.json") if report.outcome.rc == 0 else {}
    _record(record_property, report, {"store": store, "fio": results})
    _assert_kernel_ok(report)
    assert report.outcome.rc == 0, f"fio exited {report.outcome.rc}: {report.outcome.text('stderr')[-500:]}"
    assert set(results) == {j[0] for j in fio.JOBS}, f"fio jobs missing: {sorted(results)}"


@pytest.mark.parametrize("store", STORES)
def test_fio_under_pressure(
    blade: BladeSession, settings: Settings, store: str, record_property: pytest.RecordProperty
) -> None:
    """fio on the store while the memory hog swaps to the same store: the deadlock-prone case."""
    target, _, _ = _fio_target(blade, store)
    if store == "nbd":
        # The NBD device is the swap area itself here: fio writes a file on the NFS mount instead,
        # so that the pressure (swap over NBD) and the I/O (NFS) meet in the network stack.
        target = posixpath.join(posixpath.dirname(blade.area("nfs").path), "fio.dat")
    size_arg, mib = blade.working_set_args()
    budget = blade.budget(mib) * 2
    hog = blade.hog_command(size_arg).replace("exec ", "")
    # fio in a session of its own: nothing it signals can reach the hog.
    cmd = (
        f"{fio.layout_command(target, settings.fio_size_mib)} || exit 3; "
        f"setsid {fio.command(target, settings.fio_size_mib, budget, 'fio.json', loop=True)} & fio=$!; "
        "echo $fio >> detached.pids; "
        f"{hog}; rc=$?; kill -INT $fio; wait $fio; rm -f {blade.q(target)}; exit $rc"
    )
    report = blade.load(f"fio-hog-{store}", cmd, budget, use=store)
    hog_result = report.json_file("hog.json") or {}
    if report.outcome.rc == 3 and not hog_result and not report.verdict.failures:
        raise InfraError(f"{blade.name}: fio could not lay out {target}: {report.outcome.text('stderr')[-500:]}")
    fio_results = _fio_results(report, "fio.json") if "fio.json" in report.outcome.files else {}
    _record(record_property, report, {"store": store, "fio": fio_results, "hog": hog_result})
    _assert_kernel_ok(report)
    _assert_hog_ok(report, hog_result)
    assert fio_results, f"fio beside the hog gave no result: {report.outcome.text('stderr')[-500:]}"


def _assert_hog_ok(report: LoadReport, result: dict[str, Any]) -> None:
    assert result, (
        f"the hog left no result (rc {report.outcome.rc}; progress {report.outcome.text('progress.json')}; "
        f"stderr {report.outcome.text('stderr')[-300:]})"
    )
    assert result.get("status") == "done", f"the hog ended {result.get('status')}"
    bad = result.get("bad_pages", 0)
    assert bad == 0, f"{bad} page(s) came back wrong from swap; first: {result.get('first_bad', [])[:8]}"
    delta = result["vmstat_delta"]
    excess_pages = max(0, (result["mib"] << 20) - result["mem_total_kib"] * 1024) // result["page_size"]
    assert delta["pswpout"] >= excess_pages, (
        f"pswpout grew by {delta['pswpout']} pages, less than the {excess_pages} pages the working set exceeds RAM "
        "by: the working set did not go through swap"
    )
    assert delta["pswpin"] > 0, "pswpin did not grow: nothing came back from swap"


def test_hog(
    blade: BladeSession, settings: Settings, trial: int, store: str, record_property: pytest.RecordProperty
) -> None:
    """One trial: the hog's working set (default 2x RAM) through swap on one store, every page verified.

    The hog verifies newest-first: each page that went to swap comes back once, so the time
    measures one clean pass of the excess through the swap path each way (comparable across stores).
    """
    size_arg, mib = blade.working_set_args()
    report = blade.load(f"hog-t{trial}-{store}", blade.hog_command(size_arg), blade.budget(mib), use=store)
    result = report.json_file("hog.json") or {}
    if result.get("status") == "done":
        blade.hog_trials.append({"trial": trial, "store": store, **result})
    _record(record_property, report, {"trial": trial, "store": store, "hog": result})
    _assert_kernel_ok(report)
    _assert_hog_ok(report, result)
