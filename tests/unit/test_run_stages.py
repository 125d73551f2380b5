"""The run's spine: the plan a run's options make, and the one loop that runs, cleans up and finishes stages,
deciding the run's own case from the error's type."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from swaplab import errors
from swaplab.history.nightly import HistoryOptions
from swaplab.inventory import Inventory
from swaplab.inventory.provider import PhysicalRack
from swaplab.inventory.writer import Host, RackInventory
from swaplab.kernel.under_test import KernelUnderTest
from swaplab.lab.provider import VirtualLab
from swaplab.options import RunOptions
from swaplab.report.journal import Journal, JournalState
from swaplab.run import _History
from swaplab.run.checks import rack_provider
from swaplab.run.context import RunContext, execute
from swaplab.run.stages import RackUp, plan


def _ctx(tmp_path: Path, opts: RunOptions, inventory: Inventory | None = None,
         prior: JournalState | None = None) -> RunContext:  # fmt: skip
    kernel = KernelUnderTest(Path("/k.deb"), "deb", "6.1.0-t", "0" * 64)
    return RunContext(opts=opts, log=lambda _m: None, kernel=kernel, run_dir=tmp_path, journal=Journal(tmp_path),
                      commit="abc", inventory=inventory, prior=prior)  # fmt: skip


INV = Inventory("inv.yml", {}, "nas", ("b1",), {})


@pytest.mark.parametrize(
    ("opts", "inventory", "prior", "history", "names"),
    [
        (RunOptions(), None, None, None, ["lab", "blades", "provision", "tests", "properties"]),
        (RunOptions(inventory="inv.yml", provision=False), INV, None, None, ["blades", "as-is", "tests", "properties"]),
        (RunOptions(inventory="inv.yml"), INV, JournalState(), None, ["blades", "resumed", "tests", "properties"]),
        (RunOptions(inventory="inv.yml"), INV, None, HistoryOptions(history="h.db"),
         ["blades", "provision", "tests", "confirm", "properties"]),
    ],
)  # fmt: skip
def test_the_plan_is_the_options_not_a_branch(tmp_path: Path, opts: RunOptions, inventory: Inventory | None,
                                              prior: JournalState | None, history: HistoryOptions | None,
                                              names: list[str]) -> None:  # fmt: skip
    stages, finish = plan(_ctx(tmp_path, opts, inventory, prior), _History(history) if history else None)
    assert [s.name for s in stages] == names
    assert [s.name for s in finish] == ["outputs", *(["history"] if history else [])]


class Recorder:
    def __init__(self, name: str, said: list[str], fail: BaseException | None = None,
                 cleanup_fails: bool = False) -> None:  # fmt: skip
        self.name, self.said, self.fail, self.cleanup_fails = name, said, fail, cleanup_fails

    def run(self, ctx: RunContext) -> None:
        self.said.append(f"run {self.name}")
        if self.fail is not None:
            raise self.fail

    def cleanup(self, ctx: RunContext) -> None:
        self.said.append(f"cleanup {self.name}")
        if self.cleanup_fails:
            raise errors.Infrastructure("the lab would not come down")


@pytest.mark.parametrize(
    ("exc", "outcome", "message"),
    [
        (errors.KernelFailure("the kernel died"), "failed", "the kernel died"),
        (errors.Infrastructure("the NAS is gone"), "error", "the NAS is gone"),
        (ZeroDivisionError("oops"), "error", "swaplab internal error: ZeroDivisionError: oops (please report it)"),
        (KeyboardInterrupt("signal 15"), "error", "interrupted (signal 15)"),
    ],
)
def test_the_loop_stops_cleans_up_last_first_and_finishes_whatever_happened(
    tmp_path: Path, exc: BaseException, outcome: str, message: str
) -> None:
    said: list[str] = []
    ctx = _ctx(tmp_path, RunOptions())
    stages = [Recorder("a", said), Recorder("b", said, cleanup_fails=True), Recorder("c", said, exc),
              Recorder("d", said)]  # fmt: skip
    execute(ctx, stages, [Recorder("outputs", said)])  # type: ignore[list-item]
    assert said == ["run a", "run b", "run c", "cleanup c", "cleanup b", "cleanup a", "run outputs"]
    run_cases = [c for b in ctx.blades for c in b.cases]
    assert [(c.name, c.outcome) for c in run_cases] == [("infrastructure", outcome), ("lab_down", "error")]
    assert run_cases[0].message == message
    assert ("Traceback" in run_cases[0].details) == isinstance(exc, ZeroDivisionError)


class FakeRack:
    """A ``RackProvider`` that writes a real inventory (through the typed writer) and records what it was asked."""

    kind = "a test rack"

    def __init__(self, where: Path, said: list[str]) -> None:
        self.where, self.said = where, said

    def problems(self) -> list[str]:
        return []

    def prepare(self, log: Callable[[str], None]) -> None:
        self.said.append("prepare")

    def up(self, log: Callable[[str], None]) -> Path:
        self.said.append("up")
        path = self.where / "hosts.yml"
        nas = Host("nas", {"ansible_host": "127.0.0.1", "swaplab_lab_address": "10.0.0.1"})
        blade = Host("r1-b01", {"ansible_host": "127.0.1.1", "swaplab_mac": "52:54:00:00:00:01",
                                "swaplab_power": {"driver": "qmp", "socket": "/tmp/b.qmp"}})  # fmt: skip
        RackInventory("a test", {"ansible_user": "root"}, nas, [blade]).write(path)
        return path

    def down(self, log: Callable[[str], None]) -> list[str]:
        self.said.append("down")
        return ["1 process would not stop"]


@pytest.mark.parametrize("keep", [False, True])
def test_any_rack_provider_is_brought_up_validated_and_down_unless_kept(tmp_path: Path, keep: bool) -> None:
    said: list[str] = []
    logged: list[str] = []
    ctx = _ctx(tmp_path, RunOptions(keep=keep))
    ctx.log = logged.append
    stage = RackUp(FakeRack(tmp_path, said))
    stage.run(ctx)
    assert ctx.inventory is not None and ctx.inventory.blades == ("r1-b01",) and ctx.inventory.nas == "nas"
    assert {"lab_build", "lab_up"} <= set(ctx.timings)
    stage.cleanup(ctx)
    assert said == ["prepare", "up"] + ([] if keep else ["down"])
    assert ("a test rack: 1 process would not stop" in logged) is not keep
    assert any("--keep: a test rack stays up" in m for m in logged) is keep


def test_the_run_finds_its_rack_by_its_options() -> None:
    assert rack_provider(RunOptions(inventory="/labs/r1/hosts.yml")) == PhysicalRack(Path("/labs/r1/hosts.yml"))
    lab = rack_provider(RunOptions(blades=2, blade_memory=256))
    assert isinstance(lab, VirtualLab) and lab.names == ["blade1", "blade2"] and lab.memory_mib == 256
    assert lab.kind == "the virtual lab" and PhysicalRack(Path("x")).up(print) == Path("x")
