"""Whose a load's end is: ``fleet.judge.decide``, the one place a load is called the kernel's failure or the
lab's. Each outcome, with the words a release engineer reads."""

from __future__ import annotations

from swaplab.fleet.judge import LoadEnd, Verdict, decide


def _end(**kw: object) -> LoadEnd:
    base: dict[str, object] = {"blade": "r1-b07", "load_id": "hog-t1-nfs", "status": "done", "watched": True,
                               "budget_s": 300, "seconds": 320.0, "console_tail": "[ 12.0] last line"}  # fmt: skip
    return LoadEnd(**{**base, **kw})  # type: ignore[arg-type]


def test_a_finished_load_is_judged_by_its_verdict() -> None:
    assert decide(_end(), Verdict()).kind == "judged"
    assert decide(_end(), Verdict(failures=["oops (r1-b07:console:3): Oops"])).kind == "judged"  # a <failure>


def test_a_hang_or_panic_the_watch_saw_is_the_kernels_and_the_blade_is_recovered() -> None:
    for status in ("hung", "panic"):
        d = decide(_end(status=status), Verdict())
        assert d.kind == "recover" and d.down is None


def test_a_load_that_did_not_come_back_with_the_kernel_saying_why_is_the_kernels() -> None:
    d = decide(_end(status="timeout", watched=False), Verdict(failures=["swap_io_error (x:1): Write-error"]))
    assert d.kind == "kernel" and d.down == "hog-t1-nfs (kernel failure: swap_io_error (x:1): Write-error)"


def test_a_silent_load_while_the_nas_was_out_is_one_nas_incident() -> None:
    d = decide(_end(status="timeout", nas="nas1", nas_outage="did not answer from 10:00:00 for 300 s"), Verdict())
    assert d.kind == "infra" and d.down == "hog-t1-nfs (the NAS nas1 was out: did not answer from 10:00:00 for 300 s)"
    assert "because the NAS nas1 did not answer from 10:00:00 for 300 s: one infrastructure incident" in d.message
    assert "no power-cycle was done" in d.message and d.message.endswith("[ 12.0] last line")


def test_a_silent_load_with_nothing_to_explain_it_is_the_labs() -> None:
    d = decide(_end(status="timeout", watched=False, last_error="ssh: connect timed out"), Verdict())
    assert d.kind == "infra" and d.down == "hog-t1-nfs (no answer within 300 s)"
    assert "within its budget of 300 s (+20 s grace); last ssh error: ssh: connect timed out" in d.message


def test_a_finished_load_whose_results_came_back_incomplete_is_the_labs_unless_the_kernel_failed() -> None:
    d = decide(_end(fetch_error="tar: truncated (saved in /r/l)"), Verdict())
    assert d.kind == "infra" and d.down is None and "could not be fetched whole: tar: truncated" in d.message
    assert decide(_end(fetch_error="tar: truncated"), Verdict(failures=["panic (x:1): ..."])).kind == "judged"


def test_stalls_while_the_emulator_starved_are_the_labs_even_with_failures() -> None:
    d = decide(_end(emulator_stall="rcu_stall during hog-t1-nfs coincide with the emulator's starvation"),
               Verdict(failures=["rcu_stall (x:1): ..."]))  # fmt: skip
    assert d.kind == "infra" and d.down == "" and d.message.startswith("rcu_stall during hog-t1-nfs")


def test_the_whole_runs_health_problems() -> None:
    from swaplab.fleet.judge import health_problems

    start = {"oom_kill": 2, "tainted": 0x1}
    assert health_problems(Verdict(), start, {"oom_kill": 2, "tainted": 0x1}) == []  # the taint it came with
    found = health_problems(Verdict(failures=["oops (x:1): Oops"]), start, {"oom_kill": 3, "tainted": 0x201})
    assert found == ["oops (x:1): Oops", "the kernel became tainted during the run (new taint bits 0x200)",
                     "oom_kill grew by 1 and the log names no hog"]  # fmt: skip
    assert health_problems(Verdict(hog_oom_killed=True), start, {"oom_kill": 3}) == []  # the hog's, judged by its test


def test_a_hogs_result_is_judged_pages_and_swap_traffic() -> None:
    from swaplab.fleet.judge import hog_problems

    good = {"status": "done", "bad_pages": 0, "mib": 384, "mem_total_kib": 262144, "page_size": 4096,
            "vmstat_delta": {"pswpout": 40000, "pswpin": 30000}}  # fmt: skip
    assert hog_problems(good, 0, "", "") == []
    assert hog_problems({}, 137, '{"phase": "write"}', "Killed")[0].startswith("the hog left no result (rc 137; "
                                                                               "killed by SIGKILL;")  # fmt: skip
    assert "rc 135; killed by SIGBUS (memory it touched could not be read back" in hog_problems({}, 135, "", "")[0]
    assert hog_problems({}, 1, "", "")[0].startswith("the hog left no result (rc 1; progress")
    assert hog_problems({**good, "status": "oom"}, 0, "", "") == ["the hog ended oom"]
    first = [{"page": 7, "holds": "zeros"}, {"page": 9, "holds": "page 11's content"}]
    bad = hog_problems({**good, "bad_pages": 3, "first_bad": first}, 0, "", "")
    assert bad == [
        "swap corruption: 3 page(s) of the hog's working set came back from swap not as they went out "
        "(page 7 held zeros; page 9 held page 11's content) (hog.json has the first one's bytes)"
    ]
    assert hog_problems({**good, "bad_pages": 1, "first_bad": [7]}, 0, "", "")[0].endswith(
        "went out (hog.json has the first one's bytes)"
    )
    # 384 MiB on 256 MiB of RAM: 32768 pages had to go out.
    quiet = hog_problems({**good, "vmstat_delta": {"pswpout": 100, "pswpin": 0}}, 0, "", "")
    assert quiet == [
        "pswpout grew by 100 pages, less than the 32768 pages the working set exceeds RAM by: the working set did "
        "not go through swap",
        "pswpin did not grow: nothing came back from swap",
    ]
