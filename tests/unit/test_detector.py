"""Behaviour of the incremental detector on small real-format excerpts."""

from __future__ import annotations

import json
from pathlib import Path

from swaplab.detect import KINDS, Detector
from swaplab.detect.lines import kernel_line, sniff_format

LOGS = Path(__file__).parent / "logs"


def feed_all(lines: list[str], fmt: str = "dmesg") -> list[tuple[str, int]]:
    det = Detector("t", fmt)  # type: ignore[arg-type]
    for line in lines:
        det.feed(line)
    return [(f.kind, f.line) for f in det.findings]


def test_every_kind_appears_in_some_golden_log() -> None:
    seen = set()
    for p in LOGS.glob("*.expected.json"):
        seen |= {f["kind"] for f in json.loads(p.read_text())}
    assert seen == set(KINDS)


def test_oops_header_and_die_line_are_one_event() -> None:
    got = feed_all(
        [
            "[   51.149709] BUG: kernel NULL pointer dereference, address: 0000000000000000",
            "[   51.150000] #PF: supervisor write access in kernel mode",
            "[   51.151320] Oops: 0002 [#1] PREEMPT SMP NOPTI",
        ]
    )
    assert got == [("oops", 1)]


def test_kernel_bug_and_invalid_opcode_are_one_event() -> None:
    got = feed_all(
        [
            "[   53.181170] kernel BUG at mm/swapfile.c:1234!",
            "[   53.181916] invalid opcode: 0000 [#2] PREEMPT SMP NOPTI",
        ]
    )
    assert got == [("kernel_bug", 1)]


def test_die_line_without_header_is_an_oops_and_far_die_line_is_new() -> None:
    lines = ["[ 1.0] BUG: unable to handle page fault for address: ffffffffc0a1b000"]
    lines += [f"[ 1.{i}] filler" for i in range(50)]
    lines += ["[ 2.0] general protection fault, probably for non-canonical address 0x1: 0000 [#2] SMP"]
    assert feed_all(lines) == [("oops", 1), ("oops", 52)]


def test_panic_trailer_is_not_a_second_panic() -> None:
    got = feed_all(
        [
            "[   54.536938] Kernel panic - not syncing: sysrq triggered crash",
            "[   54.546000] ---[ end Kernel panic - not syncing: sysrq triggered crash ]---",
        ]
    )
    assert got == [("panic", 1)]


def test_mitigation_notice_and_lockdep_are_not_warn_splats() -> None:
    assert (
        feed_all(
            [
                "[0.1] RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable to RETBleed attacks, "
                "data leaks possible!",
                "[0.2] WARNING: possible circular locking dependency detected",
            ]
        )
        == []
    )


def test_hung_task_hint_and_blocked_state_dump_are_not_hung_tasks() -> None:
    assert (
        feed_all(
            [
                '[ 16.5] "echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
                "[ 20.0] sysrq: Show Blocked State",
                "[ 20.0] task:swaplab_hang    state:D stack:0     pid:90    ppid:2      flags:0x00004000",
            ]
        )
        == []
    )


def test_oom_header_fields_join_the_kill() -> None:
    det = Detector("t")
    det.feed("[4.7] hog invoked oom-killer: gfp_mask=0x400dc0(GFP_KERNEL_ACCOUNT|__GFP_ZERO), order=0, oom_score_adj=0")
    det.feed("[4.7] [  pid  ]   uid  tgid total_vm      rss pgtables_bytes swapents oom_score_adj name")
    (kill,) = det.feed(
        "[4.8] Out of memory: Killed process 83 (hog) total-vm:180880kB, anon-rss:178140kB, file-rss:4kB"
    )
    assert kill.fields["invoker"] == "hog"
    assert kill.fields["pid"] == 83
    assert kill.fields["comm"] == "hog"
    assert kill.fields["anon_rss_kb"] == 178140
    assert kill.fields["gfp_mask"] == "0x400dc0"
    assert kill.severity == "fail"


def test_comm_with_parentheses() -> None:
    det = Detector("t")
    (kill,) = det.feed("[518.06] Out of memory: Killed process 15925 ((resolved)) total-vm:168424kB, anon-rss:4064kB")
    assert kill.fields["comm"] == "(resolved)"


def test_syslog_counts_only_kernel_lines() -> None:
    lines = [
        "Dec 27 01:31:00 host kernel: Out of memory: Killed process 7 (hog) total-vm:1kB, anon-rss:1kB",
        "Dec 27 01:31:00 host logger[1000]: Kernel panic - not syncing: only a userspace echo",
    ]
    assert sniff_format(lines) == "syslog"
    assert feed_all(lines, "syslog") == [("oom_kill", 1)]


