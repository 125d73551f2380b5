"""What an ansible-runner event means to swaplab (``swaplab.ansible_events``), on events captured from real
runs (tests/unit/data/ansible-events/capture.py: the boot play against a blade that never answers, one of
a simulated rack that boots, and scratch plays). Every branch of the classifier, on real events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from swaplab.ansible_events import BOOT_WAIT, POWER, PROBE, Event, classify, mark, title

EVENTS: list[dict[str, Any]] = json.loads((Path(__file__).parent / "data/ansible-events/events.json").read_text())


def _event(kind: str, host: str | None, task_start: str) -> dict[str, Any]:
    found = [e for e in EVENTS if e["event"] == kind and e["event_data"].get("host") == host
             and e["event_data"].get("task", "").startswith(task_start)]  # fmt: skip
    assert len(found) == 1, (kind, host, task_start, len(found))
    return found[0]


def test_marks_are_set_for_the_purpose_and_left_out_of_the_title() -> None:
    assert mark("Wait for ssh (bounded) [boot-wait]") == BOOT_WAIT and title("Wait for ssh (bounded) [boot-wait]") == (
        "Wait for ssh (bounded)")  # fmt: skip
    assert mark("Power-cycle the blade into PXE [power]") == POWER
    assert mark("Wait for ssh (bounded)") == "" and mark("Power-cycle [powered]") == ""  # the words alone: nothing


def test_a_task_start_is_its_play_and_title_with_its_mark() -> None:
    e = classify(_event("playbook_on_task_start", None, "Wait for ssh (bounded)"))
    assert e == Event("task", task="Boot the blades: Wait for ssh (bounded)", mark=BOOT_WAIT)


@pytest.mark.parametrize(
    ("kind", "host", "task"),
    [
        ("runner_on_unreachable", "blade1", "Kernel it runs"),  # the probe of a blade that may be off
        ("runner_on_failed", "blade1", "Wait for ssh (bounded)"),  # ignore_errors: one more power-cycle follows
        ("runner_on_failed", "c2", "A command that fails, ignored"),
        ("runner_on_failed", "c3", "A loop with a failing item"),  # its item was reported on its own
    ],
)
def test_expected_failures_are_ignored(kind: str, host: str, task: str) -> None:
    e = classify(_event(kind, host, task))
    assert e is not None and e.kind == "ignored" and e.host == host


@pytest.mark.parametrize(
    ("kind", "host", "task", "message"),
    [
        # A script's own words (its stderr), not ansible's "non-zero return code".
        ("runner_on_failed", "c1", "A script that fails", "c1: A script that fails: FAILED: nbd_server: /srv/nbd is "
                                                          "full"),
        ("runner_item_on_failed", "c3", "A loop with a failing item", "c3: A loop with a failing item: FAILED: "
                                                                       "non-zero return code"),
        ("runner_on_failed", "c4", "A module that fails", "c4: A module that fails: FAILED: the NAS does not export "
                                                           "/srv/swap/blade9"),
        ("runner_on_failed", "blade1", "Wait for ssh after", "blade1: Wait for ssh after the second power-cycle "
                                                             "(bounded): FAILED: timed out waiting for ping module"),
        ("runner_on_unreachable", "c5", "Anything on it", "c5: Anything on it: UNREACHABLE: Task failed: Failed to "
                                                          "connect to the host via ssh"),
    ],
)  # fmt: skip
def test_a_failure_names_the_host_the_task_and_what_it_said(kind: str, host: str, task: str, message: str) -> None:
    e = classify(_event(kind, host, task))
    assert e is not None and e.kind == "failure" and e.host == host
    assert e.message.startswith(message), e.message
    assert "[" not in e.message.split(":")[1]  # the mark is not in the words a person reads


def test_a_blade_that_answered_ssh_is_booted_with_its_time() -> None:
    e = classify(_event("runner_on_ok", "r1-b01", "Wait for ssh (bounded)"))
    assert e is not None and e.kind == "booted" and e.mark == BOOT_WAIT and e.host == "r1-b01"
    assert e.seconds is not None and 0 <= e.seconds < 60


def test_a_change_is_counted_and_an_ok_without_one_says_nothing() -> None:
    power = classify(_event("runner_on_ok", "r1-b01", "Power-cycle the blade into PXE"))
    assert power == Event("changed", "r1-b01", "Boot the blades: Power-cycle the blade into PXE", POWER)
    assert classify(_event("runner_on_ok", "c2", "A change")) == Event("changed", "c2", "Scratch: A change")
    assert classify(_event("runner_on_ok", "r1-b01", "Running kernel")) is None
    assert classify({"event": "playbook_on_stats", "event_data": {}}) is None


def test_every_captured_event_is_classified_without_error() -> None:
    kinds = {e.kind for ev in EVENTS if (e := classify(ev)) is not None}
    assert kinds == {"task", "failure", "ignored", "changed", "booted"}
    assert PROBE in {mark(ev["event_data"].get("task", "")) for ev in EVENTS}
