"""Notifications only on change, through a real SMTP server (aiosmtpd) on loopback: Apprise's mail plugin
talks SMTP to it, and the test reads what arrived."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest

from swaplab.history import commands, nightly, notify
from swaplab.history.facts import HistoryInputError
from swaplab.history.store import History, target

RUNS = Path(__file__).parent / "data" / "runs"


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Any] = []

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
        self.mails.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _text(mail: Any) -> str:
    if mail.is_multipart():
        return "\n".join(p.get_payload(decode=True).decode() for p in mail.walk() if not p.is_multipart())
    return str(mail.get_payload(decode=True).decode())


def test_a_change_is_mailed_once_with_the_blades_and_the_two_kernels(smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = smtp
    targets = tmp_path / "notify.txt"
    targets.write_text(f"# the lab's list\nmailto://127.0.0.1:{port}?from=swaplab@lab.example&to=team@lab.example\n")
    opts = nightly.HistoryOptions(history=str(tmp_path / "h.db"), lab="virtual", notify=str(targets))
    assert opts.problems() == []
    said: list[str] = []
    for run in ("kernel-6.1-a", "kernel-6.1-b"):
        nightly.remember(opts, RUNS / run, said.append)
    assert inbox.mails == []  # nothing changed: nobody is told
    nightly.remember(opts, RUNS / "kernel-5.10", said.append)
    assert len(inbox.mails) == 1
    mail = inbox.mails[0]
    assert "REGRESSION on 5.10.0-46-amd64" in mail["Subject"]
    body = _text(mail)
    assert "regressed on 1 blade(s): blade1" in body
    assert "last good kernel: 6.1.0-57-amd64; first bad: 5.10.0-46-amd64" in body
    assert "notified 1 of 1 target(s)" in said[-1]


def test_the_same_verdict_twice_tells_nobody(smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, _port = smtp
    with History(target(str(tmp_path / "h.db"))) as h:
        for run in ("kernel-6.1-a", "kernel-5.10"):
            v, changed = commands.ingest(h, RUNS / run, "virtual", None, None, [])
        assert changed and notify.worth_telling(v, changed)
        again, changed_again = commands.ingest(h, RUNS / "kernel-5.10", "virtual", None, None, [])
        assert not changed_again and not notify.worth_telling(again, changed_again)
    assert inbox.mails == []


def test_a_target_is_never_printed(tmp_path: Path, smtp: tuple[Inbox, int]) -> None:
    bad = tmp_path / "notify.txt"
    bad.write_text(
        "mailto://user:s3cret-token@127.0.0.1:1/?to=x@example.org&from=y@example.org\nnot-a-service://token-xyz\n"
    )
    with pytest.raises(HistoryInputError) as e:
        notify.targets(str(bad))
    assert "target(s) 2 (by line)" in str(e.value) and "token-xyz" not in str(e.value)
    with History(target(str(tmp_path / "h.db"))) as h:
        v, _ = commands.ingest(h, RUNS / "kernel-5.10", "virtual", None, None, [])
    unreachable = "mailto://user:s3cret-token@127.0.0.1:1/?to=x@example.org&from=y@example.org"
    assert notify.send(v, [unreachable]) == [1]
