"""The blade's sampler (run here, on this machine's real /proc) and its timeline read back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from swaplab.agent import SAMPLER
from swaplab.report import timeline


def test_the_sampler_writes_a_row_a_second_that_the_timeline_reads(tmp_path: Path) -> None:
    out = tmp_path / "samples.csv"
    r = subprocess.run([sys.executable, str(SAMPLER), "--out", str(out), "--interval", "0.2", "--max-samples", "4"],
                       capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert (
        lines[0]
        == "uptime_s,pswpin,pswpout,pgscan,pgsteal,oom_kill,pgscan_direct_throttle,MemFree,SwapFree,Dirty,Writeback"
    )
    assert len(lines) == 5
    tl = timeline.load(out.parent, out.name)
    assert len(tl) == 4 and tl.t_s[0] == 0.0 and 0.5 < tl.t_s[-1] < 5
    assert all(v >= 0 for v in tl.swap_out_mib_s) and tl.mem_free_mib[0] > 0


def test_rates_come_from_counter_deltas_and_a_cut_row_is_dropped() -> None:
    csv = (
        "uptime_s,pswpin,pswpout,pgscan,pgsteal,oom_kill,pgscan_direct_throttle,MemFree,SwapFree,Dirty,Writeback\n"
        "100.0,0,0,0,0,0,0,51200,1048576,0,0\n"
        "101.0,256,2560,0,0,0,0,10240,1038336,0,0\n"  # 2560 pages out in 1 s: 10 MiB/s; 256 in: 1 MiB/s
        "103.0,256,2560,0,0,1,0,10240,1038336,0,0\n"
        "104.0,300"  # the blade hung mid-write
    )
    tl = timeline.parse(csv, swap_total_kib=1048576)
    assert tl.t_s == [0.0, 1.0, 3.0]
    assert tl.swap_out_mib_s == [0.0, 10.0, 0.0] and tl.swap_in_mib_s == [0.0, 1.0, 0.0]
    assert tl.mem_free_mib == [50.0, 10.0, 10.0] and tl.swap_used_mib == [0.0, 10.0, 10.0]
    assert tl.oom_kill == [0, 0, 1]
    assert len(timeline.parse("")) == 0 and len(timeline.parse("garbage\n1,2")) == 0


def test_the_nas_sampler_and_its_rates(tmp_path: Path) -> None:
    out = tmp_path / "nas.csv"
    r = subprocess.run([sys.executable, str(SAMPLER), "--nas", "--out", str(out), "--interval", "0.2",
                        "--max-samples", "2"], capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert out.read_text().splitlines()[0].split(",")[:3] == ["epoch_s", "nfsd_read_bytes", "nfsd_write_bytes"]
    assert len(timeline.parse_nas(out.read_text())) == 2
    csv = ("epoch_s,nfsd_read_bytes,nfsd_write_bytes,nbd_read_bytes,nbd_write_bytes,cpu_busy\n"
           "1000.0,0,0,0,0,500\n"
           "1002.0,2097152,8388608,0,4194304,650\n")  # fmt: skip
    tl = timeline.parse_nas(csv)
    assert tl.t_s == [0.0, 2.0] and tl.nfs_write_mib_s == [0.0, 4.0] and tl.nfs_read_mib_s == [0.0, 1.0]
    assert tl.nbd_write_mib_s == [0.0, 2.0] and tl.cpu_busy_cores == [0.0, 0.75]
