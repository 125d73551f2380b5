"""What an ansible-runner event means to swaplab (pure): a task started, a host failed, a change, a blade
that booted. Tested on events captured from real runs (``tests/unit/data/ansible-events``).

Events are told apart by their kind, their module (``task_action``) and flags, and, where one task
matters (a power-cycle, the wait for ssh, a probe that expects an unreachable blade), by the mark its
name ends with, set for that purpose (``[power]``, ``[boot-wait]``, ``[probe]``): never by the words of
its title. ansible-runner's events carry neither tags nor ``ignore_unreachable``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

PROBE, BOOT_WAIT, POWER = "probe", "boot-wait", "power"
MARK_RE = re.compile(r"\s*\[(probe|boot-wait|power)\]\s*$")
# Modules whose error is in their own output (the script's stderr and stdout); ssh adds its closing notice.
SHELL_ACTIONS = frozenset({"ansible.builtin.script", "ansible.builtin.raw", "ansible.builtin.command",
                           "ansible.builtin.shell", "script", "raw", "command", "shell"})  # fmt: skip
FAILURE_KINDS = ("runner_on_failed", "runner_on_unreachable", "runner_item_on_failed")


def mark(task: str) -> str:
    """The task's mark (``probe``, ``boot-wait``, ``power``) or ""."""
    m = MARK_RE.search(task)
    return m.group(1) if m else ""


def title(task: str) -> str:
    """The task's name without its mark, as a person reads it."""
    return MARK_RE.sub("", task)


@dataclass(frozen=True)
class Event:
    """``kind``: "task" (a task started), "failure" (a host failed it), "changed", "booted" (a blade answered
    ssh after a power-on: ``seconds``), or "ignored" (nothing for swaplab: an expected failure)."""

    kind: str
    host: str = ""
    task: str = ""  # "play: title"
    mark: str = ""
    message: str = ""  # a failure: host: task: FAILED|UNREACHABLE: what it said
    seconds: float | None = None


def classify(ev: dict[str, Any]) -> Event | None:
    """One ansible-runner event, or None when it says nothing swaplab reports."""
    kind = ev.get("event")
    data = ev.get("event_data") or {}
    task = str(data.get("task", ""))
    host = str(data.get("host", ""))
    where = f"{data.get('play', '')}: {title(task)}"
    res: dict[str, Any] = data["res"] if isinstance(data.get("res"), dict) else {}
    if kind == "playbook_on_task_start":
        return Event("task", task=where, mark=mark(task))
    if kind in FAILURE_KINDS:
        if data.get("ignore_errors") or (kind == "runner_on_failed" and res.get("results")):
            return Event("ignored", host, where)  # expected, or a loop whose items were reported one by one
        if kind == "runner_on_unreachable" and mark(task) == PROBE:
            return Event("ignored", host, where)  # a probe with ignore_unreachable
        what = "UNREACHABLE" if kind == "runner_on_unreachable" else "FAILED"
        return Event("failure", host, where, mark(task), f"{host}: {title(task)}: {what}: {_said(data, res)[:500]}")
    if kind == "runner_on_ok":
        if mark(task) == BOOT_WAIT and "elapsed" in res:  # (wait_for_connection's events carry no budget)
            return Event("booted", host, where, BOOT_WAIT, seconds=float(res["elapsed"]))
        if res.get("changed"):
            return Event("changed", host, where, mark(task))
    return None


def _said(data: dict[str, Any], res: dict[str, Any]) -> str:
    """What a failed task said: a shell-like module's last lines of stdout, then of stderr (its script's own
    words; over ssh with a terminal they are all on stdout, and stderr holds only ssh's closing notice),
    another module's message."""
    if data.get("task_action") in SHELL_ACTIONS:
        lines = [*res.get("stdout_lines", [])[-3:], *res.get("stderr_lines", [])[-3:]]
        if lines:
            return " | ".join(str(line) for line in lines).strip()
    return str(res.get("msg") or res.get("stderr") or res.get("module_stderr") or "").strip()
