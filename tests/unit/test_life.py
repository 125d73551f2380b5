"""A blade's life: every edge of the state machine, taken and refused."""

from __future__ import annotations

import itertools

import pytest

from swaplab import errors
from swaplab.fleet.life import EDGES, ENDS, IllegalTransition, Life, State, transition

ALLOWED = {
    (State.UP, State.LOADING), (State.UP, State.DOWN),
    (State.LOADING, State.UP), (State.LOADING, State.HUNG), (State.LOADING, State.CRASHED),
    (State.LOADING, State.DOWN),
    (State.HUNG, State.EVIDENCE), (State.CRASHED, State.EVIDENCE),
    (State.EVIDENCE, State.QUEUED),
    (State.QUEUED, State.POWER_CYCLED), (State.QUEUED, State.QUARANTINED),
    (State.POWER_CYCLED, State.UP), (State.POWER_CYCLED, State.QUARANTINED),
}  # fmt: skip


@pytest.mark.parametrize(("a", "b"), list(itertools.product(State, State)), ids=lambda s: s.value)
def test_every_pair_of_states_is_an_edge_or_refused(a: State, b: State) -> None:
    if (a, b) in ALLOWED:
        assert transition(a, b) is b
    else:
        with pytest.raises(IllegalTransition, match=f"from {a.value} to {b.value}"):
            transition(a, b)


def test_the_table_is_the_diagrams() -> None:
    assert {(a, b) for a, to in EDGES.items() for b in to} == ALLOWED
    assert not EDGES[State.DOWN] and not EDGES[State.QUARANTINED]  # the ends of a blade's run
    assert errors.exit_code(IllegalTransition("x")) == 2  # swaplab's bug, never the kernel's


def test_a_hang_recovered_twice_then_quarantined() -> None:
    life = Life()
    for _ in range(2):
        life.to(State.LOADING).ended("stalled").to(State.EVIDENCE).to(State.QUEUED).to(State.POWER_CYCLED)
        if life.hangs < 2:
            life.to(State.UP)
    assert life.hangs == 2 and life.state is State.POWER_CYCLED
    life.to(State.QUARANTINED, "hung or panicked 2 times in this run (--max-hangs 2)")
    assert life.quarantined.startswith("hung or panicked") and life.down is None and not life.usable
    with pytest.raises(IllegalTransition):
        life.to(State.LOADING)


def test_each_load_end_goes_to_its_recovery_state() -> None:
    assert {k for k, v in ENDS.items() if v is State.HUNG} == {"hung", "stalled"}
    assert {k for k, v in ENDS.items() if v is State.CRASHED} == {"panic", "panicked", "crashed", "memory-bad"}
    assert Life().to(State.LOADING).ended("oops").state is State.CRASHED
    down = Life().to(State.LOADING).to(State.DOWN, "hog-t1-nfs (lost)")
    assert down.down == "hog-t1-nfs (lost)" and down.quarantined == "" and not down.usable


def test_a_recovery_reloads_nothing(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The recovery's power-cycle (the lab's hook) provisions with the inventory the run validated, typed
    again from the run's context: ansible-inventory is not run once (it was, at every recovery, when the
    context held only the inventory's path)."""
    from swaplab import inventory, labhooks, provision
    from swaplab.fleet.settings import Settings
    from swaplab.kernel.under_test import KernelUnderTest

    kernel = KernelUnderTest(tmp_path / "linux-image-6.1.0-57-amd64.deb", "deb", "6.1.0-57-amd64", "a" * 64,
                             "linux-image-6.1.0-57-amd64", "6.1.192-3")  # fmt: skip
    raw = {"_meta": {"hostvars": {"nas": {"swaplab_lab_address": "10.0.0.1"},
                                  "blade1": {"ansible_host": "10.0.0.11"}}},
           "all": {"children": ["nas", "blades"]}, "nas": {"hosts": ["nas"]},
           "blades": {"hosts": ["blade1"]}}  # fmt: skip
    settings = Settings(run_dir=str(tmp_path), inventory=str(tmp_path / "hosts.yml"), ssh_config="", control_dir="",
                        blades={"blade1": {}}, kernel=kernel, inventory_data=raw)  # fmt: skip
    again = Settings.load(_saved(settings, tmp_path / "context.json"))  # the context round-trips, typed
    assert again.kernel == kernel and again.inv().blades == ("blade1",) and again.inv().nas == "nas"
    loads: list[str] = []
    monkeypatch.setattr(inventory, "load", lambda path, *a: loads.append(path) or {})
    given: list[object] = []

    def run_playbook(playbook, inv, extra, log, limit=None, artifacts=None):  # type: ignore[no-untyped-def]
        given.append(inv)
        assert playbook == "preflight.yml" or extra["swaplab_kernel"]["release"] == "6.1.0-57-amd64"
        return provision.ProvisionResult(ok=True, seconds=0.1)

    monkeypatch.setattr(provision, "run_playbook", run_playbook)
    monkeypatch.setattr(provision, "lab_problems", lambda inv, *a, **k: [])
    ok, why = labhooks.for_settings(Settings.load(tmp_path / "context.json")).reprovision(  # type: ignore[misc]
        "blade1", tmp_path, lambda _m: None
    )
    assert (ok, why) == (True, "") and loads == []  # ansible-inventory: 0 calls
    assert given == [str(tmp_path / "hosts.yml")] * 2  # the preflight and recover.yml, on the same inventory


def _saved(settings, path):  # type: ignore[no-untyped-def]
    settings.save(path)
    return path


def test_a_load_that_raises_leaves_the_blade_up_for_its_next_load(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Not a RemoteError (the lab's), not a judged end: an exception out of a load's runner. The blade is not
    left loading, where the next load's start would be an edge the life does not have."""
    from tests.unit.test_watch import _session

    s, _blade, _con = _session(tmp_path, "hang")
    monkeypatch.setattr(s.runner, "run", lambda *a, **k: (_ for _ in ()).throw(ValueError("a runner's bug")))
    with pytest.raises(ValueError, match="a runner's bug"):
        s.load("hog-t1-nfs", "true", 60, use="nfs")
    assert s.life.state is State.UP and s.down is None
