"""The verdict per blade: the NFS/NBD ratio against its gate, and the kernel's health over the whole run."""

from __future__ import annotations

import pytest

from swaplab.fleet.judge import judge
from swaplab.fleet.session import BladeSession, InfraError, Settings, scan
from swaplab.fleet.stats import paired_ratio


def test_nfs_nbd_ratio(blade: BladeSession, settings: Settings, record_property: pytest.RecordProperty) -> None:
    """Swap over NFS against swap over NBD from the same NAS: hog time ratio, 95% interval, gated."""
    trials = blade.hog_trials
    nfs = [t["total_s"] for t in sorted(trials, key=lambda t: t["trial"]) if t["store"] == "nfs"]
    nbd = [t["total_s"] for t in sorted(trials, key=lambda t: t["trial"]) if t["store"] == "nbd"]
    if not nfs or not nbd:
        blade.check_up()
        pytest.fail(f"no complete NFS/NBD pair of hog trials ({len(nfs)} NFS, {len(nbd)} NBD): see test_hog")
    r = paired_ratio(nfs, nbd)
    swap_rate = {s: [t["swap_mib_per_s"] for t in trials if t["store"] == s] for s in ("nfs", "nbd")}
    data = {**r.to_dict(), "gate": settings.ratio_gate, "nfs_s": nfs, "nbd_s": nbd, "swap_mib_per_s": swap_rate}
    record_property("swaplab", data)
    ci = f" (95% CI {r.low:.2f}-{r.high:.2f})" if r.low is not None and r.high is not None else " (one pair: no CI)"
    assert r.ratio <= settings.ratio_gate, (
        f"swap over NFS took {r.ratio:.2f}x as long as over NBD{ci}; the gate is {settings.ratio_gate}"
    )


def test_kernel_health(blade: BladeSession, record_property: pytest.RecordProperty) -> None:
    """The whole run's console and kernel log, and the counters against first contact."""
    if not blade.start:
        raise InfraError(f"{blade.name}: no first-contact baseline (the blade was never reached)")
    console = blade.console_since_start()
    (blade.dir / "console.log").write_bytes(console)
    findings = scan(console, f"{blade.name}:console", "console")
    record_property("attachment", str(blade.dir / "console.log"))
    try:
        dmesg = blade.sh("dmesg", timeout=60)
        now = blade.counters()
        vmstat = blade.sh("cat /proc/vmstat", timeout=30)
    except InfraError:
        blade.check_up()
        raise
    (blade.dir / "dmesg.txt").write_text(dmesg)
    (blade.dir / "vmstat.txt").write_text(vmstat)
    for name in ("dmesg.txt", "vmstat.txt"):
        record_property("attachment", str(blade.dir / name))
    findings += scan(dmesg.encode(), f"{blade.name}:dmesg", "dmesg")
    hog_pids = blade.hog_pids()
    verdict = judge(findings, hog_pids)
    delta = {k: now.get(k, 0) - blade.start.get(k, 0) for k in ("oom_kill", "pgscan_direct_throttle")}
    new_taint = now.get("tainted", 0) & ~blade.start.get("tainted", 0)
    record_property("swaplab", {"counters_start": blade.start, "counters_end": now, "delta": delta,
                                "new_taint": new_taint, "warnings": verdict.warnings,
                                "nfs_outage_s": verdict.nfs_outage_s})  # fmt: skip
    problems = list(verdict.failures)
    if new_taint:
        problems.append(f"the kernel became tainted during the run (new taint bits {new_taint:#x})")
    if delta["oom_kill"] and not verdict.hog_oom_killed:
        problems.append(f"oom_kill grew by {delta['oom_kill']} and the log names no hog")
    assert not problems, f"{len(problems)} kernel problem(s) in the run:\n" + "\n".join(problems[:20])
