"""The one pattern table of kernel failure signatures.

Every regex is matched at the start of the kernel message text (after the
timestamp), which is what keeps look-alikes out: ``RETBleed: WARNING: ...``
is no WARN splat, ``---[ end Kernel panic ...`` is no second panic, and the
``"echo 0 > /proc/sys/kernel/hung_task_timeout_secs"`` hint is no hung task.

Each rule names a ``keyword``: a literal that every line it matches contains.
The file scanner's prefilter is built from these keywords, so a line without
any of them can be skipped without changing the result.

Sources of the formats: mm/oom_kill.c, kernel/hung_task.c, kernel/watchdog.c,
kernel/rcu/tree_stall.h, mm/page_alloc.c (warn_alloc), mm/page_io.c,
fs/nfs/client.c + net/sunrpc, drivers/block/nbd.c, arch/x86/kernel/dumpstack.c,
arch/x86/mm/fault.c, kernel/panic.c, mm/swapfile.c — from 3.x to 6.12; arch/x86/kernel/traps.c and
arch/x86/mm/fault.c (show_signal_msg) for a user process's fatal fault, systemd's crash handler for PID 1's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Severity = Literal["fail", "warn", "info"]
Role = Literal["event", "oom_header", "oops_header", "oops_die", "nfs_down", "nfs_up"]

KINDS: tuple[str, ...] = (
    "oom_kill",
    "hung_task",
    "soft_lockup",
    "hard_lockup",
    "rcu_stall",
    "page_alloc_failure",
    "swap_io_error",
    "nfs_not_responding",
    "nfs_recovered",
    "nbd_error",
    "oops",
    "kernel_bug",
    "warning",
    "panic",
    "userspace_crash",
    "swap_activated",
)


@dataclass(frozen=True, slots=True)
class Rule:
    kind: str
    severity: Severity
    keyword: str
    regex: re.Pattern[str]
    role: Role = "event"


def _r(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


# Order matters only where two rules could match one line: the first wins.
RULES: tuple[Rule, ...] = (
    # --- memory: OOM ---------------------------------------------------------
    Rule(
        "oom_kill",
        "info",
        "oom-killer",
        _r(
            r"(?P<invoker>.+?) invoked oom-killer: gfp_mask=(?P<gfp_mask>0x[0-9a-f]+)(?:\([^)]*\))?,"
            r"(?: nodemask=\S+,)?\s+order=(?P<order>-?\d+), oom_score_adj=(?P<oom_score_adj>-?\d+)"
        ),
        role="oom_header",
    ),
    Rule(
        "oom_kill",
        "fail",
        "Killed process",
        _r(
            r"(?:(?P<memcg>Memory cgroup out of memory)|Out of memory(?: \(oom_kill_allocating_task\))?)?"
            r"(?:: )?Killed process (?P<pid>\d+) \((?P<comm>.*?)\)(?=,? (?:UID|total-vm)|$)"
            r"(?:,? (?:UID \d+, )?total-vm:(?P<total_vm_kb>\d+)kB, anon-rss:(?P<anon_rss_kb>\d+)kB)?"
        ),
    ),
    # --- hangs and stalls ----------------------------------------------------
    Rule(
        "hung_task",
        "fail",
        "blocked for more",
        _r(r"INFO: task (?P<comm>.+):(?P<pid>\d+) blocked for more than (?P<seconds>\d+) seconds\."),
    ),
    Rule(
        "soft_lockup",
        "fail",
        "BUG",
        _r(
            r"(?:(?:NMI )?watchdog: )?BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for (?P<seconds>\d+)s!"
            r"(?: \[(?P<comm>.+):(?P<pid>\d+)\])?"
        ),
    ),
    Rule(
        "hard_lockup",
        "fail",
        "LOCKUP",
        _r(
            r"(?:(?:NMI )?watchdog: (?:CPU ?\d+: )?)?(?:Watchdog detected hard LOCKUP on cpu (?P<cpu>\d+)"
            r"|Watchdog CPU:(?P<cpu2>\d+) Hard LOCKUP)"
        ),
    ),
    Rule(
        "rcu_stall",
        "fail",
        "stall",
        _r(
            r"(?:rcu: )?INFO: (?P<flavour>\S+) (?:detected (?:expedited )?stalls on CPUs/tasks"
            r"|self-detected stall on CPU)"
        ),
    ),
    # --- allocation and I/O --------------------------------------------------
    Rule(
        "page_alloc_failure",
        "warn",
        "allocation failure",
        _r(
            r"(?:(?P<comm>.+?): )?page allocation failure[:.] order:(?P<order>\d+), "
            r"mode:(?P<mode>0x[0-9a-f]+)(?:\((?P<gfp_flags>[^)]*)\))?"
        ),
    ),
    Rule(
        "swap_io_error",
        "fail",
        "swap-device",
        _r(r"(?P<op>Write|Read)-error on swap-device \((?P<major>\d+):(?P<minor>\d+):(?P<offset>\d+)\)"),
    ),
    Rule(
        "swap_io_error",
        "fail",
        "dio swapfile",
        _r(r"(?P<op>Write|Read) error (?:(?P<error>-?\d+) )?on dio swapfile \((?P<offset>\d+)\)"),
    ),
    Rule(
        "nfs_not_responding",
        "warn",
        "nfs: server",
        _r(r"nfs: server (?P<server>\S+) not responding, (?P<state>still trying|timed out)"),
        role="nfs_down",
    ),
    Rule(
        "nfs_recovered",
        "info",
        "nfs: server",
        _r(r"nfs: server (?P<server>\S+) OK"),
        role="nfs_up",
    ),
    Rule(
        "nbd_error",
        "fail",
        "nbd",
        _r(
            r"(?:block )?(?P<device>nbd\d+): (?P<error>Connection timed out|Receive control failed"
            r"|Possible stuck request|Dead connection|Send control failed)"
        ),
    ),
    # --- oops, BUG, WARN, panic ----------------------------------------------
    Rule(
        "oops",
        "fail",
        "BUG",
        _r(
            r"BUG: (?P<what>kernel NULL pointer dereference|unable to handle kernel NULL pointer dereference"
            r"|unable to handle page fault|unable to handle kernel paging request)(?:,| at| for)"
            r"(?: address:?)? ?(?P<address>\S+)?"
        ),
        role="oops_header",
    ),
    Rule(
        "kernel_bug",
        "fail",
        "BUG",
        _r(r"kernel BUG at (?P<file>[^:\s]+):(?P<lineno>\d+)!"),
        role="oops_header",
    ),
    Rule(
        "kernel_bug",
        "fail",
        "BUG",
        _r(
            r"BUG: (?P<what>Bad page state|Bad page map|Bad rss-counter state|scheduling while atomic"
            r"|sleeping function called from invalid context|KASAN: [\w-]+|KFENCE: [\w-]+|workqueue lockup)"
        ),
    ),
    Rule(
        "oops",
        "fail",
        " [#",
        _r(
            r"(?:Oops: |Internal error: )?(?:(?P<what>Oops|general protection fault|invalid opcode"
            r"|stack segment|double fault|divide error|int3|alignment check|segment not present"
            r"|invalid TSS|bounds)(?:, (?P<detail>[^:]*))?: )?"
            r"(?P<code>[0-9a-f]{4,16}) \[#(?P<oops_number>\d+)\]"
        ),
        role="oops_die",
    ),
    Rule(
        "warning",
        "fail",
        "WARNING: ",
        _r(
            r"WARNING: (?:(?:CPU: (?P<cpu>\d+) PID: (?P<pid>\d+) at |at )(?P<location>\S+)(?: (?P<function>\S+))?"
            r"|(?P<location2>\S+:\d+) at (?P<function2>[^,\s]+), CPU#(?P<cpu2>\d+))"
        ),
    ),
    Rule(
        "panic",
        "fail",
        "Kernel panic",
        _r(r"Kernel panic - not syncing: ?(?P<reason>.*)"),
    ),
    # --- a user process killed by its own fault ------------------------------
    # Printed when a process dies of a fault it does not handle (debug.exception-trace, on by default;
    # rate-limited). On a test blade, many within seconds under swap are memory that came back from swap
    # not as it went out: the kernel's failure, whoever crashed.
    Rule(
        "userspace_crash",
        "fail",
        "segfault at",
        _r(
            r"(?P<comm>.+?)\[(?P<pid>\d+)\]: (?P<what>segfault) at (?P<address>[0-9a-f]+) ip (?P<ip>[0-9a-fx]+)"
            r" sp [0-9a-fx]+ error (?P<error_code>[0-9a-f]+)(?: in (?P<object>[^\[\s]+))?"
        ),
    ),
    Rule(
        "userspace_crash",
        "fail",
        "traps: ",
        _r(
            r"traps: (?P<comm>.+?)\[(?P<pid>\d+)\] (?:trap )?(?P<what>general protection fault|[a-z0-9 ]+?)"
            r" ip:(?P<ip>[0-9a-f]+) sp:[0-9a-f]+ error:(?P<error_code>[0-9a-f]+)(?: in (?P<object>[^\[\s]+))?"
        ),
    ),
    Rule(
        "userspace_crash",
        "fail",
        "Caught <",
        # "Caught <SEGV>, dumped core as pid N." (or: cannot fork, core dump failed, not dumping core), then
        # "Freezing execution."; a signal another process sent says "Caught <SEGV> from PID N." first.
        _r(r"(?P<comm>systemd)\[(?P<pid>1)\]: Caught <(?P<what>[A-Z]+)>(?! from PID)"),
    ),
    # --- informational -------------------------------------------------------
    Rule(
        "swap_activated",
        "info",
        "k swap on ",
        _r(
            r"Adding (?P<kib>\d+)k swap on (?P<path>.+?)\. +Priority:(?P<priority>-?\d+) "
            r"extents:(?P<extents>\d+) across:(?P<across_kib>\d+)k ?(?P<flags>.*)"
        ),
    ),
)

KEYWORDS: tuple[str, ...] = tuple(dict.fromkeys(rule.keyword for rule in RULES))
