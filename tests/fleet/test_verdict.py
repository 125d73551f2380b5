"""The verdict per blade: the NFS/NBD ratio against its gate, and the kernel's health over the whole run."""

from __future__ import annotations

import pytest

from swaplab.fleet.judge import excuse_key, health_problems, judge
from swaplab.fleet.outcome import finding_record, scan
from swaplab.fleet.recording import Recorder, problems_message
from swaplab.fleet.session import BladeSession
from swaplab.fleet.settings import InfraError, Settings
from swaplab.records import Health, RatioRecord
from swaplab.stats import paired_ratio


def test_nfs_nbd_ratio(blade: BladeSession, settings: Settings, record: Recorder) -> None:
    """Swap over NFS against swap over NBD from the same NAS: hog time ratio, 95% interval, gated."""
    gate = settings.options.ratio_gate
    nfs, nbd = blade.trials.paired_times()
    if not nfs:
        blade.check_up()
        done = sorted(f"t{t.trial}-{t.store}" for t in blade.trials.done)
        if blade.trials.voided:
            raise InfraError(
                f"{blade.name}: no complete NFS/NBD pair of hog trials to judge: the NAS was out during "
                f"{', '.join(blade.trials.voided)} (finished: {', '.join(done) or 'none'}); see test_hog"
            )
        pytest.fail(f"no complete NFS/NBD pair of hog trials (finished: {', '.join(done) or 'none'}): see test_hog")
    r = paired_ratio(nfs, nbd)
    plan = settings.options.trial_plan()
    reached = plan.reached(nfs, nbd)
    stop = blade.trials.stop or plan.stop_reason(nfs, nbd, blade.trials.started(), blade.trials.elapsed_s,
                                                 *blade.trials.budget_left()) or ""  # fmt: skip
    record.add(RatioRecord(ratio=r.ratio, ci95_low=r.low, ci95_high=r.high, ci95_half_width_pct=r.half_width_pct,
                           pairs=r.pairs, per_pair=r.per_pair, gate=gate, nfs_s=tuple(nfs), nbd_s=tuple(nbd),
                           precision_pct=plan.precision_pct, precision_reached=reached, stop=stop))  # fmt: skip
    ci = f" (95% CI {r.low:.2f}-{r.high:.2f})" if r.low is not None and r.high is not None else " (one pair: no CI)"
    if reached is False:
        width = f"+-{r.half_width_pct:.1f}%" if r.half_width_pct is not None else "none (one pair)"
        blade.progress(f"ratio {r.ratio:.2f}: precision +-{plan.precision_pct:g}% NOT reached after {r.pairs} "
                       f"pair(s) (stopped: {stop}); the 95% interval is {width}")  # fmt: skip
    assert r.ratio <= gate, f"swap over NFS took {r.ratio:.2f}x as long as over NBD{ci}; the gate is {gate}"


def test_kernel_health(blade: BladeSession, record: Recorder) -> None:
    """The whole run's console and kernel log, and the counters against first contact."""
    if not blade.start:
        raise InfraError(f"{blade.name}: no first-contact baseline (the blade was never reached)")
    console = blade.con.since_start()
    (blade.dir / "console.log").write_bytes(console)
    findings = scan(console, f"{blade.name}:console", "console")
    record.attach(str(blade.dir / "console.log"))
    try:
        dmesg = blade.sh("dmesg", timeout=60)
        now = blade.counters()
        vmstat = blade.sh("cat /proc/vmstat", timeout=30)
    except InfraError:
        blade.check_up()
        raise
    (blade.dir / "dmesg.txt").write_text(dmesg)
    (blade.dir / "vmstat.txt").write_text(vmstat)
    record.attach(str(blade.dir / "dmesg.txt"), str(blade.dir / "vmstat.txt"))
    findings += scan(dmesg.encode(), f"{blade.name}:dmesg", "dmesg")
    hog_pids = blade.hog_pids()
    verdict = judge(findings, hog_pids, excused=blade.outage_excused())
    start = {k: v for k, v in blade.start.items() if isinstance(v, int)}
    grew = {k: now.get(k, 0) - start.get(k, 0) for k in ("oom_kill", "pgscan_direct_throttle")}
    record.add(Health(counters_start=start, counters_end=now, oom_kill_delta=grew["oom_kill"],
                      pgscan_direct_throttle_delta=grew["pgscan_direct_throttle"],
                      new_taint=now.get("tainted", 0) & ~start.get("tainted", 0), nfs_outage_s=verdict.nfs_outage_s,
                      warnings=tuple(verdict.warnings)))  # fmt: skip
    console_text = console.decode(errors="replace")
    excused = set(verdict.outage_excused)
    record.add(*(finding_record(f, console_text, None, None, excuse_key(f) in excused) for f in findings))
    problems = health_problems(verdict, start, now)
    assert not problems, problems_message(problems, "kernel problems in the run")