def test_only_pid_1_may_say_it_crashed_in_a_journal() -> None:
    """systemd's crash handler reaches the journal, not the console: PID 1's "Caught <SEGV>" counts there; the
    same words from another process, a user's systemd or a signal another process sent do not."""
    lines = [
        "Dec 02 20:47:57 blade1 systemd[1]: Caught <SEGV> from PID 975.",
        "Dec 02 20:47:57 blade1 systemd[1]: Caught <SEGV>, dumped core as pid 977.",
        "Dec 02 20:47:58 blade1 systemd[812]: Caught <SEGV>, dumped core as pid 990.",
        "Dec 02 20:47:58 blade1 logger[1000]: systemd[1]: Caught <SEGV>, dumped core as pid 1.",
        "Dec 02 20:47:58 blade1 app[77]: traps: x[1] general protection fault ip:1 sp:2 error:0 in libc.so.6[1+2]",
    ]
    assert feed_all(lines, "syslog") == [("userspace_crash", 2)]


def test_kmsg_records_and_continuations() -> None:
    lines = ["3,420,6271424,-;Out of memory: Killed process 83 (hog) total-vm:1kB, anon-rss:1kB", " SUBSYSTEM=block"]
    assert sniff_format(lines) == "kmsg"
    det = Detector("t", "kmsg")
    (f,) = det.feed(lines[0])
    assert f.fields["timestamp"] == 6.271424
    assert det.feed(lines[1]) == []


def test_console_cr_ansi_and_midline_timestamp() -> None:
    det = Detector("console")
    got = det.feed("\x1b[0;32m  OK  \x1b[0m] Started x.\rlogin: [  123.456789] Kernel panic - not syncing: Fatal\r\n")
    assert [(f.kind, f.fields["reason"], f.fields["timestamp"]) for f in got] == [("panic", "Fatal", 123.456789)]


def test_nfs_outage_duration() -> None:
    det = Detector("t")
    det.feed("[100.0] nfs: server 10.0.0.1 not responding, still trying")
    det.feed("[110.0] nfs: server 10.0.0.1 not responding, still trying")
    assert det.open_nfs_outages() == {"10.0.0.1": 100.0}
    (ok,) = det.feed("[130.5] nfs: server 10.0.0.1 OK")
    assert ok.kind == "nfs_recovered" and ok.severity == "info"
    assert ok.fields["outage_seconds"] == 30.5
    assert det.open_nfs_outages() == {}


def test_kernel_line_prefixes() -> None:
    assert kernel_line("kern  :err   : [   16.558379] INFO: x", "dmesg").text == "INFO: x"  # type: ignore[union-attr]
    assert kernel_line("<3>[   16.558379] INFO: x", "dmesg").text == "INFO: x"  # type: ignore[union-attr]
    assert kernel_line("[Wed Nov 25 21:47:08 2026] INFO: x", "dmesg").text == "INFO: x"  # type: ignore[union-attr]
    assert kernel_line("[   12.345678][  T123] INFO: x", "dmesg").text == "INFO: x"  # type: ignore[union-attr]
    assert kernel_line("2026-11-25T21:47:08,123456+00:00 INFO: x", "dmesg").text == "INFO: x"  # type: ignore[union-attr]


def test_a_log_that_mixes_formats_is_read_line_by_line() -> None:
    """`cat kern.log dmesg.txt | swaplab scan-log -`: syslog first (the sniffed format), then raw dmesg lines;
    before, the dmesg part's kernel events were dropped. Real captured logs, concatenated."""
    import io

    from swaplab.detect.scan import scan_stream

    logs = Path(__file__).parent / "logs"
    syslog = (logs / "bugreports.syslog.log").read_bytes()
    dmesg = (logs / "qemu-6.1-faults.dmesg.log").read_bytes()
    alone = {f.kind for f in scan_stream(io.BytesIO(dmesg), "d", "auto").findings}
    mixed = scan_stream(io.BytesIO(syslog + dmesg), "mixed", "auto")
    kinds = {f.kind for f in mixed.findings}
    assert alone and alone <= kinds, alone - kinds
    syslog_kinds = {f.kind for f in scan_stream(io.BytesIO(syslog), "s", "auto").findings}
    assert syslog_kinds <= kinds
    # A userspace program's kernel-like text in syslog is still not a kernel event.
    fake = b"Nov 30 01:02:03 blade1 myapp[42]: BUG: unable to handle page fault for address: 0000\n"
    with_fake = scan_stream(io.BytesIO(syslog + fake + dmesg), "m", "auto").findings
    assert len(with_fake) == len(mixed.findings)
