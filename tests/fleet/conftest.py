"""Fleet suites: parametrized per blade, run by `swaplab run` (never by the unit-test job).

`swaplab run` writes the run's settings to ``<run dir>/context.json`` and
passes ``--swaplab-context``; each test gets a ``blade`` (a ``BladeSession``)
and its JUnit case names that blade. ``swaplab.report.collect.Collector``
(loaded by `swaplab run`) turns an ``InfraError`` into ``<error>``, not ``<failure>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from swaplab.fleet.recording import Recorder
from swaplab.fleet.recovery import settle
from swaplab.fleet.session import BladeSession
from swaplab.fleet.settings import Settings
from swaplab.labhooks import for_settings
from swaplab.records import UNNEEDED_KEY
from swaplab.stats import pair_order

_sessions: dict[str, BladeSession] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--swaplab-context", help="context.json written by `swaplab run`")


def _settings(config: pytest.Config) -> Settings:
    path = config.getoption("--swaplab-context")
    if not path:
        raise pytest.UsageError("the fleet suites are run by `swaplab run` (no --swaplab-context given)")
    return Settings.load(Path(path))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "blade" in metafunc.fixturenames:
        names = sorted(_settings(metafunc.config).blades)
        # Under xdist (several blades) each blade's tests form one group: one worker, file order.
        params = [pytest.param(n, marks=pytest.mark.xdist_group(n)) for n in names]
        metafunc.parametrize("blade", params, ids=names, indirect=True, scope="session")
    if "trial" in metafunc.fixturenames:
        # Interleaved pairs, the order alternating (t1-nfs, t1-nbd, t2-nbd, t2-nfs, ...), so that each pair
        # ran under the same conditions and a slow drift falls on both stores alike. With --precision, as
        # many pairs as it may take are collected; those not needed are left out as they come (below).
        plan = _settings(metafunc.config).options.trial_plan()
        pairs = [(t, s) for t in range(1, plan.maximum + 1) for s in pair_order(t)]
        metafunc.parametrize(("trial", "store"), pairs, ids=[f"t{t}-{s}" for t, s in pairs])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--no-warm-up``: the warm-up's cases are not part of the run (not skipped: never planned)."""
    if _settings(config).options.warm_up:
        return
    dropped = [i for i in items if getattr(i, "originalname", "") == "test_warm_up"]
    if dropped:
        items[:] = [i for i in items if i not in dropped]
        config.hook.pytest_deselected(items=dropped)


@pytest.fixture(scope="session")
def settings(request: pytest.FixtureRequest) -> Settings:
    return _settings(request.config)


@pytest.fixture
def record(record_property: Callable[[str, object], None]) -> Recorder:
    """The one way a test reports figures: typed records and attachments (``swaplab.fleet.recording``)."""
    return Recorder(record_property)


@pytest.fixture(scope="session")
def blade(request: pytest.FixtureRequest, settings: Settings) -> Iterator[BladeSession]:
    name = request.param
    if name not in _sessions:
        _sessions[name] = BladeSession(name, settings, hooks=for_settings(settings))
        if settings.resumed:
            settle(_sessions[name])
    yield _sessions[name]


@pytest.fixture(autouse=True)
def _not_quarantined(request: pytest.FixtureRequest) -> None:
    """A quarantined blade's later cases are skipped, with the reason (not errors: nothing was tried)."""
    if "blade" in request.fixturenames:
        session: BladeSession = request.getfixturevalue("blade")
        if session.life.quarantined:
            pytest.skip(f"{session.name} is quarantined: {session.life.quarantined}")


@pytest.fixture(autouse=True)
def _trial_needed(request: pytest.FixtureRequest) -> Iterator[None]:
    """A hog trial pair beyond --trials starts only while the plan wants one more (``TrialPlan``); its two
    trials go together. The trials' time is counted for the plan's budget."""
    if "trial" not in request.fixturenames or "blade" not in request.fixturenames:
        yield
        return
    session: BladeSession = request.getfixturevalue("blade")
    trial: int = request.getfixturevalue("trial")
    stop = session.trials.wanted(trial)
    if stop:
        request.node.user_properties.append((UNNEEDED_KEY, stop))  # the plan's word, typed: not a skip
        pytest.skip(f"not needed: {stop}")
    t0 = time.monotonic()
    try:
        yield
    finally:
        session.trials.elapsed_s += time.monotonic() - t0


def pytest_sessionfinish(session: pytest.Session) -> None:
    for s in _sessions.values():
        s.remote.close()
    # A run may call pytest again in its own process (a confirming rerun): its sessions start anew, with the
    # rerun's settings (its ssh control directory, its consoles), never these closed ones.
    _sessions.clear()
